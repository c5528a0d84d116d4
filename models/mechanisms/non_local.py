"""Non-local block (Wang, Girshick, Gupta, He: "Non-local Neural Networks", CVPR 2018).

Equation (paper eq. 1 and 6), for every position i of a (C, H, W) feature map x:

    y_i = 1 / C(x) * sum_j f(x_i, x_j) * g(x_j)          g(x_j) = W_g x_j  (1x1 conv)
    z_i = W_z y_i + x_i                                     (residual; W_z's BN starts at 0)

The four pairwise functions f and their normalisers C(x) (paper section 3.2):

    gaussian            f = exp(x_i^T x_j)                  C = sum_j f   -> softmax_j(x_i^T x_j)
    embedded_gaussian   f = exp(theta(x_i)^T phi(x_j))      C = sum_j f   -> softmax_j(theta_i^T phi_j)
    dot_product         f = theta(x_i)^T phi(x_j)           C = N         (no softmax; may be < 0)
    concatenation       f = ReLU(w_f^T [theta(x_i), phi(x_j)])  C = N     (no softmax; >= 0)

theta, phi are 1x1 convolutions to ``inter_channels``; N = H * W. Concatenation is
computed without the (N, N, 2C) tensor: w_f^T [a; b] = w_a^T a + w_b^T b, so
f_ij = ReLU(p_i + q_j) with one scalar per query (p) and per key (q).

Returns from ``forward(x)`` with x (B, C, H, W):
    z        (B, C, H, W)
    records  (one AttentionMap,) kind "affinity", weights (B, N, N), axes ("batch", "query", "key"),
             grid (H, W); row i is position i's weights over all keys (after the
             normaliser: softmax rows sum to 1, 1/N rows need not).
``attention_row(x, query)`` returns the same row computed alone as one record, weights
(B, N), axes ("batch", "key"), grid (H, W), in O(N * C) memory, never building the
N x N matrix (for a clicked pixel or a large input).

Variants differ only in ``pairwise`` (picked from ``mode``, checked at construction);
``forward`` is shared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.mechanisms.base import check_mode, flat_index, flatten
from models.records import AttentionMap

MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")


class NonLocalBlock(nn.Module):
    def __init__(self, channels: int, mode: str = "embedded_gaussian",
                 inter_channels: int | None = None, name: str = "nl"):
        super().__init__()
        self.mode = check_mode(mode, MODES)
        self.name = name
        self.inter_channels = inter_channels or max(channels // 2, 1)
        ci = self.inter_channels
        self.g = nn.Conv2d(channels, ci, 1)
        if mode != "gaussian":  # the plain Gaussian compares raw features: no embedding
            self.theta = nn.Conv2d(channels, ci, 1)
            self.phi = nn.Conv2d(channels, ci, 1)
        if mode == "concatenation":
            self.w_query = nn.Linear(ci, 1, bias=False)  # the theta half of w_f
            self.w_key = nn.Linear(ci, 1, bias=False)    # the phi half of w_f
        # W_z then BN initialised to zero: the block starts as the identity (paper 3.3).
        self.w_z = nn.Sequential(nn.Conv2d(ci, channels, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.w_z[1].weight)
        self._pairwise = {
            "gaussian": self._softmax_pairwise,
            "embedded_gaussian": self._softmax_pairwise,
            "dot_product": self._dot_pairwise,
            "concatenation": self._concat_pairwise,
        }[mode]

    # --- embeddings -----------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> queries (B, N, Cq), keys (B, N, Cq), values (B, N, Ci)."""
        if self.mode == "gaussian":
            q = k = flatten(x)                     # (B, N, C)
        else:
            q, k = flatten(self.theta(x)), flatten(self.phi(x))  # (B, N, Ci) each
        return q, k, flatten(self.g(x))            # values (B, N, Ci)

    # --- the only part a variant changes --------------------------------------------
    def pairwise(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Normalised f(x_i, x_j)/C(x): q (B, Nq, Cq), k (B, N, Cq) -> (B, Nq, N).

        Each row depends only on its own query, so a single row equals that row of
        the full matrix (what ``attention_row`` relies on).
        """
        return self._pairwise(q, k)

    def _softmax_pairwise(self, q, k):
        return torch.softmax(q @ k.transpose(1, 2), dim=-1)       # (B, Nq, N)

    def _dot_pairwise(self, q, k):
        return (q @ k.transpose(1, 2)) / k.shape[1]               # (B, Nq, N), C(x) = N

    def _concat_pairwise(self, q, k):
        p = self.w_query(q)                                        # (B, Nq, 1)
        s = self.w_key(k).transpose(1, 2)                          # (B, 1, N)
        return F.relu(p + s) / k.shape[1]                          # (B, Nq, N), C(x) = N

    # --- shared forward ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[AttentionMap, ...]]:
        b, c, h, w = x.shape
        q, k, v = self.embed(x)
        a = self.pairwise(q, k)                                    # (B, N, N)
        y = (a @ v).transpose(1, 2).reshape(b, -1, h, w)           # (B, Ci, H, W)
        z = x + self.w_z(y)                                        # (B, C, H, W)
        record = AttentionMap(
            name=f"{self.name}.affinity", kind="affinity", weights=a,
            axes=("batch", "query", "key"), grid=(h, w),
            meta={"mode": self.mode,
                  "normalised": self.normaliser},
        )
        return z, (record,)

    @property
    def normaliser(self) -> str:
        return "softmax" if "gaussian" in self.mode else "1/N"

    def attention_row(self, x: torch.Tensor, query) -> tuple[AttentionMap, ...]:
        """One query position's weights over all keys, no N x N matrix built:
        ("<name>.affinity": (B, N), axes ("batch", "key"), grid (H, W))."""
        h, w = x.shape[-2:]
        i = flat_index(query, (h, w))
        q, k, _v = self.embed(x)
        row = self.pairwise(q[:, i : i + 1], k)[:, 0]              # (B, N)
        return (AttentionMap(name=f"{self.name}.affinity", kind="affinity", weights=row,
                             axes=("batch", "key"), grid=(h, w),
                             meta={"mode": self.mode, "normalised": self.normaliser,
                                   "query": divmod(i, w)}),)
