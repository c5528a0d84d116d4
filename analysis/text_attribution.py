"""Does attention explain the prediction? Attention against attribution on text.

The quantity explained, f (one scalar per input):
    decoder LM   f(x) = log p(x_{i+1} | x_0..x_i)          the next token at position i
    encoder      f(x) = cos(mean_t h_t(x), mean_t h_t(y))  similarity to a second text y

Token attributions for f, one number per input position j (Captum):
    integrated gradients  IG_j = sum_d (e_jd - e'_jd) * int_0^1 df/de_jd(e' + a(e - e')) da
                          over the embedding layer (LayerIntegratedGradients); the baseline e'
                          replaces every attributable token by ``baseline_id``; completeness:
                          sum_j IG_j = f(x) - f(x') up to Captum's convergence delta
    input x gradient      IxG_j = sum_d e_jd * df/de_jd     (LayerGradientXActivation)
    blank-out             B_j = f(x) - f(x with token j replaced by baseline_id)
                          (the erasure importance Abnar & Zuidema 2020 compare attention with)

Attention rankings of the same positions, for the query that makes the prediction
(decoder: row i; encoder: the mean over all query rows, i.e. attention received):
    raw      A^{l,h}[q, j] for every layer l and head h
    mean     mean over heads of the last layer
    rollout  row q of attention rollout through every layer (analysis/rollout.py)

Agreement: Spearman's rho between a ranking and an attribution over the attributable
positions (special tokens and positions after i are left out). Faithfulness: a deletion
curve, f after replacing the top-k positions of a ranking by ``baseline_id`` for k = 0..K,
beside the mean curve of random orders (the chance level); a ranking that explains f
makes it fall faster, so its mean drop f(x) - f_k over k = 1..K is larger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from analysis.attribution import spearman
from analysis.rollout import rollout

ATTRIBUTIONS = ("integrated_gradients", "input_x_gradient", "blank_out")


@dataclass(frozen=True, eq=False)
class TextTarget:
    """What is explained: f over a batch of id sequences, and where it may be attributed."""

    ids: torch.Tensor                          # (T,) the input
    f: Callable[[torch.Tensor], torch.Tensor]  # (B, T) ids -> (B,) target
    embeddings: torch.nn.Module                # the model's input embedding layer
    baseline_id: int                           # replaces a token that is removed
    attributable: np.ndarray                   # (T,) bool: positions that may be ranked/removed
    query: int | None                          # the attention row that predicts (None: mean over rows)
    description: str

    def baseline(self) -> torch.Tensor:
        """(T,) the input with every attributable token replaced by baseline_id."""
        out = self.ids.clone()
        out[torch.from_numpy(self.attributable)] = self.baseline_id
        return out


def special_ids(tokenizer) -> set[int]:
    """Token ids that are structure, not text ([CLS], [SEP], <|im_start|>, padding): never
    ranked or removed. The unknown token stands for text, so it stays attributable."""
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    return ids - {getattr(tokenizer, "unk_token_id", None)}


def baseline_id(tokenizer) -> int:
    """The token that stands for "no token" when one is removed or integrated from: padding,
    else end-of-text (decoders often have no pad token), else unknown, else 0."""
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    # half-precision models are scored in float32; float64 ones (tests) keep their precision
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def decoder_target(model, ids, position: int, baseline_id: int, special=()) -> TextTarget:
    """f = log p(ids[position + 1] | ids[:position + 1]) for a causal LM. The target's input
    is the context ids[:position + 1] (later tokens cannot change f under the causal mask);
    every context position is attributable except ``special`` tokens (e.g. <|im_start|>)."""
    ids = torch.as_tensor(ids).flatten().cpu()
    t = int(ids.numel())
    if not 0 <= position < t - 1:
        raise ValueError(f"the predicting position must be in 0..{t - 2} (a next token must exist), got {position}")
    nxt = int(ids[position + 1])
    device = _device(model)

    def f(batch: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=batch.to(device), use_cache=False).logits      # (B, i + 1, V)
        return torch.log_softmax(_at_least_float32(logits[:, -1]), dim=-1)[:, nxt]

    context = ids[:position + 1].clone()
    keep = np.array([int(i) not in set(special) for i in context.tolist()], dtype=bool)
    return TextTarget(context, f, model.get_input_embeddings(), int(baseline_id), keep, position,
                      f"log p(token {position + 1} | tokens 0..{position})")


def encoder_target(model, ids, other_ids, baseline_id: int, special=()) -> TextTarget:
    """f = cosine similarity of the mean-pooled last hidden states of ``ids`` and of
    ``other_ids`` (the second text, held fixed)."""
    ids = torch.as_tensor(ids).flatten().cpu()
    device = _device(model)
    with torch.no_grad():
        other = model(input_ids=torch.as_tensor(other_ids).reshape(1, -1).to(device)).last_hidden_state.mean(1)

    def f(batch: torch.Tensor) -> torch.Tensor:
        pooled = model(input_ids=batch.to(device)).last_hidden_state.mean(1)       # (B, D)
        return torch.nn.functional.cosine_similarity(_at_least_float32(pooled), _at_least_float32(other), dim=-1)

    keep = np.array([int(i) not in set(special) for i in ids.tolist()], dtype=bool)
    return TextTarget(ids, f, model.get_input_embeddings(), int(baseline_id), keep, None,
                      "cos(mean embedding of the text, mean embedding of the second text)")


@torch.no_grad()
def value(target: TextTarget, ids: torch.Tensor | None = None) -> float:
    return float(target.f((target.ids if ids is None else ids)[None])[0])


def attributions(target: TextTarget, n_steps: int = 32, batch: int = 16) -> tuple[dict[str, np.ndarray], float]:
    """{method: (T,) attribution} (0 at positions that are not attributable) and the
    integrated gradients' convergence delta (sum of IG minus f(x) - f(x'))."""
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    x = target.ids[None]
    base = target.baseline()[None]
    lig = LayerIntegratedGradients(target.f, target.embeddings)
    ig, delta = lig.attribute(x, baselines=base, n_steps=n_steps, internal_batch_size=batch,
                              return_convergence_delta=True)
    ixg = LayerGradientXActivation(target.f, target.embeddings).attribute(x)
    mask = target.attributable
    out = {"integrated_gradients": ig[0].sum(-1).detach().float().cpu().numpy(),
           "input_x_gradient": ixg[0].sum(-1).detach().float().cpu().numpy(),
           "blank_out": blank_out(target, batch)}
    for k in out:
        out[k] = np.where(mask, out[k], 0.0).astype(np.float64)
    return out, float(delta.abs().max())


@torch.no_grad()
def blank_out(target: TextTarget, batch: int = 16) -> np.ndarray:
    """(T,) f(x) - f(x with token j replaced by baseline_id), 0 where not attributable."""
    full = value(target)
    positions = np.flatnonzero(target.attributable)
    out = np.zeros(len(target.ids), dtype=np.float64)
    for s in range(0, len(positions), batch):
        chunk = positions[s:s + batch]
        xs = target.ids.repeat(len(chunk), 1)
        xs[torch.arange(len(chunk)), torch.from_numpy(chunk)] = target.baseline_id
        out[chunk] = full - target.f(xs).double().cpu().numpy()
    return out


def attention_rankings(maps: np.ndarray, query: int | None) -> dict[str, np.ndarray]:
    """maps (layers, heads, T, T) -> {"raw": (layers, heads, T), "mean": (T,), "rollout": (T,)}:
    the predicting query's row (or the mean over rows when query is None)."""
    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"need (layers, heads, T, T) self-attention, got shape {a.shape}")
    rolled = rollout(a)[-1]                                                 # (T, T)
    if query is None:
        raw, roll = a.mean(axis=2), rolled.mean(axis=0)
    else:
        raw, roll = a[:, :, query], rolled[query]
    return {"raw": raw, "mean": raw[-1].mean(axis=0), "rollout": roll}


