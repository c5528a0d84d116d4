"""Non-local block (Wang et al. 2018, eq. 1-6) recomputed from the paper.

y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j),  z_i = W_z y_i + x_i; the four f with their
normalisers: softmax for the two Gaussians, 1/N for dot product and concatenation.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.non_local import MODES, NonLocalBlock
from tests.models.equations import SHAPES, bn_eval, conv1x1, randomise, to_map


def paper_affinity(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """f(x_i, x_j) / C(x) as (B, N, N), one pair at a time for the concatenation form."""
    b, c, h, w = x.shape
    n = h * w
    xs = x.reshape(b, c, n).transpose(1, 2)                       # (B, N, C) row-major
    if block.mode == "gaussian":
        f = torch.exp(torch.einsum("bic,bjc->bij", xs, xs))
        return f / f.sum(-1, keepdim=True)
    theta, phi = conv1x1(block.theta, x), conv1x1(block.phi, x)   # (B, N, Ci)
    if block.mode == "embedded_gaussian":
        f = torch.exp(torch.einsum("bic,bjc->bij", theta, phi))
        return f / f.sum(-1, keepdim=True)
    if block.mode == "dot_product":
        return torch.einsum("bic,bjc->bij", theta, phi) / n
    w_f = torch.cat([block.w_query.weight[0], block.w_key.weight[0]])  # (2 Ci,)
    out = torch.zeros(b, n, n, dtype=x.dtype)
    for i in range(n):
        for j in range(n):
            pair = torch.cat([theta[:, i], phi[:, j]], dim=-1)   # [theta(x_i), phi(x_j)]  (B, 2Ci)
            out[:, i, j] = torch.relu(pair @ w_f) / n
    return out


def paper_output(block: NonLocalBlock, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    g = conv1x1(block.g, x)                                        # (B, N, Ci)
    y = torch.einsum("bij,bjc->bic", a, g)                         # (B, N, Ci)
    wz = torch.einsum("oc,bnc->bno", block.w_z[0].weight[:, :, 0, 0], y)
    return x + to_map(bn_eval(block.w_z[1], wz), h, w)            # residual z = x + W_z y


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_non_local_output_and_record_follow_the_paper(mode, shape):
    b, c, h, w = shape
    block = randomise(NonLocalBlock(c, mode=mode, inter_channels=3, name="nl"), scale=0.4)
    x = torch.randn(shape, dtype=torch.float64) * 0.5
    z, records = block(x)
    a = paper_affinity(block, x)
    assert_close(z, paper_output(block, x, a))
    (record,) = records
    assert_close(record.weights, a)
    assert (record.name, record.kind, record.axes, record.grid) == (
        "nl.affinity", "affinity", ("batch", "query", "key"), (h, w))
    assert record.meta["normalised"] == ("softmax" if "gaussian" in mode else "1/N")
    assert record.meta["mode"] == mode


@pytest.mark.parametrize("mode", MODES)
def test_attention_row_is_the_paper_row(mode):
    b, c, h, w = 2, 6, 5, 7
    block = randomise(NonLocalBlock(c, mode=mode, name="blk"), scale=0.4)
    x = torch.randn(b, c, h, w, dtype=torch.float64) * 0.5
    a = paper_affinity(block, x)
    for query in (0, 12, h * w - 1, (4, 6), (2, 0)):
        i = query if isinstance(query, int) else query[0] * w + query[1]
        (row,) = block.attention_row(x, query)
        assert_close(row.weights, a[:, i])
        assert (row.name, row.kind, row.axes, row.grid) == ("blk.affinity", "affinity", ("batch", "key"), (h, w))
        assert row.meta["query"] == divmod(i, w)
        assert row.meta["mode"] == mode
        assert row.meta["normalised"] == ("softmax" if "gaussian" in mode else "1/N")


def test_default_inter_channels_is_half_and_bn_starts_at_zero():
    block = NonLocalBlock(8)
    assert block.mode == "embedded_gaussian" and block.name == "nl"
    assert block.inter_channels == 4 and block.theta.out_channels == 4
    assert NonLocalBlock(1).inter_channels == 1
    assert torch.count_nonzero(block.w_z[1].weight) == 0   # identity at the start (paper 3.3)
    x = torch.randn(2, 8, 3, 5)
    assert_close(block.eval()(x)[0], x)
    assert not hasattr(NonLocalBlock(8, mode="gaussian"), "theta")
    with pytest.raises(ValueError):
        NonLocalBlock(8, mode="gausian")
