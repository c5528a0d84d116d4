"""Plain re-statements of the building blocks the equation tests share.

Written from the papers with einsum and loops; nothing here calls a block's own helper
methods, only reads its parameters.
"""

from __future__ import annotations

import torch
from torch import nn


def randomise(module: nn.Module, scale: float = 0.5, seed: int = 0) -> nn.Module:
    """Every parameter and BN statistic random and non-zero, float64, eval mode.

    A zero-initialised gamma (SAGAN) or BN weight (W_z) would hide a dropped branch.
    """
    gen = torch.Generator().manual_seed(seed)
    module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen, dtype=torch.float64) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen, dtype=torch.float64) + 0.5)
    return module.eval()


def conv1x1(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """W x_i + b at every position: x (B, C, H, W) -> (B, positions N, out)."""
    w = (conv.weight if weight is None else weight)[:, :, 0, 0]      # (out, C)
    y = torch.einsum("oc,bchw->bhwo", w, x)
    if conv.bias is not None:
        y = y + conv.bias
    return y.reshape(x.shape[0], -1, w.shape[0])                   # row-major positions


def bn_eval(bn: nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
    """Batch norm with running statistics: y (B, N, C) -> (B, N, C)."""
    return (y - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias


def to_map(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, N, C) -> (B, C, H, W)."""
    return y.reshape(y.shape[0], h, w, y.shape[2]).permute(0, 3, 1, 2)


def softmax_by_hand(scores: torch.Tensor) -> torch.Tensor:
    """exp(s_j) / sum_k exp(s_k) over the last axis (scores are kept small in the tests)."""
    e = torch.exp(scores)
    return e / e.sum(-1, keepdim=True)


SHAPES = [(2, 8, 5, 7), (3, 6, 4, 4), (2, 10, 3, 1)]   # (B, C, H, W): batch > 1, non-square, odd
