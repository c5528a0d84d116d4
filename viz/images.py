"""Figures for photos: saliency overlays, a clickable photo, top-5 bars, agreement and
deletion charts. Arrays in, plotly figures out.

Pure functions: numpy and plotly only, no torch, no streamlit, no file I/O. Overlays
are blended here into one small RGB image (at most ``max_side`` pixels a side) and
sent as a single PNG, so the browser never receives a full-resolution map as JSON.
Class names and map names are HTML-escaped before they reach plotly, whose text
renderer understands a subset of HTML.
"""

from __future__ import annotations


import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from viz.attention import _lut
from viz.clicks import clickable_cells
from viz.text import escape

OVERLAY_SCALE = "Inferno"
MAX_SIDE = 448



def display_shape(shape: tuple[int, int], max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(H, W) shrunk to fit max_side, aspect kept (never enlarged)."""
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"empty shape {shape}")
    f = min(1.0, max_side / max(h, w))
    return max(1, round(h * f)), max(1, round(w * f))


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map (pixel centres aligned), or area average when shrinking."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"resize_map needs a 2-D array, got shape {v.shape}")
    out_h, out_w = int(shape[0]), int(shape[1])
    # Shrink by whole-block averaging first so a large map is not aliased.
    fy, fx = max(1, v.shape[0] // out_h), max(1, v.shape[1] // out_w)
    if fy > 1 or fx > 1:
        hh, ww = v.shape[0] // fy * fy, v.shape[1] // fx * fx
        v = v[:hh, :ww].reshape(hh // fy, fy, ww // fx, fx).mean(axis=(1, 3))
    if v.shape == (out_h, out_w):
        return v

    def coords(n_in: int, n_out: int):
        c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        c = np.clip(c, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (c - lo).astype(np.float32)

    y0, y1, wy = coords(v.shape[0], out_h)
    x0, x1, wx = coords(v.shape[1], out_w)
    rows = v[y0] * (1 - wy)[:, None] + v[y1] * wy[:, None]  # (out_h, w_in)
    return rows[:, x0] * (1 - wx)[None, :] + rows[:, x1] * wx[None, :]


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"need an (H, W, 3) RGB image, got shape {img.shape}")
    if img.shape[:2] == tuple(shape):
        return img.astype(np.uint8, copy=False)
    chans = [resize_map(img[..., c].astype(np.float32), shape) for c in range(3)]
    return np.clip(np.stack(chans, axis=-1), 0, 255).astype(np.uint8)


def normalise(values: np.ndarray, clip: float = 99.0) -> np.ndarray:
    """Min to 0, the ``clip`` percentile to 1 (values above saturate); a constant map
    becomes zeros. Clipping matters for affinity rows, where the query's similarity
    to itself is a lone peak that would otherwise make the rest of the map black."""
    v = np.asarray(values, dtype=np.float32)
    lo, hi = float(np.nanmin(v)), float(np.nanpercentile(v, clip))
    if hi <= lo:
        hi = float(np.nanmax(v))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(v)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def blend(image: np.ndarray, saliency: np.ndarray | None, alpha: float = 0.6,
          max_side: int = MAX_SIDE, gamma: float = 0.75) -> np.ndarray:
    """Photo shrunk to max_side with the (min-max normalised) map laid over it in colour.

    ``gamma`` < 1 lifts small values: softmax maps are often peaked on a few cells, and
    a linear scale would hide everything but the peak.
    """
    shape = display_shape(np.asarray(image).shape[:2], max_side)
    base = resize_image(image, shape).astype(np.float32)
    if saliency is None:
        return base.astype(np.uint8)
    level = normalise(resize_map(saliency, shape)) ** float(gamma)
    color = _lut(OVERLAY_SCALE)[(level * 255).astype(np.uint8)].astype(np.float32)
    # Weight the colour by the map itself so low values leave the photo visible.
    a = (alpha * (0.25 + 0.75 * level))[..., None]
    return np.clip(base * (1 - a) + color * a, 0, 255).astype(np.uint8)


def _image_trace(rgb: np.ndarray) -> go.Image:
    source = px.imshow(rgb, binary_string=True, binary_format="png").data[0].source
    return go.Image(source=source, hoverinfo="skip")


def _frame(fig: go.Figure, shape: tuple[int, int], title: str, height: int | None) -> go.Figure:
    h, w = shape
    fig.update_layout(
        title=dict(text=escape(title), font=dict(size=14)),
        height=height or int(min(520, max(220, h * 1.0 + 60))),
        margin=dict(l=0, r=0, t=36, b=0),
        xaxis=dict(visible=False, range=[-0.5, w - 0.5], constrain="domain"),
        yaxis=dict(visible=False, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain"),
        showlegend=False,
    )
    return fig


def overlay_figure(image: np.ndarray, saliency: np.ndarray | None, title: str = "",
                   marker: tuple[float, float] | None = None, max_side: int = 320,
                   height: int | None = None) -> go.Figure:
    """One map of any resolution blended into the photo and sent as one small PNG (its
    colours min-to-99th-percentile normalised, no colour bar); ``marker`` = (u, v) in
    [0, 1] marks the query pixel. For small canvases where values must be read and
    compared on one absolute scale, viz/spatial.py's ``cell_map_figure`` draws the cells."""
    rgb = blend(image, saliency, max_side=max_side)
    fig = go.Figure(_image_trace(rgb))
    if marker is not None:
        _add_marker(fig, marker, rgb.shape[:2])
    return _frame(fig, rgb.shape[:2], title, height)


def _add_marker(fig: go.Figure, marker: tuple[float, float], shape: tuple[int, int]) -> None:
    u, v = marker
    h, w = shape
    fig.add_trace(go.Scatter(
        x=[u * w - 0.5], y=[v * h - 0.5], mode="markers", hoverinfo="skip", showlegend=False,
        marker=dict(symbol="x-thin", size=11, line=dict(width=2, color="#00e5ff")), name="query"))


def click_figure(image: np.ndarray, grid: tuple[int, int], marker: tuple[float, float] | None = None,
                 max_side: int = MAX_SIDE, max_cells: int = 64, title: str = "") -> go.Figure:
    """The photo with an invisible grid of clickable points, one per cell (at most
    max_cells a side); each point's customdata is its cell centre as (u, v) in [0, 1]."""
    rgb = blend(image, None, max_side=max_side)
    h, w = rgb.shape[:2]
    gh, gw = min(int(grid[0]), max_cells), min(int(grid[1]), max_cells)
    if gh < 1 or gw < 1:
        raise ValueError(f"grid must be positive, got {grid}")
    us = (np.arange(gw) + 0.5) / gw
    vs = (np.arange(gh) + 0.5) / gh
    uu, vv = np.meshgrid(us, vs)
    fig = go.Figure(_image_trace(rgb))
    fig.add_trace(clickable_cells(
        (uu * w - 0.5).ravel().round(2), (vv * h - 0.5).ravel().round(2),
        np.stack([uu.ravel(), vv.ravel()], axis=1).round(5), max(6, int(min(w / gw, h / gh))),
        "click to query (%{customdata[0]:.2f}, %{customdata[1]:.2f})<extra></extra>"))
    if marker is not None:
        _add_marker(fig, marker, (h, w))
    fig = _frame(fig, (h, w), title, None)
    fig.update_layout(dragmode=False, clickmode="event+select", hovermode="closest", hoverdistance=30)
    return fig


def top_classes_figure(names, probs, title: str = "Top-5 classes") -> go.Figure:
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 1 or len(names) != p.shape[0]:
        raise ValueError(f"{len(names)} names for {p.shape} probabilities")
    labels = [escape(n) for n in names]
    fig = go.Figure(go.Bar(x=p[::-1], y=labels[::-1], orientation="h", marker_color="#3b528b",
                           text=[f"{v:.1%}" for v in p[::-1]], textposition="auto",
                           hovertemplate="%{y}<br>p = %{x:.4f}<extra></extra>"))
    fig.update_layout(title=dict(text=escape(title)), height=60 + 36 * len(labels),
                      margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="probability", range=[0, 1], tickformat=".0%"))
    return fig