def agreement(rankings: dict[str, np.ndarray], attribution: np.ndarray, attributable: np.ndarray) -> dict:
    """Spearman rho of each attention ranking with one attribution, over attributable
    positions: {"raw": (layers, heads), "mean": float, "rollout": float}."""
    m = np.asarray(attributable, dtype=bool)
    a = np.asarray(attribution)[m]
    raw = rankings["raw"]
    grid = np.array([[spearman(raw[l, h][m], a) for h in range(raw.shape[1])] for l in range(raw.shape[0])])
    return {"raw": grid, "mean": spearman(rankings["mean"][m], a), "rollout": spearman(rankings["rollout"][m], a)}


def order_of(scores: np.ndarray, attributable: np.ndarray) -> np.ndarray:
    """Attributable positions from the highest score down (ties: earlier position first)."""
    pos = np.flatnonzero(np.asarray(attributable, dtype=bool))
    s = np.asarray(scores, dtype=np.float64)[pos]
    return pos[np.argsort(-s, kind="stable")]


@torch.no_grad()
def deletion(target: TextTarget, order: np.ndarray, steps: int | None = None) -> np.ndarray:
    """(K + 1,) f after replacing the first k positions of ``order`` by baseline_id,
    k = 0..K (K = steps or every position)."""
    order = np.asarray(order, dtype=np.int64)
    k_max = len(order) if steps is None else min(int(steps), len(order))
    xs = target.ids.repeat(k_max + 1, 1)
    for k in range(1, k_max + 1):
        xs[k:, order[k - 1]] = target.baseline_id
    return target.f(xs).double().cpu().numpy()


