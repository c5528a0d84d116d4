"""Rollout's head fusion, row renormalisation and residual weight, against hand-made numbers.

Â_l = renorm(r·I + (1 − r)·fuse_h A_{l,h}),  R_l = Â_l · … · Â_1, with renorm dividing each
row by its sum. With softmax rows and mean fusion the renormalisation is a no-op, so the
"max" and "min" fusions (whose rows do not sum to 1) are what pin it.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.rollout import rollout

# one layer, two heads, two tokens
HEADS = np.array([[[[1.0, 0.0], [0.5, 0.5]],
                   [[0.0, 1.0], [0.5, 0.5]]]])  # (1, 2, 2, 2)


def test_max_fusion_renormalises_each_row_by_hand():
    # max over heads [[1, 1], [.5, .5]]; ½I + ½max = [[1, .5], [.25, .75]]; rows sum 1.5 and 1
    r = rollout(HEADS, head_fusion="max")
    np.testing.assert_allclose(r[0], [[2 / 3, 1 / 3], [0.25, 0.75]], atol=1e-7)
    assert r.dtype == np.float32 and r.shape == (1, 2, 2)


def test_min_fusion_by_hand():
    # min over heads [[0, 0], [.5, .5]]; ½I + ½min = [[.5, 0], [.25, .75]]; row 0 sums to .5
    r = rollout(HEADS, head_fusion="min")
    np.testing.assert_allclose(r[0], [[1.0, 0.0], [0.25, 0.75]], atol=1e-7)


def test_mean_fusion_by_hand():
    # mean over heads [[.5, .5], [.5, .5]]; ½I + ½mean = [[.75, .25], [.25, .75]]
    np.testing.assert_allclose(rollout(HEADS)[0], [[0.75, 0.25], [0.25, 0.75]], atol=1e-7)


def test_unnormalised_rows_are_renormalised_row_by_row():
    # a single head whose rows sum to 3 and 4 (mean fusion): ½I + ½A = [[1.5, .5], [1, 1.5]]
    a = np.array([[[[2.0, 1.0], [2.0, 2.0]]]])
    np.testing.assert_allclose(rollout(a)[0], [[0.75, 0.25], [0.4, 0.6]], atol=1e-7)


def test_two_layers_of_max_fusion_multiply_later_layers_on_the_left():
    second = np.array([[[[0.0, 1.0], [0.0, 1.0]],
                        [[0.0, 1.0], [1.0, 0.0]]]])  # max [[0, 1], [1, 1]]
    a = np.concatenate([HEADS, second])  # (2, 2, 2, 2)
    first = np.array([[2 / 3, 1 / 3], [0.25, 0.75]])
    step2 = np.array([[0.5, 0.5], [0.5, 1.0]])  # ½I + ½max
    step2 = step2 / step2.sum(axis=1, keepdims=True)  # [[.5, .5], [1/3, 2/3]]
    r = rollout(a, head_fusion="max")
    assert r.shape == (2, 2, 2)
    np.testing.assert_allclose(r[0], first, atol=1e-7)
    np.testing.assert_allclose(r[1], step2 @ first, atol=1e-7)


def test_more_layers_than_tokens_and_heads():
    # 3 layers, 1 head, 2 tokens: every layer gets its own step
    a = np.array([[[[0.0, 1.0], [1.0, 0.0]]]] * 3)  # swap
    r = rollout(a, residual=0.0)  # pure attention: swap, identity, swap
    np.testing.assert_allclose(r[0], [[0, 1], [1, 0]], atol=1e-7)
    np.testing.assert_allclose(r[1], np.eye(2), atol=1e-7)
    np.testing.assert_allclose(r[2], [[0, 1], [1, 0]], atol=1e-7)


def test_residual_bounds_are_inclusive():
    # r = 1: the attention is ignored, the flow stays the identity
    np.testing.assert_allclose(rollout(HEADS, residual=1.0)[0], np.eye(2), atol=1e-7)
    # r = 0: the fused attention alone, renormalised (max rows sum to 2 and 1)
    np.testing.assert_allclose(rollout(HEADS, residual=0.0, head_fusion="max")[0],
                               [[0.5, 0.5], [0.5, 0.5]], atol=1e-7)
    # r = .25: ¼I + ¾ mean = [[.625, .375], [.375, .625]]
    np.testing.assert_allclose(rollout(HEADS, residual=0.25)[0], [[0.625, 0.375], [0.375, 0.625]], atol=1e-7)


@pytest.mark.parametrize("residual", [-0.01, 1.01])
def test_residual_outside_the_unit_interval_is_refused(residual):
    with pytest.raises(ValueError, match=r"^residual weight must lie in \[0, 1\], got "):
        rollout(HEADS, residual=residual)


def test_bad_shape_and_fusion_messages():
    with pytest.raises(ValueError, match=r"^rollout needs \(layer, head, T, T\) self-attention, got shape \(2, 3, 4\)$"):
        rollout(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"^rollout needs \(layer, head, T, T\)"):
        rollout(np.zeros((1, 2, 3, 2)))  # not square
    with pytest.raises(ValueError, match=r"^rollout needs"):
        rollout(np.zeros((1, 3, 3, 2)))  # heads == rows, but not square
    with pytest.raises(ValueError, match=r"^head_fusion must be 'mean', 'max' or 'min', got 'sum'$"):
        rollout(HEADS, head_fusion="sum")
