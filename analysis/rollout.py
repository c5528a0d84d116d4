"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

With a residual connection around each attention layer, the flow through layer l is
modelled as  Â_l = ½·A_l + ½·I  (A_l averaged over heads, rows renormalised), and
the flow from the input to layer l is the product

    R_l = Â_l · Â_{l-1} · … · Â_1          # (query, key), rows sum to 1

``rollout`` returns R_l for every l, so a page can show the flow up to any layer.
"""

from __future__ import annotations

import numpy as np


def rollout(attention: np.ndarray, residual: float = 0.5, head_fusion: str = "mean") -> np.ndarray:
    """attention (layer, head, T, T) -> cumulative rollout (layer, T, T)."""
    a = np.asarray(attention, dtype=np.float32)  # fuse heads before widening: (T, T) is small
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"rollout needs (layer, head, T, T) self-attention, got shape {a.shape}")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual weight must lie in [0, 1], got {residual}")
    if head_fusion == "mean":
        fused = a.mean(axis=1)
    elif head_fusion == "max":
        fused = a.max(axis=1)
    elif head_fusion == "min":
        fused = a.min(axis=1)
    else:
        raise ValueError(f"head_fusion must be 'mean', 'max' or 'min', got {head_fusion!r}")
    fused = fused.astype(np.float64)
    n_layers, t = fused.shape[0], fused.shape[-1]
    eye = np.eye(t)
    out = np.empty((n_layers, t, t), dtype=np.float64)
    flow = eye
    for layer in range(n_layers):
        step = residual * eye + (1.0 - residual) * fused[layer]
        step /= step.sum(axis=-1, keepdims=True)
        flow = step @ flow  # (T, T): later layers multiply on the left
        out[layer] = flow
    return out.astype(np.float32)