def random_deletion(target: TextTarget, steps: int | None = None, n_orders: int = 10, seed: int = 0) -> np.ndarray:
    """The chance level: the mean deletion curve over seeded random orders."""
    pos = np.flatnonzero(target.attributable)
    rng = np.random.default_rng(seed)
    return np.mean([deletion(target, rng.permutation(pos), steps) for _ in range(n_orders)], axis=0)


def deletion_drop(curve: np.ndarray) -> float:
    """Mean over k = 1..K of f(x) - f(x without the top k): how far f falls, on average,
    while a ranking's top tokens are removed (in f's own units; higher = the ranking found
    what f depends on sooner). Not normalised by the curve's own span, which can be ~0."""
    c = np.asarray(curve, dtype=np.float64)
    if len(c) < 2:
        return float("nan")
    return float(np.mean(c[0] - c[1:]))


@torch.inference_mode()
def attention_maps(model, ids: torch.Tensor) -> np.ndarray:
    """(layers, heads, T, T) float64 attention of one sequence: the eager path's weights, or,
    for a model on the fused path with q/k capture (models/pretrained/llm_capture.py), every
    head's map recomputed from the captured queries and keys."""
    from models.pretrained import llm_capture as lc

    x = torch.as_tensor(ids).reshape(1, -1).to(_device(model))
    impl = getattr(model.config, "_attn_implementation", None)
    if impl == "eager":
        out = model(input_ids=x, output_attentions=True)
        return torch.stack([a[0] for a in out.attentions]).double().cpu().numpy()
    _, captured = lc.capture(model, x[0], logits_to_keep=1)
    return lc.every_map(captured).double().cpu().numpy()


@dataclass(frozen=True)
class TextExplanation:
    """Everything measured for one text (positions are the target's input positions)."""

    value: float                                # f(x)
    attributions: dict[str, np.ndarray]         # method -> (T,)
    ig_delta: float
    rankings: dict[str, np.ndarray]             # "raw" (L, H, T), "mean" (T,), "rollout" (T,)
    agreement: dict[str, dict]                  # attribution -> {"raw": (L, H), "mean", "rollout"}
    deletion: dict[str, np.ndarray]             # ranking -> (K + 1,) f after removing the top k
    chance: np.ndarray                          # (K + 1,) mean over random orders
    attributable: np.ndarray                    # (T,) bool: the positions ranked and removed


def explain(target: TextTarget, maps: np.ndarray, steps: int = 10, n_steps: int = 32,
            n_random: int = 10, seed: int = 0) -> TextExplanation:
    """Attributions, attention rankings, their agreement and deletion curves for one text.
    Deletion removes up to ``steps`` tokens, for the mean attention, rollout and each
    attribution's ranking, beside ``n_random`` random orders (the chance level)."""
    if maps.shape[-1] != len(target.ids):
        raise ValueError(f"maps cover {maps.shape[-1]} tokens, the target's input has {len(target.ids)}")
    if not target.attributable.any():
        raise ValueError("no token of this text can be attributed (all are special tokens)")
    attr, delta = attributions(target, n_steps=n_steps)
    ranks = attention_rankings(maps, target.query)
    agree = {name: agreement(ranks, a, target.attributable) for name, a in attr.items()}
    scores = {"attention (mean of heads)": ranks["mean"], "rollout": ranks["rollout"], **attr}
    curves = {name: deletion(target, order_of(s, target.attributable), steps) for name, s in scores.items()}
    chance = random_deletion(target, steps, n_random, seed)
    return TextExplanation(value(target), attr, delta, ranks, agree, curves, chance, target.attributable.copy())
