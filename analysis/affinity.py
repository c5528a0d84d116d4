"""Parameter-free non-local affinity for one query position, and its DNL decomposition.

Non-local neural networks (Wang et al. 2018), Gaussian instantiation, with no learned
embeddings (θ = φ = identity): for features x of shape (C, h, w), flattened to
N = h·w positions x_j ∈ R^C, the affinity of query position i is

    a_i(j) = exp(x_iᵀ x_j) / Σ_k exp(x_iᵀ x_k)      = softmax_j(x_iᵀ x_j)          (N,)

Disentangled Non-Local (Yin et al. 2020, "Disentangled Non-Local Neural Networks",
ECCV) splits the dot product with μ = (1/N) Σ_j x_j, the mean feature over positions:

    x_iᵀ x_j = (x_i − μ)ᵀ(x_j − μ) + μᵀ x_j + [terms that do not depend on j]

and, since softmax over j ignores terms constant in j, defines

    pairwise  p_i(j) = softmax_j((x_i − μ)ᵀ (x_j − μ))   whitened pairwise term   (N,)
    unary     u(j)   = softmax_j(μᵀ x_j)                  unary term, same for every i  (N,)

(the paper writes the terms with query/key embeddings q, k and means μ_q, μ_k; in the
parameter-free form used here q = k = x and μ_q = μ_k = μ. In the trained DNL block
the unary logits come from a separate 1×1 conv; here they are μᵀ x_j.) DNL then adds
the two normalised terms instead of multiplying them. Because the dropped terms are
constant in j, the plain affinity is exactly the renormalised product:

    a_i(j) = p_i(j) · u(j) / Σ_k p_i(k) · u(k)

which the tests check. An optional ``scale`` multiplies every logit (1 is the paper's
definition, 1/√C the scaled dot product of Transformers, "auto" 1/mean‖x_j‖²; see
``resolve_scale`` for why the page defaults to "auto").

Cost: every function computes one row, O(N·C) time and O(N) extra memory; the N × N
matrix is never formed (``full_affinity`` exists only for tests and the benchmark).
``click_records`` with a ``StageCache`` (μ, μᵀx and the scale computed once per image
and stage) costs one mat-vec per click.
Returned records have axes ("h", "w") and grid=(h, w); each map sums to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.mechanisms.base import flat_index
from models.records import AttentionMap


def _flat(features: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    if features.ndim != 3:
        raise ValueError(f"features must be (C, h, w), got shape {tuple(features.shape)}")
    c, h, w = features.shape
    if h * w == 0 or c == 0:
        raise ValueError(f"features are empty: shape {tuple(features.shape)}")
    return features.reshape(c, h * w).float(), h, w  # (C, N)


SCALES = ("auto", "sqrt", "1/C", "paper")


def resolve_scale(scale: float | str | None, channels: int, x: torch.Tensor | None = None) -> float:
    """The logit multiplier.

    None, 1 or "paper" -> 1 (the paper's definition); "sqrt" -> 1/√C; "1/C" -> 1/C;
    "auto" -> 1 / mean_j ‖x_j‖², so that a typical self-similarity logit is about 1.
    Trained CNN features have large norms: with scale 1 (or even 1/C) almost every row
    is one-hot on the query itself, which says little; "auto" keeps the ranking of
    x_iᵀx_j (the same map up to temperature) while leaving it readable.
    """
    if scale is None or scale == "paper":
        return 1.0
    if scale == "sqrt":
        return 1.0 / math.sqrt(channels)
    if scale == "1/C":
        return 1.0 / channels
    if scale == "auto":
        if x is None:
            raise ValueError('scale "auto" needs the features')
        mean_sq = float((x * x).sum(dim=0).mean())  # x: (C, N)
        return 1.0 / mean_sq if mean_sq > 0 else 1.0
    value = float(scale)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    return value


@torch.inference_mode()
def affinity_row(features: torch.Tensor, query: tuple[int, int], scale: float | str | None = None) -> torch.Tensor:
    """softmax_j(x_iᵀ x_j) for the query (row, col): (h, w), sums to 1."""
    x, h, w = _flat(features)
    i = flat_index(tuple(query), (h, w))
    s = resolve_scale(scale, x.shape[0], x)
    logits = (x[:, i] @ x) * s  # (N,)
    return torch.softmax(logits, dim=0).reshape(h, w)


@torch.inference_mode()
def dnl_terms(features: torch.Tensor, query: tuple[int, int], scale: float | str | None = None,
              mean: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(pairwise (h, w), unary (h, w)) for the query; each sums to 1.

    ``mean`` (C,) may be passed in when it was computed once per feature map.
    """
    x, h, w = _flat(features)
    i = flat_index(tuple(query), (h, w))
    s = resolve_scale(scale, x.shape[0], x)
    mu = x.mean(dim=1) if mean is None else mean.float()  # (C,)
    # (x_i − μ)ᵀ(x_j − μ) = (x_i − μ)ᵀ x_j − (x_i − μ)ᵀ μ; the second part is constant
    # in j, so it is dropped and no centred copy of x (N × C) is ever made.
    centred_query = x[:, i] - mu  # (C,)
    pairwise = torch.softmax((centred_query @ x) * s, dim=0)  # (N,)
    unary = torch.softmax((mu @ x) * s, dim=0)  # (N,)
    return pairwise.reshape(h, w), unary.reshape(h, w)


@dataclass(frozen=True)
class StageCache:
    """What a page keeps per image and stage so that a click costs one mat-vec.

    x (C, N) float32, μ (C,), the unary logits μᵀx (N,) and the "auto" base scale
    1 / mean‖x_j‖², all O(N·C) or O(N): linear in the number of positions.
    """

    x: torch.Tensor
    mean: torch.Tensor
    unary_logits: torch.Tensor
    auto_scale: float
    grid: tuple[int, int]


@torch.inference_mode()
def stage_cache(features: torch.Tensor) -> StageCache:
    x, h, w = _flat(features)
    x = x.contiguous()
    mu = x.mean(dim=1)  # (C,)
    return StageCache(x=x, mean=mu, unary_logits=mu @ x, auto_scale=resolve_scale("auto", x.shape[0], x),
                      grid=(h, w))


@torch.inference_mode()
def click_records(features: torch.Tensor | StageCache, query: tuple[int, int], stage: str = "",
                  scale: float | str | None = None, gain: float = 1.0,
                  ) -> tuple[AttentionMap, AttentionMap, AttentionMap]:
    """The three maps for one clicked position, as records named "<stage>.affinity" etc.

    Uses x_iᵀx_j = (x_i − μ)ᵀx_j + μᵀx_j: with the unary logits μᵀx cached per stage,
    one mat-vec x_iᵀX gives the affinity logits, and the pairwise logits are their
    difference (the constant −(x_i − μ)ᵀμ is dropped, as softmax ignores it). This is
    the same map as ``affinity_row``/``dnl_terms`` (tested), at a third of the cost.
    ``gain`` multiplies the resolved scale (a sharpness knob for the page).
    """
    cache = features if isinstance(features, StageCache) else stage_cache(features)
    x = cache.x
    c = x.shape[0]
    h, w = cache.grid
    if not (math.isfinite(float(gain)) and gain > 0):
        raise ValueError(f"gain must be a positive number, got {gain!r}")
    base = cache.auto_scale if scale == "auto" else resolve_scale(scale, c)
    s = base * float(gain)
    i = flat_index(tuple(query), (h, w))
    logits = x[:, i] @ x  # (N,) x_iᵀx_j
    a = torch.softmax(logits * s, dim=0)
    p = torch.softmax((logits - cache.unary_logits) * s, dim=0)
    u = torch.softmax(cache.unary_logits * s, dim=0)
    meta = {"query": (int(query[0]), int(query[1])), "channels": int(c),
            "scale": s, "normalised": "softmax"}
    prefix = f"{stage}." if stage else ""
    return (
        AttentionMap(prefix + "affinity", "affinity", a.reshape(h, w), ("h", "w"), grid=(h, w), meta=meta),
        AttentionMap(prefix + "dnl.pairwise", "pairwise", p.reshape(h, w), ("h", "w"), grid=(h, w), meta=meta),
        AttentionMap(prefix + "dnl.unary", "unary", u.reshape(h, w), ("h", "w"), grid=(h, w), meta=meta),
    )


@torch.inference_mode()
def full_affinity(features: torch.Tensor, scale: float | str | None = None) -> torch.Tensor:
    """The whole (N, N) matrix softmax_j(x_iᵀ x_j): O(N²) memory. Tests and bench only."""
    x, _, _ = _flat(features)
    s = resolve_scale(scale, x.shape[0], x)
    return torch.softmax((x.T @ x) * s, dim=1)  # (N, N)
