"""Clark et al.'s per-head statistics, recomputed with plain loops and on a hand-checked map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.head_stats import STAT_COLUMNS, head_statistics, head_statistics_table


def _loops(a, special):
    """Every statistic written out over (layer, head, query, key) with Python loops."""
    n_layers, n_heads, t, _ = a.shape
    idx = [j for j in range(t) if special[j]]
    out = {k: np.zeros((n_layers, n_heads)) for k in STAT_COLUMNS}
    for layer in range(n_layers):
        for head in range(n_heads):
            m = a[layer, head]
            rows = {k: [] for k in STAT_COLUMNS}
            for i in range(t):
                rows["entropy"].append(-sum(p * math.log(p) for p in m[i] if p > 0))
                rows["special"].append(sum(m[i, j] for j in idx))
                rows["cls"].append(m[i, idx[0]] if idx else 0.0)
                rows["sep"].append(m[i, idx[-1]] if len(idx) > 1 else 0.0)
                rows["distance"].append(sum(m[i, j] * abs(i - j) for j in range(t)))
                rows["previous"].append(m[i, i - 1] if i >= 1 else 0.0)
                rows["next"].append(m[i, i + 1] if i + 1 < t else 0.0)
                rows["self"].append(m[i, i])
            for k, v in rows.items():
                out[k][layer, head] = sum(v) / t
    return out


def _random_maps(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("special", [
    (True, False, False, True, False),       # [CLS] ... [SEP] ...
    (False, True, True, False, True),        # three special positions: first is 1, last is 4
    (False, False, True, False, False),      # one special: no [SEP] of its own
    (False, False, False, False, False),     # none
])
def test_every_statistic_equals_the_loops(special):
    a = _random_maps((2, 3, 5, 5), 0)  # layers, heads and tokens all differ
    s = head_statistics(a, special)
    ref = _loops(a, special)
    assert set(s) == set(STAT_COLUMNS)
    for k in STAT_COLUMNS:
        assert s[k].shape == (2, 3) and s[k].dtype == np.float32, k
        np.testing.assert_allclose(s[k], ref[k], rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("t", [1, 2])
def test_one_and_two_tokens(t):
    a = _random_maps((1, 2, t, t), 1)
    special = (True,) + (False,) * (t - 1)
    s = head_statistics(a, special)
    ref = _loops(a, special)
    for k in STAT_COLUMNS:
        assert s[k].shape == (1, 2), k
        np.testing.assert_allclose(s[k], ref[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_a_hand_checked_head():
    m = np.array([[0.8, 0.2, 0.0],
                  [0.5, 0.5, 0.0],
                  [0.1, 0.25, 0.65]])
    s = {k: float(v[0, 0]) for k, v in head_statistics(m[None, None], (True, False, True)).items()}
    ent = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2)) + math.log(2) \
        - (0.1 * math.log(0.1) + 0.25 * math.log(0.25) + 0.65 * math.log(0.65))
    assert s["entropy"] == pytest.approx(ent / 3, rel=1e-6)
    assert s["special"] == pytest.approx((0.8 + 0.5 + 0.75) / 3, rel=1e-6)
    assert s["cls"] == pytest.approx((0.8 + 0.5 + 0.1) / 3, rel=1e-6)
    assert s["sep"] == pytest.approx((0.0 + 0.0 + 0.65) / 3, rel=1e-6)
    assert s["distance"] == pytest.approx((0.2 + 0.5 + (0.1 * 2 + 0.25)) / 3, rel=1e-6)
    assert s["previous"] == pytest.approx((0.5 + 0.25) / 3, rel=1e-6)
    assert s["next"] == pytest.approx((0.2 + 0.0) / 3, rel=1e-6)
    assert s["self"] == pytest.approx((0.8 + 0.5 + 0.65) / 3, rel=1e-6)


def test_the_table_has_one_row_per_layer_and_head_in_order():
    s = {k: np.arange(6, dtype=np.float32).reshape(2, 3) + 10 * n for n, k in enumerate(STAT_COLUMNS)}
    table = head_statistics_table(s)
    assert list(table.columns) == ["Layer", "Head", "Entropy (nats)", "On special tokens",
                                   "On first special ([CLS])", "On last special ([SEP])",
                                   "Mean distance (tokens)", "On previous token", "On next token", "On itself"]
    assert table["Layer"].tolist() == [0, 0, 0, 1, 1, 1]
    assert table["Head"].tolist() == [0, 1, 2, 0, 1, 2]
    assert table["Entropy (nats)"].tolist() == [0, 1, 2, 3, 4, 5]
    assert table["On itself"].tolist() == [70, 71, 72, 73, 74, 75]


def test_bad_inputs_are_refused_with_their_shapes():
    with pytest.raises(ValueError, match=r"^head statistics need \(layer, head, T, T\) self-attention, got \(3, 3\)$"):
        head_statistics(np.eye(3), (True, False, False))
    with pytest.raises(ValueError, match=r"^head statistics need"):
        head_statistics(np.ones((1, 3, 3, 2)), (True, False))  # heads == rows, not square
    with pytest.raises(ValueError, match=r"^head statistics need"):
        head_statistics(np.ones((1, 2, 3, 2)), (True, False))
    with pytest.raises(ValueError, match=r"^special mask has shape \(2,\), expected \(3,\)$"):
        head_statistics(np.ones((1, 1, 3, 3)) / 3, (True, False))
