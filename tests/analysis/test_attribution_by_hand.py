"""Grad-CAM, Integrated Gradients and Occlusion on toy models whose attributions are known in closed form,
and the agreement scores on hand-made maps.

    Grad-CAM on A = layer(x), f_c = Σ W_c ⊙ A:  α_k = mean_uv W_c[k],  map = ReLU(Σ_k α_k A_k)
    IG of f = ReLU(w·x − θ) from 0 with Gauss-Legendre nodes t_k, weights ω_k on [0, 1]:
        IG = x ⊙ w · Σ_k ω_k [t_k (w·x) > θ]
    Occlusion of a linear f_c = Σ W_c ⊙ x with baseline 0: each pixel gets the mean, over the windows
        that cover it, of the window's drop Σ_{q ∈ window} W_c[q] x[q]
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from analysis import attribution as A


class Linear(nn.Module):
    """A = conv1x1(x) (K = 2 channels), logits_c = Σ W_c ⊙ A."""

    def __init__(self, s: int):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.feat = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.feat.weight.copy_(torch.tensor([[1.0, 0.5, -0.5], [0.2, -1.0, 0.3]])[:, :, None, None])
        self.w = nn.Parameter(torch.randn(2, 2, s, s, generator=g))

    def forward(self, x):
        return torch.einsum("bkhw,ckhw->bc", self.feat(x), self.w)


class Kink(nn.Module):
    """logit 0 = ReLU(w·x − θ), logit 1 = 0."""

    def __init__(self, w, theta):
        super().__init__()
        self.w = nn.Parameter(w)
        self.theta = theta

    def forward(self, x):
        z = torch.relu((x * self.w).flatten(1).sum(1) - self.theta)
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def _input(s, seed=1):
    return torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(seed))


def test_gradcam_by_hand_keeps_only_the_positive_part():
    model = Linear(4).eval()
    x = _input(4)
    with torch.no_grad():
        a = model.feat(x)[0]  # (K, h, w)
    for target in (0, 1):
        alpha = model.w[target].detach().mean(dim=(1, 2))  # (K,)
        cam = (alpha[:, None, None] * a).sum(0)
        assert (cam < 0).any() and (cam > 0).any()  # so the ReLU matters
        got = A.gradcam(model, model.feat, x, target)
        assert tuple(got.shape) == (4, 4)
        torch.testing.assert_close(got, torch.relu(cam), rtol=1e-5, atol=1e-6)


def _gl_fraction(n, threshold):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    t, w = (nodes + 1) / 2, weights / 2
    return float(w[t > threshold].sum())


def test_integrated_gradients_uses_16_gauss_legendre_nodes_from_a_zero_baseline():
    s = 5
    x = _input(s)
    w = torch.randn(3, s, s, generator=torch.Generator().manual_seed(2)).abs()
    total = float((x[0] * w).sum())
    model = Kink(w, theta=0.3 * total).eval()
    ig = A.integrated_gradients(model, x, 0)  # defaults: 16 nodes
    expected = (x[0] * w).abs().sum(0) * _gl_fraction(16, 0.3)
    assert tuple(ig.shape) == (s, s)
    torch.testing.assert_close(ig, expected, rtol=1e-5, atol=1e-6)
    assert _gl_fraction(16, 0.3) != pytest.approx(_gl_fraction(17, 0.3), rel=1e-4)
    assert _gl_fraction(16, 0.3) != pytest.approx(_gl_fraction(50, 0.3), rel=1e-4)
    ig4 = A.integrated_gradients(model, x, 0, n_steps=4, batch=2)
    torch.testing.assert_close(ig4, (x[0] * w).abs().sum(0) * _gl_fraction(4, 0.3), rtol=1e-5, atol=1e-6)


def _occlusion_loops(w, x, window, stride):
    s = x.shape[-1]
    contrib = (w * x).numpy()  # (3, S, S)
    acc = np.zeros((s, s))
    count = np.zeros((s, s))
    for r in range(0, s - window + 1, stride):
        for c in range(0, s - window + 1, stride):
            acc[r:r + window, c:c + window] += contrib[:, r:r + window, c:c + window].sum()
            count[r:r + window, c:c + window] += 1
    return 3 * acc / count  # the same value on each of the 3 channels, summed


class Pixels(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(3)))

    def forward(self, x):
        return torch.einsum("bqhw,cqhw->bc", x, self.w)


def test_occlusion_defaults_are_56_pixel_windows_every_28_for_the_target_class():
    s = 112
    model = Pixels(s).eval()
    x = _input(s)
    for target in (0, 1):
        got = A.occlusion(model, x, target)
        assert tuple(got.shape) == (s, s)
        # float32 differences of two sums over 37 632 terms: ~1e-3 absolute on values of a few hundred
        np.testing.assert_allclose(got.numpy(), _occlusion_loops(model.w[target].detach(), x[0], 56, 28),
                                   rtol=1e-3, atol=1e-2)
    small = Pixels(8).eval()
    x8 = _input(8)
    got = A.occlusion(small, x8, 1, window=4, stride=2, batch=3)
    np.testing.assert_allclose(got.numpy(), _occlusion_loops(small.w[1].detach(), x8[0], 4, 2), rtol=1e-4, atol=1e-5)


def test_spearman_by_hand_and_quiet_for_constant_maps():
    # ranks with ties averaged: [0, 0, 1, 1] -> [1.5, 1.5, 3.5, 3.5], whose standard deviation is exactly 1
    assert A.spearman(np.array([0, 0, 1, 1.0]), np.array([0, 0, 1, 1.0])) == pytest.approx(1.0)
    # ranks [1, 2, 3, 4] vs [4, 3, 1, 2]: 1 − 6 Σd² / (n(n² − 1)) = 1 − 6·(9 + 1 + 4 + 4) / 60 = −0.8
    assert A.spearman(np.array([1.0, 2, 3, 4]), np.array([9.0, 7, 1, 5])) == pytest.approx(-0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero warning: the constant case is caught first
        assert np.isnan(A.spearman(np.ones(4), np.arange(4.0)))
        assert np.isnan(A.spearman(np.arange(4.0), np.ones(4)))


def test_top_k_overlap_by_hand():
    a = np.array([5.0, 4, 3, 2, 1, 0, 0, 0, 0, 0])
    b = np.array([5.0, 0, 3, 0, 4, 0, 0, 0, 0, 1])
    assert A.top_k_overlap(a, b) == 1.0  # default 10%: k = 1, both top cells are index 0
    assert A.top_k_overlap(a, b, 0.2) == 0.5  # {0, 1} vs {0, 4}
    assert A.top_k_overlap(a, b, 0.3) == pytest.approx(2 / 3)  # {0, 1, 2} vs {0, 4, 2}
    assert A.top_k_overlap(a, b, 1.0) == 1.0
    assert A.top_k_overlap(a[:4], b[:4], 0.1) == 1.0  # round(0.4) = 0 -> at least one cell
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"^top-k fraction must lie in \(0, 1\], got "):
            A.top_k_overlap(a, b, bad)


def test_top_k_ties_are_broken_by_position_in_both_maps():
    # a is 0/1 with many ties; b is a with every cell after a's 20th one set to 1 as well. Broken by
    # position, both top-20 sets are a's first twenty ones (an unstable sort picks other tied cells).
    a = (np.random.default_rng(0).random(200) < 0.5).astype(np.float64)
    ones = np.flatnonzero(a)
    b = a.copy()
    b[ones[19] + 1:] = 1.0
    assert A.top_k_overlap(a, b, 0.1) == 1.0


def test_agreement_pools_to_the_grid_and_keeps_a_diagonal_of_one():
    # 4 x 4 maps pooled to 2 x 2 by averaging 2 x 2 blocks
    m1 = np.array([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])   # pools to [1, 2, 3, 4]
    m2 = np.array([[4.0, 4, 0, 2], [4, 4, 2, 0], [1, 1, 3, 3], [1, 1, 3, 3]])   # pools to [4, 1, 1, 3]
    const = np.full((4, 4), 2.0)
    ag = A.agreement({"one": m1, "two": m2, "flat": const}, grid=2, fraction=0.5)
    assert ag.grid == 2 and ag.fraction == 0.5 and ag.names == ("one", "two", "flat")
    # ranks [1, 2, 3, 4] vs [4, 1.5, 1.5, 3]: Pearson of the ranks
    expected = np.corrcoef([1, 2, 3, 4], [4, 1.5, 1.5, 3])[0, 1]
    assert ag.spearman[0, 1] == pytest.approx(expected) and ag.spearman[1, 0] == pytest.approx(expected)
    assert ag.overlap[0, 1] == 0.5  # top 2: {3, 2} vs {0, 3}
    np.testing.assert_array_equal(np.diag(ag.spearman), [1.0, 1.0, 1.0])  # a flat map is 1 with itself
    np.testing.assert_array_equal(np.diag(ag.overlap), [1.0, 1.0, 1.0])
    assert np.isnan(ag.spearman[0, 2]) and np.isnan(ag.spearman[2, 1])
    default = A.agreement({"one": m1, "two": m2})
    assert default.grid == 56 and default.fraction == 0.1


def test_pool_refuses_a_non_2d_map_with_its_shape():
    with pytest.raises(ValueError, match=r"^a saliency map must be 2-D, got shape \(2, 2, 2\)$"):
        A.agreement({"a": np.zeros((2, 2, 2)), "b": np.zeros((2, 2, 2))})


def test_captum_maps_dispatches_each_method_with_its_defaults_and_reports_progress():
    s = 112
    model = Linear(s).train()  # captum_maps evaluates in eval mode and restores the mode
    x = _input(s)
    calls = []
    maps = A.captum_maps(model, model.feat, x, 0, (s, s), progress=lambda *c: calls.append(c))
    assert calls == [(0, 3, "Grad-CAM"), (1, 3, "Integrated Gradients"), (2, 3, "Occlusion"), (3, 3, "done")]
    assert model.training
    model.eval()
    np.testing.assert_allclose(maps["Grad-CAM"], A.gradcam(model, model.feat, x, 0).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["Integrated Gradients"], A.integrated_gradients(model, x, 0, n_steps=16).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(maps["Occlusion"], A.occlusion(model, x, 0, window=56, stride=28).numpy(),
                               rtol=1e-5, atol=1e-4)
    # one method, asked by name, with its own settings
    only = A.captum_maps(model, model.feat, x, 1, (s, s), methods=("Integrated Gradients",), n_steps=3)
    assert set(only) == {"Integrated Gradients"}
    np.testing.assert_allclose(only["Integrated Gradients"], A.integrated_gradients(model, x, 1, n_steps=3).numpy(),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"^unknown attribution methods \['LIME'\]; choose from \("):
        A.captum_maps(model, model.feat, x, 0, (s, s), methods=("LIME",))
    with pytest.raises(ValueError, match=r"^class 1000 is not an ImageNet class index \(0\.\.999\)$"):
        A.captum_maps(model, model.feat, x, 1000, (s, s))
    with pytest.raises(ValueError, match=r"^class -1 is not an ImageNet class index"):
        A.captum_maps(model, model.feat, x, -1, (s, s))


def test_captum_maps_passes_its_ig_steps_and_occlusion_window_on():
    s = 8
    x = _input(s)
    w = torch.randn(3, s, s, generator=torch.Generator().manual_seed(2)).abs()
    kink = Kink(w, theta=0.3 * float((x[0] * w).sum())).eval()
    ig = A.captum_maps(kink, None, x, 0, (s, s), methods=("Integrated Gradients",))["Integrated Gradients"]
    np.testing.assert_allclose(ig, ((x[0] * w).abs().sum(0) * _gl_fraction(16, 0.3)).numpy(), rtol=1e-5, atol=1e-6)
    ig3 = A.captum_maps(kink, None, x, 0, (s, s), methods=("Integrated Gradients",), n_steps=3)
    np.testing.assert_allclose(ig3["Integrated Gradients"], ((x[0] * w).abs().sum(0) * _gl_fraction(3, 0.3)).numpy(),
                               rtol=1e-5, atol=1e-6)
    model = Pixels(s).eval()
    occ = A.captum_maps(model, None, x, 1, (s, s), methods=("Occlusion",), window=4, stride=2)["Occlusion"]
    np.testing.assert_allclose(occ, _occlusion_loops(model.w[1].detach(), x[0], 4, 2), rtol=1e-4, atol=1e-5)


def test_to_shape_by_hand():
    # upsampling 1 x 2 -> 1 x 4 with half-pixel centres (align_corners=False): sources −¼, ¼, ¾, 1¼
    np.testing.assert_allclose(A.to_shape(np.array([[0.0, 4.0]]), (1, 4)), [[0.0, 1.0, 3.0, 4.0]])
    # an integer (uint8) map is resampled in float32, not rounded to integers
    up = A.to_shape(np.array([[0, 1]], dtype=np.uint8), (1, 4))
    assert up.dtype == np.float32 and up.tolist() == [[0.0, 0.25, 0.75, 1.0]]
    # downsampling 4 -> 2 is antialiased: a triangle filter twice as wide, weights ¼ ¾ ¾ (¼) renormalised:
    # [0, 0, 0, 7] -> [0, (¾·0 + ¾·7 + ¼·0) / 1.75 = 3]   (plain bilinear would give (0 + 7) / 2 = 3.5)
    np.testing.assert_allclose(A.to_shape(np.array([[0.0, 0, 0, 7]]), (1, 2)), [[0.0, 3.0]], atol=1e-6)
    column = np.array([[0.0, 0], [0, 0], [0, 0], [7, 7]])  # (torch's antialiased 1-wide -> 1-wide case is off)
    np.testing.assert_allclose(A.to_shape(column, (2, 2)), [[0.0, 0.0], [3.0, 3.0]], atol=1e-6)
    np.testing.assert_allclose(A.to_shape(column, (2, 4)), [[0.0] * 4, [3.0] * 4], atol=1e-6)
    # same shape: a float32 copy, never a view of the caller's array; tensors (even with grad) are taken as they are
    src = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    out = A.to_shape(src, (2, 2))
    out[0, 0] = 99.0
    assert src[0, 0] == 1.0
    same = A.to_shape(np.array([[1, 2], [3, 4]]), (2, 2))
    assert same.dtype == np.float32 and same.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    g = torch.tensor([[1.0, 2.0]], requires_grad=True)
    assert A.to_shape(g, (1, 2)).tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match=r"^a saliency map must be 2-D, got shape \(5,\)$"):
        A.to_shape(np.zeros(5), (3, 3))
