"""Figures for the translation lab: arrays in, plotly figures out (numpy + plotly only).

Alignment matrices reuse ``viz.attention.attention_heatmap`` on the page (labels escaped
there; viz modules import nothing of ours);
this module adds the BLEU-against-length chart (the analogue of Figure 2 of Bahdanau
et al. 2015) and a highlight for the decoding step being replayed.
"""

from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from plotly.colors import qualitative

from viz.text import escape

HEAD_COLORS = qualitative.Dark24

MODEL_COLORS = {"seq2seq": "#7f7f7f", "rnnsearch": "#e4002b", "transformer": "#1f77b4"}


def bleu_length_figure(buckets: list[str], series: dict[str, list[float | None]],
                       counts: list[int] | None = None) -> go.Figure:
    """Test BLEU per source-length bucket, one line per model; None marks an empty bucket."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        if len(values) != len(buckets):
            raise ValueError(f"{name}: {len(values)} values for {len(buckets)} buckets")
        y = [np.nan if v is None else float(v) for v in values]
        fig.add_trace(go.Scatter(
            x=list(buckets), y=y, mode="lines+markers", name=escape(name),
            line=dict(color=MODEL_COLORS.get(name, HEAD_COLORS[i % len(HEAD_COLORS)]), width=3),
            hovertemplate=escape(name) + "<br>source words %{x}<br>BLEU %{y:.2f}<extra></extra>"))
    ticks = list(buckets)
    if counts is not None:
        ticks = [f"{b}<br>({n} verses)" for b, n in zip(buckets, counts)]
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title="source length (words)", tickmode="array",
                                 tickvals=list(buckets), ticktext=ticks),
                      yaxis=dict(title="test BLEU", rangemode="tozero"),
                      legend=dict(orientation="h", y=1.05, yanchor="bottom", x=0))
    return fig


def highlight_row(fig: go.Figure, row: int, n_cols: int) -> go.Figure:
    """Outline one query row of a heatmap built by attention_heatmap (categorical axes)."""
    fig.add_shape(type="rect", xref="x", yref="y", x0=-0.5, x1=n_cols - 0.5, y0=row - 0.5, y1=row + 0.5,
                  line=dict(color="#e4002b", width=3))
    return fig
