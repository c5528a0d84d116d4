"""ui.image_input.decode_image on hostile and unusual files: converted or refused with a message."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ui.image_input import ImageInputError, decode_image


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is tiny: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * 16
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"this is not an image at all, just some text", "not an image"),
    (b"\x00" * 1000, "not an image"),
])
def test_non_images_are_refused(data, match):
    with pytest.raises(ImageInputError, match=match):
        decode_image(data, name="f")


def test_truncated_png_is_refused():
    rng = np.random.default_rng(0)
    data = _png(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ImageInputError, match="damaged or truncated|not an image"):
        decode_image(data[: len(data) // 2], name="cut.png")


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    data = _bomb_png(50_000, 50_000)  # 2.5 gigapixels claimed in a few hundred bytes
    assert len(data) < 1000
    decoded = []
    original_load = Image.Image.load

    def spy(self, *a, **k):
        decoded.append(self.size)
        return original_load(self, *a, **k)

    monkeypatch.setattr(Image.Image, "load", spy)
    with pytest.raises(ImageInputError, match="too large|decompression bomb"):
        decode_image(data, name="bomb.png")
    assert decoded == []  # refused from the header alone: no pixel was decoded


def test_oversized_file_is_refused_by_bytes():
    with pytest.raises(ImageInputError, match="limit"):
        decode_image(b"\x89PNG" + b"\x00" * 2000, name="big.png", max_bytes=1000)


def test_rgba_is_flattened_onto_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent except one pixel
    rgba[0, 0, 3] = 255
    d = decode_image(_png(Image.fromarray(rgba, "RGBA")))
    assert d.image.mode == "RGB" and d.notes
    assert tuple(d.array[0, 0]) == (255, 0, 0)
    assert tuple(d.array[4, 4]) == (255, 255, 255)


def test_palette_image_is_converted():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)).convert("P")
    d = decode_image(_png(img))
    assert d.array.shape == (10, 12, 3) and d.image.mode == "RGB"


def test_sixteen_bit_greyscale_is_stretched_to_8_bits():
    arr = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 200).astype(np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    d = decode_image(_png(img))
    a = d.array
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert a.min() == 0 and a.max() == 255
    assert any("bit" in n for n in d.notes)


def test_cmyk_jpeg_is_converted():
    buf = io.BytesIO()
    Image.new("CMYK", (9, 7), (0, 255, 255, 0)).save(buf, format="JPEG")
    d = decode_image(buf.getvalue(), name="cmyk.jpg")
    assert d.array.shape == (7, 9, 3) and any("CMYK" in n for n in d.notes)
    r, g, b = d.array[3, 4].astype(int)
    assert r > 200 and g < 60 and b < 60  # cyan-free, magenta+yellow = red


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (6, 5), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    d = decode_image(buf.getvalue(), name="anim.gif")
    assert d.array.shape == (5, 6, 3) and any("frame" in n for n in d.notes)
    r, g, b = d.array[2, 2].astype(int)
    assert r > 200 and b < 60
