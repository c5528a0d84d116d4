"""Small widget helpers shared by the pages."""

from __future__ import annotations

import streamlit as st


def clamp_choice(key: str, upper: int, default: int = 0) -> None:
    """Reset a stored index to ``default`` when it is out of range (a shorter text or a
    smaller model may leave an old choice beyond the new end), or set it to ``default``
    when nothing is stored yet."""
    if key not in st.session_state or st.session_state[key] >= upper:
        st.session_state[key] = min(default, upper - 1)


def shared_query(store: str, widget_keys: tuple[str, ...], default: tuple) -> tuple:
    """One source of truth for a query that several widgets show (a row and a column,
    x and y). It lives under ``store``, a plain session key that survives a run in which
    the widgets are not drawn (Streamlit drops a widget's own state then, and the control
    came back showing 0 while the page still used the old query). Call before drawing the
    widgets: they are set from the store; give them ``on_change=keep_query(...)``."""
    value = tuple(st.session_state.setdefault(store, tuple(default)))
    for key, v in zip(widget_keys, value):
        st.session_state[key] = v
    return value


def keep_query(store: str, widget_keys: tuple[str, ...]):
    """on_change callback: the widgets' values become the stored query."""
    def callback() -> None:
        st.session_state[store] = tuple(st.session_state[k] for k in widget_keys)
    return callback


def chars_cut_notice(n_chars_cut: int) -> None:
    """Say so when the end of a typed text was not read."""
    if n_chars_cut:
        st.info(f"The text was cut: the last {n_chars_cut:,} characters were not read.")


def computed_or_stop(spinner: str, compute, failure: str):
    """``compute()`` under a spinner; a ValueError or RuntimeError (bad input, a model that
    cannot read it, a memory estimate that refuses) ends the page with one clear message."""
    try:
        with st.spinner(spinner):
            return compute()
    except (ValueError, RuntimeError) as exc:
        st.error(f"{failure}: {exc}")
        st.stop()
