"""Every training command still runs: a few steps of each task through the one
``python -m train TASK`` dispatcher, into a throw-away folder, then the weights it wrote
load back into the model the app builds."""

from __future__ import annotations

import json

import pytest
import torch

from corpora.captions import MAX_LEN, VOCAB
from corpora.fashion import DATA_DIR
from models.classifiers import SpatialClassifier
from models.gan import SAGAN
from models.show_attend_tell import ShowAttendTell
from models.weights import load_weights
from train.__main__ import LABS, main

needs_fashion = pytest.mark.skipif(not (DATA_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                   reason="needs Debian's dataset-fashion-mnist (make data)")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _card(folder, name):
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


@needs_fashion
def test_spatial_command(tmp_path):
    common = ["spatial", "--arch", "cbam_full", "--epochs", "1", "--train-scenes", "64", "--test-scenes", "32",
              "--probe-scenes", "16", "--batch", "32", "--threads", "1",
              "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    assert main(common) == 0
    card = _card(tmp_path, "spatial_cbam_full")
    assert card["trained_here"] and "python -m train spatial" in card["command"]
    from train.spatial import unpack_bits

    assert card["test_correct"]["scenes"] == 32
    assert unpack_bits(card["test_correct"]["bits"], 32).mean() == pytest.approx(card["test_accuracy"], abs=1e-4)
    mask = card["localisation"]["scores"]["cbam.2.spatial (mask)"]
    assert set(mask["pointing_game"]["chance"]) == set(mask["energy_in_box"]["chance"]) == {
        "uniform", "centre_prior", "shuffled_box"}
    load_weights(SpatialClassifier("cbam_full"), tmp_path / "spatial_cbam_full.safetensors")


@needs_fashion
def test_sagan_command(tmp_path):
    args = ["sagan", "--steps", "2", "--batch", "8", "--width", "16", "--checkpoint-every", "1", "--threads", "1",
            "--eval-every", "1", "--eval-samples", "40", "--final-samples", "60",
            "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    assert main(args) == 0
    assert (tmp_path / "ck" / "sagan.pt").is_file()
    assert main(args[:2] + ["3"] + args[3:] + ["--resume"]) == 0  # resumes at step 2, runs one more
    card = _card(tmp_path, "sagan")
    load_weights(SAGAN(z_dim=64, width=16), tmp_path / "sagan.safetensors")
    assert card["name"] == "sagan" and card["steps_run"] == 3 and [p["step"] for p in card["curve"]] == [1, 2, 3]
    hist = card["class_histogram"]
    assert len(hist) == 10 and sum(hist) == 60 == card["quality"]["samples"]
    assert card["quality"]["largest_class_share"] == max(hist) / 60
    assert card["chance"]["fid_real_vs_real"] < card["quality"]["fid"]       # 3 steps are far from real items
    assert sum(card["chance"]["class_histogram_real"]) == 10000
    # the comparison arm: same networks without the attention layer, its own card and weights
    plain = ["sagan", "--variant", "no_attention", *args[1:]]
    assert main(plain) == 0
    card = _card(tmp_path, "gan_no_attention")
    load_weights(SAGAN(z_dim=64, width=16, attention=False), tmp_path / "gan_no_attention.safetensors")
    assert card["variant"] == "no_attention" and "gamma" not in card and "no attention layer" in card["architecture"]


@needs_fashion
def test_captioning_command(tmp_path):
    args = ["captioning", "--variant", "no_ds", "--epochs", "1", "--train-scenes", "32", "--val-scenes", "8",
            "--test-scenes", "8", "--batch", "16", "--threads", "1",
            "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    assert main(args) == 0
    card = _card(tmp_path, "captioning_no_ds")
    assert 0.0 <= card["metrics"]["bleu4"] <= 1.0
    load_weights(ShowAttendTell("no_ds", VOCAB, MAX_LEN), tmp_path / "captioning_no_ds.safetensors")


def test_translation_compare_command(tmp_path, capsys):
    for arch, bleu in (("seq2seq", 3.0), ("rnnsearch", 5.0)):
        (tmp_path / f"translation-{arch}.json").write_text(json.dumps(
            {"name": arch, "metrics": {"bleu": bleu, **{f"bleu_len_{b}": bleu for b in ("1_10", "11_20")}}}))
    assert main(["translation-compare", "--assets", str(tmp_path)]) == 0
    card = _card(tmp_path, "translation-rnnsearch")
    assert card["comparison"]["rnnsearch_minus_seq2seq_bleu"] == pytest.approx(2.0)
    assert "rnnsearch_vs_seq2seq_paired_bootstrap" not in card["comparison"]  # no hypotheses, no test


def test_translation_compare_pairs_the_test_hypotheses(tmp_path):
    refs = [f"el hombre come pan en la casa numero {i}" for i in range(40)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.tsv").write_text("".join(f"the man {i}\t{r}\n" for i, r in enumerate(refs)), encoding="utf-8")
    hyps = {"seq2seq": ["la casa"] * 40, "rnnsearch": refs[:30] + ["la casa"] * 10}
    for arch, lines in hyps.items():
        (tmp_path / f"translation-{arch}.json").write_text(json.dumps({"name": arch, "metrics": {"bleu": 1.0}}))
        (tmp_path / f"translation-{arch}.test.beam5.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["translation-compare", "--assets", str(tmp_path), "--data", str(data), "--samples", "100"]) == 0
    test = _card(tmp_path, "translation-seq2seq")["comparison"]["rnnsearch_vs_seq2seq_paired_bootstrap"]
    assert test["system_bleu"] > test["baseline_bleu"] and test["p_value"] < 0.05 and test["significant_gain"]


def test_every_lab_has_a_module_with_main():
    import importlib

    for lab, module in LABS.items():
        assert callable(importlib.import_module(module).main), lab


def test_text_attribution_command(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat on the mat .\na dog ran on the mat .\nthe cat ran .\n", encoding="utf-8")
    run = ["text-attribution", "--model", "minilm", "--texts", str(texts), "--steps", "2", "--ig-steps", "4",
           "--random-orders", "2", "--checkpoints", str(tmp_path / "ckpt")]
    assert main([*run, "--sentences", "2", "--out", str(tmp_path)]) == 0
    card = json.loads((tmp_path / "text-attribution-minilm.json").read_text())
    # one verse, then --resume to two: the same card as the straight run, minus the clock
    assert main([*run, "--sentences", "1", "--out", str(tmp_path / "a"), "--checkpoints", str(tmp_path / "c2")]) == 0
    capsys.readouterr()
    assert main([*run, "--sentences", "2", "--out", str(tmp_path / "a"), "--checkpoints", str(tmp_path / "c2"),
                 "--resume"]) == 0
    assert "1 verses already explained" in capsys.readouterr().out   # the first verse was not redone
    resumed = json.loads((tmp_path / "a" / "text-attribution-minilm.json").read_text())
    assert resumed["sentences"] == 2 and resumed["agreement"] == card["agreement"]
    assert resumed["deletion_drop"] == card["deletion_drop"]
    assert card["sentences"] == 2
    grid = card["agreement"]["integrated_gradients"]["raw_per_head_mean"]
    assert len(grid) == 6 and len(grid[0]) == 12       # MiniLM: 6 layers x 12 heads
    assert set(card["deletion_drop"]) == {"attention (mean of heads)", "rollout", "integrated_gradients",
                                          "input_x_gradient", "blank_out", "chance (random order)"}
    assert card["paper"]["abnar_zuidema_2020_spearman_vs_blank_out"] == {"raw_attention": 0.29, "rollout": 0.71}


def test_translation_compare_writes_how_far_the_references_can_be_trusted(tmp_path):
    from corpora import alignment_check

    data = tmp_path / "data"
    data.mkdir()
    verse = {"ref": "Gen 1:1", "en": "In the beginning", "es": "En el principio", "links": [[0, 0], [2, 2], [2, 1]]}
    (data / "test.align.jsonl").write_text(json.dumps(verse) + "\n", encoding="utf-8")
    for arch, steps in (("seq2seq", 2000), ("rnnsearch", 5000)):
        (tmp_path / f"translation-{arch}.json").write_text(
            json.dumps({"name": arch, "metrics": {"bleu": 1.0, "train_steps": steps}}))
    assert main(["translation-compare", "--assets", str(tmp_path), "--data", str(data)]) == 0
    quality = _card(tmp_path, "translation-rnnsearch")["reference_quality"]
    judged = alignment_check.rates(alignment_check.CHECK)  # the judgement file alone
    assert quality["hand_check"]["verses"] == judged["verses"] >= 30
    assert quality["hand_check"]["clean"] == judged["clean"] and "eflomal" not in quality["hand_check"]
    # two scored words, three links: recall 2/3, AER 1 - 2*2/(2+3)
    floor = quality["oracle_floors"]["test.align.jsonl"]
    assert floor["recall"] == pytest.approx(2 / 3) and floor["aer"] == pytest.approx(1 - 4 / 5)
    assert "eflomal_vs_strongs_clean" not in quality  # no eflomal links built
    assert "reference_quality" not in _card(tmp_path, "translation-seq2seq")  # no attention to score
    assert _card(tmp_path, "translation-rnnsearch")["comparison"]["train_steps"] == {"seq2seq": 2000, "rnnsearch": 5000}
