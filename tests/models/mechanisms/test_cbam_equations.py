"""CBAM (Woo et al. 2018, eq. 1-3) recomputed from the paper.

M_c = sigmoid(MLP(AvgPool F) + MLP(MaxPool F)) with ONE shared MLP; F' = M_c * F;
M_s = sigmoid(conv7x7([mean_c F'; max_c F'])); F'' = M_s * F' (channel first, then spatial).
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.cbam import CBAM, ChannelAttention, SpatialAttention
from tests.models.equations import SHAPES, randomise


def shared_mlp(block: CBAM, d: torch.Tensor) -> torch.Tensor:
    """W_1 (ReLU(W_0 d + b_0)) + b_1 for d (B, C)."""
    l0, l1 = block.channel.mlp[0], block.channel.mlp[2]
    hidden = torch.relu(d @ l0.weight[:, :, 0, 0].T + l0.bias)
    return hidden @ l1.weight[:, :, 0, 0].T + l1.bias


def paper_channel(block: CBAM, x: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[:2]
    avg = x.reshape(b, c, -1).sum(-1) / x[0, 0].numel()           # AvgPool
    mx = torch.stack([torch.stack([x[i, k].max() for k in range(c)]) for i in range(b)])  # MaxPool
    return torch.sigmoid(shared_mlp(block, avg) + shared_mlp(block, mx))   # (B, C)


def paper_spatial(block: CBAM, f: torch.Tensor) -> torch.Tensor:
    """sigmoid(conv_kxk([mean_c; max_c])) with zero padding k//2, as loops over the kernel."""
    b, c, h, w = f.shape
    weight, bias = block.spatial.conv.weight[0], block.spatial.conv.bias[0]   # (2, k, k), ()
    k = weight.shape[-1]
    p = k // 2
    desc = torch.zeros(b, 2, h + 2 * p, w + 2 * p, dtype=f.dtype)
    desc[:, 0, p : p + h, p : p + w] = f.sum(1) / c
    desc[:, 1, p : p + h, p : p + w] = f.max(1).values
    logit = torch.full((b, h, w), 0.0, dtype=f.dtype) + bias.detach()
    for di in range(k):
        for dj in range(k):
            for ch in range(2):
                logit = logit + weight[ch, di, dj] * desc[:, ch, di : di + h, dj : dj + w]
    return torch.sigmoid(logit)                                    # (B, H, W)


@pytest.mark.parametrize("shape", SHAPES)
def test_full_cbam_is_channel_then_spatial(shape):
    b, c, h, w = shape
    block = randomise(CBAM(c, mode="full", reduction=2, name="cbam.s2"))
    x = torch.randn(shape, dtype=torch.float64)
    out, records = block(x)
    mc = paper_channel(block, x)
    f1 = x * mc[:, :, None, None]                                 # F' = M_c(F) * F
    ms = paper_spatial(block, f1)                                 # computed on F', not F
    assert_close(out, f1 * ms[:, None])
    channel, spatial = records
    assert_close(channel.weights, mc)
    assert_close(spatial.weights, ms)
    assert (channel.name, channel.kind, channel.axes, channel.grid) == (
        "cbam.s2.channel", "channel", ("batch", "channel"), None)
    assert (spatial.name, spatial.kind, spatial.axes, spatial.grid) == (
        "cbam.s2.spatial", "spatial", ("batch", "h", "w"), (h, w))


@pytest.mark.parametrize("shape", SHAPES)
def test_channel_only_cbam(shape):
    c = shape[1]
    block = randomise(CBAM(c, mode="channel", reduction=4))
    assert block.spatial is None
    x = torch.randn(shape, dtype=torch.float64)
    out, records = block(x)
    mc = paper_channel(block, x)
    assert_close(out, x * mc[:, :, None, None])
    (channel,) = records
    assert_close(channel.weights, mc)
    assert (channel.name, channel.kind) == ("cbam.channel", "channel")
    with pytest.raises(ValueError):
        block.spatial_at(x, 0)


@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (2, 4, 9, 8), (3, 4, 1, 3)])
def test_spatial_at_every_position_equals_the_full_mask(shape):
    b, c, h, w = shape
    block = randomise(CBAM(c, mode="full", reduction=2, name="m"))
    x = torch.randn(shape, dtype=torch.float64)
    _, (_, spatial) = block(x)
    for r in range(h):
        for col in range(w):
            for query in ((r, col), r * w + col):
                (rec,) = block.spatial_at(x, query)
                assert_close(rec.weights, spatial.weights[:, r, col])
                assert (rec.name, rec.kind, rec.axes) == ("m.spatial", "spatial", ("batch",))
                assert rec.meta["query"] == (r, col)


def test_parts_and_defaults():
    ca = ChannelAttention(16)
    assert ca.mlp[0].out_channels == 2 and ca.mlp[2].out_channels == 16   # C -> C/r -> C, r = 8
    assert ChannelAttention(4, reduction=8).mlp[0].out_channels == 1
    sa = SpatialAttention()
    assert sa.kernel_size == 7 and sa.conv.kernel_size == (7, 7) and sa.conv.padding == (3, 3)
    assert sa.conv.in_channels == 2 and sa.conv.out_channels == 1
    block = CBAM(16)
    assert block.mode == "full" and block.name == "cbam" and block.spatial.kernel_size == 7
    assert block.channel.mlp[0].out_channels == 2
    x = torch.randn(2, 3, 4, 5)
    assert_close(SpatialAttention.descriptors(x), torch.stack([x.mean(1), x.max(1).values], 1))
    with pytest.raises(ValueError):
        CBAM(8, mode="spatial")


def test_reduction_reaches_the_mlp_and_channel_only_says_why():
    assert CBAM(8, reduction=2).channel.mlp[0].out_channels == 4
    with pytest.raises(ValueError, match="^channel-only CBAM has no spatial mask$"):
        CBAM(8, mode="channel").spatial_at(torch.randn(1, 8, 3, 3), 0)
