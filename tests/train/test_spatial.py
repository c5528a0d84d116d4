"""A few training steps end to end on tiny synthetic data (no Debian dataset needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.classifiers import SpatialClassifier
from models.gan import SAGAN
from train.__main__ import main as train_main
from train.sagan import train_gan
from train.spatial import evaluate, fit
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


def test_dispatcher_rejects_unknown_lab(capsys):
    assert train_main(["translation-that-does-not-exist"]) == 2
    assert "unknown lab" in capsys.readouterr().err
    assert train_main(["--help"]) == 0
