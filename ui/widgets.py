"""Small widget helpers shared by the pages."""

from __future__ import annotations

import streamlit as st


def clamp_choice(key: str, upper: int) -> None:
    """Reset a stored index to 0 when it is out of range: a shorter text or a smaller
    model may leave an old choice (layer, head, token, step) beyond the new end."""
    if st.session_state.get(key, 0) >= upper:
        st.session_state[key] = 0
