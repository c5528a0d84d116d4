"""Scaled dot-product and multi-head attention (Vaswani et al. 2017, "Attention Is All
You Need", eq. 1 and section 3.2.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),  d_k = d_model / h

Masks: the encoder and cross-attention hide padded keys; the decoder's self-attention
also hides later positions (``causal_mask``: query i sees keys 0..i).

``scaled_dot_product(q, k, v, mask)``:
    q (B, h, Tq, d), k (B, h, Tk, d), v (B, h, Tk, d)
    mask  broadcastable to (B, h, Tq, Tk), True where a key may be attended
    returns out (B, h, Tq, d), weights (B, h, Tq, Tk)

``MultiHead(d, heads, name, kind)(x, memory, mask, need_weights=True, kv=None)``:
    x (B, Tq, d) queries, memory (B, Tk, d) keys and values (memory = x for self-attention)
    returns out (B, Tq, d), (record,) with record "<name>": kind "self" or "cross",
    weights (B, h, Tq, Tk), axes ("batch", "head", "query", "key")
    kv: keys and values already projected by ``keys_values`` (B, h, Tk, d/h) each, so a
    decoder can cache them between steps instead of projecting its prefix again.

Weights are returned after the softmax and before any dropout (DESIGN.md), computed on
the plain path. ``need_weights=False`` is for training and decoding, where nobody reads
them: it runs the same equation through PyTorch's fused ``scaled_dot_product_attention``
and returns no record (on 2 CPU cores at width 256 only 1.03x faster per training step,
bench/translation_train.py; it saves the memory of the maps, and more on a GPU).
tests/models/mechanisms pin both paths to the written-out equation.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from models.mechanisms.base import masked_softmax
from models.records import AttentionMap


def scaled_dot_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None):
    """softmax(QK^T/sqrt(d)) V, computed on the plain path so the weights exist."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])           # (B, h, Tq, Tk)
    weights = masked_softmax(scores, mask)
    return weights @ v, weights                                         # (B, h, Tq, d), (B, h, Tq, Tk)


def causal_mask(n: int, device=None) -> torch.Tensor:
    """(n, n) bool, True on and below the diagonal: query i sees keys 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class MultiHead(nn.Module):
    def __init__(self, d: int, heads: int, name: str = "attention", kind: str = "self"):
        super().__init__()
        if d % heads:
            raise ValueError(f"model width {d} is not divisible by {heads} heads")
        self.h, self.name, self.kind = heads, name, kind
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))  # W^Q, W^K, W^V, W^O

    def split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.h, d // self.h).transpose(1, 2)       # (B, h, n, d/h)

    def keys_values(self, memory: torch.Tensor):
        """K W^K and V W^V split into heads: (B, h, Tk, d/h) each."""
        return self.split(self.k(memory)), self.split(self.v(memory))

    def forward(self, x, memory, mask, need_weights: bool = True, kv=None):
        b, tq, d = x.shape
        q = self.split(self.q(x))
        k, v = kv if kv is not None else self.keys_values(memory)
        if not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, Tq, d/h)
            return self.o(out.transpose(1, 2).reshape(b, tq, d)), ()
        out, w = scaled_dot_product(q, k, v, mask)                      # (B, h, Tq, d/h), (B, h, Tq, Tk)
        out = self.o(out.transpose(1, 2).reshape(b, tq, d))            # (B, Tq, d)
        record = AttentionMap(name=self.name, kind=self.kind, weights=w,
                              axes=("batch", "head", "query", "key"))
        return out, (record,)
