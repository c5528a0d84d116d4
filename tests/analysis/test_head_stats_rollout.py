import numpy as np
import pytest

from analysis.head_stats import STAT_COLUMNS, head_statistics, head_statistics_table
from analysis.rollout import rollout


def _softmax_stack(rng, layers=3, heads=2, t=5):
    x = rng.normal(size=(layers, heads, t, t))
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_rollout_rows_sum_to_one_and_first_layer_is_residual_mix():
    a = _softmax_stack(np.random.default_rng(0))
    r = rollout(a)
    assert r.shape == (3, 5, 5)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)
    expected0 = 0.5 * np.eye(5) + 0.5 * a[0].mean(0)
    np.testing.assert_allclose(r[0], expected0, atol=1e-6)
    expected1 = (0.5 * np.eye(5) + 0.5 * a[1].mean(0)) @ expected0
    np.testing.assert_allclose(r[1], expected1, atol=1e-6)


def test_rollout_of_identity_attention_is_identity():
    a = np.broadcast_to(np.eye(4), (2, 3, 4, 4))
    np.testing.assert_allclose(rollout(a)[-1], np.eye(4), atol=1e-7)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4)), np.zeros((2, 3, 4, 5))])
def test_rollout_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        rollout(bad)


def test_head_statistics_on_known_patterns():
    t = 6
    prev = np.zeros((t, t))
    prev[0, 0] = 1
    for i in range(1, t):
        prev[i, i - 1] = 1
    cls = np.zeros((t, t))
    cls[:, 0] = 1
    uniform = np.full((t, t), 1 / t)
    a = np.stack([np.stack([prev, cls, uniform])])  # (1 layer, 3 heads, t, t)
    special = (True, False, False, False, False, True)
    s = head_statistics(a, special)
    assert s["previous"][0, 0] == pytest.approx((t - 1) / t)
    assert s["cls"][0, 1] == pytest.approx(1.0)
    assert s["special"][0, 1] == pytest.approx(1.0)
    assert s["special"][0, 2] == pytest.approx(2 / t)
    assert s["entropy"][0, 2] == pytest.approx(np.log(t), rel=1e-5)
    assert s["entropy"][0, 0] == pytest.approx(0.0, abs=1e-6)
    assert s["distance"][0, 0] == pytest.approx((t - 1) / t)
    assert s["next"][0, 2] == pytest.approx((t - 1) / t / t)
    table = head_statistics_table(s)
    assert list(table.columns) == ["Layer", "Head", *STAT_COLUMNS.values()]
    assert len(table) == 3


def test_head_statistics_rejects_mismatched_mask():
    with pytest.raises(ValueError):
        head_statistics(np.ones((1, 1, 3, 3)) / 3, (True, False))
