"""Captioning: Show, Attend and Tell, word-by-word image attention.

Thin page: widgets -> ui.captioning (cached captioners, decoding) -> ui.captioning_views.
"""

from __future__ import annotations

import streamlit as st

from ui.captioning import available_variants, from_upload, test_scene, train_command
from ui.captioning_views import caption_or_stop, pick_beam, share_captioning_view, show_variants, show_word
from ui.share import copy_link, link_slot
from ui.sidebar import device_badge
from ui.spatial import scene_or_upload

st.title("Captioning: Show, Attend and Tell")
device_badge()
st.caption(
    "An LSTM writes a caption of a Fashion-MNIST scene word by word (Xu et al. 2015); before each "
    "word it attends softly over an 8 × 8 grid of CNN features. The maps below are those attention "
    "weights, upsampled and smoothed as in the paper's figures.")

variants = available_variants()
if "full" not in variants:
    st.error("The captioner is not trained yet (no assets/captioning_full.safetensors with its card). "
             f"Train it with `{train_command('full')}` (and `{train_command('no_ds')}` for the comparison).")
    st.stop()

share_captioning_view(variants)
link = link_slot()  # the link is drawn last, once every choice below is made
inp = scene_or_upload(
    "cap", test_scene, from_upload,
    note="Uploads are turned grey, fitted into the 64 × 64 canvas (as in the image lab) and have "
         "no ground-truth boxes; the model only knows the 10 Fashion-MNIST nouns.")
if inp is None:
    st.stop()
beam = pick_beam()
result = caption_or_stop(inp, beam)
show_word(inp, result)
show_variants(variants, inp, beam, result)
copy_link("captioning", link)
