"""The small SAGAN generator and discriminator for 28 x 28 Fashion-MNIST items (Zhang,
Goodfellow, Metaxas, Odena 2019), each with one self-attention layer at 14 x 14
(models/mechanisms/sagan.py) and spectral normalisation on every convolution and linear
layer, as in the paper. ``attention=False`` builds the same networks without the
self-attention layer (the paper's SN-GAN baseline): the comparison the lab trains.

``Generator(z)`` returns (images (B, 1, 28, 28) in [-1, 1], (record at 14 x 14,));
``Discriminator(images)`` returns (scores (B,), (record at 14 x 14,)).
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.mechanisms.sagan import SelfAttention, sn_conv


class Generator(nn.Module):
    """z (B, z_dim) -> 7x7 -> 14x14 (self-attention here) -> 28x28 grey image."""

    def __init__(self, z_dim: int = 64, width: int = 64, attention: bool = True):
        super().__init__()
        self.z_dim = z_dim
        self.width = width
        self.fc = spectral_norm(nn.Linear(z_dim, width * 7 * 7))
        self.block1 = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                    nn.Upsample(scale_factor=2),
                                    sn_conv(width, width // 2, 3, padding=1))      # (B, W/2, 14, 14)
        self.attn = SelfAttention(width // 2, name="generator.attn") if attention else None
        self.block2 = nn.Sequential(nn.BatchNorm2d(width // 2), nn.ReLU(),
                                    nn.Upsample(scale_factor=2),
                                    sn_conv(width // 2, width // 4, 3, padding=1))  # (B, W/4, 28, 28)
        self.out = nn.Sequential(nn.BatchNorm2d(width // 4), nn.ReLU(),
                                 sn_conv(width // 4, 1, 3, padding=1), nn.Tanh())

    def forward(self, z):
        x = self.fc(z).view(z.shape[0], self.width, 7, 7)          # (B, W, 7, 7)
        x = self.block1(x)
        x, records = self.attn(x) if self.attn is not None else (x, ())
        return self.out(self.block2(x)), records

    def trunk(self, z):
        """The 14 x 14 features that enter the attention layer (for one-row queries)."""
        return self.block1(self.fc(z).view(z.shape[0], self.width, 7, 7))


class Discriminator(nn.Module):
    """28x28 -> 14x14 (self-attention here) -> 7x7 -> score; hinge loss in training."""

    def __init__(self, width: int = 64, attention: bool = True):
        super().__init__()
        self.block1 = nn.Sequential(sn_conv(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.1))  # (B, W/2, 14, 14)
        self.attn = SelfAttention(width // 2, name="discriminator.attn") if attention else None
        self.block2 = nn.Sequential(sn_conv(width // 2, width, 4, 2, 1), nn.LeakyReLU(0.1),  # (B, W, 7, 7)
                                    sn_conv(width, width, 3, 1, 1), nn.LeakyReLU(0.1))
        self.head = spectral_norm(nn.Linear(width, 1))

    def forward(self, img):
        x = self.block1(img)
        x, records = self.attn(x) if self.attn is not None else (x, ())
        x = self.block2(x).sum(dim=(2, 3))                         # (B, W) sum pooling as in SAGAN's D
        return self.head(x)[:, 0], records


class SAGAN(nn.Module):
    """G and D in one module so one safetensors file holds both (prefixes generator., discriminator.)."""

    def __init__(self, z_dim: int = 64, width: int = 64, attention: bool = True):
        super().__init__()
        self.attention = attention
        self.generator = Generator(z_dim, width, attention)
        self.discriminator = Discriminator(width, attention)
