"""Vision transformers (ViT, Dosovitskiy et al. 2021; DeiT, Touvron et al. 2021) from a
local Hugging Face directory, with their attention as records.

Each layer l and head h gives scaled dot-product self-attention over T tokens, the
P = gh·gw image patches (row-major) after 1 (ViT: [CLS]) or 2 (DeiT distilled: [CLS],
[DIST]) prefix tokens:

    A_{l,h} = softmax(Q K_hᵀ / √d_k)                          (T, T), rows sum to 1

Records returned by ``run_vision_transformer``:

    "encoder.self"   (layer, head, query, key)  kind "self"    all T tokens, no grid
    "encoder.cls"    (layer, head, key)         kind "self"    row of [CLS] over the
                                                               P patches, grid (gh, gw)

The [CLS] row restricted to patches no longer sums to 1 (the prefix tokens keep the
rest); ``meta["prefix_mass"]`` says how much. Rollout over these records lives in
analysis/vit.py. The directory is checked with ``models.pretrained.hf.check_model_dir`` first;
nothing is fetched (``local_files_only=True``, HF offline mode set in models.pretrained.hf).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.device import pick_device
from models.pretrained.hf import ModelDirError, _stack, check_model_dir
from models.records import AttentionMap

VISION_TYPES = ("vit", "deit")


@dataclass(frozen=True, eq=False)
class LoadedVision:
    model: torch.nn.Module
    processor: object
    path: Path
    model_type: str
    n_layers: int
    n_heads: int
    patch_size: int
    device: torch.device


def load_vision_transformer(path: str | os.PathLike, device: torch.device | None = None) -> LoadedVision:
    """A ViT/DeiT encoder and its image processor from a local directory, eager attention."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    p = check_model_dir(path)
    device = device or pick_device()
    try:
        config = AutoConfig.from_pretrained(p, local_files_only=True)
    except Exception as exc:  # transformers raises many types for a bad folder
        raise ModelDirError(f"{str(p)!r}: config.json could not be read ({exc}).") from exc
    model_type = str(getattr(config, "model_type", ""))
    if model_type not in VISION_TYPES:
        raise ModelDirError(
            f"{str(p)!r} holds a {model_type!r} model; this view needs a ViT or DeiT image model."
        )
    if not (p / "preprocessor_config.json").is_file():
        raise ModelDirError(f"{str(p)!r} has no preprocessor_config.json, so the image size and "
                            "normalisation it expects are unknown.")
    try:
        processor = AutoImageProcessor.from_pretrained(p, local_files_only=True)
        model = AutoModel.from_pretrained(p, local_files_only=True, attn_implementation="eager")
    except Exception as exc:
        raise ModelDirError(f"{str(p)!r} could not be loaded: {exc}") from exc
    model = model.to(device).eval()
    return LoadedVision(
        model=model, processor=processor, path=p, model_type=model_type,
        n_layers=int(config.num_hidden_layers), n_heads=int(config.num_attention_heads),
        patch_size=int(config.patch_size), device=device,
    )


@dataclass(frozen=True, eq=False)
class VisionRun:
    records: tuple[AttentionMap, ...]
    grid: tuple[int, int]
    n_prefix: int                     # tokens before the patches ([CLS], [DIST])


@torch.inference_mode()
def run_vision_transformer(loaded: LoadedVision, image: np.ndarray) -> VisionRun:
    """(H, W, 3) uint8 RGB -> attention records (see the module docstring)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"need an (H, W, 3) RGB image, got shape {arr.shape}")
    enc = loaded.processor(images=arr, return_tensors="pt")
    pixels = enc["pixel_values"].to(loaded.device)  # (1, 3, S_h, S_w)
    out = loaded.model(pixel_values=pixels, output_attentions=True)
    stack = _stack(out.attentions)  # (layer, head, T, T)
    gh, gw = pixels.shape[-2] // loaded.patch_size, pixels.shape[-1] // loaded.patch_size
    n_tokens = stack.shape[-1]
    n_prefix = n_tokens - gh * gw
    if n_prefix < 1:
        raise ValueError(f"{n_tokens} tokens for a {gh} x {gw} patch grid: no class token to read")
    meta = {"model": str(loaded.path), "model_type": loaded.model_type, "n_prefix": n_prefix}
    cls = stack[:, :, 0, n_prefix:]  # (layer, head, P)
    prefix_mass = float(stack[:, :, 0, :n_prefix].sum(-1).mean())
    records = (
        AttentionMap("encoder.self", "self", stack, ("layer", "head", "query", "key"), meta=meta),
        AttentionMap("encoder.cls", "self", cls, ("layer", "head", "key"), grid=(gh, gw),
                     meta={**meta, "prefix_mass": prefix_mass}),
    )
    return VisionRun(records=records, grid=(gh, gw), n_prefix=n_prefix)
