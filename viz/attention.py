"""Figures for token attention: arrays in, plotly figures out.

Pure functions: numpy and plotly only, no torch, no streamlit, no file I/O.
Every token string is HTML-escaped before it reaches plotly, whose text renderer
understands a subset of HTML (so "<b>" in a user's sentence must stay text).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale

from viz.text import escape

COLORSCALE = "Viridis"
HEAD_COLORS = qualitative.Dark24


def escape_labels(tokens, start: int = 0) -> list[str]:
    """Escaped, position-prefixed labels (positions from ``start``): unique even when a token repeats."""
    return [f"{i}: {escape(t)}" for i, t in enumerate(tokens, start)]


def _check_labels(labels, n: int, what: str, start: int = 0) -> list[str]:
    if labels is None:
        return [str(i) for i in range(start, start + n)]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} {what} labels for {n} {what} positions")
    return escape_labels(labels, start)


def attention_heatmap(
    weights: np.ndarray,
    query_labels=None,
    key_labels=None,
    title: str = "",
    zmax: float | None = None,
    value_name: str = "weight",
    query_start: int = 0,
    key_start: int = 0,
) -> go.Figure:
    """One (query, key) map; hover names the query token, the key token and the weight.
    ``query_start``/``key_start``: the positions of the first row and column (for a tile)."""
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"attention_heatmap needs a 2-D (query, key) array, got shape {w.shape}")
    y = _check_labels(query_labels, w.shape[0], "query", query_start)
    x = _check_labels(key_labels, w.shape[1], "key", key_start)
    fig = go.Figure(
        go.Heatmap(
            z=w,
            x=x,
            y=y,
            zmin=0.0,
            zmax=float(zmax) if zmax is not None else None,
            colorscale=COLORSCALE,
            colorbar=dict(title=value_name, thickness=12),
            hovertemplate="query %{y}<br>key %{x}<br>" + value_name + " %{z:.4f}<extra></extra>",
        )
    )
    n = max(w.shape)
    tick_font = 11 if n <= 40 else 9 if n <= 80 else 7
    side = int(np.clip(18 * w.shape[0], 360, 900))
    fig.update_layout(
        title=dict(text=escape(title)),
        height=side + 120,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title="key", tickangle=-60, tickfont=dict(size=tick_font), side="top",
                   showticklabels=n <= 160),
        yaxis=dict(title="query", autorange="reversed", tickfont=dict(size=tick_font),
                   showticklabels=n <= 160),
    )
    return fig


@lru_cache(maxsize=4)
def _lut(colorscale: str) -> np.ndarray:
    """(256, 3) uint8 colour lookup table sampled from a plotly colour scale."""
    colors = sample_colorscale(colorscale, np.linspace(0.0, 1.0, 256))
    rgb = [tuple(int(float(c)) for c in s[s.index("(") + 1 : -1].split(",")) for s in colors]
    return np.array(rgb, dtype=np.uint8)


def pool_map(weights: np.ndarray, size: int) -> np.ndarray:
    """Area-average the last two axes down to at most size × size (never up).

    Works on one map (Tq, Tk) or a whole stack (..., Tq, Tk) in a single pass.
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim < 2:
        raise ValueError(f"pool_map needs at least a 2-D array, got shape {w.shape}")
    if size < 1:
        raise ValueError("size must be at least 1")
    for axis in (-2, -1):
        n = w.shape[axis]
        if n > size:
            edges = np.linspace(0, n, size + 1).astype(int)
            sums = np.add.reduceat(w, edges[:-1], axis=axis)
            counts = np.diff(edges).astype(np.float32)
            w = sums / (counts[:, None] if axis == -2 else counts)
    return w


