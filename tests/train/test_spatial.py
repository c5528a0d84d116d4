"""A few training steps end to end on tiny synthetic data (no Debian dataset needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.classifiers import SpatialClassifier
from models.gan import SAGAN
from train.__main__ import main as train_main
from train.sagan import train_gan
from analysis.localisation import affinity_mass, localisation_scores, query_independence
from analysis.paired_tests import mcnemar
from train.spatial import (accuracy, compare_arms, evaluate, fit, pack_bits, plateau, query_independence_of,
                           unpack_bits)
from models.weights import load_weights
from train.checkpoint import save_weights


def _toy_scenes(n=48, seed=0):
    """Class 0: a bright square on the left half, class 1: on the right; box = the square."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 64, 64), np.uint8)
    labels = np.arange(n) % 2
    boxes = np.zeros((n, 4), np.int64)
    for i in range(n):
        y = int(rng.integers(0, 48))
        x = int(rng.integers(0, 16)) + (32 if labels[i] else 0)
        images[i, y : y + 16, x : x + 16] = 255
        boxes[i] = (x, y, x + 16, y + 16)
    return images, labels, boxes


@pytest.mark.parametrize("arch", ["nl_concat", "dnl", "cbam_full"])
def test_fit_evaluate_save_load_resume(arch, tmp_path):
    images, labels, boxes = _toy_scenes()
    model = SpatialClassifier(arch, width=4)
    ckpt = tmp_path / "ck.pt"
    stats = fit(model, images, labels, epochs=2, batch=16, lr=3e-3, seed=0, device="cpu",
                checkpoint=ckpt, progress=False)
    assert stats["epochs_completed"] == 2 and np.isfinite(stats["last_train_loss"])
    assert ckpt.is_file()
    metrics = evaluate(model, images, labels, boxes, device="cpu", probe=20, batch=16)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["probe_scenes"] == 20
    assert "feature_energy (reference, no attention)" in metrics["pointing_game"]
    if arch == "cbam_full":
        assert {"cbam.1.spatial (mask)", "cbam.2.spatial (mask)"} <= set(metrics["pointing_game"])
    else:
        assert metrics["query_independence"]  # NL and DNL report it
    # Weights round-trip through fp16 safetensors.
    path = tmp_path / "w.safetensors"
    save_weights(model, path)
    again = load_weights(SpatialClassifier(arch, width=4), path)
    x = torch.from_numpy(images[:4]).float()[:, None] / 255
    with torch.inference_mode():
        torch.testing.assert_close(again(x)[0], model.eval()(x)[0], atol=5e-2, rtol=5e-2)
    # Resuming a finished run trains nothing more and keeps the weights.
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, images, labels, epochs=2, batch=16, lr=3e-3, seed=0, device="cpu",
        checkpoint=ckpt, resume=True, progress=False)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_a_checkpoint_of_a_shorter_schedule_is_not_resumed_into_a_longer_one(tmp_path, capsys):
    images, labels, _ = _toy_scenes(48)
    ckpt = tmp_path / "ck.pt"
    fit(SpatialClassifier("baseline", width=4), images, labels, epochs=1, batch=16, lr=1e-2, seed=0, device="cpu",
        checkpoint=ckpt, progress=False)
    # resumed, the one-cycle schedule of 1 epoch would step past its end in epoch 2
    longer = fit(SpatialClassifier("baseline", width=4), images, labels, epochs=2, batch=16, lr=1e-2, seed=0,
                 device="cpu", checkpoint=ckpt, resume=True, progress=False)
    assert "written with another schedule: starting fresh" in capsys.readouterr().out
    assert [p["epoch"] for p in longer["curve"]] == [1, 2] and longer["epochs_completed"] == 2
    assert torch.load(ckpt, weights_only=True)["schedule"]["epochs"] == 2


