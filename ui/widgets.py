"""Small widget helpers shared by the pages."""

from __future__ import annotations

import streamlit as st


def clamp_choice(key: str, upper: int, default: int = 0) -> None:
    """Reset a stored index to ``default`` when it is out of range (a shorter text or a
    smaller model may leave an old choice beyond the new end), or set it to ``default``
    when nothing is stored yet."""
    if key not in st.session_state or st.session_state[key] >= upper:
        st.session_state[key] = min(default, upper - 1)