def model_view_mosaic(stack: np.ndarray, cell: int = 48, gutter: int = 3) -> np.ndarray:
    """(layer, head, Tq, Tk) -> one RGB image, a small map per head, each scaled to its own max.

    Rendering all heads as one small image keeps the overview at tens of kilobytes
    whatever the length, instead of layers × heads × T² numbers in JSON.
    """
    s = np.asarray(stack, dtype=np.float32)
    if s.ndim != 4:
        raise ValueError(f"model view needs (layer, head, query, key), got shape {s.shape}")
    n_layers, n_heads, tq, tk = s.shape
    if min(s.shape) == 0:
        raise ValueError(f"model view got an empty stack of shape {s.shape}")
    # Short inputs are enlarged by an integer factor so each cell is still visible.
    sq = max(1, cell // tq) if tq < cell else 1
    sk = max(1, cell // tk) if tk < cell else 1
    ch, cw = min(tq, cell) * sq, min(tk, cell) * sk
    lut = _lut(COLORSCALE)
    pooled = pool_map(s, cell)  # (layer, head, ≤cell, ≤cell), one pass over the stack
    pooled = np.repeat(np.repeat(pooled, sq, axis=-2), sk, axis=-1)
    peak = pooled.max(axis=(-2, -1), keepdims=True)
    levels = np.where(peak > 0, pooled / np.where(peak > 0, peak, 1.0) * 255.0, 0.0).astype(np.uint8)
    tiles = lut[levels]  # (layer, head, ch, cw, 3)
    height = n_layers * ch + (n_layers + 1) * gutter
    width = n_heads * cw + (n_heads + 1) * gutter
    mosaic = np.full((height, width, 3), 255, dtype=np.uint8)
    for layer in range(n_layers):
        for head in range(n_heads):
            top = gutter + layer * (ch + gutter)
            left = gutter + head * (cw + gutter)
            mosaic[top : top + ch, left : left + cw] = tiles[layer, head]
    return mosaic


@dataclass(frozen=True)
class ModelViewImage:
    """The model-view mosaic as a PNG data URI plus where each head's cell lies."""

    source: str  # data:image/png;base64,...
    width: int
    height: int
    n_layers: int
    n_heads: int
    cell_h: int
    cell_w: int
    gutter: int

    @property
    def n_bytes(self) -> int:
        return len(self.source)


def model_view_image(stack: np.ndarray, cell: int = 48, gutter: int = 3) -> ModelViewImage:
    """Render every head once; the page caches this and redraws only the selection box."""
    mosaic = model_view_mosaic(stack, cell=cell, gutter=gutter)
    n_layers, n_heads = np.asarray(stack).shape[:2]
    source = px.imshow(mosaic, binary_string=True, binary_format="png").data[0].source
    return ModelViewImage(
        source=source,
        width=mosaic.shape[1],
        height=mosaic.shape[0],
        n_layers=n_layers,
        n_heads=n_heads,
        cell_h=(mosaic.shape[0] - (n_layers + 1) * gutter) // n_layers,
        cell_w=(mosaic.shape[1] - (n_heads + 1) * gutter) // n_heads,
        gutter=gutter,
    )


def model_view_figure(
    image: ModelViewImage,
    selected: tuple[int, int] | None = None,
) -> go.Figure:
    """Every layer × head as a small map in one PNG; each cell carries a clickable marker."""
    g, ch, cw = image.gutter, image.cell_h, image.cell_w
    n_layers, n_heads = image.n_layers, image.n_heads
    fig = go.Figure(go.Image(source=image.source, hoverinfo="skip"))
    cx = g + np.arange(n_heads) * (cw + g) + cw / 2
    cy = g + np.arange(n_layers) * (ch + g) + ch / 2
    xs, ys = np.meshgrid(cx, cy)
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    custom = np.stack([layers.ravel(), heads.ravel()], axis=1).astype(np.float32)
    hover = "Layer %{customdata[0]}, head %{customdata[1]}<br>click to inspect"
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="markers",
            marker=dict(size=max(8, min(cw, ch) * 0.9), color="rgba(0,0,0,0)", symbol="square"),
            customdata=custom,
            hovertemplate=hover + "<extra></extra>",
            showlegend=False,
            name="heads",
        )
    )
    if selected is not None:
        layer, head = selected
        x0 = g + head * (cw + g) - 1.5
        y0 = g + layer * (ch + g) - 1.5
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x0 + cw + 3, y1=y0 + ch + 3,
                      line=dict(color="#e4002b", width=3))
    fig.update_layout(
        height=int(np.clip(image.height * 1.4, 300, 900)) + 40,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(tickmode="array", tickvals=cx, ticktext=[f"h{h}" for h in range(n_heads)],
                   side="top", showgrid=False, range=[0, image.width]),
        yaxis=dict(tickmode="array", tickvals=cy, ticktext=[f"L{l}" for l in range(n_layers)],
                   showgrid=False, range=[image.height, 0], scaleanchor="x"),
        dragmode=False,
        clickmode="event+select",
    )
    return fig