def test_fit_draws_a_validation_curve_that_survives_resume(tmp_path, monkeypatch):
    import shutil
    import train.spatial as spatial
    images, labels, _ = _toy_scenes(64)
    val = (images[48:], labels[48:])
    ckpt, after_two = tmp_path / "ck.pt", tmp_path / "after-epoch-2.pt"
    real_save = spatial.save_checkpoint

    def save_and_keep_epoch_two(path, stateful, **counters):
        real_save(path, stateful, **counters)
        if counters["epoch"] == 2:
            shutil.copy(path, after_two)
    monkeypatch.setattr(spatial, "save_checkpoint", save_and_keep_epoch_two)
    model = SpatialClassifier("baseline", width=4)
    first = fit(model, images[:48], labels[:48], epochs=3, batch=16, lr=1e-2, seed=0, device="cpu",
                checkpoint=ckpt, progress=False, val=val)
    assert [p["step"] for p in first["curve"]] == [3, 6, 9]
    # As if the run had stopped after epoch 2: resuming trains epoch 3 and keeps points 1 and 2.
    state = torch.load(after_two, weights_only=True)
    state["curve"][0]["train_loss"] = 123.0
    torch.save(state, ckpt)
    model = SpatialClassifier("baseline", width=4)
    again = fit(model, images[:48], labels[:48], epochs=3, batch=16, lr=1e-2, seed=0, device="cpu",
                checkpoint=ckpt, resume=True, progress=False, val=val)
    assert [p["epoch"] for p in again["curve"]] == [1, 2, 3]
    # the first sitting died after epoch 2's checkpoint: closed there, and the second trained epoch 3
    assert [(r["from_step"], r["to_step"], r.get("ended")) for r in first["sittings"]] == [(0, 9, None)]
    assert [(r["from_step"], r["to_step"], r.get("ended")) for r in again["sittings"]] == [
        (0, 6, "stopped; resumed from its last checkpoint"), (6, 9, None)]
    assert again["curve"][0]["train_loss"] == 123.0  # read from the checkpoint, not retrained
    assert again["curve"][2]["train_loss"] == pytest.approx(first["curve"][2]["train_loss"], abs=1e-3)
    # The last point's validation accuracy is the trained model's accuracy on val, counted by hand.
    with torch.inference_mode():
        x = torch.from_numpy(val[0]).float()[:, None] / 255
        by_hand = float((model.eval()(x)[0].argmax(1).numpy() == val[1]).mean())
    assert again["curve"][-1]["val_accuracy"] == pytest.approx(by_hand, abs=1e-4)
    assert accuracy(model, *val, device="cpu", batch=5) == pytest.approx(by_hand)
    assert again["images_per_s"] > 0


def test_plateau_rule():
    def pts(*v):
        return [{"val_accuracy": a} for a in v]
    assert plateau(pts(0.5, 0.7, 0.704))["reached"] is True       # +0.004 over the best before
    assert plateau(pts(0.5, 0.7, 0.71))["reached"] is False       # +0.01
    assert plateau(pts(0.8, 0.7, 0.75))["reached"] is True        # below an earlier best
    assert plateau(pts(0.5, 0.7, 0.704))["last_epoch_gain"] == pytest.approx(0.004)
    assert plateau(pts(0.5))["reached"] is None


@pytest.mark.parametrize("arch", ["nl_dot", "cbam_full"])
def test_evaluate_scores_every_map_sign_aware_beside_chance(arch):
    images, labels, boxes = _toy_scenes(30)
    torch.manual_seed(0)
    model = SpatialClassifier(arch, width=4).eval()
    metrics = evaluate(model, images, labels, boxes, device="cpu", probe=12, batch=8)
    x = torch.from_numpy(images).float()[:, None] / 255
    with torch.inference_mode():
        logits, records = model(x)
        feats, _ = model.features(x[:12])
    np.testing.assert_array_equal(metrics["test_correct"], logits.argmax(1).numpy() == labels)
    assert metrics["test_accuracy"] == pytest.approx(metrics["test_correct"].mean())
    by_name = {"feature_energy (reference, no attention)": feats.pow(2).mean(1).numpy()}
    for r in records:
        if r.kind == "spatial":
            by_name[f"{r.name} (mask)"] = r.numpy()[:12]
        elif r.kind == "affinity":
            by_name[f"{r.name} (mass over queries)"] = affinity_mass(r.numpy()[:12], r.grid)
            assert metrics["query_independence"][r.name] == pytest.approx(query_independence(r.numpy()[:12]).mean())
            assert query_independence_of(model, images, device="cpu", probe=12, batch=5)[r.name] == pytest.approx(
                metrics["query_independence"][r.name], rel=1e-5)
    assert set(metrics["localisation"]) == set(by_name)
    for name, maps in by_name.items():
        expected = localisation_scores(maps, boxes[:12])
        got = metrics["localisation"][name]
        for score in ("pointing_game", "energy_in_box"):
            assert got[score]["map"] == pytest.approx(expected[score]["map"], abs=1e-6), name
            assert got[score]["chance"] == pytest.approx(expected[score]["chance"], abs=1e-6), name


