"""Figures for the image lab: arrays in, plotly figures out.

numpy + plotly only (no torch, no streamlit, no file I/O). Images are (H, W) grey
arrays in canvas pixels; attention maps are (h, w) grids that cover the same canvas
(one cell = H/h x W/w pixels) and are drawn over the image, never resampled here.
Every title and label passes through html.escape (plotly renders a subset of HTML).
"""

from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from viz.clicks import clickable_cells
from viz.curves import PALETTE, Panel, panel_curves
from viz.text import escape

# Transparent at low weight, opaque and warm at high weight: the image stays visible
# where a map is quiet, and the peak reads at a glance.
MAP_COLORSCALE = [
    [0.0, "rgba(0,0,0,0)"],
    [0.2, "rgba(90,0,200,0.35)"],
    [0.55, "rgba(255,40,40,0.7)"],
    [1.0, "rgba(255,235,0,0.95)"],
]
BOX_COLOR = "#00e676"
QUERY_COLOR = "#00b0ff"


def _check_image(image) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2 or min(img.shape) == 0:
        raise ValueError(f"image must be a non-empty 2-D (H, W) array, got shape {img.shape}")
    return img


def _base(image: np.ndarray, title: str, size: int) -> go.Figure:
    img = _check_image(image)
    fig = go.Figure(go.Heatmap(z=img, colorscale="gray", showscale=False, hoverinfo="skip",
                               zmin=0, zmax=max(float(img.max()), 1e-6)))
    h, w = img.shape
    lines = title.count("\n")  # a title may take a second line, so a narrow column does not clip it
    fig.update_layout(
        title=dict(text=escape(title).replace("\n", "<br>"), font=dict(size=13)),
        width=size or None, height=(size or 300) + 40 + 16 * lines, margin=dict(l=5, r=5, t=40 + 16 * lines, b=5),
        xaxis=dict(range=[-0.5, w - 0.5], showticklabels=False, showgrid=False, zeroline=False,
                   constrain="domain"),
        yaxis=dict(range=[h - 0.5, -0.5], showticklabels=False, showgrid=False, zeroline=False,
                   scaleanchor="x"),
        dragmode=False, showlegend=False,
    )
    return fig


def _add_box(fig: go.Figure, box) -> None:
    if box is None:
        return
    x0, y0, x1, y1 = (float(v) for v in box)
    fig.add_shape(type="rect", x0=x0 - 0.5, y0=y0 - 0.5, x1=x1 - 0.5, y1=y1 - 0.5,
                  line=dict(color=BOX_COLOR, width=2))


def _cell_centres(shape, grid):
    """Canvas-pixel centres (x, y) of each grid cell, row-major, with (row, col) ids."""
    h, w = shape
    gh, gw = grid
    rows, cols = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    x = (cols + 0.5) * w / gw - 0.5
    y = (rows + 0.5) * h / gh - 0.5
    return x.ravel(), y.ravel(), rows.ravel(), cols.ravel()


def _add_query(fig: go.Figure, shape, grid, query) -> None:
    if query is None:
        return
    h, w = shape
    r, c = query
    ch, cw = h / grid[0], w / grid[1]
    fig.add_shape(type="rect", x0=c * cw - 0.5, y0=r * ch - 0.5, x1=(c + 1) * cw - 0.5,
                  y1=(r + 1) * ch - 0.5, line=dict(color=QUERY_COLOR, width=2))


def clickable_image(image, grid: tuple[int, int], box=None, query=None, title: str = "",
                    size: int = 340) -> go.Figure:
    """The input with one invisible marker per attention cell; clicking one selects (row, col).

    Each marker carries customdata [row, col], which the page reads from the selection.
    """
    img = _check_image(image)
    fig = _base(img, title, size)
    x, y, rows, cols = _cell_centres(img.shape, grid)
    cell_px = size / max(grid)
    fig.add_trace(clickable_cells(x, y, np.stack([rows, cols], axis=1), max(4.0, cell_px * 0.9),
                                  "cell row %{customdata[0]}, col %{customdata[1]}<extra></extra>"))
    _add_box(fig, box)
    _add_query(fig, img.shape, grid, query)
    fig.update_layout(clickmode="event+select")
    return fig


def cell_map_figure(image, attention, box=None, query=None, title: str = "", size: int = 260,
                    zmax: float | None = None, value_name: str = "weight",
                    opacity: float = 1.0) -> go.Figure:
    """A (h, w) attention map drawn cell by cell over the small (H, W) canvas, with hover
    values and an absolute colour bar (so variants and signs can be compared); the
    ground-truth box and the query cell outlined. Large photos use viz/images.py's
    ``overlay_figure``, which blends the map into one PNG instead."""
    img = _check_image(image)
    a = np.asarray(attention, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"attention must be a 2-D (h, w) map, got shape {a.shape}")
    h, w = img.shape
    gh, gw = a.shape
    fig = _base(img, title, size)
    fig.add_trace(go.Heatmap(
        z=a, x0=w / gw / 2 - 0.5, dx=w / gw, y0=h / gh / 2 - 0.5, dy=h / gh,
        colorscale=MAP_COLORSCALE, opacity=opacity, zmin=float(min(a.min(), 0.0)),
        zmax=float(zmax) if zmax is not None else None,
        # A horizontal colour bar under the image leaves the image the full width.
        colorbar=dict(orientation="h", thickness=8, len=0.9, y=-0.02, yanchor="top",
                      tickfont=dict(size=9), nticks=4),
        hovertemplate="row %{y:.0f}px, col %{x:.0f}px<br>" + escape(value_name) + " %{z:.4f}<extra></extra>",
    ))
    _add_box(fig, box)
    _add_query(fig, img.shape, (gh, gw), query)
    fig.update_layout(height=size + 70, margin=dict(l=5, r=5, t=40, b=40))
    return fig


