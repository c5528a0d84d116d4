"""Small pieces every mechanism file shares: the checked ``mode``, image grids flattened
to positions, one query position by index or (row, col), and the masked softmax.

Nothing here is a paper's equation; the mechanism files are.
"""

from __future__ import annotations

import torch


def check_mode(mode: str, modes: tuple[str, ...]) -> str:
    """A variant is a checked string, so a typo fails at construction, not mid-training."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {modes}, got {mode!r}")
    return mode


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C) with N = H * W, row-major positions."""
    return x.flatten(2).transpose(1, 2)


def flat_index(query, grid: tuple[int, int]) -> int:
    """A query given as a flat index or as (row, col) -> flat index, range-checked."""
    h, w = grid
    if isinstance(query, (tuple, list)):
        r, c = (int(v) for v in query)
        if not (0 <= r < h and 0 <= c < w):
            raise IndexError(f"query {(r, c)} outside the {h} x {w} grid")
        return r * w + c
    q = int(query)
    if not 0 <= q < h * w:
        raise IndexError(f"query {q} outside 0..{h * w - 1}")
    return q


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis where ``mask`` is True (mask broadcastable to scores)."""
    if mask is not None:
        # finfo.min instead of -inf: a fully masked row gives a uniform row, not NaN
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1)
