"""Additive attention (Bahdanau et al. 2015 eq. 6; Show, Attend and Tell eq. 4-6 and 4.2.1).

e_ij = v^T tanh(W s_{i-1} + U h_j), a_ij = softmax_j over unmasked keys, c_i = sum_j a_ij h_j;
beta = sigmoid(f_beta(h_{t-1})), z = beta * c.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.additive import additive_attention, gated_context


@pytest.mark.parametrize("b,s,a,d", [(2, 5, 4, 3), (3, 7, 6, 5), (1, 1, 2, 2)])
def test_additive_attention_by_loops(b, s, a, d):
    query, keys = torch.randn(b, a, dtype=torch.float64), torch.randn(b, s, a, dtype=torch.float64)
    v, values = torch.randn(a, dtype=torch.float64), torch.randn(b, s, d, dtype=torch.float64)
    lengths = [max(s - i, 1) for i in range(b)]
    mask = torch.tensor([[j < n for j in range(s)] for n in lengths])
    for m in (None, mask):
        context, weights = additive_attention(query, keys, v, values, m)
        for i in range(b):
            n = s if m is None else lengths[i]
            e = [sum(float(v[k]) * math.tanh(float(query[i, k] + keys[i, j, k])) for k in range(a))
                 for j in range(n)]
            z = sum(math.exp(x) for x in e)
            alpha = torch.tensor([math.exp(x) / z for x in e] + [0.0] * (s - n), dtype=torch.float64)
            assert_close(weights[i], alpha)
            assert_close(context[i], (alpha[:, None] * values[i]).sum(0))


def test_gated_context_is_sigmoid_gate_times_context():
    context, logit = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64)
    z, beta = gated_context(context, logit)
    expected = 1 / (1 + torch.exp(-logit))
    assert_close(beta, expected)
    assert_close(z, expected * context)
