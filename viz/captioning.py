"""Figures for the captioning page: per-word attention overlays, arrays in, plotly out.

numpy + plotly only. As in Xu et al.'s figures, each word's (gh, gw) attention map is
upsampled to the canvas and smoothed with a Gaussian before it is laid over the
image. The strip of all words is blended server-side into one small RGB image
(viz.images.blend) and sent as a single PNG, not as per-cell JSON. Words are
HTML-escaped before they reach plotly.
"""

from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from viz.curves import Panel, panel_curves
from viz.images import _frame, _image_trace, blend, resize_map
from viz.text import escape

BOX_COLORS = ("#00e676", "#00b0ff", "#ff9100")
HIGHLIGHT = "#ffffff"



def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def smooth_upsample(alpha, shape: tuple[int, int], sigma: float = 3.0) -> np.ndarray:
    """(gh, gw) map -> (H, W): bilinear upsampling, then a separable Gaussian blur (edge-padded).

    The blur keeps the map's total mass (up to edge effects) and only softens the cell
    edges, as in the paper's figures; ``sigma`` is in output pixels (0: no blur).
    """
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"attention must be a 2-D (h, w) map, got shape {a.shape}")
    up = resize_map(a, shape)
    if sigma <= 0:
        return up
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    padded = np.pad(up, ((0, 0), (r, r)), mode="edge")
    up = np.stack([np.convolve(row, k, mode="valid") for row in padded])
    padded = np.pad(up, ((r, r), (0, 0)), mode="edge")
    return np.stack([np.convolve(col, k, mode="valid") for col in padded.T]).T


def _rgb(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) == 0:
        raise ValueError(f"image must be a non-empty 2-D (H, W) array, got shape {img.shape}")
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


def word_tiles(image, alphas, tile: int = 128, sigma: float = 3.0) -> list[np.ndarray]:
    """One (tile, tile, 3) RGB overlay per word (alphas: (T, gh, gw))."""
    rgb = _rgb(image)
    big = np.repeat(np.repeat(rgb, max(1, tile // rgb.shape[0]), 0), max(1, tile // rgb.shape[1]), 1)
    out = []
    for a in np.asarray(alphas, dtype=np.float32):
        smooth = smooth_upsample(a, big.shape[:2], sigma * big.shape[0] / rgb.shape[0])
        out.append(blend(big, smooth, max_side=tile, gamma=1.0))
    return out


def strip_figure(image, alphas, words, tile: int = 128, gap: int = 6, sigma: float = 3.0,
                 title: str = "", betas=None) -> go.Figure:
    """All words' overlays side by side in one image, each word written above its tile."""
    words = list(words)
    alphas = np.asarray(alphas, dtype=np.float32)
    if alphas.ndim != 3 or len(words) != alphas.shape[0]:
        raise ValueError(f"need one (gh, gw) map per word; got {alphas.shape} for {len(words)} words")
    rgb = _rgb(image)
    tiles = [blend(np.repeat(np.repeat(rgb, tile // rgb.shape[0] or 1, 0), tile // rgb.shape[1] or 1, 1),
                   None, max_side=tile)] + word_tiles(image, alphas, tile, sigma)
    # two short lines per tile (the word, then its gate) so neighbours never overlap at
    # narrow widths; a word cut to 10 characters shows whole on hover
    gates = betas if betas is not None else [None] * len(words)
    labels = [("(input)", "(input)")] + [
        (escape(w if len(w) <= 10 else w[:9] + "…") + ("" if b is None else f"<br>β={b:.2f}"), escape(w))
        for w, b in zip(words, gates)]
    h, w = tiles[0].shape[:2]
    strip = np.full((h, len(tiles) * (w + gap) - gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        strip[:, i * (w + gap) : i * (w + gap) + w] = t
    fig = go.Figure(_image_trace(strip))
    for i, (label, full) in enumerate(labels):
        fig.add_annotation(x=i * (w + gap) + w / 2, y=-4, text=label, hovertext=full, showarrow=False,
                           yanchor="bottom", font=dict(size=12))
    _frame(fig, strip.shape[:2], title, h + 90)
    fig.update_layout(margin=dict(l=0, r=0, t=56, b=0), yaxis=dict(visible=False, range=[h - 0.5, -44],
                                                                   scaleanchor="x", constrain="domain"))
    return fig


def word_figure(image, alpha, boxes=(), highlight: int | None = None, title: str = "", size: int = 384,
                sigma: float = 3.0) -> go.Figure:
    """One word's smoothed overlay, large, with every item's box; ``highlight`` = the named item."""
    rgb = _rgb(image)
    scale = max(1, size // rgb.shape[0])
    big = np.repeat(np.repeat(rgb, scale, 0), scale, 1)
    smooth = smooth_upsample(alpha, big.shape[:2], sigma * scale)
    fig = go.Figure(_image_trace(blend(big, smooth, max_side=size, gamma=1.0)))
    for i, box in enumerate(boxes or ()):
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        fig.add_shape(type="rect", x0=x0 - 0.5, y0=y0 - 0.5, x1=x1 - 0.5, y1=y1 - 0.5,
                      line=dict(color=HIGHLIGHT if i == highlight else BOX_COLORS[i % len(BOX_COLORS)],
                                width=4 if i == highlight else 2, dash=None if i == highlight else "dot"))
    return _frame(fig, big.shape[:2], title, big.shape[0] + 50)


def curve_figure(curves: dict[str, list[dict]]) -> go.Figure:
    """Learning curves by epoch, one colour per model: validation attention correctness
    beside its uniform level (dotted), validation BLEU-4 and the training loss."""
    return panel_curves(curves, (
        Panel("attention correctness (val)", "val_attention_correctness", reference_key="val_uniform",
              reference_label="uniform map"),
        Panel("BLEU-4 (val)", "val_bleu4"),
        Panel("training loss", "train_loss")), x="epoch")
