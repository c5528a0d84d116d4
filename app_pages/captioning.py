"""Captioning: Show, Attend and Tell, word-by-word image attention.

Thin page: widgets -> ui.captioning (cached captioners, decoding) -> viz.captioning (figures).
"""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from corpora.captions import box_mass
from ui.captioning import (VARIANT_TITLES, available_variants, caption_or_reason, from_upload,
                           load_card, noun_item, test_scene, train_command)
from ui.spatial import scene_or_upload
from ui.sidebar import device_badge
from viz.captioning import strip_figure, word_figure

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

# ---------------------------------------------------------------- input
inp = scene_or_upload(
    "cap", test_scene, from_upload,
    note="Uploads are turned grey, fitted into the 64 × 64 canvas (as in the image lab) and have "
         "no ground-truth boxes; the model only knows the 10 Fashion-MNIST nouns.")
if inp is None:
    st.stop()

c1, c2 = st.columns(2)
decoding = c1.radio("Decoding", ["Greedy", "Beam search"], horizontal=True, key="cap_decoding")
width = c2.slider("Beam width", 1, 10, 3, key="cap_beam", disabled=decoding == "Greedy")
beam = 0 if decoding == "Greedy" else int(width)

result, why_not = caption_or_reason("full", inp, beam)
if result is None:
    st.error(f"{VARIANT_TITLES['full']}: {why_not}")
    st.stop()
words, alphas, betas = result["words"], result["alphas"], result["betas"]

st.markdown(f"**Caption ({html.escape(VARIANT_TITLES['full'])}):** {html.escape(' '.join(words)) or '(empty)'}")
if inp.reference is not None:
    st.markdown(f"**Reference:** {html.escape(inp.reference)}")
if not words:
    st.warning("The model ended the caption at once, so there is no word to show attention for.")
    st.stop()

st.plotly_chart(strip_figure(inp.image, alphas, words, betas=betas, title=f"Where each word looked: {inp.source}"),
                key="cap_strip", config={"displayModeBar": False})

# ---------------------------------------------------------------- one word, large
if len(words) > 1:
    t = int(st.slider("Word", 1, len(words), 1, key="cap_word", help="Pick a word to see its attention large.")) - 1
else:  # a slider needs two ends
    t = 0
named = noun_item(words[t], inp)
left, right = st.columns([1.3, 1])
with left:
    st.plotly_chart(word_figure(inp.image, alphas[t], inp.boxes, highlight=named,
                                title=f"word {t + 1}: “{words[t]}” (β = {betas[t]:.2f})"),
                    key="cap_word_fig", config={"displayModeBar": False})
with right:
    st.markdown(f"**Word {t + 1} of {len(words)}:** {html.escape(words[t])}")
    st.markdown(f"Gating scalar β = {betas[t]:.3f} (how much of the attended context reaches the LSTM).")
    st.markdown(f"Peak weight {alphas[t].max():.3f} on the 8 × 8 grid (uniform would be {1 / alphas[t].size:.3f}).")
    if named is not None:
        st.markdown(f"Share of this word's attention inside the box of the {html.escape(words[t])} "
                    f"(white): **{box_mass(alphas[t], inp.boxes[named]):.3f}**.")
    elif inp.boxes:
        st.caption("Not a noun naming an item of this scene, so there is no box to score against.")
    st.caption("Dotted boxes: every item's ground truth (test scenes only).")

# ---------------------------------------------------------------- variant side by side
st.subheader("The same input through a variant")
others = [v for v in variants if v != "full"]
if not others:
    st.info(f"No variant is trained yet: `{train_command('no_ds')}` trains the one without the doubly "
            "stochastic term.")
    other = None
else:
    other = st.selectbox("Variant", others, format_func=VARIANT_TITLES.get, key="cap_variant")

cols = st.columns(2 if other else 1)
rows = []
for column, variant in zip(cols, ["full"] + ([other] if other else [])):
    with column:
        st.markdown(f"**{html.escape(VARIANT_TITLES[variant])}**")
        res, reason = (result, None) if variant == "full" else caption_or_reason(variant, inp, beam)
        if res is None:
            st.warning(f"{VARIANT_TITLES[variant]} is left out: {reason}")
        elif not res["words"]:
            st.info("Empty caption.")
        else:
            st.markdown(html.escape(" ".join(res["words"])))
            st.plotly_chart(strip_figure(inp.image, res["alphas"], res["words"], tile=72, sigma=3.0),
                            key=f"cap_cmp_{variant}", config={"displayModeBar": False})
    card = load_card(variant) or {}
    metrics = card.get("metrics", {})
    rows.append({"model": VARIANT_TITLES[variant],
                 "BLEU-4 (test)": metrics.get("bleu4"),
                 "exact match (test)": metrics.get("exact_match"),
                 "attention correctness (test)": metrics.get("attention_correctness"),
                 "uniform reference": card.get("test", {}).get("attention_correctness_uniform_reference"),
                 "training time (s)": card.get("training_time_s"),
                 "command": card.get("made_by")})
st.markdown("**Model cards** (assets/captioning_*.json, numbers written by the training command)")
st.dataframe(pd.DataFrame(rows), hide_index=True)
definition = (load_card("full") or {}).get("test", {}).get("attention_correctness_definition")
if definition:
    st.caption("Attention correctness: " + definition)
