"""Figures for long contexts (thousands of tokens): arrays in, plotly figures or HTML out.

A head's whole map is sent as one server-rendered PNG of at most 1024 x 1024 cells
(each cell the maximum of a block of queries x keys, so peaks survive), with a coarse
grid of clickable points that pick a tile to zoom into; the tile itself, a token row and
the per-key bars are small enough to send as plotly data. numpy + plotly only.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from viz.attention import COLORSCALE, _lut
from viz.clicks import clickable_cells
from viz.text import escape


def map_png(values: np.ndarray, gamma: float = 0.5, saturate: float = 0.99) -> str:
    """(h, w) weights -> a PNG data URI, colour = min(1, value / top) ** gamma on the viridis
    scale, top = the ``saturate`` quantile of the positive weights: a sink column or a few
    peaks saturate instead of darkening everything else, and gamma < 1 lifts small weights."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2 or v.size == 0:
        raise ValueError(f"map_png needs a non-empty 2-D array, got shape {v.shape}")
    positive = v[v > 0]
    top = float(np.quantile(positive, saturate)) if positive.size else 0.0
    scaled = np.clip(v / top, 0.0, 1.0) ** gamma if top > 0 else np.zeros_like(v)
    rgb = _lut(COLORSCALE)[np.round(scaled * 255).astype(np.uint8)]
    return px.imshow(rgb, binary_string=True, binary_format="png").data[0].source


def overview_figure(pooled: np.ndarray, block: int, n_tokens: int, tile: int, title: str = "",
                    selected: tuple[int, int] | None = None, gamma: float = 0.5) -> go.Figure:
    """The max-pooled map (cells of ``block`` tokens) as one image, axes in token positions,
    with one clickable point per ``tile`` x ``tile`` token square (customdata: its first
    query and first key) and the selected tile outlined."""
    p = np.asarray(pooled, dtype=np.float32)
    n = p.shape[0]
    span = n * block                                   # token positions covered by the image
    fig = go.Figure(go.Image(source=map_png(p, gamma), x0=0, dx=block, y0=0, dy=block, hoverinfo="skip"))
    starts = np.arange(0, n_tokens, tile)
    rows, cols = np.meshgrid(starts, starts, indexing="ij")
    keep = cols.ravel() <= rows.ravel() + tile - 1     # causal: tiles wholly above the diagonal are empty
    r, c = rows.ravel()[keep], cols.ravel()[keep]
    fig.add_trace(clickable_cells(
        c + min(tile, n_tokens) / 2, r + min(tile, n_tokens) / 2, np.stack([r, c], axis=1),
        max(6, int(560 * tile / max(span, 1))),
        "queries %{customdata[0]}+, keys %{customdata[1]}+<br>click to zoom<extra></extra>"))
    if selected is not None:
        r0, c0 = selected
        fig.add_shape(type="rect", x0=c0, x1=min(c0 + tile, n_tokens), y0=r0, y1=min(r0 + tile, n_tokens),
                      line=dict(color="#e4002b", width=2))
    fig.update_layout(title=dict(text=escape(title)), height=620, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="key position", range=[0, span], constrain="domain"),
                      yaxis=dict(title="query position", range=[span, 0], scaleanchor="x"),
                      showlegend=False)
    return fig