def test_packed_bits_round_trip():
    flags = np.random.default_rng(0).random(4001) > 0.3
    text = pack_bits(flags)
    assert len(text) == 2 * 501 and set(text) <= set("0123456789abcdef")
    np.testing.assert_array_equal(unpack_bits(text, 4001), flags)


def _card(acc_bits):
    bits = np.array(acc_bits, dtype=bool)
    return {"test_accuracy": float(bits.mean()), "test_correct": {"scenes": len(bits), "bits": pack_bits(bits)}}


def test_compare_arms_pairs_each_arm_with_the_baseline_of_its_seed():
    rng = np.random.default_rng(1)
    flags = {(a, s): rng.random(50) > p for a, p in (("baseline", 0.5), ("cbam_channel", 0.4), ("cbam_full", 0.3))
             for s in (0, 1, 2)}
    cards = {a: {s: _card(flags[a, s]) for s in (0, 1, 2)} for a in ("baseline", "cbam_channel", "cbam_full")}
    out = compare_arms(cards)
    assert set(out) == {"baseline", "cbam_channel", "cbam_full"} and "against_baseline" not in out["baseline"]
    full = out["cbam_full"]["against_baseline"]
    for s in (0, 1, 2):
        assert full["mcnemar_per_seed"][str(s)] == mcnemar(flags["cbam_full", s], flags["baseline", s])
    d = [flags["cbam_full", s].mean() - flags["baseline", s].mean() for s in (0, 1, 2)]
    assert full["across_seeds"]["mean_difference"] == pytest.approx(np.mean(d))
    order = out["cbam_full"]["cbam_ordering"]
    holds = [flags["cbam_full", s].mean() >= flags["cbam_channel", s].mean() >= flags["baseline", s].mean()
             for s in (0, 1, 2)]
    assert order["holds_per_seed"] == {str(s): h for s, h in zip((0, 1, 2), holds)}
    assert order["holds_on"] == sum(holds) and f"holds on {sum(holds)} of 3 seeds" in order["statement"]
    assert order == out["baseline"]["cbam_ordering"]
    sd = np.std([flags["cbam_full", s].mean() for s in (0, 1, 2)], ddof=1)
    assert order["sd"]["cbam_full"] == pytest.approx(sd) and f"{order['mean']['cbam_full']:.4f} ± {sd:.4f}" in order["statement"]
    # one seed has no spread: no "± 0.0000", and the statement says so
    one = compare_arms({a: {0: cards[a][0]} for a in cards})["cbam_full"]["cbam_ordering"]
    assert one["sd"] == {"baseline": None, "cbam_channel": None, "cbam_full": None}
    assert "±" not in one["statement"] and "of 1 seed;" in one["statement"] and "on the one seed" in one["statement"]
    # without a baseline there is nothing to compare with; old cards without bits get no McNemar
    assert compare_arms({"dnl": cards["cbam_full"]}) == {}
    old = {a: {0: {"test_accuracy": 0.5}} for a in ("baseline", "dnl")}
    assert compare_arms(old)["dnl"]["against_baseline"]["mcnemar_per_seed"] == {}


def test_training_learns_the_toy_task():
    images, labels, boxes = _toy_scenes(96)
    model = SpatialClassifier("baseline", width=4)
    fit(model, images, labels, epochs=4, batch=16, lr=1e-2, seed=0, device="cpu", progress=False)
    acc = evaluate(model, images, labels, boxes, device="cpu", probe=0)["test_accuracy"]
    assert acc > 0.8  # left vs right is easy; chance is 0.5


