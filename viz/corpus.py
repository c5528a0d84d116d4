"""Figures of the Corpus lab: one head's distribution over texts, and the joint query/key
embedding (AttentionViz-style, WebGL). Numpy in, plotly out; every string escaped."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.text import escape

QUERY_COLOUR, KEY_COLOUR = "#1f77b4", "#e4572e"
MAX_HOVER_CHARS = 80


def distribution_figure(values: np.ndarray, mean: float, low: float, high: float, chance: float | None,
                        title: str, value_name: str) -> go.Figure:
    """A histogram of one head's statistic over texts, its mean with the 95% interval shaded,
    and the chance level as a dashed line."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    fig = go.Figure(go.Histogram(x=v, nbinsx=40, marker_color="#7f7f7f", name="texts",
                                 hovertemplate="%{x}<br>%{y} texts<extra></extra>"))
    fig.add_vrect(x0=low, x1=high, fillcolor=QUERY_COLOUR, opacity=0.25, line_width=0)
    fig.add_vline(x=mean, line_color=QUERY_COLOUR, annotation_text=f"mean {mean:.3f}",
                  annotation_position="top right")
    if chance is not None and np.isfinite(chance):
        fig.add_vline(x=chance, line_color="#e4002b", line_dash="dash", annotation_text=f"chance {chance:.3f}",
                      annotation_position="top left")
    fig.update_layout(title=dict(text=escape(title)), height=300, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis_title=escape(value_name), yaxis_title="texts", showlegend=False, bargap=0.05)
    return fig


def _short(text: str) -> str:
    text = str(text)
    return escape(text if len(text) <= MAX_HOVER_CHARS else text[:MAX_HOVER_CHARS] + "…")


def embedding_figure(xy: np.ndarray, n_queries: int, positions: np.ndarray, tokens, texts,
                     colour: str = "kind", title: str = "") -> go.Figure:
    """xy (Nq + Nk, 2): queries first, then keys (the same sampled tokens). ``colour``:
    "kind" (query or key), "position" (token position in its text) or "token" (the 12
    commonest tokens, the rest grey). Hover: token, position and the start of its text."""
    xy = np.asarray(xy, dtype=np.float32)
    n = len(xy)
    if xy.ndim != 2 or xy.shape[1] != 2 or not 0 < n_queries <= n:
        raise ValueError(f"embedding_figure needs (N, 2) points with the queries first, got {xy.shape}")
    positions = np.asarray(positions)
    kind = np.array(["query"] * n_queries + ["key"] * (n - n_queries))
    hover = np.array([f"{k} · {escape(t)!s} · position {p}<br>{_short(s)}"
                      for k, t, p, s in zip(kind, tokens, positions, texts)], dtype=object)
    fig = go.Figure()
    symbols = {"query": "circle", "key": "diamond"}
    if colour == "kind":
        for name, c in (("query", QUERY_COLOUR), ("key", KEY_COLOUR)):
            m = kind == name
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, text=hover[m],
                                       marker=dict(size=5, color=c, opacity=0.7, symbol=symbols[name]),
                                       hovertemplate="%{text}<extra></extra>"))
    elif colour == "position":
        for name in ("query", "key"):
            m = kind == name
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, text=hover[m],
                                       marker=dict(size=5, color=positions[m], colorscale="Viridis", opacity=0.75,
                                                   symbol=symbols[name], showscale=name == "query",
                                                   colorbar=dict(title="position", thickness=12)),
                                       hovertemplate="%{text}<extra></extra>"))
    elif colour == "token":
        toks = np.array([str(t) for t in tokens], dtype=object)
        values, counts = np.unique(toks, return_counts=True)
        common = list(values[np.argsort(-counts, kind="stable")][:12])
        rest = ~np.isin(toks, common)
        fig.add_trace(go.Scattergl(x=xy[rest, 0], y=xy[rest, 1], mode="markers", name="other tokens",
                                   text=hover[rest], marker=dict(size=4, color="#c7c7c7", opacity=0.5),
                                   hovertemplate="%{text}<extra></extra>"))
        for t in common:
            m = toks == t
            fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=escape(t), text=hover[m],
                                       marker=dict(size=6, opacity=0.85,
                                                   symbol=[symbols[k] for k in kind[m]]),
                                       hovertemplate="%{text}<extra></extra>"))
    else:
        raise ValueError(f"unknown colouring {colour!r}")
    fig.update_layout(title=dict(text=escape(title)), height=560, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(showticklabels=False, title=""), yaxis=dict(showticklabels=False, title=""),
                      legend=dict(orientation="h", y=-0.05))
    return fig
