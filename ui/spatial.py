"""Streamlit glue for the image lab: cached model loading, inputs, cached inference.

Models load once per process (st.cache_resource, used read-only under
torch.inference_mode, so sessions can share them). The forward pass is cached per
(arch, input) with st.cache_data; a clicked pixel only recomputes one affinity row
from the cached stage-1 features, never the forward pass or an HW x HW matrix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image, ImageOps
from safetensors import SafetensorError

from models.classifiers import ARCHS, NL_MODES, SpatialClassifier
from models.device import pick_device
from corpora.fashion import CANVAS, CLASSES, DatasetMissing, classification_scene
from models.gan import SAGAN
import models.weights as weights_io
from models.weights import load_weights, read_card
from ui.clicks import point_pair, selected_points
from ui.image_input import decode_or_explain, drop_zone, sample_images
from ui.loads import logged_load

ARCH_TITLES = {
    "baseline": "Baseline (no attention)",
    "nl_gaussian": "NL Gaussian",
    "nl_embedded": "NL embedded Gaussian",
    "nl_dot": "NL dot product",
    "nl_concat": "NL concatenation",
    "dnl": "Disentangled NL",
    "cbam_channel": "CBAM channel only",
    "cbam_full": "CBAM channel + spatial",
}
GRID = (16, 16)  # where NL/DNL sit: stage-1 output of the 64 x 64 input


@dataclass(frozen=True)
class ModelInput:
    """What the classifiers see: a 64 x 64 uint8 canvas, plus ground truth when known."""

    image: np.ndarray
    label: int | None
    box: tuple[int, int, int, int] | None
    source: str

    @property
    def key(self) -> str:
        """A short hashable id for caches (the pixels, not the name)."""
        return hashlib.sha1(self.image.tobytes()).hexdigest()[:16]


def assets_dir() -> Path:
    """Read at call time, so WORKBENCH_ASSETS or a test can point elsewhere."""
    return Path(weights_io.ASSETS)


def card_path(arch: str, assets: Path | None = None) -> Path:
    return (assets or assets_dir()) / f"spatial_{arch}.json"


def available_archs(assets: Path | None = None) -> list[str]:
    assets = assets or assets_dir()
    return [a for a in ARCHS if (assets / f"spatial_{a}.safetensors").is_file()
            and card_path(a, assets).is_file()]


@st.cache_data(show_spinner=False)
def load_card(arch: str) -> dict | None:
    return read_card(card_path(arch))


GANS = {"sagan": "SAGAN (self-attention)", "gan_no_attention": "Same GAN, no attention"}  # card name -> label


@st.cache_data(show_spinner=False)
def load_sagan_card(name: str = "sagan") -> dict | None:
    return read_card(assets_dir() / f"{name}.json")


@st.cache_resource(show_spinner="Loading model…")
@logged_load
def load_classifier(arch: str) -> SpatialClassifier:
    card = read_card(card_path(arch)) or {}
    width = int(card.get("hyperparameters", {}).get("width", 16))
    model = SpatialClassifier(arch, width=width)
    load_weights(model, assets_dir() / f"spatial_{arch}.safetensors")
    return model.to(pick_device()).eval()


def load_sagan_or_reason(name: str = "sagan") -> tuple[SAGAN | None, str | None]:
    """The GAN, or None and why not (not trained, or a damaged file)."""
    try:
        gan = load_sagan(name)
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:
        return None, f"its weights could not be loaded ({type(exc).__name__}: {str(exc)[:200]})"
    variant = "" if name == "sagan" else " --variant no_attention"
    return gan, None if gan is not None else f"it is not trained yet: `python -m train sagan{variant}`"


@st.cache_resource(show_spinner="Loading GAN…")
@logged_load
def load_sagan(name: str = "sagan") -> SAGAN | None:
    path = assets_dir() / f"{name}.safetensors"
    if not path.is_file():
        return None
    card = read_card(assets_dir() / f"{name}.json") or {}
    hp = card.get("hyperparameters", {})
    gan = SAGAN(int(hp.get("z_dim", 64)), int(hp.get("width", 64)), attention=name == "sagan")
    load_weights(gan, path)
    return gan.to(pick_device()).eval()


@st.cache_data(show_spinner=False, max_entries=64)
def test_scene(index: int) -> ModelInput:
    s = classification_scene("test", int(index))
    return ModelInput(image=s.image, label=s.label, box=s.box, source=f"test scene {index}")


def scene_or_upload(prefix: str, from_scene, from_image, index_key: str | None = None, note: str = ""):
    """The Fashion-MNIST labs' input: a test scene by index, or an upload fitted to the canvas.

    ``from_scene(index)`` and ``from_image(image, invert, name)`` build each page's own
    input type; returns it, or None after showing why there is none.
    """
    pick, drop = st.columns([1, 2])
    with drop:
        upload = drop_zone(f"{prefix}_upload_file")
    with pick:
        source = st.radio("Input", ["Test scene", "Sample photo"], horizontal=True, key=f"{prefix}_source",
                          disabled=upload is not None)
        if upload is None and source == "Test scene":
            index = st.number_input("Test scene index", min_value=0, max_value=9999, step=1,
                                    key=index_key or f"{prefix}_index")
            try:
                return from_scene(int(index))
            except DatasetMissing as exc:
                st.error(f"{exc} Or drop an image in the box instead.")
                return None
        samples = sample_images()
        choice = (st.selectbox("Sample photo", list(samples), key=f"{prefix}_upload_source")
                  if upload is None and samples else None)
    if upload is not None:
        decoded = decode_or_explain(upload.getvalue(), upload.name)
    elif choice is not None:
        decoded = decode_or_explain(samples[choice].read_bytes(), choice)
    else:
        st.info("No sample photos are installed: drop an image in the box.")
        return None
    if decoded is None:
        return None
    invert = st.checkbox("Invert (Fashion-MNIST items are light on a dark background)", value=True,
                         key=f"{prefix}_invert")
    if note:
        st.caption(note)
    return from_image(decoded.image, invert, decoded.source)


def scene_fields(prefix: str, index_key: str | None = None) -> list:
    """The shareable choices of ``scene_or_upload`` (an upload itself never travels in a link)."""
    from ui.share import Field, flag, int_in, one_of, show_flag

    return [Field(f"{prefix}_source", one_of(["Test scene", "Sample photo"])),
            Field(index_key or f"{prefix}_index", int_in(0, 9999)),
            Field(f"{prefix}_upload_source", one_of(sample_images())),
            Field(f"{prefix}_invert", flag, show_flag)]


def upload_to_input(image: Image.Image, invert: bool, name: str) -> ModelInput:
    """Any RGB picture -> the 64 x 64 grey canvas the models take.

    Fit inside the canvas keeping the aspect ratio (padded with black, the scenes'
    background); optionally invert, since Fashion-MNIST items are light on dark.
    """
    grey = image.convert("L")
    if invert:
        grey = ImageOps.invert(grey)
    grey = ImageOps.contain(grey, (CANVAS, CANVAS), Image.BILINEAR)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    canvas.paste(grey, ((CANVAS - grey.width) // 2, (CANVAS - grey.height) // 2))
    return ModelInput(image=np.asarray(canvas, dtype=np.uint8), label=None, box=None, source=name)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0)[None, None].to(pick_device())


@st.cache_data(show_spinner=False, max_entries=256)
def run_classifier(arch: str, key: str, _image: np.ndarray) -> dict:
    """One forward pass: class probabilities and the small maps (CBAM gates, DNL unary).

    ``key`` identifies the pixels (``_image`` is not hashed by Streamlit). Pairwise maps
    are not returned whole: rows come from ``affinity_row``.
    """
    model = load_classifier(arch)
    with torch.inference_mode():
        logits, records = model(_tensor(_image))
    out = {"probs": torch.softmax(logits, -1)[0].cpu().numpy(), "maps": {}}
    for r in records:
        if r.kind in ("channel", "spatial", "unary"):
            out["maps"][r.name] = r.numpy()[0]
    return out


def run_all(archs: list[str], key: str, image: np.ndarray) -> tuple[dict[str, dict], dict[str, str]]:
    """Every model on one input; a model whose file is damaged or mismatched is reported
    (arch -> reason) instead of stopping the page."""
    results, broken = {}, {}
    for arch in archs:
        try:
            results[arch] = run_classifier(arch, key, image)
        except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:
            broken[arch] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return results, broken


@st.cache_data(show_spinner=False, max_entries=1024)
def affinity_row(arch: str, key: str, _image: np.ndarray, row: int, col: int) -> dict[str, np.ndarray]:
    """The clicked query's map(s) on the 16 x 16 grid, from one row (no N x N matrix)."""
    model = load_classifier(arch)
    with torch.inference_mode():
        records = model.attention_row(_tensor(_image), (row, col))
    # "nl.affinity" -> "affinity"; "dnl.pairwise" / ".unary" / ".combined" -> their terms
    return {r.name.rsplit(".", 1)[-1]: r.numpy()[0].reshape(r.grid) for r in records}


