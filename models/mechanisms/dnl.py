"""Disentangled Non-local block (Yin, Yao, Cao, Li, Zhang, Lin, Hu: "Disentangled
Non-Local Neural Networks", ECCV 2020).

The paper splits the embedded-Gaussian non-local weight into a *whitened pairwise*
term (how position i relates to j) and a *unary* term (how salient j is for every
query), and computes them separately (paper eq. 9):

    mu_q = mean_i q_i,  mu_k = mean_j k_j                  (means over positions)
    pairwise_ij = softmax_j( (q_i - mu_q)^T (k_j - mu_k) / sqrt(Ci) )
    unary_j     = softmax_j( w_m^T x_j )                    (1x1 conv to one channel)
    y_i = sum_j (pairwise_ij + unary_j) * g(x_j)
    z_i = x_i + W_z y_i                                     (W_z's BN starts at 0)

with q = theta(x), k = phi(x), g 1x1 convolutions. Whitening removes the part of
q_i^T k_j that does not depend on i, which plain NL tends to learn (the maps of
different queries look alike); the unary term carries that part on its own.

Returns from ``forward(x)`` with x (B, C, H, W), N = H * W:
    z          (B, C, H, W)
    records    (pairwise, unary):
               pairwise: kind "pairwise", (B, N, N), axes ("batch", "query", "key"), grid (H, W)
               unary:    kind "unary", (B, H, W), axes ("batch", "h", "w")
``attention_row(x, query)`` returns three records for one query, without the N x N
matrix, each (B, N) with axes ("batch", "key") and grid (H, W): "<name>.pairwise",
"<name>.unary" and "<name>.combined" = pairwise row + unary (sums to 2, as the weights
that multiply g(x_j) in the equation above).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.mechanisms.base import flat_index, flatten
from models.records import AttentionMap


class DisentangledNonLocal(nn.Module):
    def __init__(self, channels: int, inter_channels: int | None = None, name: str = "dnl"):
        super().__init__()
        self.name = name
        self.inter_channels = inter_channels or max(channels // 2, 1)
        ci = self.inter_channels
        self.theta = nn.Conv2d(channels, ci, 1)
        self.phi = nn.Conv2d(channels, ci, 1)
        self.g = nn.Conv2d(channels, ci, 1)
        self.unary_conv = nn.Conv2d(channels, 1, 1)  # w_m: one saliency logit per position
        self.scale = 1.0 / math.sqrt(ci)
        self.w_z = nn.Sequential(nn.Conv2d(ci, channels, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.w_z[1].weight)

    def embed(self, x):
        """x (B, C, H, W) -> whitened queries (B, N, Ci), whitened keys (B, N, Ci), values (B, N, Ci)."""
        q, k = flatten(self.theta(x)), flatten(self.phi(x))       # (B, N, Ci)
        q = q - q.mean(dim=1, keepdim=True)                       # whitening: subtract mu_q
        k = k - k.mean(dim=1, keepdim=True)                       # ... and mu_k
        return q, k, flatten(self.g(x))

    def pairwise(self, q, k):
        """q (B, Nq, Ci), k (B, N, Ci) -> (B, Nq, N), softmax over keys."""
        return torch.softmax((q @ k.transpose(1, 2)) * self.scale, dim=-1)

    def unary(self, x):
        """x (B, C, H, W) -> (B, N), softmax over positions."""
        return torch.softmax(self.unary_conv(x).flatten(1), dim=-1)

    def forward(self, x: torch.Tensor):
        b, c, h, w = x.shape
        q, k, v = self.embed(x)
        pair = self.pairwise(q, k)                                 # (B, N, N)
        un = self.unary(x)                                         # (B, N)
        y = pair @ v + (un.unsqueeze(1) @ v)                       # (B, N, Ci); unary row broadcast
        y = y.transpose(1, 2).reshape(b, -1, h, w)                 # (B, Ci, H, W)
        z = x + self.w_z(y)
        records = (
            AttentionMap(name=f"{self.name}.pairwise", kind="pairwise", weights=pair,
                         axes=("batch", "query", "key"), grid=(h, w),
                         meta={"normalised": "softmax", "whitened": True}),
            AttentionMap(name=f"{self.name}.unary", kind="unary",
                         weights=un.reshape(b, h, w),              # (B, H, W)
                         axes=("batch", "h", "w"), grid=(h, w),
                         meta={"normalised": "softmax"}),
        )
        return z, records

    def attention_row(self, x: torch.Tensor, query) -> tuple[AttentionMap, ...]:
        h, w = x.shape[-2:]
        i = flat_index(query, (h, w))
        q, k, _v = self.embed(x)                                   # the means still use every position
        pair = self.pairwise(q[:, i : i + 1], k)[:, 0]             # (B, N)
        un = self.unary(x)                                         # (B, N)
        meta = {"query": divmod(i, w)}
        return tuple(
            AttentionMap(name=f"{self.name}.{term}", kind=kind, weights=weights,
                         axes=("batch", "key"), grid=(h, w), meta=meta)
            for term, kind, weights in (("pairwise", "pairwise", pair), ("unary", "unary", un),
                                        ("combined", "affinity", pair + un)))
