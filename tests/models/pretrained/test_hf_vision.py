"""ViT/DeiT class-token maps and rollout on tiny random models saved to a tmp dir (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.vit import cls_rollout
from models.pretrained.hf import ModelDirError
from models.pretrained.hf_vision import load_vision_transformer, run_vision_transformer


def _save(tmp_path, kind: str):
    from transformers import DeiTConfig, DeiTModel, ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                  image_size=32, patch_size=8)
    model = ViTModel(ViTConfig(**common)) if kind == "vit" else DeiTModel(DeiTConfig(**common))
    folder = tmp_path / kind
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind,n_prefix", [("vit", 1), ("deit", 2)])
def test_tiny_vision_transformer_gives_cls_maps_and_rollout(tmp_path, kind, n_prefix):
    loaded = load_vision_transformer(_save(tmp_path, kind), device=torch.device("cpu"))
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    run = run_vision_transformer(loaded, img)
    assert run.grid == (4, 4) and run.n_prefix == n_prefix
    full = run.records[0]
    cls = run.records[1]
    assert full.shape == (2, 4, 16 + n_prefix, 16 + n_prefix)
    assert np.allclose(full.numpy().sum(-1), 1.0, atol=1e-5)  # softmax rows
    assert cls.axes == ("layer", "head", "key") and cls.grid == (4, 4)
    assert np.allclose(cls.numpy(), full.numpy()[:, :, 0, n_prefix:])
    roll = cls_rollout(full, run.grid, run.n_prefix)
    assert roll.axes == ("layer", "key") and roll.grid == (4, 4) and roll.shape == (2, 16)
    r = roll.numpy()
    assert (r >= 0).all() and (r.sum(-1) <= 1.0 + 1e-5).all()


def test_text_model_directory_is_refused_with_a_message(tmp_path):
    from transformers import BertConfig, BertModel

    folder = tmp_path / "bert"
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, vocab_size=50)).save_pretrained(folder)
    with pytest.raises(ModelDirError, match="ViT or DeiT"):
        load_vision_transformer(folder)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_vision_transformer(tmp_path / "nowhere")
