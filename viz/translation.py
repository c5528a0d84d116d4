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


def _floats(values) -> list[float]:
    return [np.nan if v is None else float(v) for v in values]


def bleu_length_figure(buckets: list[str], series: dict[str, list[float | None]],
                       counts: list[int] | None = None,
                       errors: dict[str, list[float | None]] | None = None) -> go.Figure:
    """Test BLEU per source-length bucket, one line per model; None marks an empty bucket.
    ``errors``: per model, the half-width of each bucket's 95% interval (error bars)."""
    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        if len(values) != len(buckets):
            raise ValueError(f"{name}: {len(values)} values for {len(buckets)} buckets")
        err = (errors or {}).get(name)
        if err is not None and len(err) != len(buckets):
            raise ValueError(f"{name}: {len(err)} intervals for {len(buckets)} buckets")
        color = MODEL_COLORS.get(name, HEAD_COLORS[i % len(HEAD_COLORS)])
        fig.add_trace(go.Scatter(
            x=list(buckets), y=_floats(values), mode="lines+markers", name=escape(name),
            line=dict(color=color, width=3),
            error_y=dict(type="data", array=_floats(err), visible=True, color=color, thickness=1.5)
            if err is not None else None,
            customdata=_floats(err) if err is not None else None,
            hovertemplate=escape(name) + "<br>source words %{x}<br>BLEU %{y:.2f}" +
            (" ± %{customdata:.2f} (95%)" if err is not None else "") + "<extra></extra>"))
    ticks = list(buckets)
    if counts is not None:
        ticks = [f"{b}<br>({n} verses)" for b, n in zip(buckets, counts)]
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title="source length (words)", tickmode="array",
                                 tickvals=list(buckets), ticktext=ticks),
                      yaxis=dict(title="test BLEU", rangemode="tozero"),
                      legend=dict(orientation="h", y=1.05, yanchor="bottom", x=0))
    return fig


def learning_curve_figure(histories: dict[str, list[dict]], best_steps: dict[str, int] | None = None,
                          restarts: dict[str, list[int]] | None = None) -> go.Figure:
    """Dev BLEU (left) and dev loss (right) against training step, one colour per model;
    a ring marks the checkpoint each model exported (its best dev BLEU), and a dotted line in
    the model's colour each step where its training restarted from exported weights with a
    fresh optimiser (a kink there is the restart, not the data)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("dev BLEU (greedy)", "dev loss (nats per token)"),
                        horizontal_spacing=0.1)
    for i, (name, history) in enumerate(histories.items()):
        points = [h for h in history if "step" in h]
        color = MODEL_COLORS.get(name, HEAD_COLORS[i % len(HEAD_COLORS)])
        steps = [h["step"] for h in points]
        for col, key in ((1, "dev_bleu"), (2, "dev_loss")):
            fig.add_trace(go.Scatter(
                x=steps, y=_floats(h.get(key) for h in points), mode="lines+markers", name=escape(name),
                legendgroup=escape(name), showlegend=col == 1, line=dict(color=color, width=2),
                hovertemplate=escape(name) + "<br>step %{x}<br>" + key.replace("_", " ") + " %{y:.3f}<extra></extra>"),
                row=1, col=col)
        best = (best_steps or {}).get(name)
        hit = [h for h in points if h["step"] == best and h.get("dev_bleu") is not None]
        if hit:
            fig.add_trace(go.Scatter(x=[best], y=[hit[0]["dev_bleu"]], mode="markers", showlegend=False,
                                     marker=dict(size=16, symbol="circle-open", color=color, line=dict(width=3)),
                                     hovertemplate=escape(name) + ": exported checkpoint, step %{x}<extra></extra>"),
                          row=1, col=1)
        for step in (restarts or {}).get(name, []):
            for col in (1, 2):
                fig.add_vline(x=step, line=dict(color=color, dash="dot", width=1.5), row=1, col=col)
    if any((restarts or {}).values()):
        # one legend entry says what the dotted lines are: a text label per line overlapped its
        # neighbours when two models restarted a few hundred steps apart
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="restarted from exported weights",
                                 line=dict(color="#888", dash="dot", width=1.5)), row=1, col=1)
    fig.update_xaxes(title_text="training step")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=1.12, yanchor="bottom", x=0))
    return fig


def add_link_markers(fig: go.Figure, links, name: str = "reference link") -> go.Figure:
    """Outline the (target word j, source word i) cells of ``links`` on a heatmap built by
    attention_heatmap, so a reference alignment can be read on top of the attention."""
    heat = fig.data[0]
    ys, xs = list(heat.y), list(heat.x)
    cells = [(xs[i], ys[j]) for j, i in links if 0 <= j < len(ys) and 0 <= i < len(xs)]
    fig.add_trace(go.Scatter(
        x=[c[0] for c in cells], y=[c[1] for c in cells], mode="markers", name=escape(name), showlegend=False,
        # sized to the cells: attention_heatmap draws 18 px rows, at least 360 px in all
        marker=dict(symbol="square-open", size=int(np.clip(360 / max(len(ys), len(xs), 1), 5, 13)),
                    color="#00e5ff", line=dict(width=1.5)),
        hovertemplate=escape(name) + ": %{y} - %{x}<extra></extra>"))
    return fig


def highlight_row(fig: go.Figure, row: int, n_cols: int) -> go.Figure:
    """Outline one query row of a heatmap built by attention_heatmap (categorical axes)."""
    fig.add_shape(type="rect", xref="x", yref="y", x0=-0.5, x1=n_cols - 0.5, y0=row - 0.5, y1=row + 0.5,
                  line=dict(color="#e4002b", width=3))
    return fig
