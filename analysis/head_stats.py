"""Per-head statistics after Clark et al. 2019, "What Does BERT Look At?".

For a head's map A (query i, key j; rows sum to 1):

    entropy         mean_i  −Σ_j A_ij log A_ij                      (nats)
    special share   mean_i  Σ_{j special} A_ij      ([CLS], [SEP], <s>, </s>…)
    [CLS] / [SEP]   the same, for the first / last special position
    distance        mean_i  Σ_j A_ij |i − j|                        (tokens)
    previous/next   mean_i  A_{i,i−1}  and  mean_i A_{i,i+1}
    self            mean_i  A_ii
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import entr

STAT_COLUMNS = {
    "entropy": "Entropy (nats)",
    "special": "On special tokens",
    "cls": "On first special ([CLS])",
    "sep": "On last special ([SEP])",
    "distance": "Mean distance (tokens)",
    "previous": "On previous token",
    "next": "On next token",
    "self": "On itself",
}


def head_statistics(attention: np.ndarray, special: tuple[bool, ...] | np.ndarray) -> dict[str, np.ndarray]:
    """attention (layer, head, T, T), special (T,) -> {stat: (layer, head)} arrays."""
    # float32 and single passes: at 512 tokens the stack holds 19M weights (75 MB).
    a = np.asarray(attention, dtype=np.float32)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"head statistics need (layer, head, T, T) self-attention, got {a.shape}")
    t = a.shape[-1]
    special = np.asarray(special, dtype=bool)
    if special.shape != (t,):
        raise ValueError(f"special mask has shape {special.shape}, expected ({t},)")
    stats = {"entropy": entr(a).sum(-1, dtype=np.float64).mean(-1)}  # entr(x) = -x log x, 0 at 0
    stats["special"] = (a @ special.astype(np.float32)).mean(-1)
    idx = np.flatnonzero(special)
    stats["cls"] = a[..., idx[0]].mean(-1) if idx.size else np.zeros(a.shape[:2])
    stats["sep"] = a[..., idx[-1]].mean(-1) if idx.size > 1 else np.zeros(a.shape[:2])
    pos = np.arange(t, dtype=np.float32)
    distance = np.abs(pos[:, None] - pos[None, :])  # (T, T)
    stats["distance"] = np.einsum("lhqk,qk->lh", a, distance, optimize=True) / t
    # for T = 1 the off-diagonals are empty and both shares are 0
    stats["previous"] = np.diagonal(a, offset=-1, axis1=-2, axis2=-1).sum(-1) / t
    stats["next"] = np.diagonal(a, offset=1, axis1=-2, axis2=-1).sum(-1) / t
    stats["self"] = np.diagonal(a, axis1=-2, axis2=-1).mean(-1)
    return {k: v.astype(np.float32) for k, v in stats.items()}


def head_statistics_table(stats: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (layer, head), columns named for people, ready to sort."""
    n_layers, n_heads = next(iter(stats.values())).shape
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    frame = pd.DataFrame({"Layer": layers.ravel(), "Head": heads.ravel()})
    for key, label in STAT_COLUMNS.items():
        frame[label] = stats[key].ravel()
    return frame