@st.cache_data(show_spinner="Generating samples…", max_entries=32)
def sagan_samples(seed: int, n: int, name: str = "sagan") -> np.ndarray:
    gan = load_sagan(name)
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, gan.generator.z_dim, generator=g).to(pick_device())
    with torch.inference_mode():
        images, _ = gan.generator(z)
    return ((images[:, 0].cpu().numpy() + 1.0) * 127.5).clip(0, 255)      # (n, 28, 28)


@st.cache_data(show_spinner=False, max_entries=512)
def sagan_row(seed: int, n: int, sample: int, row: int, col: int) -> np.ndarray:
    """The generator's attention for one output location of one sample: (14, 14)."""
    gan = load_sagan()
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, gan.generator.z_dim, generator=g)[sample : sample + 1].to(pick_device())
    with torch.inference_mode():
        feats = gan.generator.trunk(z)                                    # (1, C, 14, 14)
        (record,) = gan.generator.attn.attention_row(feats, (row, col))  # (1, 196)
    return record.numpy()[0].reshape(record.grid)


def _cell_of_point(point, grid: tuple[int, int]) -> tuple[int, int] | None:
    pair = point_pair(point)  # customdata [row, col]
    if pair is not None:
        return int(pair[0]), int(pair[1])
    index = point.get("point_index", point.get("point_number"))
    if isinstance(index, (int, float)):  # markers are laid out row-major
        return divmod(int(index), grid[1])
    return None


