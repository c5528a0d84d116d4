"""Streamlit glue for the photos page: cached model, cached per-image results, clicks.

Caching (DESIGN.md, "Speed and size"):
- the model loads once per process (``st.cache_resource``);
- everything computed from an image is keyed by the SHA-256 of its decoded pixels
  (plus the settings it depends on), and the image itself travels as an
  underscore-prefixed argument, which Streamlit does not hash;
- a click only reads cached stage features and computes three rows (analysis.affinity):
  it never runs the CNN.
Cached tensors and arrays are shared between sessions: treat them as read-only.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

from analysis import attribution as attr
from analysis.affinity import StageCache, click_records, stage_cache
from models.pretrained import efficientnet_lite as effnet
from models.device import pick_device
from ui.clicks import point_pair, selected_points
from ui.loads import logged_load

FEATURE_SIDES = (224, 448, 1024)  # longest side the backbone sees for the click maps
WORKING_SIDE = 1024               # every map on the page lives at most at this size


def working_image(decoded) -> tuple[np.ndarray, str | None]:
    """The decoded upload, shrunk so its longest side is at most WORKING_SIDE.

    Attribution and agreement maps have the working image's shape; without this cap a
    40-megapixel upload would make each map 160 MB. Returns (array, note or None).
    """
    from PIL import Image

    img = decoded.image
    w, h = img.size
    if max(w, h) <= WORKING_SIDE:
        return decoded.array, None
    f = WORKING_SIDE / max(w, h)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    with st.spinner(f"Shrinking the {w} x {h} image to {size[0]} x {size[1]}…"):
        small = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8), f"Working on a {size[0]} x {size[1]} copy of the {w} x {h} image."


def image_key(image: np.ndarray) -> str:
    arr = np.ascontiguousarray(image)
    h = hashlib.sha256(arr.tobytes())
    h.update(str(arr.shape).encode())
    return h.hexdigest()


@st.cache_resource(show_spinner="Loading EfficientNet-Lite0 …")
@logged_load
def load_model() -> effnet.EfficientNetLite0:
    return effnet.load_efficientnet_lite0(pick_device())


@st.cache_resource(max_entries=8, show_spinner="Classifying …")
def predict(key: str, _image: np.ndarray) -> effnet.Prediction:
    return effnet.classify(load_model(), _image, k=5)


def feature_input_shape(shape: tuple[int, int], longest: int) -> tuple[int, int]:
    """(H, W) scaled so the longest side is ``longest``, each a multiple of 32 (the
    backbone's total stride) so every stage's grid covers the photo exactly."""
    h, w = shape
    f = longest / max(h, w)
    return max(32, int(round(h * f / 32)) * 32), max(32, int(round(w * f / 32)) * 32)


@st.cache_resource(max_entries=4, show_spinner="Computing backbone features …")
def stage_features(key: str, longest: int, _image: np.ndarray) -> dict[str, tuple[torch.Tensor, StageCache]]:
    """stage -> (features (C, h, w), StageCache with μ, μᵀx and the auto scale)."""
    from viz.images import resize_image  # numpy-only resize; keeps torch out of the image path

    shape = feature_input_shape(_image.shape[:2], longest)
    resized = resize_image(_image, shape)
    feats = effnet.stage_features(load_model(), resized, size=None)
    return {name: (f, stage_cache(f)) for name, f in feats.items()}


def query_cell(query: tuple[float, float], grid: tuple[int, int]) -> tuple[int, int]:
    """(u, v) in [0, 1] -> (row, col) on an h x w grid."""
    u, v = query
    h, w = grid
    return min(h - 1, max(0, int(v * h))), min(w - 1, max(0, int(u * w)))


def click_maps(key: str, longest: int, image: np.ndarray, stage: str, query: tuple[float, float],
               scale: str, gain: float):
    """The affinity, DNL pairwise and DNL unary records for the query: no forward pass."""
    feats, cache = stage_features(key, longest, image)[stage]
    cell = query_cell(query, tuple(feats.shape[1:]))
    return click_records(cache, cell, stage=stage, scale=scale, gain=gain), cell


def _point_query(point) -> tuple[float, float] | None:
    """(u, v) from one selected point's customdata; None when the point is not one of the cells."""
    pair = point_pair(point)
    if pair is None or not all(0.0 <= x <= 1.0 for x in pair):
        return None
    return pair


def apply_click(event, chart_key: str) -> None:
    """Turn a new point selection on the click chart into the stored query (u, v)."""
    for point in selected_points(event):
        query = _point_query(point)
        if query is None:
            continue
        seen_key = f"{chart_key}_seen"
        # A selection stays selected across reruns; act only when it changes, so the
        # sliders can still move the query afterwards.
        if st.session_state.get(seen_key) != query:
            st.session_state[seen_key] = query
            st.session_state["photos_query"] = (round(query[0], 2), round(query[1], 2))
        return


def _model_input(image: np.ndarray) -> torch.Tensor:
    return effnet.preprocess(image)


@st.cache_resource(max_entries=24, show_spinner=False)
def attribution_map(key: str, method: str, target: int, n_steps: int, _image: np.ndarray) -> np.ndarray:
    model = load_model()
    return attr.captum_maps(model, model.cam_layer, _model_input(_image), target, _image.shape[:2],
                            methods=(method,), n_steps=n_steps)[method]


def attribution_maps(key: str, image: np.ndarray, target: int, n_steps: int) -> dict[str, np.ndarray]:
    """All three Captum maps, one cached call each, with a progress bar on the first run."""
    out: dict[str, np.ndarray] = {}
    bar = st.progress(0.0, text="Attributions …")
    for i, method in enumerate(attr.METHODS):
        bar.progress(i / len(attr.METHODS), text=f"{method} ({i + 1}/{len(attr.METHODS)}) …")
        out[method] = attribution_map(key, method, int(target), int(n_steps), image)
    bar.empty()
    return out


@st.cache_resource(max_entries=64, show_spinner=False)
def _deletion(key: str, target: int, name: str, map_key: str, _saliency: np.ndarray,
              _image: np.ndarray) -> attr.DeletionCurve:
    return attr.deletion_curve(load_model(), _model_input(_image), int(target), _saliency)


def deletion_curves(key: str, image: np.ndarray, target: int, maps: dict[str, np.ndarray]):
    curves = {}
    for name, saliency in maps.items():
        map_key = hashlib.sha256(np.ascontiguousarray(saliency, dtype=np.float32).tobytes()).hexdigest()
        curves[name] = _deletion(key, int(target), name, map_key, saliency, image)
    return curves


def class_options() -> list[str]:
    return [f"{i}: {name}" for i, name in enumerate(effnet.class_names())]


@st.cache_resource(max_entries=2, show_spinner="Loading the vision transformer …")
@logged_load
def load_vit(path: str):
    from models.pretrained.hf_vision import load_vision_transformer

    return load_vision_transformer(path)


@st.cache_resource(max_entries=4, show_spinner="Running the vision transformer …")
def vit_maps(path: str, key: str, _image: np.ndarray):
    """(run, rollout record) for the image; cached per model path and image."""
    from analysis.vit import cls_rollout
    from models.pretrained.hf_vision import run_vision_transformer

    run = run_vision_transformer(load_vit(path), _image)
    return run, cls_rollout(run.records[0], run.grid, run.n_prefix)
