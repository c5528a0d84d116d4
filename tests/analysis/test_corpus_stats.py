"""Corpus statistics: each per-text value against the eager maps, chance levels by hand,
the interval, the embedding."""

import numpy as np
import pytest
import torch

from analysis import corpus_stats as cs
from models.pretrained.hf import load_transformer
from tests.tiny_models import tiny_bert, tiny_llama

TEXTS = ["the cat sat on the mat .", "a dog ran on the mat , the cat sat", "hello world"]


def direct(weights: np.ndarray, window: int = cs.LOCAL_WINDOW) -> dict[str, np.ndarray]:
    """The definitions in analysis/corpus_stats.py, by loops over one text's eager maps (L, H, T, T)."""
    n_layers, n_heads, t, _ = weights.shape
    out = {k: np.zeros((n_layers, n_heads)) for k in cs.STATISTICS}
    for l in range(n_layers):
        for h in range(n_heads):
            a = weights[l, h].astype(np.float64)
            out["entropy"][l, h] = np.mean([-sum(x * np.log(x) for x in row if x > 0) for row in a])
            out["sink"][l, h] = a[:, 0].mean()
            out["distance"][l, h] = np.mean([sum(a[i, j] * abs(i - j) for j in range(t)) for i in range(t)])
            out["local"][l, h] = np.mean([sum(a[i, j] for j in range(t) if abs(i - j) <= window) for i in range(t)])
            out["previous"][l, h] = np.mean([a[i, i - 1] for i in range(1, t)])
    return out


def eager_maps(folder, text: str) -> np.ndarray:
    loaded = load_transformer(folder)
    ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = loaded.model(input_ids=ids, output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).numpy()


@pytest.mark.parametrize("make", [tiny_bert, tiny_llama])
def test_each_text_matches_the_definitions_on_eager_maps(tmp_path, make):
    folder = make(tmp_path / "m")
    loaded = cs.load_model(str(folder))
    for text in TEXTS:
        got = cs.measure_text(loaded, text, max_tokens=64, n_qk=3)
        want = direct(eager_maps(folder, text))
        for k in cs.STATISTICS:
            np.testing.assert_allclose(got.stats[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
        assert got.q.shape == (2, 4, 3, 8) and got.k.shape == (2, 4, 3, 8)


def test_chance_levels_by_hand():
    t = 5
    enc = cs.chance(t, causal=False, local_window=1)
    assert enc["entropy"] == pytest.approx(np.log(5)) and enc["sink"] == pytest.approx(0.2)
    assert enc["distance"] == pytest.approx(np.mean([abs(i - j) for i in range(t) for j in range(t)]))
    assert enc["local"] == pytest.approx((2 + 3 + 3 + 3 + 2) / 25) and enc["previous"] == pytest.approx(0.2)
    dec = cs.chance(t, causal=True, local_window=1)
    assert dec["entropy"] == pytest.approx(np.mean(np.log(np.arange(1, 6))))
    assert dec["previous"] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4, 1 / 5]))
    assert dec["local"] == pytest.approx(np.mean([1, 1, 2 / 3, 2 / 4, 2 / 5]))


def test_summary_is_a_t_interval():
    m, lo, hi = cs.summarise(np.array([1.0, 2.0, 3.0, np.nan]))
    assert m == 2.0 and hi - m == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5) and m - lo == hi - m
    assert cs.summarise(np.array([4.0])) == (4.0, 4.0, 4.0)


def test_joint_embedding_centres_and_scales_keys():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 6))
    k = 10 * rng.normal(size=(30, 6)) + 50
    xy = cs.joint_embedding(q, k)
    assert xy.shape == (50, 2) and np.isfinite(xy).all()
    # after translating and scaling, the keys' cloud sits on the queries' (no 50-unit gap)
    assert np.linalg.norm(xy[:20].mean(0) - xy[20:].mean(0)) < 3
    assert cs.joint_embedding(q, k, "tsne").shape == (50, 2)
    with pytest.raises(ValueError):
        cs.joint_embedding(q[:1], k[:1])


def test_the_query_key_sample_keeps_its_budget_at_any_corpus_size():
    for rate in (0.25, 1.0, 2.5, 16.0):
        counts = [cs.qk_positions(rate, i) for i in range(1000)]
        assert sum(counts) == int(1000 * rate) and max(counts) - min(counts) <= 1
    assert [cs.qk_positions(0.25, i) for i in range(8)] == [0, 0, 0, 1, 0, 0, 0, 1]
