"""Corpus statistics: each per-text value against the eager maps, chance levels by hand,
the interval, the embedding."""

import numpy as np
import pytest
import torch

from analysis import corpus_stats as cs
from models.pretrained.hf import load_transformer
from tests.tiny_models import tiny_bart, tiny_bert, tiny_llama

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


def joint_by_hand(q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The definition, step by step: the keys moved onto the queries' centroid, scaled to
    their mean norm; both clouds centred together and projected on the covariance's two
    leading eigenvectors (eigh, not the SVD the module uses). Returns (x, xy)."""
    k = k - k.mean(axis=0) + q.mean(axis=0)
    key_norm = np.mean([np.sqrt(sum(v * v for v in row)) for row in k])
    query_norm = np.mean([np.sqrt(sum(v * v for v in row)) for row in q])
    k = k * (query_norm / key_norm)
    x = np.vstack([q, k])
    x = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(x.T @ x)
    return x, x @ vectors[:, ::-1][:, :2]


def same_up_to_sign(a: np.ndarray, b: np.ndarray, **tol) -> None:
    """Principal axes have no sign: flip each of b's columns to a's before comparing."""
    signs = np.sign(np.sum(a * b, axis=0))
    np.testing.assert_allclose(a, b * signs, **tol)


@pytest.mark.parametrize("n_q, n_k, d", [(20, 30, 6), (2, 1, 3), (7, 9, 2)])
def test_joint_embedding_is_pca_of_the_aligned_clouds(n_q, n_k, d):
    rng = np.random.default_rng(n_q + d)
    q = rng.normal(size=(n_q, d)) * np.arange(1, d + 1)       # distinct spreads: distinct axes
    k = 4 * rng.normal(size=(n_k, d)) - 7
    xy = cs.joint_embedding(q.astype(np.float32), k)
    assert xy.dtype == np.float32 and xy.shape == (n_q + n_k, 2)
    _, expected = joint_by_hand(q.astype(np.float32).astype(np.float64), k)
    same_up_to_sign(xy.astype(np.float64), expected, rtol=1e-4, atol=1e-5)


def test_joint_embedding_of_one_dimension_pads_a_zero_axis():
    q = np.array([[1.0], [2.0], [4.0]])
    k = np.array([[10.0], [30.0]])
    xy = cs.joint_embedding(q, k)
    _, expected = joint_by_hand(q, k)
    assert xy.shape == (5, 2) and np.all(xy[:, 1] == 0)
    same_up_to_sign(xy[:, :1].astype(np.float64), expected[:, :1], rtol=1e-5)


def test_joint_embedding_keeps_keys_of_zero_norm_unscaled():
    # queries centred on 0, keys all one point: moved onto the centroid they are all 0 (norm 0)
    q = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    k = np.full((3, 2), 5.0)
    xy = cs.joint_embedding(q, k)
    assert np.isfinite(xy).all()
    np.testing.assert_allclose(xy[4:], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.sort(np.abs(xy[:4]).max(axis=1)), [1.0, 1.0, 2.0, 2.0], rtol=1e-6)


def test_joint_embedding_tsne_starts_from_the_pca_of_the_clouds():
    from sklearn.manifold import TSNE

    def by_hand(q, k, perplexity, seed):
        # the start: the clouds on every principal axis (min(50, d) of them)
        x, _ = joint_by_hand(q, k)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x @ vt.T)

    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(25, 5)), rng.normal(size=(20, 5)) + 3
    got = cs.joint_embedding(q, k, "tsne", seed=4)
    assert got.dtype == np.float32
    # perplexity (N - 1) // 3, at least 2 and at most 30: 14 for N = 45, 2 for N = 5
    np.testing.assert_allclose(got, by_hand(q, k, 14.0, 4), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cs.joint_embedding(q[:3], k[:2], "tsne"), by_hand(q[:3], k[:2], 2.0, 0),
                               rtol=1e-4, atol=1e-4)
    # N = 46: (46 - 1) // 3 = 15, where (N - 2) // 3 would give 14
    q46 = np.vstack([q, rng.normal(size=(1, 5))])
    np.testing.assert_allclose(cs.joint_embedding(q46, k, "tsne", seed=4), by_hand(q46, k, 15.0, 4),
                               rtol=1e-4, atol=1e-4)


def test_joint_embedding_tsne_caps_its_start_at_50_axes_and_perplexity_at_30():
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(5)
    q, k = rng.normal(size=(50, 60)), rng.normal(size=(45, 60)) + 1     # N = 95: (95 - 1) // 3 = 31 -> 30
    x, _ = joint_by_hand(q, k)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    expected = TSNE(2, perplexity=30.0, init="pca", random_state=0).fit_transform(x @ vt[:50].T)
    np.testing.assert_allclose(cs.joint_embedding(q, k, "tsne"), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("q, k", [
    (np.zeros((3, 4)), np.zeros((3, 5))),          # widths differ
    (np.zeros((2, 4)), np.zeros(4)),               # keys not a matrix
    (np.zeros(4), np.zeros((2, 4))),               # queries not a matrix
    (np.zeros((1, 4)), np.zeros((1, 4))),          # two vectors: fewer than three
])
def test_joint_embedding_refuses_what_it_cannot_draw(q, k):
    with pytest.raises(ValueError, match="^the embedding needs at least 3 query/key vectors of one width$"):
        cs.joint_embedding(q, k)


def test_joint_embedding_takes_three_vectors_and_names_unknown_methods():
    q, k = np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([[1.0, 1.0]])
    assert cs.joint_embedding(q, k).shape == (3, 2)
    with pytest.raises(ValueError, match="^unknown embedding 'umap': 'pca' or 'tsne'$"):
        cs.joint_embedding(q, k, "umap")


def test_the_query_key_sample_keeps_its_budget_at_any_corpus_size():
    for rate in (0.25, 1.0, 2.5, 16.0):
        counts = [cs.qk_positions(rate, i) for i in range(1000)]
        assert sum(counts) == int(1000 * rate) and max(counts) - min(counts) <= 1
    assert [cs.qk_positions(0.25, i) for i in range(8)] == [0, 0, 0, 1, 0, 0, 0, 1]


def _frame(values: dict[tuple[int, int], list[float]]):
    import pandas as pd

    return pd.DataFrame([{"text_id": i, "layer": l, "head": h, "sink": v}
                         for (l, h), vs in values.items() for i, v in enumerate(vs)])


def test_grid_summary_is_each_heads_mean_and_t_interval_over_its_texts():
    from scipy.stats import t as student

    values = {(0, 0): [0.1, 0.3, 0.2, 0.6], (0, 2): [0.5], (1, 1): [0.9, 0.7, float("nan"), 0.8],
              (1, 0): [0.2, 0.4]}
    out = cs.grid_summary(_frame(values), "sink", n_layers=2, n_heads=3)
    for (l, h), vs in values.items():
        v = np.array([x for x in vs if np.isfinite(x)])
        assert out["mean"][l, h] == pytest.approx(v.mean())
        lo, hi = (student.interval(0.95, len(v) - 1, loc=v.mean(), scale=v.std(ddof=1) / np.sqrt(len(v)))
                  if len(v) > 1 else (v.mean(), v.mean()))
        assert (out["low"][l, h], out["high"][l, h]) == pytest.approx((lo, hi))
        assert out["n"][l, h] == len(vs)                  # texts measured, an undefined value included
    unmeasured = [(0, 1), (1, 2)]
    assert all(np.isnan(out[k][c]) for k in ("mean", "low", "high", "n") for c in unmeasured)


def test_typical_texts_are_nearest_and_farthest_from_the_heads_own_mean():
    # head (1, 2) has mean 0.4867; heads sharing its layer or its index must not count
    values = {(1, 2): [0.50, 0.10, 0.45, 0.95, 0.40, 0.52], (1, 0): [0.47] * 6, (0, 2): [0.0] * 6}
    typical, atypical = cs.typical_texts(_frame(values), 1, 2, "sink", k=3)
    mean = np.mean(values[(1, 2)])
    by_distance = sorted(range(6), key=lambda i: abs(values[(1, 2)][i] - mean))
    assert typical["text_id"].tolist() == by_distance[:3] == [0, 5, 2]
    assert atypical["text_id"].tolist() == by_distance[::-1][:3] == [3, 1, 4]
    assert typical["deviation"].tolist() == pytest.approx([values[(1, 2)][i] - mean for i in (0, 5, 2)])
    assert [len(t) for t in cs.typical_texts(_frame(values), 1, 2, "sink")] == [5, 5]   # five of each by default


def test_qk_rate_keeps_every_layer_and_heads_float16_queries_and_keys_within_the_budget(tmp_path):
    loaded = cs.load_model(str(tiny_bert(tmp_path / "m")))   # 2 layers x 4 heads of 8 dimensions
    per_token = 2 * 4 * 2 * 8 * 2                            # q and k, float16 bytes
    assert cs.qk_rate(loaded, 10, budget_bytes=per_token * 10 * 3) == pytest.approx(3.0)
    assert cs.qk_rate(loaded, 1000, budget_bytes=per_token * 250) == pytest.approx(0.25)
    assert cs.qk_rate(loaded, 1, budget_bytes=2**30) == cs.MAX_QK_PER_TEXT
    cfg = loaded.model.config.get_text_config()
    cfg.head_dim = 5                                         # a model whose heads are not hidden / heads wide
    assert cs.qk_rate(loaded, 10, budget_bytes=2 * 4 * 2 * 5 * 2 * 10) == pytest.approx(1.0)
    cfg.head_dim, cfg.hidden_size = None, 30                 # none given: hidden // heads = 7
    assert cs.qk_rate(loaded, 10, budget_bytes=2 * 4 * 2 * 7 * 2 * 10) == pytest.approx(1.0)


def test_text_head_map_is_the_eager_head_on_the_jobs_cut(tmp_path):
    folder = tiny_bert(tmp_path / "m")
    loaded = cs.load_model(str(folder))
    text = TEXTS[1]
    rec = cs.text_head_map(loaded, text, max_tokens=64, layer=1, head=2)
    np.testing.assert_allclose(rec.numpy(), eager_maps(folder, text)[1, 2], rtol=1e-4, atol=1e-5)
    ids = loaded.tokenizer(text)["input_ids"]
    assert list(rec.query_labels) == list(rec.key_labels) and len(rec.key_labels) == len(ids)
    cut = cs.text_head_map(loaded, text, 5, 1, 2)             # the first 5 tokens, as the job cut them
    assert cut.numpy().shape == (5, 5) and list(cut.key_labels) == list(rec.key_labels)[:4] + [cut.key_labels[-1]]
    assert cs.text_head_map(loaded, text, 1, 0, 0).numpy().shape == (cs.MIN_TOKENS, cs.MIN_TOKENS)


@pytest.mark.parametrize("make, causal", [(tiny_bert, False), (tiny_llama, True)])
def test_a_text_result_records_its_cut_its_mask_its_chance_and_its_sampled_queries_and_keys(tmp_path, make, causal):
    from models.pretrained.hf import readable_tokens

    loaded = cs.load_model(str(make(tmp_path / "m")))
    text = TEXTS[1]
    full = loaded.tokenizer(text)["input_ids"]
    r = cs.measure_text(loaded, text, max_tokens=6, n_qk=4, seed=3)
    ids = loaded.tokenizer(text, truncation=True, max_length=6)["input_ids"]
    assert (r.n_tokens, r.n_tokens_total, r.causal) == (6, len(full), causal)
    assert r.chance == cs.chance(6, causal, cs.LOCAL_WINDOW)
    p = r.positions.tolist()
    assert len(p) == 4 == len(set(p)) and p == sorted(p) and all(0 <= i < 6 for i in p)   # distinct, in order
    assert r.tokens == readable_tokens(loaded.tokenizer, [ids[i] for i in p])
    assert r.q.dtype == np.float16 and r.k.dtype == np.float16 and r.q.shape[2] == 4
    again = cs.measure_text(loaded, text, max_tokens=6, n_qk=4, seed=3)
    assert again.positions.tolist() == p                                    # seeded
    seeds = {tuple(cs.measure_text(loaded, text, 6, n_qk=3, seed=s).positions.tolist()) for s in range(6)}
    assert len(seeds) > 1                                                   # and the seed matters
    none = cs.measure_text(loaded, text, max_tokens=6)
    assert none.positions.dtype.kind == "i" and none.positions.shape == (0,) and none.tokens == ()
    assert none.q.shape[2] == 0
    every = cs.measure_text(loaded, text, max_tokens=6, n_qk=99)
    assert every.positions.tolist() == list(range(6))                       # at most every position once


def test_a_text_too_short_to_measure_says_how_many_tokens_it_has(tmp_path):
    import dataclasses

    loaded = cs.load_model(str(tiny_bert(tmp_path / "m")))
    # a tokenizer that adds no special tokens: one id per word
    words = dataclasses.replace(loaded, tokenizer=lambda text, **kw: {"input_ids": [5] * len(text.split())})
    with pytest.raises(ValueError, match=r"^1 token$"):
        cs.measure_text(words, "hello", max_tokens=64)
    with pytest.raises(ValueError, match=r"^0 tokens$"):
        cs.measure_text(words, "", max_tokens=64)
    assert cs.measure_text(words, "two words", max_tokens=64).n_tokens == 2      # the shortest measured


def test_the_local_window_reaches_the_statistic_and_its_chance_level(tmp_path):
    folder = tiny_bert(tmp_path / "m")
    r = cs.measure_text(cs.load_model(str(folder)), TEXTS[1], max_tokens=64, local_window=2)
    np.testing.assert_allclose(r.stats["local"], direct(eager_maps(folder, TEXTS[1]), window=2)["local"],
                               rtol=1e-4, atol=1e-5)
    assert r.chance == cs.chance(r.n_tokens, False, 2) != cs.chance(r.n_tokens, False)


def test_load_model_captures_queries_and_keys_and_refuses_encoder_decoders(tmp_path):
    from models.pretrained import llm_capture as lc
    from models.pretrained.hf import ModelDirError

    loaded = cs.load_model(str(tiny_llama(tmp_path / "llama")))
    assert loaded.model.config._attn_implementation == lc.ATTN_IMPLEMENTATION
    with pytest.raises(ModelDirError) as err:
        cs.load_model(str(tiny_bart(tmp_path / "bart")))
    assert str(err.value) == ("bart is an encoder-decoder; the corpus lab measures encoders (BERT…) and "
                              "decoder-only LLMs.")
