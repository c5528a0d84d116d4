"""Image input for every image page: upload or sample, decoded safely to RGB.

``decode_image`` is the only way user bytes become pixels. It refuses, with a
message a person can act on, anything that is not a readable image, is too large
in bytes or in pixels (decided from the header, before any pixel is decoded, so a
decompression bomb costs nothing), or is truncated; and it converts every mode it
can (RGBA/LA/palette with transparency onto white, CMYK, 16- and 32-bit greyscale,
1-bit, animated: first frame) to 8-bit RGB, following the EXIF orientation.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 20 * 1024 * 1024          # what we accept from an upload
MAX_PIXELS = 40_000_000               # ~ 6300 x 6300; larger is refused before decoding
MAX_SIDE = 12_000                     # a 100000 x 10 strip is no photo either


class ImageInputError(ValueError):
    """A file the user gave cannot be used as an image; the message says why."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image                 # 8-bit RGB
    notes: tuple[str, ...] = field(default_factory=tuple)  # what was converted, for the UI
    source: str = ""                   # file name or sample name

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.image, dtype=np.uint8)  # (H, W, 3)


def _flatten_alpha(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        notes.append(f"Transparent image ({mode}): placed on a white background.")
        return _flatten_alpha(img)
    if mode == "CMYK":
        notes.append("CMYK image: converted to RGB.")
        return img.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        notes.append(f"High bit-depth greyscale ({mode}): stretched to 8 bits.")
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if mode in ("P", "L", "1", "YCbCr", "LAB", "HSV"):
        if mode != "L":
            notes.append(f"{mode} image: converted to RGB.")
        return img.convert("RGB")
    raise ImageInputError(f"Images of mode {mode!r} are not supported. Save it as PNG or JPEG and try again.")


def decode_image(data: bytes, name: str = "upload", max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Bytes from a user -> DecodedImage, or ImageInputError with a clear message."""
    if data is None or len(data) == 0:
        raise ImageInputError(f"{name}: the file is empty.")
    if len(data) > max_bytes:
        raise ImageInputError(
            f"{name}: the file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB."
        )
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # Pillow warns (then raises) about very large images; we decide ourselves below.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size  # read from the header; nothing decoded yet
            if width <= 0 or height <= 0:
                raise ImageInputError(f"{name}: the image has no pixels ({width} x {height}).")
            if width * height > max_pixels or max(width, height) > MAX_SIDE:
                raise ImageInputError(
                    f"{name}: {width} x {height} pixels is too large (limit {max_pixels / 1e6:.0f} "
                    f"megapixels, {MAX_SIDE} per side). Resize it and try again."
                )
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"Animated image with {img.n_frames} frames: using the first frame.")
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb(img, notes)
            rgb.load()
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageInputError(f"{name}: refused as a possible decompression bomb ({exc}).") from exc
    except UnidentifiedImageError as exc:
        raise ImageInputError(f"{name}: this is not an image Pillow can read (PNG, JPEG, GIF, WebP, TIFF, BMP…).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageInputError(f"{name}: the image is damaged or truncated ({exc}).") from exc
    return DecodedImage(image=rgb, notes=tuple(notes), source=name)


def sample_images() -> dict[str, Path]:
    """Photos bundled inside scikit-image's wheel (never the ones it downloads)."""
    try:
        import skimage
    except ImportError:
        return {}
    folder = Path(skimage.__file__).parent / "data"
    wanted = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle_left", "camera", "cat")
    found = {}
    for stem in wanted:
        for ext in (".png", ".jpg"):
            path = folder / f"{stem}{ext}"
            if path.is_file():
                found[stem] = path
                break
    return found


FORMATS = ["png", "jpg", "jpeg", "gif", "webp", "tif", "tiff", "bmp"]


def drop_zone(key: str, label: str = "image"):
    """The file uploader, always visible: one step to use your own picture."""
    import streamlit as st

    # the widget states its own limit, so it is the one our decoder applies (one number shown)
    return st.file_uploader(f"…or drop your own {label}", type=FORMATS, key=key, max_upload_size=MAX_BYTES // 2**20)


def decode_or_explain(data: bytes, name: str) -> DecodedImage | None:
    """Decode, show the notes; a bad file ends in one clear message and None."""
    import streamlit as st

    try:
        with st.spinner(f"Reading {name}…"):  # shown only past half a second: a large upload
            decoded = decode_image(data, name=name)
    except ImageInputError as exc:
        st.error(str(exc))
        return None
    for note in decoded.notes:
        st.caption(note)
    return decoded


def image_input(key: str, label: str = "Image", samples: dict[str, Path] | None = None,
                default_sample: str | None = None) -> DecodedImage | None:
    """The bundled examples and a drop zone side by side: an upload, while there is one,
    wins (remove it with its × to go back to the examples). Shows every message itself."""
    import streamlit as st

    samples = sample_images() if samples is None else samples
    pick, drop = st.columns([1, 2])
    with drop:
        upload = drop_zone(f"{key}_upload", label.lower())
    with pick:
        choice = None
        if samples:
            names = list(samples)
            # a value already in session state (a shared link, an earlier run) wins over the default
            start = {} if f"{key}_source" in st.session_state else {
                "index": names.index(default_sample) if default_sample in names else 0}
            choice = st.selectbox(f"Example {label.lower()}", names, key=f"{key}_source", disabled=upload is not None,
                                  help="Remove your upload (×) to use the examples again." if upload else None,
                                  **start)
    if upload is not None:
        return decode_or_explain(upload.getvalue(), upload.name)
    if choice is None:
        st.info(f"Drop an {label.lower()} in the box to start.")
        return None
    return decode_or_explain(samples[choice].read_bytes(), choice)
