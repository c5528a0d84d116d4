"""EfficientNet-Lite0: strict weight loading and known answers on bundled photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.pretrained import efficientnet_lite as E
from ui.image_input import sample_images


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return E.load_efficientnet_lite0("cpu")


def _sample(name: str) -> np.ndarray:
    path = sample_images().get(name)
    if path is None:
        pytest.skip(f"scikit-image sample {name} not bundled")
    return np.asarray(Image.open(path).convert("RGB"))


def test_state_dict_loads_strictly_with_weights_only():
    state = torch.load(E.weights_path(), map_location="cpu", weights_only=True)
    model = E.EfficientNetLite0()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # every tensor in the file ended up in the model, unchanged
    own = model.state_dict()
    assert set(own) == set(state)
    assert torch.equal(own["_blocks.0._depthwise_conv.weight"], state["_blocks.0._depthwise_conv.weight"])
    assert torch.equal(own["_fc.weight"], state["_fc.weight"])


def test_class_names_are_the_1000_imagenet_classes():
    names = E.class_names()
    assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    assert names[0] == "tench"  # label 0 of ImageNet-1k in any naming


def test_cat_photo_gives_a_cat_in_top5(model):
    pred = E.classify(model, _sample("chelsea"))
    cat_labels = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    top5 = {label for label, _, _ in pred.top}
    assert top5 & cat_labels, pred.top
    assert pred.top[0][0] in cat_labels, pred.top
    assert abs(pred.probs.sum() - 1.0) < 1e-4


def test_coffee_photo_gives_cup_or_espresso_in_top5(model):
    pred = E.classify(model, _sample("coffee"))
    cup_labels = {967, 968, 504}  # espresso, cup, coffee mug
    top5 = {label for label, _, _ in pred.top}
    assert top5 & cup_labels, pred.top
    assert pred.top[0][0] in cup_labels, pred.top


def test_stage_features_have_the_documented_strides(model):
    img = np.zeros((64, 96, 3), np.uint8)
    feats = E.stage_features(model, img, size=None)
    strides = dict(zip(E.STAGE_NAMES, (2, 4, 8, 16, 16, 32, 32)))
    channels = dict(zip(E.STAGE_NAMES, (s[3] for s in E.STAGES)))
    for name, f in feats.items():
        assert f.shape == (channels[name], 64 // strides[name], 96 // strides[name]), name
    with pytest.raises(ValueError):
        E.stage_features(model, img, stages=("stage9",))


def test_preprocess_checks_its_input():
    x = E.preprocess(np.full((10, 20, 3), 127, np.uint8))
    assert x.shape == (1, 3, E.INPUT_SIZE, E.INPUT_SIZE)
    assert float(x.abs().max()) < 0.01  # 127 maps to ~0: the grey baseline of the attributions
    with pytest.raises(ValueError):
        E.preprocess(np.zeros((10, 20), np.uint8))
