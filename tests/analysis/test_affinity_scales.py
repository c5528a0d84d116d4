"""Affinity's logit scales, empty-grid guard, cached stage and record metadata, by hand.

resolve_scale: None / "paper" -> 1, "sqrt" -> 1/√C, "1/C" -> 1/C, "auto" -> 1 / mean_j ‖x_j‖²
(1 when every feature is 0), a positive finite number -> itself.
"""

from __future__ import annotations

import math

import pytest
import torch

from analysis import affinity as A

# C = 2 channels, N = 3 positions (grid 1 x 3): squared norms of the columns 1, 5, 9 -> mean 5
X = torch.tensor([[1.0, 2.0, 0.0],
                  [0.0, 1.0, 3.0]])
FEATURES = X.reshape(2, 1, 3)


@pytest.mark.parametrize("scale,channels,expected", [
    (None, 8, 1.0), ("paper", 8, 1.0), ("sqrt", 16, 0.25), ("1/C", 8, 0.125), (0.3, 8, 0.3), ("2.5", 8, 2.5),
])
def test_fixed_scales(scale, channels, expected):
    assert A.resolve_scale(scale, channels) == pytest.approx(expected, rel=1e-12)


def test_auto_scale_is_one_over_the_mean_squared_norm_over_positions():
    assert A.resolve_scale("auto", 2, X) == pytest.approx(1 / 5)
    # a mean squared norm below 1: 0.1 * X has 0.01 * 5 = 0.05, so the scale is 1 / 0.05 = 20
    assert A.resolve_scale("auto", 2, 0.1 * X) == pytest.approx(20.0)
    assert A.resolve_scale("auto", 2, torch.zeros(2, 3)) == 1.0  # all-zero features
    with pytest.raises(ValueError, match=r'^scale "auto" needs the features$'):
        A.resolve_scale("auto", 2)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("inf"), float("nan")])
def test_non_positive_or_non_finite_scales_are_refused(bad):
    with pytest.raises(ValueError, match=r"^scale must be a positive number, got "):
        A.resolve_scale(bad, 4)


def test_affinity_row_by_hand_with_the_auto_scale():
    # query (0, 1) is x_1 = (2, 1): logits x_1ᵀx_j = (2, 5, 3), times 1/5
    row = A.affinity_row(FEATURES, (0, 1), "auto")
    expected = torch.softmax(torch.tensor([2.0, 5.0, 3.0]) / 5, dim=0)
    torch.testing.assert_close(row, expected.reshape(1, 3))


def test_dnl_terms_by_hand_and_with_a_given_mean():
    # μ = (1, 4/3); query x_0 = (1, 0): x_0 − μ = (0, −4/3); pairwise logits (x_0 − μ)ᵀx_j = (0, −4/3, −4)
    p, u = A.dnl_terms(FEATURES, (0, 0))
    torch.testing.assert_close(p.flatten(), torch.softmax(torch.tensor([0.0, -4 / 3, -4.0]), dim=0))
    torch.testing.assert_close(u.flatten(), torch.softmax(torch.tensor([1.0, 2 + 4 / 3, 4.0]), dim=0))
    # a mean passed in is used instead of the features' own: μ = 0 -> pairwise = affinity, unary uniform
    p0, u0 = A.dnl_terms(FEATURES, (0, 0), mean=torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(p0.flatten(), torch.softmax(torch.tensor([1.0, 2.0, 0.0]), dim=0))
    torch.testing.assert_close(u0.flatten(), torch.full((3,), 1 / 3))


def test_one_position_and_one_channel_is_a_valid_map():
    f = torch.tensor([[[2.0]]])  # (1, 1, 1)
    assert A.affinity_row(f, (0, 0)).tolist() == [[1.0]]
    assert [r.numpy().tolist() for r in A.click_records(f, (0, 0))] == [[[1.0]]] * 3


@pytest.mark.parametrize("shape", [(0, 2, 2), (2, 0, 3), (2, 3, 0), (2, 0, 0)])
def test_empty_features_are_refused(shape):
    with pytest.raises(ValueError, match=r"^features are empty: shape \("):
        A.affinity_row(torch.zeros(shape), (0, 0))


def test_features_of_the_wrong_rank_are_refused_with_their_shape():
    with pytest.raises(ValueError, match=r"^features must be \(C, h, w\), got shape \(2, 3\)$"):
        A.affinity_row(torch.zeros(2, 3), (0, 0))


def test_stage_cache_holds_the_mean_unary_logits_and_auto_scale():
    cache = A.stage_cache(FEATURES)
    torch.testing.assert_close(cache.x, X)
    torch.testing.assert_close(cache.mean, torch.tensor([1.0, 4 / 3]))
    torch.testing.assert_close(cache.unary_logits, torch.tensor([1.0, 2 + 4 / 3, 4.0]))
    assert cache.auto_scale == pytest.approx(0.2) and cache.grid == (1, 3)


@pytest.mark.parametrize("scale,s", [("1/C", 0.5), ("sqrt", 1 / math.sqrt(2)), (None, 1.0), ("auto", 0.2)])
def test_click_records_by_hand_and_their_metadata(scale, s):
    a, p, u = A.click_records(FEATURES, (0, 1), scale=scale, gain=3.0)
    s = s * 3.0
    torch.testing.assert_close(a.weights.flatten(), torch.softmax(torch.tensor([2.0, 5.0, 3.0]) * s, dim=0))
    # μ = (1, 4/3); x_1 − μ = (1, −1/3): pairwise logits (1, 5/3, −1)
    torch.testing.assert_close(p.weights.flatten(), torch.softmax(torch.tensor([1.0, 5 / 3, -1.0]) * s, dim=0))
    torch.testing.assert_close(u.weights.flatten(), torch.softmax(torch.tensor([1.0, 2 + 4 / 3, 4.0]) * s, dim=0))
    assert [r.name for r in (a, p, u)] == ["affinity", "dnl.pairwise", "dnl.unary"]  # no stage: no prefix
    assert [r.kind for r in (a, p, u)] == ["affinity", "pairwise", "unary"]
    for r in (a, p, u):
        assert r.axes == ("h", "w") and r.grid == (1, 3) and tuple(r.weights.shape) == (1, 3)
        assert dict(r.meta) == {"query": (0, 1), "channels": 2, "scale": pytest.approx(s), "normalised": "softmax"}


def test_click_records_gain_must_be_positive_and_finite():
    assert A.click_records(FEATURES, (0, 0), gain=0.5)[0].meta["scale"] == 0.5
    for bad in (0.0, -2.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"^gain must be a positive number, got "):
            A.click_records(FEATURES, (0, 0), gain=bad)


def test_full_affinity_by_hand():
    full = A.full_affinity(FEATURES, "paper")
    gram = torch.tensor([[1.0, 2.0, 0.0], [2.0, 5.0, 3.0], [0.0, 3.0, 9.0]])  # x_iᵀx_j
    torch.testing.assert_close(full, torch.softmax(gram, dim=1))
