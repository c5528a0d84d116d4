"""SAGAN self-attention (Zhang et al. 2019, section 3) recomputed from the paper.

s_ij = f(x_i)^T g(x_j); beta_{j,i} = softmax over i; o_j = v(sum_i beta_{j,i} h(x_i));
y_j = gamma * o_j + x_j; spectral normalisation on f, g, h, v.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize
from torch.testing import assert_close

from models.mechanisms.sagan import SelfAttention, sn_conv
from tests.models.equations import SHAPES, conv1x1, softmax_by_hand, to_map

CONVS = ("f", "g", "h", "v")


def trained_block(c: int, k: int = 2, name: str = "sagan.attn") -> SelfAttention:
    """Random raw weights, gamma != 0, then train-mode passes so the power iteration
    converges; returned in eval mode (float64)."""
    block = SelfAttention(c, k=k, name=name).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for conv in CONVS:
            w = getattr(block, conv).parametrizations.weight.original
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) * 3)
        block.gamma.fill_(0.7)
    block.train()
    x = torch.randn(1, c, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        for _ in range(200):
            block(x)
    return block.eval()


def paper_weight(block, conv):
    """W / sigma(W), sigma the largest singular value of the raw weight."""
    raw = getattr(block, conv).parametrizations.weight.original
    return raw / torch.linalg.matrix_norm(raw.flatten(1), ord=2)


def paper_beta(block, x):
    f = conv1x1(getattr(block, "f"), x, paper_weight(block, "f"))    # keys: inputs i    (B, N, C/k)
    g = conv1x1(getattr(block, "g"), x, paper_weight(block, "g"))    # queries: outputs j
    s = torch.einsum("bic,bjc->bij", f, g)                          # s_ij
    return softmax_by_hand(s.transpose(1, 2))                       # beta[b, j, i], softmax over i


@pytest.mark.parametrize("shape", SHAPES)
def test_self_attention_follows_the_paper(shape):
    b, c, hh, ww = shape
    block = trained_block(c)
    x = torch.randn(shape, dtype=torch.float64) * 0.3
    y, records = block(x)
    beta = paper_beta(block, x)
    hx = conv1x1(block.h, x, paper_weight(block, "h"))              # (B, N, C/k)
    o = torch.einsum("bji,bic->bjc", beta, hx)
    o = torch.einsum("oc,bjc->bjo", paper_weight(block, "v")[:, :, 0, 0], o)
    assert_close(y, 0.7 * to_map(o, hh, ww) + x)
    (record,) = records
    assert_close(record.weights, beta)
    assert (record.name, record.kind, record.axes, record.grid) == (
        "sagan.attn", "self", ("batch", "query", "key"), (hh, ww))
    assert record.meta == {"gamma": pytest.approx(0.7)}


def test_attention_row_is_beta_row():
    b, c, hh, ww = 2, 8, 5, 7
    block = trained_block(c, name="g.attn")
    x = torch.randn(b, c, hh, ww, dtype=torch.float64) * 0.3
    beta = paper_beta(block, x)
    for query in (0, 20, (4, 6), (3, 1)):
        j = query if isinstance(query, int) else query[0] * ww + query[1]
        (row,) = block.attention_row(x, query)
        assert_close(row.weights, beta[:, j])
        assert (row.name, row.kind, row.axes, row.grid) == ("g.attn", "self", ("batch", "key"), (hh, ww))
        assert row.meta["query"] == divmod(j, ww)


def test_spectral_norm_on_every_conv():
    block = trained_block(16, k=4)
    for conv in CONVS:
        module = getattr(block, conv)
        assert parametrize.is_parametrized(module, "weight"), conv
        assert not module.weight.requires_grad or module.parametrizations.weight.original.requires_grad
        sigma = torch.linalg.matrix_norm(module.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=1e-6), conv
        assert_close(module.weight, paper_weight(block, conv))
    wrapped = sn_conv(4, 3, 3, stride=2, padding=1, bias=False)
    assert parametrize.is_parametrized(wrapped, "weight")
    assert (wrapped.kernel_size, wrapped.stride, wrapped.padding, wrapped.bias) == ((3, 3), (2, 2), (1, 1), None)
    assert sn_conv(4, 3, 1).bias is not None


def test_shapes_and_gamma_start_at_zero():
    block = SelfAttention(16)
    assert block.name == "sagan.attn"
    assert [getattr(block, c).weight.shape[:2] for c in CONVS] == [(2, 16), (2, 16), (2, 16), (16, 2)]
    assert all(getattr(block, c).bias is None for c in CONVS)
    assert SelfAttention(4).f.out_channels == 1
    assert float(block.gamma) == 0.0
    x = torch.randn(2, 16, 3, 5)
    assert_close(block.eval()(x)[0], x)
