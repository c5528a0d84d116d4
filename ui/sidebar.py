"""Sidebar pieces every page shows."""

from __future__ import annotations

import streamlit as st

from models.device import describe_device, pick_device


@st.cache_resource
def _device_text() -> str:
    return describe_device(pick_device())


def device_badge() -> None:
    """Which device the models run on: CUDA when present, else CPU."""
    st.sidebar.markdown(f"**Device:** {_device_text()}")
