"""Scaled dot-product and multi-head attention (Vaswani et al. 2017, eq. 1 and 3.2.2).

Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V over unmasked keys;
MultiHead = Concat(head_1..head_h) W^O with head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.multi_head import MultiHead, causal_mask, scaled_dot_product
from tests.models.equations import randomise


def paper_attention(q, k, v, allowed):
    """One head, one sample: q (Tq, d), k, v (Tk, d), allowed (Tq, Tk) bool, by loops."""
    tq, tk, d = q.shape[0], k.shape[0], q.shape[1]
    weights = torch.zeros(tq, tk, dtype=q.dtype)
    for i in range(tq):
        scores = [float(q[i] @ k[j]) / math.sqrt(d) for j in range(tk)]
        keep = [j for j in range(tk) if allowed[i, j]]
        z = sum(math.exp(scores[j]) for j in keep)
        for j in keep:
            weights[i, j] = math.exp(scores[j]) / z
    return weights @ v, weights


@pytest.mark.parametrize("b,h,tq,tk,d", [(2, 3, 5, 7, 4), (3, 1, 1, 3, 8), (2, 2, 4, 4, 5)])
def test_scaled_dot_product_with_padding_and_causal_masks(b, h, tq, tk, d):
    q = torch.randn(b, h, tq, d, dtype=torch.float64)
    k, v = torch.randn(b, h, tk, d, dtype=torch.float64), torch.randn(b, h, tk, d, dtype=torch.float64)
    pad = torch.tensor([[j < max(tk - i, 1) for j in range(tk)] for i in range(b)])      # (B, Tk)
    causal = torch.tensor([[j <= i for j in range(tk)] for i in range(tq)])              # (Tq, Tk)
    masks = {
        None: torch.ones(b, tq, tk, dtype=torch.bool),
        "pad": pad[:, None, :].expand(b, tq, tk),
        "causal": (causal[None] & pad[:, None, :]),
    }
    for name, allowed in masks.items():
        mask = None if name is None else allowed[:, None]                 # (B, 1, Tq, Tk)
        out, weights = scaled_dot_product(q, k, v, mask)
        for i in range(b):
            for head in range(h):
                if name == "causal" and not allowed[i].any(-1).all():
                    continue   # a fully masked row: checked below
                o, w = paper_attention(q[i, head], k[i, head], v[i, head], allowed[i])
                assert_close(weights[i, head], w)
                assert_close(out[i, head], o)


def test_a_fully_masked_row_is_uniform_not_nan():
    q, k, v = (torch.randn(1, 1, 2, 3) for _ in range(3))
    mask = torch.tensor([[True, False], [False, False]])
    _, w = scaled_dot_product(q, k, v, mask)
    assert_close(w[0, 0, 1], torch.full((2,), 0.5))
    assert w[0, 0, 0, 1] == 0


def test_causal_mask():
    assert causal_mask(4).tolist() == [[j <= i for j in range(4)] for i in range(4)]
    assert causal_mask(3).dtype == torch.bool


@pytest.mark.parametrize("b,tq,tk,d,heads", [(2, 5, 7, 12, 3), (3, 4, 4, 8, 2), (2, 1, 3, 6, 1)])
@torch.no_grad()
def test_multi_head_concatenates_heads_then_projects(b, tq, tk, d, heads):
    block = randomise(MultiHead(d, heads, name="decoder.0.cross", kind="cross"), scale=0.3)
    x, mem = torch.randn(b, tq, d, dtype=torch.float64), torch.randn(b, tk, d, dtype=torch.float64)
    allowed = torch.tensor([[j < max(tk - i, 1) for j in range(tk)] for i in range(b)])
    out, records = block(x, mem, allowed[:, None, None, :])
    # the fused path (training, decoding) and precomputed keys/values give the same output
    fused, no_records = block(x, mem, allowed[:, None, None, :], need_weights=False)
    assert no_records == ()
    assert_close(fused, out)
    cached, _ = block(x, None, allowed[:, None, None, :], kv=block.keys_values(mem))
    assert_close(cached, out)
    dk = d // heads
    (record,) = records
    assert (record.name, record.kind, record.axes) == ("decoder.0.cross", "cross", ("batch", "head", "query", "key"))
    for i in range(b):
        q, k, v = (x[i] @ block.q.weight.T + block.q.bias, mem[i] @ block.k.weight.T + block.k.bias,
                   mem[i] @ block.v.weight.T + block.v.bias)
        heads_out = []
        for head in range(heads):
            cols = slice(head * dk, (head + 1) * dk)
            o, w = paper_attention(q[:, cols], k[:, cols], v[:, cols], allowed[i][None].expand(tq, tk))
            assert_close(record.weights[i, head], w)
            heads_out.append(o)
        assert_close(out[i], torch.cat(heads_out, -1) @ block.o.weight.T + block.o.bias)


def test_width_must_divide_into_heads():
    block = MultiHead(8, 2)
    assert (block.h, block.name, block.kind) == (2, "attention", "self")
    with pytest.raises(ValueError):
        MultiHead(10, 3)


def test_causal_mask_on_the_given_device_and_width_message():
    assert causal_mask(3, device="meta").device.type == "meta"
    with pytest.raises(ValueError, match="^model width 10 is not divisible by 3 heads$"):
        MultiHead(10, 3)