def channel_bars(weights, title: str = "", size: int = 340) -> go.Figure:
    """CBAM channel gate per channel, sorted as the channels come (sigmoid: 0..1)."""
    wts = np.asarray(weights, dtype=np.float32).ravel()
    if wts.size == 0:
        raise ValueError("no channel weights to draw")
    fig = go.Figure(go.Bar(x=np.arange(wts.size), y=wts, marker_color="#5c6bc0",
                           hovertemplate="channel %{x}<br>gate %{y:.3f}<extra></extra>"))
    fig.update_layout(title=dict(text=escape(title), font=dict(size=13)), height=220, width=size,
                      margin=dict(l=5, r=5, t=40, b=30), yaxis=dict(range=[0, 1], title="gate"),
                      xaxis=dict(title="channel"), bargap=0.1)
    return fig


def mosaic(images, columns: int = 8, pad: int = 2) -> np.ndarray:
    """(n, H, W) -> one (rows*(H+pad), columns*(W+pad)) grey image for a sample grid."""
    imgs = np.asarray(images, dtype=np.float32)
    if imgs.ndim != 3 or imgs.shape[0] == 0:
        raise ValueError(f"images must be (n, H, W), got shape {imgs.shape}")
    n, h, w = imgs.shape
    rows = -(-n // columns)
    out = np.zeros((rows * (h + pad) + pad, columns * (w + pad) + pad), np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = imgs[i]
    return out


def samples_image(images, columns: int = 8, scale: int = 5) -> np.ndarray:
    """A sample grid as an 8-bit grey picture, each pixel drawn as scale x scale (nearest
    neighbour, so a browser that shrinks it to a narrow column never blurs a 28-pixel item
    up from its own size). Shown with st.image, it keeps its aspect at any column width; a
    Plotly heatmap of fixed height left a gap above or below it on narrow screens."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale}")
    m = mosaic(images, columns)
    top = max(float(m.max()), 1e-6)  # the same grey scale as the heatmaps: 0 black, the grid's max white
    grey = np.round(np.clip(m, 0.0, None) / top * 255.0).astype(np.uint8)  # in [0, 255]: m <= top
    return np.kron(grey, np.ones((scale, scale), np.uint8))


def class_histogram_figure(histograms: dict[str, list[int]], classes, title: str = "") -> go.Figure:
    """Share of samples per class, one bar group per source (GANs and real images), with
    the 25 % line the lab takes as the limit of a covered data set and the 10 % of an even
    spread."""
    fig = go.Figure()
    names = [escape(c) for c in classes]
    for i, (name, counts) in enumerate(histograms.items()):
        counts = np.asarray(counts, dtype=float)
        if counts.shape != (len(classes),):
            raise ValueError(f"{name}: {counts.size} counts for {len(classes)} classes")
        share = counts / max(counts.sum(), 1.0)
        fig.add_trace(go.Bar(x=names, y=share, name=escape(name), marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate="%{x}: %{y:.1%}<extra>" + escape(name) + "</extra>"))
    # The two levels as legend entries, not annotations: a label inside the plot sat on the bars.
    for level, label, dash in ((0.25, "limit 25 %", "dash"), (0.10, "even spread 10 %", "dot")):
        fig.add_trace(go.Scatter(x=[names[0], names[-1]], y=[level, level], mode="lines", name=label,
                                 line={"dash": dash, "color": "#888"}, hoverinfo="skip"))
    fig.update_layout(barmode="group", title=escape(title), height=320, yaxis={"tickformat": ".0%", "title": "share"},
                      margin={"l": 50, "r": 10, "t": 40, "b": 40}, legend={"orientation": "h", "y": -0.3})
    return fig


def gan_curve_figure(curves: dict[str, list[dict]], fid_floor: float | None = None) -> go.Figure:
    """Sample quality over training steps, one colour per GAN: FID (lower is better; the
    real-vs-real floor dashed), Inception Score and the largest class's share (25 % dashed)."""
    return panel_curves(curves, (
        Panel("FID (judge features)", "fid", hline=fid_floor, hline_label="real vs real"),
        Panel("Inception Score (judge)", "inception_score"),
        Panel("largest class share", "largest_class_share", hline=0.25, hline_label="25 %", percent=True)), x="step")


def classifier_curve_figure(curves: dict[str, list[dict]], classes: int = 10) -> go.Figure:
    """Image-lab training by epoch, one colour per classifier: validation accuracy (chance
    1/classes dashed), training accuracy and training loss."""
    return panel_curves(curves, (
        Panel("validation accuracy", "val_accuracy", hline=1 / classes, hline_label=f"chance {1 / classes:.0%}",
              percent=True),
        Panel("training accuracy", "train_accuracy", percent=True),
        Panel("training loss", "train_loss")), x="epoch")
