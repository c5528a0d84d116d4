"""Learning curves from model cards: one panel per measured quantity, side by side, one
colour per model; the one figure behind the captioning, GAN and classifier curves."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from viz.text import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Panel:
    """One subplot: ``key`` of every curve point against the x key.

    ``reference_key``: a per-point chance level drawn dotted in the model's colour (legend
    "<model>: <reference_label>"); ``hline``: one level for all models (dashed grey, labelled);
    ``percent``: the y axis as percentages."""
    title: str
    key: str
    reference_key: str | None = None
    reference_label: str = ""
    hline: float | None = None
    hline_label: str = ""
    percent: bool = False


def panel_curves(curves: dict[str, list[dict]], panels: tuple[Panel, ...], x: str = "epoch",
                 height: int = 300) -> go.Figure:
    """curves: model name -> its points (dicts holding ``x`` and each panel's key; a point
    without a key is skipped in that panel)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.08,
                        subplot_titles=tuple(escape(p.title) for p in panels))
    for i, (name, curve) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        for col, panel in enumerate(panels, start=1):
            pts = [p for p in curve if panel.key in p]
            fig.add_trace(go.Scatter(x=[p[x] for p in pts], y=[p[panel.key] for p in pts], mode="lines+markers",
                                     name=escape(name), line={"color": colour}, legendgroup=name,
                                     showlegend=col == 1), row=1, col=col)
    for col, panel in enumerate(panels, start=1):
        if panel.reference_key:
            for i, (name, curve) in enumerate(curves.items()):
                pts = [p for p in curve if panel.reference_key in p]
                fig.add_trace(go.Scatter(x=[p[x] for p in pts], y=[p[panel.reference_key] for p in pts],
                                         mode="lines", name=escape(f"{name}: {panel.reference_label}"),
                                         line={"color": PALETTE[i % len(PALETTE)], "dash": "dot"},
                                         legendgroup=name, showlegend=True), row=1, col=col)
        if panel.hline is not None:
            fig.add_hline(y=panel.hline, line={"dash": "dash", "color": "#888"}, row=1, col=col,
                          annotation_text=escape(panel.hline_label), annotation_position="top right")
        if panel.percent:
            fig.update_yaxes(tickformat=".0%", row=1, col=col)
    longest = max((len(c) for c in curves.values()), default=0)
    fig.update_xaxes(title_text=x, dtick=1 if x == "epoch" and longest <= 20 else None)
    # The legend sits in the bottom margin, sized for its rows at a narrow (640 px) plot width:
    # placed relative to the plot area it ran over the x-axis titles.
    rows = legend_rows([t.name for t in fig.data if t.showlegend is not False])
    fig.update_layout(height=height + LEGEND_ROW_PX * rows,
                      margin={"l": 40, "r": 10, "t": 40, "b": 50 + LEGEND_ROW_PX * rows},
                      legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"})
    return fig


LEGEND_ROW_PX = 22


def legend_rows(names: list[str], width_px: int = 640, char_px: float = 6.5, entry_px: int = 45) -> int:
    """How many rows a horizontal legend of these entries takes at ``width_px`` (an estimate)."""
    rows, used = (1 if names else 0), 0.0
    for name in names:
        w = entry_px + char_px * len(name)
        if used and used + w > width_px:
            rows, used = rows + 1, 0.0
        used += w
    return rows
