"""Disentangled non-local (Yin et al. 2020, eq. 9) recomputed from the paper.

pairwise_ij = softmax_j((q_i - mu_q)^T (k_j - mu_k) / sqrt(Ci)), unary_j = softmax_j(w_m^T x_j + b),
y_i = sum_j (pairwise_ij + unary_j) g(x_j),  z = x + W_z y.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.dnl import DisentangledNonLocal
from tests.models.equations import SHAPES, bn_eval, conv1x1, randomise, softmax_by_hand, to_map


def paper_terms(block, x):
    b, c, h, w = x.shape
    n = h * w
    q, k = conv1x1(block.theta, x), conv1x1(block.phi, x)          # (B, N, Ci)
    mu_q = q.sum(1, keepdim=True) / n
    mu_k = k.sum(1, keepdim=True) / n
    ci = q.shape[-1]
    pair = softmax_by_hand(torch.einsum("bic,bjc->bij", q - mu_q, k - mu_k) / math.sqrt(ci))
    un = softmax_by_hand(conv1x1(block.unary_conv, x)[..., 0])     # (B, N)
    return pair, un


@pytest.mark.parametrize("shape", SHAPES)
def test_dnl_output_and_records_follow_the_paper(shape):
    b, c, h, w = shape
    block = randomise(DisentangledNonLocal(c, inter_channels=3, name="dnl"), scale=0.6)
    x = torch.randn(shape, dtype=torch.float64)
    z, records = block(x)
    pair, un = paper_terms(block, x)
    g = conv1x1(block.g, x)
    y = torch.einsum("bij,bjc->bic", pair + un[:, None, :], g)     # (pairwise_ij + unary_j) g_j
    wz = torch.einsum("oc,bnc->bno", block.w_z[0].weight[:, :, 0, 0], y)
    assert_close(z, x + to_map(bn_eval(block.w_z[1], wz), h, w))
    pairwise, unary = records
    assert_close(pairwise.weights, pair)
    assert_close(unary.weights, un.reshape(b, h, w))
    assert (pairwise.name, pairwise.kind, pairwise.axes, pairwise.grid) == (
        "dnl.pairwise", "pairwise", ("batch", "query", "key"), (h, w))
    assert (unary.name, unary.kind, unary.axes, unary.grid) == ("dnl.unary", "unary", ("batch", "h", "w"), (h, w))
    assert pairwise.meta == {"normalised": "softmax", "whitened": True}
    assert unary.meta == {"normalised": "softmax"}


def test_attention_row_gives_pairwise_unary_and_their_sum():
    b, c, h, w = 2, 6, 5, 7
    block = randomise(DisentangledNonLocal(c, name="d"), scale=0.6)
    x = torch.randn(b, c, h, w, dtype=torch.float64)
    pair, un = paper_terms(block, x)
    for query in (0, 17, (4, 6), (1, 3)):
        i = query if isinstance(query, int) else query[0] * w + query[1]
        rows = block.attention_row(x, query)
        assert [(r.name, r.kind) for r in rows] == [
            ("d.pairwise", "pairwise"), ("d.unary", "unary"), ("d.combined", "affinity")]
        for r, expected in zip(rows, (pair[:, i], un, pair[:, i] + un)):
            assert_close(r.weights, expected)
            assert (r.axes, r.grid, r.meta) == (("batch", "key"), (h, w), {"query": divmod(i, w)})


def test_defaults():
    block = DisentangledNonLocal(8)
    assert block.name == "dnl" and block.inter_channels == 4 and block.g.out_channels == 4
    assert DisentangledNonLocal(1).inter_channels == 1
    assert block.scale == pytest.approx(1 / 2)
    assert block.unary_conv.out_channels == 1
    assert torch.count_nonzero(block.w_z[1].weight) == 0
    x = torch.randn(2, 8, 3, 5)
    assert_close(block.eval()(x)[0], x)


def test_embed_whitens_queries_and_keys():
    """Subtracting mu_k leaves the pairwise softmax unchanged once queries are whitened
    ((q_i - mu_q)^T mu_k is constant along a row), so only the embedding shows it."""
    block = randomise(DisentangledNonLocal(6), scale=0.6)
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64) + 1.0
    q, k, v = block.embed(x)
    assert_close(q, conv1x1(block.theta, x) - conv1x1(block.theta, x).mean(1, keepdim=True))
    assert_close(k, conv1x1(block.phi, x) - conv1x1(block.phi, x).mean(1, keepdim=True))
    assert_close(v, conv1x1(block.g, x))