def agreement_figure(names, matrix: np.ndarray, title: str, zmin: float = -1.0) -> go.Figure:
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(names):
        raise ValueError(f"need an (n, n) matrix for {len(names)} names, got {m.shape}")
    labels = [escape(n) for n in names]
    text = np.where(np.isfinite(m), np.char.mod("%.2f", np.nan_to_num(m)), "n/a")
    fig = go.Figure(go.Heatmap(z=m, x=labels, y=labels, zmin=zmin, zmax=1.0, colorscale="RdBu",
                               reversescale=True, text=text, texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
                               colorbar=dict(thickness=10)))
    fig.update_layout(title=dict(text=escape(title)), height=140 + 40 * len(labels),
                      margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"),
                      xaxis=dict(tickangle=-30))
    return fig


def deletion_figure(curves: dict, title: str = "Deletion curves",
                    x_title: str = "fraction of pixels removed (most important first)",
                    y_title: str = "class probability", x_format: str = ".0%", area_name: str = "AUC") -> go.Figure:
    """curves: name -> (x, y, area), e.g. fraction of pixels removed and p(class), or
    tokens removed and the target; a lower area = a more faithful ranking."""
    fig = go.Figure()
    for name, (fractions, probs, auc) in curves.items():
        f, p = np.asarray(fractions, np.float32), np.asarray(probs, np.float32)
        if f.shape != p.shape:
            raise ValueError(f"{name}: {f.shape} x values for {p.shape} y values")
        label = f"{escape(name)} ({escape(area_name)} {auc:.3f})"
        fig.add_trace(go.Scatter(x=f, y=p, mode="lines+markers", name=label,
                                 hovertemplate=label + f"<br>removed %{{x:{x_format}}}<br>"
                                 f"{escape(y_title)} = %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=dict(text=escape(title)), height=380, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title=escape(x_title), tickformat=x_format),
                      yaxis=dict(title=escape(y_title), rangemode="tozero" if x_format == ".0%" else "normal"),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def head_mosaic(image: np.ndarray, maps: np.ndarray, cell: int = 128, gutter: int = 4,
                columns: int = 6) -> np.ndarray:
    """(head, gh, gw) maps, each blended over a thumbnail of the photo, tiled into one RGB image."""
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim != 3 or m.shape[0] == 0:
        raise ValueError(f"need (head, gh, gw) maps, got shape {m.shape}")
    tiles = [blend(image, m[i], max_side=cell) for i in range(m.shape[0])]
    th, tw = tiles[0].shape[:2]
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    out = np.full((rows * th + (rows + 1) * gutter, cols * tw + (cols + 1) * gutter, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        top, left = gutter + r * (th + gutter), gutter + c * (tw + gutter)
        out[top:top + th, left:left + tw] = t
    return out


def mosaic_figure(mosaic: np.ndarray, labels, columns: int, cell_shape: tuple[int, int],
                  gutter: int = 4, title: str = "") -> go.Figure:
    """A head mosaic with a small label over each tile (labels escaped)."""
    rgb = np.asarray(mosaic, dtype=np.uint8)
    fig = go.Figure(_image_trace(rgb))
    th, tw = cell_shape
    for i, text in enumerate(labels):
        r, c = divmod(i, columns)
        fig.add_annotation(x=gutter + c * (tw + gutter) + 4, y=gutter + r * (th + gutter) + 4,
                           text=escape(text), showarrow=False, xanchor="left", yanchor="top",
                           font=dict(size=11, color="white"), bgcolor="rgba(0,0,0,0.55)")
    return _frame(fig, rgb.shape[:2], title, int(min(900, rgb.shape[0] + 60)))
