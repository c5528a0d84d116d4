"""Small ResNet-style classifier for 64 x 64 Fashion-MNIST scenes, with one pluggable
attention design per ``arch``.

    input (B, 1, 64, 64)
    stem    conv3x3/2 -> (B, 16, 32, 32)
    stage1  BasicBlock(16 -> 32, /2) -> (B, 32, 16, 16)    [CBAM inside the block]
    block   NL / DNL after stage1, at 16 x 16 = 256 positions
    stage2  BasicBlock(32 -> 64, /2) -> (B, 64, 8, 8)      [CBAM inside the block]
    head    global average pool -> linear -> (B, 10)

CBAM sits inside each residual block, on the residual branch before the addition,
as in the CBAM paper (figure 3), so it yields channel weights for two blocks and, in
"full" mode, spatial masks at 16 x 16 and 8 x 8. NL and DNL are inserted once, after
stage1, where a 16 x 16 grid keeps HW x HW small but still resolves a target.

``forward(x)`` returns (logits (B, 10), records): a tuple of AttentionMap, empty for
the baseline.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from models.mechanisms.cbam import CBAM
from models.mechanisms.dnl import DisentangledNonLocal
from models.mechanisms.non_local import NonLocalBlock

NL_MODES = {"nl_gaussian": "gaussian", "nl_embedded": "embedded_gaussian",
            "nl_dot": "dot_product", "nl_concat": "concatenation"}
ARCHS = ("baseline", *NL_MODES, "dnl", "cbam_channel", "cbam_full")
NUM_CLASSES = 10


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, cbam_mode=None, name="block"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.cbam = CBAM(cout, mode=cbam_mode, name=f"cbam.{name}") if cbam_mode else None
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        records = ()
        if self.cbam is not None:
            out, records = self.cbam(out)
        return F.relu(out + self.shortcut(x)), records


class SpatialClassifier(nn.Module):
    def __init__(self, arch: str = "baseline", width: int = 16):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        self.arch = arch
        cbam_mode = {"cbam_channel": "channel", "cbam_full": "full"}.get(arch)
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.stage1 = BasicBlock(width, 2 * width, 2, cbam_mode, name="1")
        if arch in NL_MODES:
            self.block = NonLocalBlock(2 * width, mode=NL_MODES[arch], name="nl")
        elif arch == "dnl":
            self.block = DisentangledNonLocal(2 * width, name="dnl")
        else:
            self.block = None
        self.stage2 = BasicBlock(2 * width, 4 * width, 2, cbam_mode, name="2")
        self.fc = nn.Linear(4 * width, NUM_CLASSES)

    def features(self, x):
        """x (B, 1, 64, 64) -> stage1 output (B, 2W, 16, 16) and its CBAM records."""
        return self.stage1(self.stem(x))

    def forward(self, x):
        f, records = self.features(x)                              # (B, 2W, 16, 16)
        records = list(records)
        if self.block is not None:
            f, rec = self.block(f)
            records.extend(rec)
        f, rec2 = self.stage2(f)                                   # (B, 4W, 8, 8)
        records.extend(rec2)
        logits = self.fc(f.mean(dim=(2, 3)))                       # (B, 10)
        return logits, tuple(records)

    def attention_row(self, x, query):
        """One query's affinity row record(s) of the NL/DNL block, no N x N matrix."""
        if self.block is None:
            raise ValueError(f"{self.arch} has no pairwise attention")
        f, _ = self.features(x)
        return self.block.attention_row(f, query)


class ItemClassifier(nn.Module):
    """A plain CNN for single 28 x 28 Fashion-MNIST items, the judge of generated samples:
    its labels make the GAN card's class histogram, its penultimate layer the features of
    the Fréchet distance and its logits those of the Inception Score (train/gan_quality.py).

        input (B, 1, 28, 28) in [-1, 1]
        conv3x3 32 -> BN -> ReLU -> maxpool   (B, 32, 14, 14)
        conv3x3 64 -> BN -> ReLU -> maxpool   (B, 64, 7, 7)
        flatten -> linear 128 -> ReLU          (B, 128)  ``features``
        linear 10                              (B, 10)   logits
    """

    num_features = 128

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, self.num_features), nn.ReLU(inplace=True))
        self.fc = nn.Linear(self.num_features, NUM_CLASSES)

    def features(self, x):
        return self.trunk(x)                                       # (B, 128)

    def forward(self, x):
        return self.fc(self.trunk(x))                              # (B, 10)
