"""Captum maps have the photo's shape; agreement and deletion behave as defined."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis import attribution as A
from models.pretrained import efficientnet_lite as E


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return E.load_efficientnet_lite0("cpu")


@pytest.fixture(scope="module")
def photo():
    # A non-square synthetic photo: a bright disc on a textured background.
    rng = np.random.default_rng(0)
    h, w = 90, 130
    yy, xx = np.mgrid[:h, :w]
    img = rng.integers(0, 80, (h, w, 3)).astype(np.uint8)
    img[(yy - 45) ** 2 + (xx - 80) ** 2 < 30 ** 2] = (230, 180, 40)
    return img


def test_captum_maps_have_the_image_shape(model, photo):
    x = E.preprocess(photo)
    target = E.classify(model, photo).top[0][0]
    calls = []
    maps = A.captum_maps(model, model.cam_layer, x, target, photo.shape[:2], n_steps=4, window=112, stride=56,
                         progress=lambda i, n, name: calls.append((i, n, name)))
    assert set(maps) == set(A.METHODS)
    for name, m in maps.items():
        assert m.shape == photo.shape[:2], name
        assert m.dtype == np.float32 and np.isfinite(m).all(), name
        assert float(np.abs(m).max()) > 0, f"{name} is all zeros"
    assert (maps["Grad-CAM"] >= 0).all()  # ReLU'd
    assert calls[0][0] == 0 and calls[-1] == (3, 3, "done")
    with pytest.raises(ValueError):
        A.captum_maps(model, model.cam_layer, x, 1000, photo.shape[:2])
    with pytest.raises(ValueError):
        A.captum_maps(model, model.cam_layer, x, 1, photo.shape[:2], methods=("LIME",))


def test_deletion_curve_starts_at_the_model_probability_and_ends_at_the_blank_image(model, photo):
    x = E.preprocess(photo)
    pred = E.classify(model, photo)
    target = pred.top[0][0]
    saliency = np.random.default_rng(1).random((20, 30)).astype(np.float32)
    curve = A.deletion_curve(model, x, target, saliency, steps=10)
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1 and len(curve.probabilities) == 11
    assert curve.probabilities[0] == pytest.approx(pred.probs[target], abs=1e-4)
    with torch.inference_mode():
        blank = torch.softmax(model(torch.zeros_like(x)), dim=1)[0, target].item()
    assert curve.probabilities[-1] == pytest.approx(blank, abs=1e-4)
    assert 0.0 <= curve.auc <= 1.0
    assert curve.auc == pytest.approx(np.trapezoid(curve.probabilities, curve.fractions))


def test_agreement_of_identical_reversed_and_other_maps():
    rng = np.random.default_rng(0)
    a = rng.random((40, 60)).astype(np.float32)
    b = rng.random((40, 60)).astype(np.float32)
    ag = A.agreement({"a": a, "same": a.copy(), "reversed": -a, "other": b}, grid=20, fraction=0.1)
    assert ag.names == ("a", "same", "reversed", "other")
    assert np.allclose(ag.spearman, ag.spearman.T) and np.allclose(np.diag(ag.spearman), 1)
    assert ag.spearman[0, 1] == pytest.approx(1.0)
    assert ag.overlap[0, 1] == pytest.approx(1.0)
    assert ag.spearman[0, 2] == pytest.approx(-1.0)
    assert ag.overlap[0, 2] == 0.0
    assert abs(ag.spearman[0, 3]) < 0.3  # independent noise
    # a constant map has no ranking
    assert np.isnan(A.spearman(np.ones(10), np.arange(10.0)))


def test_to_shape_resamples_any_map():
    m = A.to_shape(torch.arange(12.0).reshape(3, 4), (30, 40))
    assert m.shape == (30, 40) and m.dtype == np.float32
    assert m.min() >= -1e-5 and m.max() <= 11 + 1e-5  # bilinear never overshoots
    with pytest.raises(ValueError):
        A.to_shape(np.zeros(5), (3, 3))
