"""The captioning page's views: the decoding choice, the caption with its word strip, one
word large with its box score, and the variant side by side with the model cards."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from analysis.localisation import box_mass
from models.cards import across_seeds_text
from ui.captioning import (VARIANT_TITLES, CaptionInput, caption_or_reason, load_card, noun_item, penalty_effect,
                           plateau_text, train_command)
from ui.widgets import clamp_choice
from viz.captioning import curve_figure, strip_figure, word_figure

NO_BAR = {"displayModeBar": False}


def pick_beam() -> int:
    """0 for greedy decoding, else the beam width."""
    c1, c2 = st.columns(2)
    decoding = c1.radio("Decoding", ["Greedy", "Beam search"], horizontal=True, key="cap_decoding")
    width = c2.slider("Beam width", 1, 10, 3, key="cap_beam", disabled=decoding == "Greedy")
    return 0 if decoding == "Greedy" else int(width)


def caption_or_stop(inp: CaptionInput, beam: int) -> dict:
    """The full model's caption, shown with the reference; stops when there is no word to show."""
    result, why_not = caption_or_reason("full", inp, beam)
    if result is None:
        st.error(f"{VARIANT_TITLES['full']}: {why_not}")
        st.stop()
    words = result["words"]
    st.markdown(f"**Caption ({html.escape(VARIANT_TITLES['full'])}):** {html.escape(' '.join(words)) or '(empty)'}")
    if inp.reference is not None:
        st.markdown(f"**Reference:** {html.escape(inp.reference)}")
    if not words:
        st.warning("The model ended the caption at once, so there is no word to show attention for.")
        st.stop()
    st.plotly_chart(strip_figure(inp.image, result["alphas"], words, betas=result["betas"],
                                 title=f"Where each word looked: {inp.source}"), key="cap_strip", config=NO_BAR)
    return result


def show_word(inp: CaptionInput, result: dict) -> None:
    """One word's attention large, its gate β, and its mass inside the named item's box."""
    words, alphas, betas = result["words"], result["alphas"], result["betas"]
    if len(words) > 1:
        clamp_choice("cap_word", len(words) + 1, default=1)  # a shorter caption, or a link's word beyond it
        t = int(st.slider("Word", 1, len(words), key="cap_word", help="Pick a word to see its attention large.")) - 1
    else:  # a slider needs two ends
        t = 0
    named = noun_item(words[t], inp)
    left, right = st.columns([1.3, 1])
    with left:
        st.plotly_chart(word_figure(inp.image, alphas[t], inp.boxes, highlight=named,
                                    title=f"word {t + 1}: “{words[t]}” (β = {betas[t]:.2f})"),
                        key="cap_word_fig", config=NO_BAR)
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


def card_row(variant: str) -> dict:
    """One variant's card: each test score (mean ± sd when the card holds several seeds) and
    attention correctness beside the uniform map's on the same noun tokens."""
    card = load_card(variant) or {}
    metrics = card.get("metrics", {})
    uniform = metrics.get("uniform", card.get("test", {}).get("attention_correctness_uniform_reference"))
    return {"model": VARIANT_TITLES[variant],
            "BLEU-4 (test)": across_seeds_text(card, "metrics.bleu4", metrics.get("bleu4")),
            "exact match (test)": across_seeds_text(card, "metrics.exact_match", metrics.get("exact_match")),
            "attention correctness (test)": across_seeds_text(card, "metrics.attention_correctness",
                                                              metrics.get("attention_correctness")),
            "uniform map (chance)": None if uniform is None else f"{uniform:.3f}",
            "validation plateau": plateau_text(card) if card else None,
            "λ (doubly stochastic)": card.get("hyperparameters", {}).get("lambda_ds"),
            "training time (s)": card.get("training_time_s"),
            "command": card.get("made_by")}


def show_curves(variants: list[str]) -> None:
    """Each shown variant's learning curve from its card (cards from before the curve have none)."""
    curves = {VARIANT_TITLES[v]: (load_card(v) or {}).get("curve") for v in variants}
    curves = {k: c for k, c in curves.items() if c}
    if curves:
        st.plotly_chart(curve_figure(curves), key="cap_curves", config=NO_BAR)
    else:
        st.caption("These cards hold no learning curve: they were written before the trainer recorded one.")


def _caption_of(variant: str, inp: CaptionInput, beam: int, full_result: dict) -> dict | None:
    """The variant's caption, written under its title (None when it is left out or empty)."""
    st.markdown(f"**{html.escape(VARIANT_TITLES[variant])}**")
    res, reason = (full_result, None) if variant == "full" else caption_or_reason(variant, inp, beam)
    if res is None:
        st.warning(f"{VARIANT_TITLES[variant]} is left out: {reason}")
        return None
    if not res["words"]:
        st.info("Empty caption.")
        return None
    st.markdown(html.escape(" ".join(res["words"])))
    return res


def show_variants(variants: list[str], inp: CaptionInput, beam: int, result: dict) -> None:
    """The same input through a chosen variant beside the full model, then the model cards."""
    st.subheader("The same input through a variant")
    others = [v for v in variants if v != "full"]
    other = None
    if not others:
        st.info(f"No variant is trained yet: `{train_command('no_ds')}` trains the one without the doubly "
                "stochastic term.")
    else:
        other = st.selectbox("Variant", others, format_func=VARIANT_TITLES.get, key="cap_variant")
    shown = ["full"] + ([other] if other else [])
    captions = {}
    for column, variant in zip(st.columns(len(shown)), shown):
        with column:
            captions[variant] = _caption_of(variant, inp, beam, result)
    # the word strips one under the other, each the page's width: in half a page at 1000 px
    # nine tiles were 29 px wide and their words ran into each other
    for variant, res in captions.items():
        if res is not None:
            st.plotly_chart(strip_figure(inp.image, res["alphas"], res["words"], tile=72, sigma=3.0,
                                         title=VARIANT_TITLES[variant]),
                            key=f"cap_cmp_{variant}", config=NO_BAR)
    st.markdown("**Model cards** (assets/captioning_*.json, numbers written by the training command)")
    st.dataframe(pd.DataFrame([card_row(v) for v in shown]), hide_index=True)
    effect = penalty_effect(load_card("full") or {}, load_card("no_ds") or {})
    if effect:
        st.markdown(effect)
    show_curves(shown)
    definition = (load_card("full") or {}).get("test", {}).get("attention_correctness_definition")
    if definition:
        st.caption("Attention correctness: " + definition)


def share_captioning_view(variants: list[str]) -> None:
    """The input (test scene or sample photo), the decoding, the word and the compared
    variant travel in the page's address."""
    from corpora.captions import MAX_LEN
    from ui.share import Field, int_in, one_of, shareable
    from ui.spatial import scene_fields

    shareable("captioning", [*scene_fields("cap"), Field("cap_decoding", one_of(["Greedy", "Beam search"])),
                             Field("cap_beam", int_in(1, 10)), Field("cap_word", int_in(1, MAX_LEN)),
                             Field("cap_variant", one_of([v for v in variants if v != "full"]))])