def test_gan_steps_and_resume(tmp_path):
    images = (np.random.default_rng(0).random((32, 28, 28)) * 255).astype(np.uint8)
    gan = SAGAN(z_dim=8, width=16)
    ckpt = tmp_path / "gan.pt"
    out = train_gan(gan, images, steps=3, batch=4, lr_g=1e-4, lr_d=4e-4, seed=0, device="cpu",
                    checkpoint=ckpt, checkpoint_every=2, progress=False)
    assert np.isfinite(out["d_loss_last200"]) and np.isfinite(out["g_loss_last200"])
    assert float(gan.generator.attn.gamma.detach()) != 0.0  # gamma is learned, starts at 0
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 3
    assert [(r["from_step"], r["to_step"]) for r in out["sittings"]] == [(0, 3)] == \
        [(r["from_step"], r["to_step"]) for r in state["sittings"]]
    # a longer cap resumes from step 3 in a second sitting
    more = train_gan(gan, images, steps=5, batch=4, lr_g=1e-4, lr_d=4e-4, seed=0, device="cpu",
                     checkpoint=ckpt, resume=True, checkpoint_every=2, progress=False, command="more")
    assert [(r["from_step"], r["to_step"]) for r in more["sittings"]] == [(0, 3), (3, 5)]
    assert more["sittings"][1]["command"] == "more"


def test_dispatcher_rejects_unknown_lab(capsys):
    assert train_main(["translation-that-does-not-exist"]) == 2
    assert "unknown lab" in capsys.readouterr().err
    assert train_main(["--help"]) == 0


def test_report_prints_each_card_beside_its_chance_levels(tmp_path):
    import json

    from train.spatial import report

    chance = {"uniform": 0.14, "centre_prior": 0.36, "shuffled_box": 0.2}
    card = {"arch": "dnl", "seed": 0, "seeds": [0, 1], "test_accuracy": 0.75,
            "localisation": {"scores": {
                "feature_energy (reference, no attention)": {"pointing_game": {"map": 1.0, "chance": chance},
                                                             "energy_in_box": {"map": 0.9, "chance": chance}},
                "dnl.unary (unary map)": {"pointing_game": {"map": 0.9, "chance": chance},
                                          "energy_in_box": {"map": 0.5, "chance": chance}}}},
            "query_independence": {"score": {"dnl.pairwise": 0.6}, "chance": {"random_weights": {"dnl.pairwise": 1.0}}},
            "plateau": {"last_epoch_gain": 0.001},
            "across_seeds": {"test_accuracy": {"mean": 0.76, "sd": 0.01, "values": [0.75, 0.77]},
                             "plateau.last_epoch_gain": {"mean": 0.006, "sd": 0.007, "values": [0.001, 0.011]}},
            "comparison": {"against_baseline": {"across_seeds": {"mean_difference": -0.02, "sd_difference": 0.01,
                                                                 "seeds": 2, "a_better_on": 0,
                                                                 "t_test_p_value": 0.03}}}}
    (tmp_path / "spatial_dnl.json").write_text(json.dumps(card))
    text = report(tmp_path)
    (row,) = [line for line in text.splitlines() if line.startswith("| dnl ")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[2] == "0.760 ± 0.010 (2 seeds)"
    assert cells[3] == "-0.020 ± 0.010, ahead on 0/2 seeds, p = 0.03"
    # the reference map is not an attention map; the chance levels stand beside the best one
    assert cells[4] == ("0.900 [dnl.unary (unary map)] (chance: uniform 0.14, centre 0.36, shuffled box 0.20)")
    assert cells[5] == ("0.500 [dnl.unary (unary map)] (chance: uniform 0.14, centre 0.36, shuffled box 0.20)")
    assert cells[6] == "0.600 (random weights 1.000)" and cells[7] == "1 of 2 seeds"
    assert "plateau (last-epoch gain < 0.005)" in text
    assert "| baseline " not in text                                        # no card, no row


def test_narrow_models_train_in_the_default_layout_where_onednn_would_corrupt_memory():
    import torch

    from models.classifiers import SpatialClassifier
    from train.spatial import CHANNELS_LAST_MIN_CHANNELS, memory_format_for

    # stage1's shortcut is a 1x1 stride-2 convolution with `width` input channels
    assert CHANNELS_LAST_MIN_CHANNELS == 8
    assert memory_format_for(SpatialClassifier("baseline", width=4)) == torch.contiguous_format
    assert memory_format_for(SpatialClassifier("cbam_full", width=7)) == torch.contiguous_format
    assert memory_format_for(SpatialClassifier("baseline", width=8)) == torch.channels_last
    assert memory_format_for(SpatialClassifier("dnl", width=16)) == torch.channels_last
    # a narrow model takes a training step in that layout (the channels-last one crashed here)
    model = SpatialClassifier("baseline", width=4)
    x = torch.rand(8, 1, 64, 64)
    logits, _ = model(x)
    logits.sum().backward()
    assert model.stage1.shortcut[0].weight.grad is not None