def query_from_selection(event, grid: tuple[int, int]) -> tuple[int, int] | None:
    """(row, col) from a plotly selection event whose points carry customdata [row, col]."""
    for p in selected_points(event):
        cell = _cell_of_point(p, grid)
        if cell is not None and 0 <= cell[0] < grid[0] and 0 <= cell[1] < grid[1]:
            return cell
    return None


def click_to_state(chart_key: str, row_key: str, col_key: str, grid: tuple[int, int], store: str | None = None):
    """A callback for st.plotly_chart(on_select=...): copies the clicked cell into the
    row/col number inputs, which stay usable on their own (keyboard, tests), and into the
    stored query ``store`` when the page keeps one (ui.widgets.shared_query)."""

    def callback():
        q = query_from_selection(st.session_state.get(chart_key), grid)
        if q is not None:
            st.session_state[row_key], st.session_state[col_key] = q
            if store:
                st.session_state[store] = tuple(q)

    return callback


def class_name(label: int | None) -> str:
    return CLASSES[label] if label is not None and 0 <= label < len(CLASSES) else "unknown"


__all__ = [
    "ARCH_TITLES", "ARCHS", "NL_MODES", "GRID", "DatasetMissing", "ModelInput", "available_archs",
    "GANS", "load_card", "load_classifier", "load_sagan", "load_sagan_or_reason", "load_sagan_card", "test_scene", "upload_to_input",
    "run_classifier", "run_all", "affinity_row", "sagan_samples", "sagan_row", "query_from_selection",
    "click_to_state", "class_name", "scene_fields",
]
