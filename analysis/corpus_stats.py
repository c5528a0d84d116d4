"""Per-head attention statistics over a corpus, each beside its chance level.

For every text, one fused forward records each layer's queries and keys
(models/pretrained/llm_capture.py; encoders and decoders alike), and each head's map is
recomputed in row chunks with the model's own scaling and mask. Per head h and text:

    entropy   mean_i  -sum_j A_ij log A_ij                (nats)
    sink      mean_i  A_i0                                share on the first token ([CLS], <s>)
    distance  mean_i  sum_j A_ij |i - j|                  (tokens)
    local     mean_i  sum_{|i-j| <= w} A_ij               share within w tokens (w = 8)
    previous  mean_{i >= 1}  A_{i,i-1}                    the previous-token role score
                                                          (analysis/head_roles.py)

Chance: what uniform attention over the same tokens scores (causal for decoders, over
all T keys for encoders), per text; the corpus chance is its mean over texts.

Over the corpus each head's statistic is summarised by its mean and a 95% interval
(Student's t over texts: mean ± t_{0.975, n-1} · sd / sqrt(n)).

Queries and keys for the joint embedding (AttentionViz, Yeh et al. 2023): a seeded
sample of positions per text; keys are translated so that their centroid is the
queries' and scaled to the queries' mean norm, which keeps each q·k ranking within a
query; then PCA (numpy's SVD), optionally t-SNE (scikit-learn) on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from models.pretrained import llm_capture as lc
from models.pretrained.hf import LoadedTransformer, ModelDirError, load_transformer, readable_tokens

STATISTICS = {
    "entropy": "Entropy (nats)",
    "sink": "Share on the first token",
    "distance": "Mean distance (tokens)",
    "local": "Share within 8 tokens",
    "previous": "Previous-token score",
}
LOCAL_WINDOW = 8
MIN_TOKENS = 2  # the previous-token score needs a query with a previous token


def load_model(path: str) -> LoadedTransformer:
    """Any encoder or decoder the Transformer page takes (a folder, or a .gguf converted once),
    loaded with the q/k-capturing attention; encoder-decoders are refused with a message."""
    from models.pretrained.llm_local import model_folder

    folder = model_folder(path)
    loaded = load_transformer(folder, attn_implementation=lc.ATTN_IMPLEMENTATION)
    if loaded.architecture == "encoder-decoder":
        raise ModelDirError(f"{loaded.model_type} is an encoder-decoder; the corpus lab measures encoders "
                            "(BERT…) and decoder-only LLMs.")
    return loaded


def chance(n_tokens: int, causal: bool, local_window: int = LOCAL_WINDOW) -> dict[str, float]:
    """Each statistic under uniform attention over ``n_tokens`` tokens."""
    out = lc.uniform_baseline(n_tokens, local_window, causal=causal)
    i = np.arange(1, n_tokens, dtype=np.float64)
    out["previous"] = float(np.mean(1.0 / (i + 1))) if causal else 1.0 / n_tokens
    return out


@dataclass(frozen=True, eq=False)
class TextResult:
    n_tokens: int
    n_tokens_total: int
    causal: bool                          # a decoder's causal mask (chance: uniform causal)
    stats: dict[str, np.ndarray]          # stat -> (layers, heads) float32
    chance: dict[str, float]
    positions: np.ndarray                 # (P,) sampled token positions
    tokens: tuple[str, ...]               # (P,) their token strings
    q: np.ndarray                         # (layers, heads, P, d) float16
    k: np.ndarray                         # (layers, heads, P, d) float16, the key/value head each reads


def measure_text(loaded: LoadedTransformer, text: str, max_tokens: int, n_qk: int = 0, seed: int = 0,
                 local_window: int = LOCAL_WINDOW) -> TextResult:
    """One text's statistics per head (cut at ``max_tokens`` and the model's limit), and the
    queries and keys of ``n_qk`` seeded positions. ValueError for a text of fewer than 2 tokens."""
    tok = loaded.tokenizer
    limit = max(MIN_TOKENS, min(max_tokens, loaded.max_tokens))
    n_total = len(tok(text, truncation=False, verbose=False)["input_ids"])
    ids = tok(text, truncation=True, max_length=limit)["input_ids"]
    if len(ids) < MIN_TOKENS:
        raise ValueError(f"{len(ids)} token{'s' if len(ids) != 1 else ''}")
    _, captured = lc.capture(loaded.model, torch.tensor(ids), check_memory=False)
    stats = {k: v.numpy() for k, v in lc.head_statistics(captured, local_window=local_window).items()}
    stats["previous"] = lc.offset_scores(captured, offset=1, first=0).numpy()
    causal = captured.layers[0].causal
    t = len(ids)
    rng = np.random.default_rng([seed, t, *ids[:8]])
    positions = np.sort(rng.choice(t, size=min(n_qk, t), replace=False)) if n_qk else np.zeros(0, dtype=int)
    idx = torch.as_tensor(positions, dtype=torch.long, device=captured.layers[0].q.device)
    q = np.stack([layer.q[:, idx].cpu().numpy() for layer in captured.layers])      # (L, H, P, d)
    k = np.stack([layer.k[[layer.kv_head(h) for h in range(layer.n_heads)]][:, idx].cpu().numpy()
                  for layer in captured.layers])                                     # (L, H, P, d)
    labels = readable_tokens(tok, [ids[p] for p in positions]) if len(positions) else ()
    return TextResult(t, n_total, causal, stats, chance(t, causal, local_window), positions, labels,
                      q.astype(np.float16), k.astype(np.float16))


MAX_QK_PER_TEXT = 16


def qk_rate(loaded: LoadedTransformer, n_texts: int, budget_bytes: int = 64 * 2**20) -> float:
    """Positions per text (on average, at most MAX_QK_PER_TEXT) to keep for the embedding
    view so that the corpus's queries and keys (float16, every layer and head) stay within
    ``budget_bytes``; below 1 only every (1 / rate)-th text gives one."""
    cfg = loaded.model.config.get_text_config()
    d = getattr(cfg, "head_dim", None) or cfg.hidden_size // loaded.n_heads
    per_token = loaded.n_layers * loaded.n_heads * 2 * d * 2
    return min(float(MAX_QK_PER_TEXT), budget_bytes / max(1, per_token * n_texts))


def qk_positions(rate: float, text_id: int) -> int:
    """Text ``text_id``'s share of the sample: floor((i + 1) r) - floor(i r), so any run of
    texts gets its rate's worth, spread evenly."""
    return int(math.floor((text_id + 1) * rate) - math.floor(text_id * rate))


