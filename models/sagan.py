"""SAGAN self-attention (Zhang, Goodfellow, Metaxas, Odena: "Self-Attention Generative
Adversarial Networks", ICML 2019), with a small generator and discriminator for
28 x 28 Fashion-MNIST items.

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
    y       (B, C, H, W)
    record  kind "self", weights beta as (B, N, N) with axes ("batch", "query", "key"):
            query = output position j, key = input position i; rows sum to 1; grid (H, W).
``attention_row(x, query)`` gives beta_{j, :} for one output position j as (B, N),
without the N x N matrix.

``Generator(z)`` returns (images (B, 1, 28, 28) in [-1, 1], (record at 14 x 14,));
``Discriminator(images)`` returns (scores (B,), (record at 14 x 14,)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.nonlocal_block import flat_index, flatten
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
        return y, record

    def attention_row(self, x, query) -> torch.Tensor:
        hh, ww = x.shape[-2:]
        j = flat_index(query, (hh, ww))
        q, k, _ = self.embed(x)
        return self.pairwise(q[:, j : j + 1], k)[:, 0]              # (B, N)


class Generator(nn.Module):
    """z (B, z_dim) -> 7x7 -> 14x14 (self-attention here) -> 28x28 grey image."""

    def __init__(self, z_dim: int = 64, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        self.width = width
        self.fc = spectral_norm(nn.Linear(z_dim, width * 7 * 7))
        self.block1 = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                    nn.Upsample(scale_factor=2),
                                    sn_conv(width, width // 2, 3, padding=1))      # (B, W/2, 14, 14)
        self.attn = SelfAttention(width // 2, name="generator.attn")
        self.block2 = nn.Sequential(nn.BatchNorm2d(width // 2), nn.ReLU(),
                                    nn.Upsample(scale_factor=2),
                                    sn_conv(width // 2, width // 4, 3, padding=1))  # (B, W/4, 28, 28)
        self.out = nn.Sequential(nn.BatchNorm2d(width // 4), nn.ReLU(),
                                 sn_conv(width // 4, 1, 3, padding=1), nn.Tanh())

    def forward(self, z):
        x = self.fc(z).view(z.shape[0], self.width, 7, 7)          # (B, W, 7, 7)
        x = self.block1(x)
        x, record = self.attn(x)
        return self.out(self.block2(x)), (record,)

    def trunk(self, z):
        """The 14 x 14 features that enter the attention layer (for one-row queries)."""
        return self.block1(self.fc(z).view(z.shape[0], self.width, 7, 7))


class Discriminator(nn.Module):
    """28x28 -> 14x14 (self-attention here) -> 7x7 -> score; hinge loss in training."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.block1 = nn.Sequential(sn_conv(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.1))  # (B, W/2, 14, 14)
        self.attn = SelfAttention(width // 2, name="discriminator.attn")
        self.block2 = nn.Sequential(sn_conv(width // 2, width, 4, 2, 1), nn.LeakyReLU(0.1),  # (B, W, 7, 7)
                                    sn_conv(width, width, 3, 1, 1), nn.LeakyReLU(0.1))
        self.head = spectral_norm(nn.Linear(width, 1))

    def forward(self, img):
        x, record = self.attn(self.block1(img))
        x = self.block2(x).sum(dim=(2, 3))                         # (B, W) sum pooling as in SAGAN's D
        return self.head(x)[:, 0], (record,)


class SAGAN(nn.Module):
    """G and D in one module so one safetensors file holds both (prefixes generator., discriminator.)."""

    def __init__(self, z_dim: int = 64, width: int = 64):
        super().__init__()
        self.generator = Generator(z_dim, width)
        self.discriminator = Discriminator(width)
