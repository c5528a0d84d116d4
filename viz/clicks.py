"""The invisible grid that makes an image clickable.

Plotly's click selection works on scatter points, not on image pixels: one transparent
square marker per cell, each carrying its cell id as ``customdata``, turns a click
anywhere into the nearest cell, which ui/clicks.py reads back from the selection.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def clickable_cells(x: np.ndarray, y: np.ndarray, customdata: np.ndarray, marker_size: float,
                    hovertemplate: str) -> go.Scatter:
    """x, y: cell centres in the figure's pixel coordinates; customdata (n, 2) per cell."""
    return go.Scatter(
        x=x, y=y, mode="markers",
        marker=dict(size=marker_size, symbol="square", color="rgba(0,0,0,0)"),
        customdata=customdata, hovertemplate=hovertemplate, showlegend=False, name="cells")