def shaded_tokens_html(tokens, weights: np.ndarray, query: int, top: int = 5, skip_first: bool = False) -> str:
    """The text as tokens shaded by how much one query reads them (alpha = weight / peak,
    peak = the largest weight, or the largest after the first token with ``skip_first``, so
    a sink does not wash out the rest), the query boxed, the ``top`` strongest keys
    numbered; every token escaped."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(tokens) != w.shape[0]:
        raise ValueError(f"{len(tokens)} tokens for weights of shape {w.shape}")
    rest = w[1:] if skip_first and w.size > 1 else w
    peak = float(rest.max()) if rest.size and rest.max() > 0 else 1.0
    rank = {int(j): k + 1 for k, j in enumerate(np.argsort(-w)[:top])}
    parts = []
    for j, (tok, x) in enumerate(zip(tokens, w)):
        text = html.escape(str(tok)).replace("\n", "↵<br>")
        style = f"background: rgba(228,0,43,{min(1.0, x / peak):.3f});"
        if j == query:
            style += "outline: 2px solid #1f77b4;"
        mark = f"<sup>{rank[j]}</sup>" if j in rank else ""
        parts.append(f'<span title="{j}: {x:.4f}" style="{style}">{text}</span>{mark}')
    return ('<div style="font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.7; '
            'white-space: pre-wrap;">' + "".join(parts) + "</div>")


def layer_head_grid(values: np.ndarray, title: str, value_name: str, selected: tuple[int, int] | None = None,
                    chance: float | None = None, interval: tuple[np.ndarray, np.ndarray] | None = None,
                    chance_name: str = "uniform causal attention") -> go.Figure:
    """A (layers, heads) statistic as a heatmap with a clickable point per head
    (customdata: layer, head); the selected head outlined; chance level in the title;
    ``interval`` (low, high), each (layers, heads), shown on hover (a 95% interval)."""
    v = np.asarray(values, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"layer_head_grid needs (layer, head), got shape {v.shape}")
    n_layers, n_heads = v.shape
    fig = go.Figure(go.Heatmap(z=v, colorscale=COLORSCALE, colorbar=dict(title=escape(value_name), thickness=12),
                               hoverinfo="skip"))
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    columns = [layers.ravel(), heads.ravel(), v.ravel()]
    hover = "layer %{customdata[0]}, head %{customdata[1]}<br>" + escape(value_name) + " %{customdata[2]:.3f}"
    if interval is not None:
        columns += [np.asarray(interval[0], dtype=np.float32).ravel(), np.asarray(interval[1], dtype=np.float32).ravel()]
        hover += " (95%: %{customdata[3]:.3f} to %{customdata[4]:.3f})"
    fig.add_trace(clickable_cells(heads.ravel(), layers.ravel(), np.stack(columns, axis=1), 14,
                                  hover + "<br>click to inspect<extra></extra>"))
    if selected is not None:
        fig.add_shape(type="rect", x0=selected[1] - 0.5, x1=selected[1] + 0.5, y0=selected[0] - 0.5,
                      y1=selected[0] + 0.5, line=dict(color="#e4002b", width=2))
    full = title + (f" ({chance_name}: {chance:.3f})" if chance is not None else "")
    # 16 px a layer, but at least 150 px of cells: a 2-layer model's grid stays legible
    fig.update_layout(title=dict(text=escape(full)), height=90 + max(16 * n_layers, 150),
                      margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="head", dtick=1), yaxis=dict(title="layer", dtick=1, autorange="reversed"))
    return fig


def phase_change_figure(curves: list[dict], control: list[dict] | None, step: int | None,
                        chance: float, probe: int = 50, short_probe: int = 20) -> go.Figure:
    """Olsson et al.'s three curves on one step axis: training and held-out loss, the
    in-context learning score, and the best head's induction score on the page's probe of
    ``probe`` tokens per copy and, where the curves hold it, a short probe (beside chance
    and the one-layer control's); a dashed line marks the phase change."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("loss (nats per token)", "in-context learning: late minus early loss",
                                        "best head's induction score"))
    steps = [c["step"] for c in curves]

    def line(row, x, y, name, color, dash="solid", group=None):
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=group or name,
                                 line=dict(color=color, dash=dash, width=2), marker=dict(size=4),
                                 hovertemplate=name + "<br>step %{x}<br>%{y:.3f}<extra></extra>"), row=row, col=1)

    line(1, steps[1:], [c["loss"] for c in curves[1:]], "training loss", "#1f77b4")
    line(1, steps, [c["dev_loss"] for c in curves], "held-out loss", "#ff7f0e")
    line(2, steps, [c["icl"] for c in curves], "2 layers", "#2ca02c", group="model")
    line(3, steps, [max(max(r) for r in c["induction"]) for c in curves], f"2 layers, probe of {probe}",
         "#2ca02c", group="model")
    if all("induction_short" in c for c in curves):
        line(3, steps, [max(max(r) for r in c["induction_short"]) for c in curves],
             f"2 layers, probe of {short_probe}", "#2ca02c", "dash", group="model")
    if control:
        cs = [c["step"] for c in control]
        line(1, cs, [c["dev_loss"] for c in control], "1-layer control, held-out loss", "#7f7f7f", "dot")
        line(2, cs, [c["icl"] for c in control], "1-layer control", "#7f7f7f", "dot", group="control")
        line(3, cs, [c["best_induction"] for c in control], f"1-layer control, probe of {probe}", "#7f7f7f", "dot",
             group="control")
    fig.add_hline(y=chance, line=dict(color="#d62728", dash="dot", width=1), row=3, col=1,
                  annotation_text=f"chance {chance:.3f} (probe of {probe})", annotation_position="top right")
    if step is not None:
        for row in (1, 2, 3):
            fig.add_vline(x=step, line=dict(color="#9467bd", dash="dash", width=2), row=row, col=1)
        # inside the top panel, right of the line: above it would sit on the panel's title
        fig.add_annotation(x=step, y=0.97, xref="x", yref="y domain", text=f"phase change, step {step}",
                           showarrow=False, xanchor="left", yanchor="top", xshift=6, font=dict(color="#9467bd"))
    fig.update_xaxes(title_text="training step", row=3, col=1)
    fig.update_yaxes(range=[0, 1.02], row=3, col=1)
    fig.update_layout(height=620, margin=dict(l=10, r=10, t=50, b=10), showlegend=True,
                      legend=dict(orientation="h", y=-0.12, yanchor="top", x=0))
    return fig