def head_view_figure(
    weights: np.ndarray,
    tokens,
    query: int,
    heads: list[int],
    top_k: int = 8,
    min_weight: float = 0.02,
    compact: bool = False,
) -> go.Figure:
    """BertViz-style lines from one query token (left) to the keys it attends to (right).

    weights (head, Tq, Tk) of one layer; one colour per head; line opacity follows the
    weight. Only each head's top_k keys above min_weight are drawn, so a long input
    stays legible. ``compact`` lists only the query token and the keys that get a line.
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 3:
        raise ValueError(f"head view needs (head, query, key) weights, got shape {w.shape}")
    n_heads, tq, tk = w.shape
    if len(tokens) != tk:
        raise ValueError(f"{len(tokens)} tokens for {tk} key positions")
    if not 0 <= query < tq:
        raise ValueError(f"query position {query} out of range 0..{tq - 1}")
    bad = [h for h in heads if not 0 <= h < n_heads]
    if bad:
        raise ValueError(f"heads {bad} out of range 0..{n_heads - 1}")
    labels = escape_labels(tokens)
    lines = []  # (head, key, weight)
    for h in heads:
        row = w[h, query]
        order = np.argsort(-row)[:top_k]
        lines += [(h, int(k), float(row[k])) for k in order if row[k] >= min_weight]
    if compact:
        keys = sorted({k for _, k, _ in lines} | {min(query, tk - 1)})
        left_rows, right_rows = [query], keys
    else:
        left_rows, right_rows = list(range(tq)), list(range(tk))
    y_left = {q: -i for i, q in enumerate(left_rows)}
    y_right = {k: -i for i, k in enumerate(right_rows)}
    if compact:  # centre the single query token against the key column
        y_left = {query: -(len(right_rows) - 1) / 2}
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[0.0] * len(left_rows), y=[y_left[q] for q in left_rows], mode="text",
        text=[labels[q] if q < len(labels) else str(q) for q in left_rows], textposition="middle left",
        textfont=dict(size=12, color=["#e4002b" if q == query else "#333" for q in left_rows]),
        hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=[1.0] * len(right_rows), y=[y_right[k] for k in right_rows], mode="text",
        text=[labels[k] for k in right_rows], textposition="middle right",
        textfont=dict(size=12, color="#333"), hoverinfo="skip", showlegend=False))
    peak = max((wt for _, _, wt in lines), default=1.0)
    shapes = []  # set in one go: add_shape per line is slow
    for h in heads:
        color = HEAD_COLORS[h % len(HEAD_COLORS)]
        mine = [(k, wt) for hh, k, wt in lines if hh == h]
        shapes += [
            dict(type="line", x0=0.02, x1=0.98, y0=y_left[query], y1=y_right[k], layer="below",
                 line=dict(color=color, width=1 + 5 * wt / peak), opacity=0.15 + 0.85 * wt / peak)
            for k, wt in mine
        ]
        # invisible midpoints carry the hover text for each line
        fig.add_trace(go.Scatter(
            x=[0.5] * len(mine),
            y=[(y_left[query] + y_right[k]) / 2 for k, _ in mine],
            mode="markers", marker=dict(size=10, color=color, opacity=0.0),
            customdata=[[labels[k], wt] for k, wt in mine],
            hovertemplate=f"head {h}<br>{labels[query]} → " + "%{customdata[0]}<br>weight %{customdata[1]:.4f}<extra></extra>",
            name=f"head {h}", showlegend=False, legendgroup=str(h)))
        fig.add_trace(go.Scatter(  # legend entry only: the hover markers are invisible
            x=[None], y=[None], mode="lines", line=dict(color=color, width=4),
            name=f"head {h}", legendgroup=str(h), hoverinfo="skip"))
    rows = max(len(left_rows), len(right_rows))
    fig.update_layout(
        shapes=shapes,
        height=int(max(260, 20 * rows + 90)),
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(visible=False, range=[-0.6, 1.6]),
        yaxis=dict(visible=False, range=[-rows + 0.5, 0.8]),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, itemsizing="constant"),
        plot_bgcolor="white",
    )
    return fig


def token_bar_figure(values: np.ndarray, tokens, title: str = "", value_name: str = "weight") -> go.Figure:
    """Bars over token positions, e.g. one rollout row."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 1:
        raise ValueError(f"token_bar_figure needs a 1-D array, got shape {v.shape}")
    labels = _check_labels(tokens, v.shape[0], "token")
    fig = go.Figure(go.Bar(x=labels, y=v, marker_color="#440154",
                           hovertemplate="%{x}<br>" + value_name + " %{y:.4f}<extra></extra>"))
    fig.update_layout(title=dict(text=escape(title)), height=320,
                      margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(tickangle=-60, showticklabels=v.shape[0] <= 160),
                      yaxis=dict(title=value_name))
    return fig


def layer_head_figure(values: np.ndarray, title: str = "", value_name: str = "") -> go.Figure:
    """A (layer, head) statistic as a small heatmap."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"layer_head_figure needs (layer, head), got shape {v.shape}")
    fig = go.Figure(go.Heatmap(
        z=v, x=[f"h{h}" for h in range(v.shape[1])], y=[f"L{l}" for l in range(v.shape[0])],
        colorscale=COLORSCALE, colorbar=dict(title=escape(value_name), thickness=12),
        hovertemplate="%{y} %{x}<br>" + escape(value_name) + " %{z:.3f}<extra></extra>"))
    fig.update_layout(title=dict(text=escape(title)), height=60 + 34 * v.shape[0],
                      margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"))
    return fig