def summarise(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the mean over texts and its 95% t-interval (low = high = mean for one text)."""
    from scipy.stats import t as student

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, mean, mean
    half = float(student.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def grid_summary(frame, stat: str, n_layers: int, n_heads: int) -> dict[str, np.ndarray]:
    """From the per-(text, layer, head) table: {"mean", "low", "high", "n"} each (layers, heads)."""
    out = {k: np.full((n_layers, n_heads), np.nan) for k in ("mean", "low", "high", "n")}
    for (layer, head), group in frame.groupby(["layer", "head"])[stat]:
        m, lo, hi = summarise(group.to_numpy())
        out["mean"][layer, head], out["low"][layer, head], out["high"][layer, head] = m, lo, hi
        out["n"][layer, head] = group.size
    return out


def typical_texts(frame, layer: int, head: int, stat: str, k: int = 5):
    """The texts where the head is most typical (value nearest its corpus mean) and least
    typical (farthest), as two tables of (text_id, value, deviation)."""
    rows = frame[(frame["layer"] == layer) & (frame["head"] == head)][["text_id", stat]].copy()
    rows["deviation"] = rows[stat] - rows[stat].mean()
    order = rows["deviation"].abs().sort_values(kind="stable").index
    return rows.loc[order[:k]], rows.loc[order[::-1][:k]]


def joint_embedding(q: np.ndarray, k: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """q (Nq, d), k (Nk, d) -> (Nq + Nk, 2): queries first, then keys, in one 2-D space."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if q.ndim != 2 or k.ndim != 2 or q.shape[1] != k.shape[1] or len(q) + len(k) < 3:
        raise ValueError("the embedding needs at least 3 query/key vectors of one width")
    k = k - k.mean(0) + q.mean(0)                                        # same centroid
    qn, kn = np.linalg.norm(q, axis=1).mean(), np.linalg.norm(k, axis=1).mean()
    k = k * (qn / kn if kn > 0 else 1.0)                                 # same mean norm
    x = np.concatenate([q, k])
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T                                                    # (N, 2) PCA
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE

        start = x @ vt[:min(50, vt.shape[0])].T
        perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(start)
    elif method != "pca":
        raise ValueError(f"unknown embedding {method!r}: 'pca' or 'tsne'")
    return xy.astype(np.float32)


def text_head_map(loaded: LoadedTransformer, text: str, max_tokens: int, layer: int, head: int):
    """One head's map on one text, read as the job read it (the same cut): an AttentionMap
    (query, key) labelled with the tokens."""
    limit = max(MIN_TOKENS, min(max_tokens, loaded.max_tokens))
    ids = loaded.tokenizer(text, truncation=True, max_length=limit)["input_ids"]
    _, captured = lc.capture(loaded.model, torch.tensor(ids), tokens=readable_tokens(loaded.tokenizer, ids),
                             check_memory=False)
    return lc.head_map(captured, layer, head)
