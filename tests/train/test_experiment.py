"""The experiment runner: arms x seeds of a real training command on a local Ray instance,
finished trials skipped on a second run, a failing trial reported with its log, and the
summary card's statistics against statistics.mean and statistics.stdev."""

from __future__ import annotations

import json
import statistics
import sys

import pytest

from corpora.fashion import DATA_DIR
from train import experiment as ex
from train.__main__ import main as train_main

needs_fashion = pytest.mark.skipif(not (DATA_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                   reason="needs Debian's dataset-fashion-mnist (make data)")
TINY_SPATIAL = ["--epochs", "1", "--train-scenes", "32", "--test-scenes", "16", "--probe-scenes", "8",
                "--batch", "16", "--width", "4"]


def _fake_trial(runs, arm, seed, card, weights=b""):
    folder = ex.trial_dir(runs, arm, seed)
    folder.mkdir(parents=True)
    (folder / f"spatial_{arm}.json").write_text(json.dumps(card))
    (folder / f"spatial_{arm}.safetensors").write_bytes(weights)
    (folder / ex.TRIAL_FILE).write_text(json.dumps({"card": f"spatial_{arm}.json", "command": f"train s{seed}",
                                                    "seconds": 1.0 + seed}))


def test_summary_card_holds_mean_and_sample_sd_of_every_shared_number(tmp_path):
    runs = tmp_path / "runs"
    accs = {3: 0.71, 1: 0.75, 2: 0.80}
    for seed, acc in accs.items():
        card = {"name": "spatial_dnl", "metrics": {"test_accuracy": acc, "pointing": {"game": acc / 2}},
                "epochs": 5, "finished": True, "curve": [1, 2], "note": "x", "nan": float("nan")}
        if seed == 2:
            card["only_here"] = 1.0
        _fake_trial(runs, "dnl", seed, card, weights=f"w{seed}".encode())
    path = ex.summarise(runs, "dnl", [3, 1, 2], tmp_path / "assets", made_by="python -m train experiment x")
    card = json.loads(path.read_text())
    assert path.name == "spatial_dnl.json" and card["seeds"] == [1, 2, 3]
    values = [accs[1], accs[2], accs[3]]                       # seed order
    acc = card["across_seeds"]["metrics.test_accuracy"]
    assert acc["values"] == values
    assert acc["mean"] == pytest.approx(statistics.mean(values))
    assert acc["sd"] == pytest.approx(statistics.stdev(values))
    assert card["across_seeds"]["metrics.pointing.game"]["mean"] == pytest.approx(statistics.mean(values) / 2)
    # booleans, lists, strings, NaN and numbers that not every seed holds are no statistics
    assert set(card["across_seeds"]) == {"metrics.test_accuracy", "metrics.pointing.game", "epochs"}
    assert card["across_seeds"]["epochs"] == {"mean": 5.0, "sd": 0.0, "values": [5.0, 5.0, 5.0]}
    # the lowest seed's card and weights stand for the arm on the page
    assert card["metrics"]["test_accuracy"] == accs[1] and "only_here" not in card
    assert (tmp_path / "assets" / "spatial_dnl.safetensors").read_bytes() == b"w1"
    assert card["experiment"] == {"made_by": "python -m train experiment x", "weights_from_seed": 1,
                                  "trials": ["train s1", "train s2", "train s3"], "trial_seconds": [2.0, 3.0, 4.0]}


def test_one_seed_has_sd_zero_and_unfinished_seeds_are_named(tmp_path):
    _fake_trial(tmp_path, "baseline", 0, {"acc": 0.5})
    card = json.loads(ex.summarise(tmp_path, "baseline", [0], tmp_path / "out").read_text())
    assert card["across_seeds"]["acc"] == {"mean": 0.5, "sd": 0.0, "values": [0.5]}
    with pytest.raises(ValueError, match=r"baseline: seeds \[1, 2\] have not finished"):
        ex.summarise(tmp_path, "baseline", [0, 1, 2], tmp_path / "out")


def test_trial_command_passes_the_arm_seed_threads_and_resume(tmp_path):
    cmd = ex.trial_command("spatial", "cbam_full", 3, tmp_path, 2.0, ["--epochs", "5"])
    assert cmd[:4] == [sys.executable, "-m", "train", "spatial"]
    assert cmd[4:] == ["--arch", "cbam_full", "--epochs", "5", "--seed", "3", "--threads", "2", "--resume",
                       "--out", str(tmp_path), "--checkpoints", str(tmp_path / "checkpoints")]
    assert ex.trial_command("captioning", "no_ds", 0, tmp_path, 0.5, [])[4:7] == ["--variant", "no_ds", "--seed"]
    assert "--threads" in (sag := ex.trial_command("sagan", "sagan", 0, tmp_path, 1, [])) and "--arch" not in sag


@pytest.mark.parametrize("argv, message", [
    (["nolab", "--arms", "a"], "unknown lab 'nolab'"),
    (["spatial", "--arms", "../x"], "arm names become folder names"),
    (["spatial", "--arms", "a", "a"], "each arm and each seed once"),
    (["spatial", "--arms", "a", "--seeds", "1", "1"], "each arm and each seed once"),
    (["spatial", "--arms", "a", "--cpus-per-trial", "0"], "--cpus-per-trial must be positive"),
])
def test_bad_options_end_in_a_message(argv, message, capsys):
    with pytest.raises(SystemExit):
        ex.main(argv)
    assert message in capsys.readouterr().err


def test_summarise_only_says_what_is_missing(tmp_path, capsys):
    code = ex.main(["spatial", "--arms", "baseline", "--seeds", "0", "--runs", str(tmp_path), "--records", str(tmp_path / "records"),
                    "--out", str(tmp_path / "out"), "--summarise-only"])
    assert code == 1
    assert "not summarised: baseline: seeds [0] have not finished" in capsys.readouterr().err


def test_when_ray_cannot_start_the_experiment_says_why(tmp_path, monkeypatch, capsys):
    def refuse(*_):
        raise ConnectionError("nothing listens at 10.0.0.1:6379")
    monkeypatch.setattr(ex, "connect", refuse)
    code = ex.main(["spatial", "--arms", "baseline", "--seeds", "0", "--runs", str(tmp_path), "--records", str(tmp_path / "records"),
                    "--address", "10.0.0.1:6379"])
    assert code == 2
    assert ("Ray could not start the cluster at 10.0.0.1:6379: ConnectionError: nothing listens at "
            "10.0.0.1:6379") in capsys.readouterr().err


@needs_fashion
def test_arms_by_seeds_on_ray_then_a_second_run_skips_them(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "assets"
    argv = ["experiment", "spatial", "--arms", "baseline", "cbam_channel", "--seeds", "0", "1",
            "--runs", str(runs), "--records", str(tmp_path / "records"), "--out", str(out), "--num-cpus", "2", "--", *TINY_SPATIAL]
    assert train_main(argv) == 0
    for arm in ("baseline", "cbam_channel"):
        card = json.loads((out / f"spatial_{arm}.json").read_text())
        assert card["seeds"] == [0, 1] and (out / f"spatial_{arm}.safetensors").is_file()
        per_seed = [json.loads((ex.trial_dir(runs, arm, s) / f"spatial_{arm}.json").read_text()) for s in (0, 1)]
        for key, stat in card["across_seeds"].items():
            assert stat["values"] == [ex.numbers(c)[key] for c in per_seed], key
        assert ex.record_path(tmp_path / "records", arm, 1).is_file()        # kept for a later machine
        trial = ex.finished(ex.trial_dir(runs, arm, 1))
        assert trial["returncode"] == 0 and "--seed 1" in trial["command"] and "--resume" in trial["command"]
    # the lab's own comparison: each seed of cbam_channel against the baseline of that seed
    from analysis.paired_tests import mcnemar
    from train.spatial import unpack_bits

    def bits(arm, s):
        tc = json.loads((ex.trial_dir(runs, arm, s) / f"spatial_{arm}.json").read_text())["test_correct"]
        return unpack_bits(tc["bits"], tc["scenes"])
    against = json.loads((out / "spatial_cbam_channel.json").read_text())["comparison"]["against_baseline"]
    assert against["seeds"] == [0, 1]
    for s in (0, 1):
        assert against["mcnemar_per_seed"][str(s)] == mcnemar(bits("cbam_channel", s), bits("baseline", s))
    assert "comparison" not in json.loads((out / "spatial_baseline.json").read_text())
    assert "4 trials to run" in capsys.readouterr().out
    assert train_main(argv) == 0                                      # nothing left to train
    assert "0 trials to run (4 finished before)" in capsys.readouterr().out


@needs_fashion
def test_a_failing_trial_is_reported_with_its_log_and_the_others_finish(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = ex.main(["spatial", "--arms", "baseline", "no_such_arch", "--seeds", "0", "--runs", str(runs), "--records", str(tmp_path / "records"),
                    "--out", str(tmp_path / "assets"), "--num-cpus", "2", "--", *TINY_SPATIAL])
    assert code == 1
    err = capsys.readouterr().err
    assert "no_such_arch seed 0 failed" in err and "exit code 2" in err and "invalid choice" in err
    assert ex.finished(ex.trial_dir(runs, "baseline", 0)) is not None
    assert ex.finished(ex.trial_dir(runs, "no_such_arch", 0)) is None
    assert (tmp_path / "assets" / "spatial_baseline.json").is_file()


def test_a_trial_runs_at_the_drivers_priority_not_rays_worker_niceness():
    import os
    import subprocess

    wanted = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 3)          # lowering priority needs no rights
    out = subprocess.run([sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
                         capture_output=True, text=True, preexec_fn=lambda: ex._child_setup(wanted), check=True)
    assert int(out.stdout) == wanted


def test_records_outlive_the_trial_folders_and_keep_the_earlier_weights(tmp_path):
    runs, records, out = tmp_path / "runs", tmp_path / "records", tmp_path / "assets"
    for seed, acc in ((0, 0.70), (1, 0.80)):
        _fake_trial(runs, "dnl", seed, {"name": "spatial_dnl", "acc": acc}, weights=f"w{seed}".encode())
    ex.summarise(runs, "dnl", [0, 1], out, records=records)          # writes the two records it lacked
    saved = json.loads(ex.record_path(records, "dnl", 1).read_text())
    assert saved["card"] == {"name": "spatial_dnl", "acc": 0.80} and saved["trial"]["command"] == "train s1"
    # a fresh machine: RUNS is empty, seed 2 is trained there; seeds 0 and 1 come from the records
    import shutil
    shutil.rmtree(runs)
    assert ex.finished_trial(runs, records, "dnl", 0)[1]["acc"] == 0.70
    assert ex.finished_trial(runs, None, "dnl", 0) is None
    _fake_trial(runs, "dnl", 2, {"name": "spatial_dnl", "acc": 0.90}, weights=b"w2")
    card = json.loads(ex.summarise(runs, "dnl", [0, 1, 2], out, records=records).read_text())
    assert card["seeds"] == [0, 1, 2] and card["across_seeds"]["acc"]["values"] == [0.70, 0.80, 0.90]
    # seed 2 is the lowest seed with weights here, so its card and weights stand for the arm
    assert card["experiment"]["weights_from_seed"] == 2 and card["acc"] == 0.90
    assert (out / "spatial_dnl.safetensors").read_bytes() == b"w2"


def test_without_any_trial_folder_the_weights_already_in_out_are_kept_only_for_a_listed_seed(tmp_path):
    runs, records, out = tmp_path / "runs", tmp_path / "records", tmp_path / "assets"
    _fake_trial(runs, "dnl", 0, {"name": "spatial_dnl", "acc": 0.7, "weights": "spatial_dnl.safetensors"},
                weights=b"w0")
    ex.summarise(runs, "dnl", [0], out, records=records)
    import shutil
    shutil.rmtree(runs)
    card = json.loads(ex.summarise(runs, "dnl", [0], out, records=records).read_text())
    assert card["experiment"]["weights_from_seed"] == 0 and (out / "spatial_dnl.safetensors").read_bytes() == b"w0"
    (tmp_path / "r1" / "dnl").mkdir(parents=True)
    (tmp_path / "r1" / "dnl" / "seed-1.json").write_text(ex.record_path(records, "dnl", 0).read_text())
    with pytest.raises(ValueError, match="no trial folder or record holds weights"):
        ex.summarise(runs, "dnl", [1], out, records=tmp_path / "r1")


def test_a_damaged_record_counts_as_unfinished(tmp_path):
    path = ex.record_path(tmp_path, "dnl", 0)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert ex.finished_trial(tmp_path / "runs", tmp_path, "dnl", 0) is None
    path.write_text(json.dumps({"trial": {}}))
    assert ex.finished_trial(tmp_path / "runs", tmp_path, "dnl", 0) is None


def _trial_with_options(runs, arm, seed, options, acc):
    folder = ex.trial_dir(runs, arm, seed)
    folder.mkdir(parents=True)
    cmd = ["python", "-m", "train", "spatial", "--arch", arm, *options, "--seed", str(seed), "--threads", "1"]
    (folder / f"spatial_{arm}.json").write_text(json.dumps({"name": f"spatial_{arm}", "acc": acc}))
    (folder / f"spatial_{arm}.safetensors").write_bytes(b"w")
    (folder / ex.TRIAL_FILE).write_text(json.dumps({"lab": "spatial", "arm": arm, "seed": seed, "card": f"spatial_{arm}.json",
                                                     "command": " ".join(cmd), "options": options, "seconds": 1.0}))
    return folder


def test_a_trial_keeps_its_options_and_older_records_are_read_from_their_command():
    assert ex.trial_options({"options": ["--epochs", "10"], "command": "ignored"}) == ["--epochs", "10"]
    old = {"lab": "spatial", "arm": "dnl", "command": "python -m train spatial --arch dnl --epochs 5 --lr 0.01 "
                                                      "--seed 3 --threads 1 --resume --out r/dnl/seed-3"}
    assert ex.trial_options(old) == ["--epochs", "5", "--lr", "0.01"]
    # a lab without an arm flag keeps every word before --seed; the arm's name may be a lab's name
    assert ex.trial_options({"lab": "sagan", "arm": "sagan", "command": "python -m train sagan --variant sagan "
                                                                        "--seed 0"}) == []
    assert ex.trial_options({"lab": "spatial", "arm": "dnl", "command": "train s1"}) is None
    assert ex.trial_options({}) is None


def test_a_trial_counts_as_finished_only_for_the_options_it_was_trained_with(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    _trial_with_options(runs, "dnl", 0, ["--epochs", "5"], 0.70)
    assert ex.finished_trial(runs, None, "dnl", 0, ["--epochs", "5"])[1]["acc"] == 0.70
    assert ex.finished_trial(runs, None, "dnl", 0, ["--epochs", "10"]) is None
    assert ex.finished_trial(runs, None, "dnl", 0, [])  is None              # no options is an option set too
    assert ex.finished_trial(runs, None, "dnl", 0)[1]["acc"] == 0.70          # no filter asked for
    ex.summarise(runs, "dnl", [0], tmp_path / "out", records=records, options=["--epochs", "5"])
    import shutil
    shutil.rmtree(runs)                                                         # the record alone decides now
    assert ex.finished_trial(runs, records, "dnl", 0, ["--epochs", "5"])[1]["acc"] == 0.70
    assert ex.finished_trial(runs, records, "dnl", 0, ["--epochs", "10"]) is None
    with pytest.raises(ValueError, match=r"seeds \[0\] have not finished with options --epochs 10"):
        ex.summarise(runs, "dnl", [0], tmp_path / "out", records=records, options=["--epochs", "10"])


def test_a_folder_trained_with_other_options_is_set_aside_not_resumed(tmp_path):
    runs = tmp_path / "runs"
    folder = _trial_with_options(runs, "dnl", 0, ["--epochs", "5"], 0.70)
    assert ex.set_aside_other_options(runs, "spatial", "dnl", 0, ["--epochs", "5"]) is None   # same options: kept
    assert folder.is_dir()
    aside = ex.set_aside_other_options(runs, "spatial", "dnl", 0, ["--epochs", "10"])
    assert aside == folder.with_name("seed-0.before-1") and not folder.exists()
    assert json.loads((aside / "spatial_dnl.json").read_text())["acc"] == 0.70          # nothing lost
    # a stopped trial (no trial.json): its log's last command says which options it ran with
    folder.mkdir()
    (folder / ex.LOG_FILE).write_text("\n$ /venv/python -m train spatial --arch dnl --epochs 10 --seed 0 --resume\n"
                                      "epoch 1 ...\n")
    assert ex.set_aside_other_options(runs, "spatial", "dnl", 0, ["--epochs", "10"]) is None
    assert ex.set_aside_other_options(runs, "spatial", "dnl", 0, ["--epochs", "12"]) == folder.with_name(
        "seed-0.before-2")
    assert ex.set_aside_other_options(runs, "spatial", "dnl", 1, ["--epochs", "12"]) is None  # no folder at all
    ex.trial_dir(runs, "dnl", 2).mkdir()
    assert ex.set_aside_other_options(runs, "spatial", "dnl", 2, ["--epochs", "12"]) is None  # an empty one


def test_the_page_seeds_weights_travel_with_its_record_to_a_fresh_machine(tmp_path):
    runs, records, out = tmp_path / "runs", tmp_path / "records", tmp_path / "assets"
    for seed in (0, 1):
        _fake_trial(runs, "dnl", seed, {"name": "spatial_dnl", "acc": 0.7 + seed / 10, "command": f"train s{seed}",
                                        "training_time_s": 10.0 + seed, "weights": "spatial_dnl.safetensors"},
                    weights=f"w{seed}".encode())
    # seed 1 has not finished on this machine: the summary fails, but seed 0's record and its weights stay
    with pytest.raises(ValueError, match=r"seeds \[2\] have not finished"):
        ex.summarise(runs, "dnl", [0, 1, 2], out, records=records)
    assert ex.record_weights_path(records, "dnl", 0).read_bytes() == b"w0"
    assert ex.record_path(records, "dnl", 1).is_file() and not ex.record_weights_path(records, "dnl", 1).exists()
    # an earlier summary of other trials left other weights in out: they must not stand for the new seeds
    def earlier_summary_of_other_trials():
        out.mkdir(exist_ok=True)
        (out / "spatial_dnl.json").write_text(json.dumps({"weights": "spatial_dnl.safetensors", "command": "old",
                                                          "experiment": {"weights_from_seed": 0}}))
        (out / "spatial_dnl.safetensors").write_bytes(b"old weights")

    earlier_summary_of_other_trials()
    import shutil
    shutil.rmtree(runs)                                    # a fresh machine trains seed 2 only
    _fake_trial(runs, "dnl", 2, {"name": "spatial_dnl", "acc": 0.9, "weights": "spatial_dnl.safetensors"},
                weights=b"w2")
    (ex.trial_dir(runs, "dnl", 2) / "spatial_dnl.safetensors").unlink()    # and keeps no weights there either
    card = json.loads(ex.summarise(runs, "dnl", [0, 1, 2], out, records=records).read_text())
    assert card["experiment"]["weights_from_seed"] == 0 and card["acc"] == 0.7
    assert (out / "spatial_dnl.safetensors").read_bytes() == b"w0"
    # without the kept weights, the earlier summary of other trials is refused, not reused
    ex.record_weights_path(records, "dnl", 0).unlink()
    earlier_summary_of_other_trials()
    with pytest.raises(ValueError, match="is not the summary of a trial among seeds"):
        ex.summarise(runs, "dnl", [0, 1, 2], out, records=records)


def test_a_runner_records_the_lowest_seeds_weights_only(tmp_path):
    runs, records = tmp_path / "runs", tmp_path / "records"
    for seed in (3, 4):
        _fake_trial(runs, "dnl", seed, {"name": "spatial_dnl", "weights": "spatial_dnl.safetensors"},
                    weights=f"w{seed}".encode())
        ex.write_record(records, runs, "dnl", seed, ex.finished(ex.trial_dir(runs, "dnl", seed)),
                        keep_weights=seed == 3)
    assert ex.record_weights_path(records, "dnl", 3).read_bytes() == b"w3"
    assert not ex.record_weights_path(records, "dnl", 4).exists()
