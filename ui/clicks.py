"""One reader for plotly click selections (st.plotly_chart(on_select=...)), shared by
every page whose charts can be clicked.

Streamlit hands the selection over as an attribute-and-key object in session state
(``event.selection.points``) or as a plain dict (``event["selection"]["points"]``); a
point's customdata arrives as a list, or, from the browser, as an object keyed "0", "1".
"""

from __future__ import annotations


def selected_points(event) -> list[dict]:
    """The selected points of a chart's selection event; [] when there is none."""
    if event is None:
        return []
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        try:
            points = event.selection.points
        except (AttributeError, KeyError, TypeError):
            return []
    return [p for p in points or () if hasattr(p, "get")]


def point_pair(point) -> tuple[float, float] | None:
    """The first two values of a point's customdata, or None when it has none."""
    custom = point.get("customdata") if hasattr(point, "get") else None
    if isinstance(custom, dict):
        custom = [custom.get(k, custom.get(str(k))) for k in (0, 1)]
    try:
        return float(custom[0]), float(custom[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None


def pair_from(chart_key: str, keys: tuple[str, str], curve: int = 1):
    """An on_select callback: the first two customdata values of the point clicked on trace
    ``curve`` of the chart ``chart_key`` become the session values ``keys`` (as ints)."""
    import streamlit as st

    def callback() -> None:
        points = [p for p in selected_points(st.session_state.get(chart_key)) if p.get("curve_number") == curve]
        pair = point_pair(points[0]) if points else None
        if pair is not None:
            st.session_state[keys[0]], st.session_state[keys[1]] = int(pair[0]), int(pair[1])
    return callback
