"""Attention workbench: router and home page. Nothing heavy is imported here."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from models.cards import card_summary, load_cards  # noqa: E402
from ui.sidebar import device_badge  # noqa: E402

PAGES = [
    # (file, title, icon, one line for the home page)
    ("app_pages/transformer.py", "Transformer", ":material/hub:",
     "Multi-head attention of a pretrained transformer on your text: one head, all heads, "
     "BertViz-style lines, rollout, head statistics, exports."),
    ("app_pages/photos.py", "Photos", ":material/photo_camera:",
     "Your photo through a pretrained EfficientNet-Lite0: top-5 classes; click a pixel for the "
     "non-local affinity and its DNL pairwise and unary terms at any stage; Grad-CAM, Integrated "
     "Gradients and Occlusion side by side, their agreement and deletion curves; any local ViT/DeiT."),
    ("app_pages/spatial.py", "Image lab", ":material/center_focus_strong:",
     "Non-local (four pairwise functions), Disentangled Non-local, CBAM and SAGAN trained here on "
     "Fashion-MNIST scenes: click a pixel for each variant's affinity, DNL's pairwise and unary "
     "terms, CBAM's channel gates and spatial masks, SAGAN's attention, metrics from the cards."),
    ("app_pages/translation.py", "Translation", ":material/translate:",
     "English→Spanish with seq2seq, RNNsearch and a Transformer trained here on Bible verses: "
     "translations side by side (greedy or beam), alignment vs cross-attention per layer and head, "
     "step-by-step replay, test verses vs the Strong's reference, BLEU vs length, exports."),
    ("app_pages/captioning.py", "Captioning", ":material/subtitles:",
     "Show, Attend and Tell trained here on Fashion-MNIST scenes: a caption word by word (greedy or "
     "beam), each word's attention over the image, a word slider with the items' boxes, and the "
     "variant without the doubly stochastic term side by side with BLEU-4, exact match and "
     "attention correctness."),
    ("app_pages/corpus.py", "Corpus lab", ":material/dataset:",
     "Every head of a model measured over a whole data set (bundled Bible verses or your file) as a Ray job, "
     "local or on a cluster: per-head means with 95% intervals beside chance, each head's distribution and "
     "its most and least typical texts, a joint embedding of its queries and keys, Parquet downloads."),
]


def home() -> None:
    st.title("Attention workbench")
    st.markdown(
        "Run attention models on **your own sentence or image** and see, side by side, what each "
        "mechanism attends to, and measure it: statistics, rollout, agreement with references. "
        "Long inputs stay fast: overviews are drawn on the server as small images and only the map "
        "you inspect is sent at full resolution. Everything runs locally; nothing is downloaded."
    )
    st.subheader("Pages")
    for path, title, icon, blurb in PAGES:
        st.page_link(path, label=f"**{title}**", icon=icon)
        st.caption(blurb)  # a link label is one line; the description wraps below it
    st.subheader("Model zoo")
    cards = load_cards()
    if cards:
        st.dataframe(pd.DataFrame([card_summary(c) for c in cards]), hide_index=True,
                     column_config={"Parameters": st.column_config.NumberColumn(format="localized")})
    else:
        st.info("No model cards in assets/ yet.")
    device_badge()


# The favicon is a file served by this server: a ":material/...:" page icon makes the browser
# fetch it from fonts.gstatic.com (the browser test fails on any request off the app's host).
FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
st.set_page_config(page_title="Attention workbench", page_icon=FAVICON, layout="wide")
navigation = st.navigation(
    [st.Page(home, title="Home", icon=":material/home:", default=True)]
    + [st.Page(path, title=title, icon=icon) for path, title, icon, _ in PAGES]
)
navigation.run()
