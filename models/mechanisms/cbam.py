"""CBAM: Convolutional Block Attention Module (Woo, Park, Lee, Kweon, ECCV 2018).

Equations (paper eq. 1-3), for a feature map F (B, C, H, W):

    M_c(F) = sigmoid( MLP(AvgPool(F)) + MLP(MaxPool(F)) )        (B, C)   shared MLP C -> C/r -> C
    F'     = M_c(F) * F                                           channel refinement
    M_s(F') = sigmoid( conv7x7( [mean_c(F'); max_c(F')] ) )       (B, 1, H, W)
    F''    = M_s(F') * F'                                         spatial refinement

``mode`` (checked): "channel" applies only M_c (the paper's channel-only ablation);
"full" applies M_c then M_s, in that order (the paper's best arrangement).

Returns from ``forward(x)``:
    out      (B, C, H, W)
    records  ("<name>.channel": kind "channel", (B, C), axes ("batch", "channel"),)
             plus, in "full" mode, ("<name>.spatial": kind "spatial", (B, H, W), axes ("batch", "h", "w"))

CBAM has no query-key matrix; its "row for one position" is the spatial gate at that
position, which depends only on the 7 x 7 neighbourhood: ``spatial_at(x, (r, c))``
computes it from that window alone, never the whole mask, and returns it as one record
("<name>.spatial": (B,), axes ("batch",), meta["query"] = (r, c)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.mechanisms.base import check_mode, flat_index
from models.records import AttentionMap

MODES = ("channel", "full")


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(channels // reduction, 1)
        # One MLP shared by both descriptors (1x1 convs act on (B, C, 1, 1)).
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x):
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))                # (B, C, 1, 1)
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))                 # (B, C, 1, 1)
        return torch.sigmoid(avg + mx).flatten(1)                  # (B, C)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    @staticmethod
    def descriptors(x):
        """(B, C, H, W) -> (B, 2, H, W): channel mean and channel max."""
        return torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)

    def forward(self, x):
        return torch.sigmoid(self.conv(self.descriptors(x)))       # (B, 1, H, W)


class CBAM(nn.Module):
    def __init__(self, channels: int, mode: str = "full", reduction: int = 8,
                 kernel_size: int = 7, name: str = "cbam"):
        super().__init__()
        self.mode = check_mode(mode, MODES)
        self.name = name
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size) if mode == "full" else None

    def forward(self, x: torch.Tensor):
        b, c, h, w = x.shape
        mc = self.channel(x)                                       # (B, C)
        x = x * mc[:, :, None, None]
        records = [AttentionMap(name=f"{self.name}.channel", kind="channel", weights=mc,
                                axes=("batch", "channel"))]
        if self.spatial is not None:
            ms = self.spatial(x)                                   # (B, 1, H, W)
            x = x * ms
            records.append(AttentionMap(name=f"{self.name}.spatial", kind="spatial",
                                        weights=ms[:, 0], axes=("batch", "h", "w"),
                                        grid=(h, w)))
        return x, tuple(records)

    def spatial_at(self, x: torch.Tensor, position) -> tuple[AttentionMap, ...]:
        """The spatial gate at one position, (B,), from its k x k window only."""
        if self.spatial is None:
            raise ValueError("channel-only CBAM has no spatial mask")
        h, w = x.shape[-2:]
        i = flat_index(position, (h, w))
        r, c = divmod(i, w)
        pad = self.spatial.kernel_size // 2
        mc = self.channel(x)                                       # channel gate needs global pools
        # The conv zero-pads its (mean, max) input, so pad the window's descriptors, not
        # the features, to reproduce the border exactly.
        window = x[:, :, max(r - pad, 0) : r + pad + 1, max(c - pad, 0) : c + pad + 1]
        d = SpatialAttention.descriptors(window * mc[:, :, None, None])  # (B, 2, <=k, <=k)
        d = F.pad(d, (max(pad - c, 0), max(c + pad + 1 - w, 0),
                      max(pad - r, 0), max(r + pad + 1 - h, 0)))    # (B, 2, k, k)
        # The k x k window against the k x k kernel, no further padding: one output value.
        logit = F.conv2d(d, self.spatial.conv.weight, self.spatial.conv.bias)  # (B, 1, 1, 1)
        gate = torch.sigmoid(logit[:, 0, 0, 0])                    # (B,)
        return (AttentionMap(name=f"{self.name}.spatial", kind="spatial", weights=gate,
                             axes=("batch",), meta={"query": (r, c)}),)
