"""Image lab: Non-local, Disentangled Non-local, CBAM and SAGAN side by side.

Thin page: widgets -> ui.spatial (cached models and inference) -> ui.spatial_views.
"""

from __future__ import annotations

import streamlit as st

from ui.share import copy_link, link_slot
from ui.sidebar import device_badge
from ui.spatial import available_archs, scene_or_upload, test_scene, upload_to_input
from ui.spatial_views import (query_picker, run_or_stop, share_spatial_view, show_cards, show_cbam_tab,
                              show_compare_tab, show_nonlocal_tab, show_predictions, show_sagan_tab)

st.title("Image lab: Non-local, DNL, CBAM, SAGAN")
device_badge()
st.caption(
    "Small classifiers trained on Fashion-MNIST scenes (one target item among clutter), one per "
    "attention design. Click a pixel to see where each non-local variant looks from there."
)

archs = available_archs()
if not archs:
    st.error("No trained classifiers in assets/. Train them with "
             "`python -m train spatial --arch <arch>` (see the model cards).")
    st.stop()

share_spatial_view(archs)
link = link_slot()  # the link is drawn last, once every choice below is made
model_input = scene_or_upload("spatial", test_scene, upload_to_input, index_key="scene_index")
if model_input is None:
    st.stop()
archs, results = run_or_stop(archs, model_input)

left, right = st.columns([1, 1.4])
with left:
    query = query_picker(model_input)
with right:
    show_predictions(model_input, archs, results)
show_cards(archs)

tab_nl, tab_cbam, tab_compare, tab_sagan = st.tabs(["Non-local and DNL", "CBAM", "Compare two", "SAGAN"])
with tab_nl:
    show_nonlocal_tab(archs, results, model_input, query)
with tab_cbam:
    show_cbam_tab(archs, results, model_input)
with tab_compare:
    show_compare_tab(archs, results, model_input, query)
with tab_sagan:
    show_sagan_tab()
copy_link("spatial", link)
