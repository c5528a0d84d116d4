"""SAGAN self-attention (Zhang, Goodfellow, Metaxas, Odena: "Self-Attention Generative
Adversarial Networks", ICML 2019). The generator and discriminator that use it are in
models/gan.py.

Equations (paper section 3), for x (B, C, H, W) and N = H * W positions:

    f(x) = W_f x,  g(x) = W_g x,  h(x) = W_h x               1x1 convs to C/k channels
    s_ij = f(x_i)^T g(x_j)
    beta_{j,i} = exp(s_ij) / sum_i exp(s_ij)                  how much output j attends to input i
    o_j = v( sum_i beta_{j,i} h(x_i) ),  v = W_v (C/k -> C)
    y_j = gamma * o_j + x_j                                   gamma learnable, initialised to 0

gamma = 0 at the start means the network first relies on local (convolutional) cues
and only gradually learns to use the non-local evidence (paper section 3). Spectral
normalisation is applied to the convolutions of both G and D, as in the paper.

Returns from ``SelfAttention.forward(x)``:
    y        (B, C, H, W)
    records  (one AttentionMap,) kind "self", weights beta as (B, N, N) with axes ("batch", "query", "key"):
            query = output position j, key = input position i; rows sum to 1; grid (H, W).
``attention_row(x, query)`` gives beta_{j, :} for one output position j as one record,
(B, N) with axes ("batch", "key") and grid (H, W), without the N x N matrix.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.mechanisms.base import flat_index, flatten
from models.records import AttentionMap


def sn_conv(cin, cout, k, stride=1, padding=0, bias=True):
    return spectral_norm(nn.Conv2d(cin, cout, k, stride, padding, bias=bias))


class SelfAttention(nn.Module):
    def __init__(self, channels: int, k: int = 8, name: str = "sagan.attn"):
        super().__init__()
        self.name = name
        cbar = max(channels // k, 1)
        self.f = sn_conv(channels, cbar, 1, bias=False)  # keys   (inputs i)
        self.g = sn_conv(channels, cbar, 1, bias=False)  # queries (outputs j)
        self.h = sn_conv(channels, cbar, 1, bias=False)  # values
        self.v = sn_conv(cbar, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def embed(self, x):
        """x (B, C, H, W) -> queries g (B, N, C/k), keys f (B, N, C/k), values h (B, N, C/k)."""
        return flatten(self.g(x)), flatten(self.f(x)), flatten(self.h(x))

    @staticmethod
    def pairwise(q, k):
        """q (B, Nq, C/k), k (B, N, C/k) -> beta (B, Nq, N), softmax over inputs i."""
        return torch.softmax(q @ k.transpose(1, 2), dim=-1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        q, k, v = self.embed(x)
        beta = self.pairwise(q, k)                                  # (B, N, N)
        o = (beta @ v).transpose(1, 2).reshape(b, -1, hh, ww)       # (B, C/k, H, W)
        y = self.gamma * self.v(o) + x                              # (B, C, H, W)
        record = AttentionMap(name=self.name, kind="self", weights=beta,
                              axes=("batch", "query", "key"), grid=(hh, ww),
                              meta={"gamma": float(self.gamma.detach())})
        return y, (record,)

    def attention_row(self, x, query) -> tuple[AttentionMap, ...]:
        hh, ww = x.shape[-2:]
        j = flat_index(query, (hh, ww))
        q, k, _ = self.embed(x)
        row = self.pairwise(q[:, j : j + 1], k)[:, 0]               # (B, N)
        return (AttentionMap(name=self.name, kind="self", weights=row, axes=("batch", "key"),
                             grid=(hh, ww), meta={"query": divmod(j, ww)}),)
