"""The two attention functions of the translation lab, as plain functions.

Additive attention (Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by
Jointly Learning to Align and Translate", eq. 6 and appendix A.1.2):

    e_ij  = v_a^T tanh(W_a s_{i-1} + U_a h_j)
    a_ij  = exp(e_ij) / sum_k exp(e_ik)
    c_i   = sum_j a_ij h_j

    query_proj  (B, A)      W_a s_{i-1}
    keys_proj   (B, S, A)   U_a h_j (computed once per sentence)
    v           (A,)
    values      (B, S, D)   h_j
    returns context (B, D), weights (B, S)   rows sum to 1 over unmasked keys

Scaled dot-product attention (Vaswani et al. 2017, "Attention Is All You Need", eq. 1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

    q (B, h, Tq, d), k (B, h, Tk, d), v (B, h, Tk, d)
    mask  broadcastable to (B, h, Tq, Tk), True where a key may be attended
    returns out (B, h, Tq, d), weights (B, h, Tq, Tk)

Weights are returned after the softmax and before any dropout (DESIGN.md).
"""

from __future__ import annotations

import math

import torch


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        # finfo.min instead of -inf: a fully masked row gives a uniform row, not NaN
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1)


def additive_attention(query_proj: torch.Tensor, keys_proj: torch.Tensor, v: torch.Tensor,
                       values: torch.Tensor, mask: torch.Tensor | None = None):
    """Bahdanau's alignment model; see the module docstring for shapes."""
    energy = torch.tanh(query_proj.unsqueeze(1) + keys_proj) @ v      # (B, S)
    weights = masked_softmax(energy, mask)                              # (B, S)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)        # (B, D)
    return context, weights


def scaled_dot_product(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None):
    """softmax(QK^T/sqrt(d)) V, computed on the plain path so the weights exist."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])           # (B, h, Tq, Tk)
    weights = masked_softmax(scores, mask)
    return weights @ v, weights                                         # (B, h, Tq, d), (B, h, Tq, Tk)


def causal_mask(n: int, device=None) -> torch.Tensor:
    """(n, n) bool, True on and below the diagonal: query i sees keys 0..i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()
