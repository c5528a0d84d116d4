"""The Transformer page's Attribution tab: does attention explain the prediction?

For a decoder LLM the prediction is the next token at a position the user picks; for an
encoder (MiniLM) the cosine of the text's mean embedding to a second text the user
types. analysis/text_attribution.py computes Captum attributions, the attention
rankings of the predicting query, their Spearman agreement and deletion curves; this
module caches one explanation per input and draws it, beside the card measured over
200 held-out verses (python -m train text-attribution).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from analysis import text_attribution as ta
from models.cards import load_cards
from ui.clicks import pair_from
from ui.widgets import computed_or_stop
from viz.attention import token_bar_figure
from viz.images import deletion_figure
from viz.llm import layer_head_grid

# Integrated gradients and blank-out run the model about 2 + T / 16 times on batches of
# 16 copies of the context: 128 tokens of SmolLM2 take about a minute on 2 CPU cores.
MAX_CONTEXT = 128
METHOD_LABELS = {"integrated_gradients": "Integrated gradients", "input_x_gradient": "Input × gradient",
                 "blank_out": "Blank-out (erasure)"}


@st.cache_resource(show_spinner=False, max_entries=8)
def decoder_explanation(path: str, ids: tuple[int, ...], position: int) -> ta.TextExplanation:
    from ui.llm import load_lm

    loaded = load_lm(path)
    tok = loaded.tokenizer
    target = ta.decoder_target(loaded.model, torch.tensor(ids), position, ta.baseline_id(tok), ta.special_ids(tok))
    return ta.explain(target, ta.attention_maps(loaded.model, target.ids))


@st.cache_resource(show_spinner=False, max_entries=8)
def encoder_explanation(model_dir: str, text: str, other: str) -> tuple[ta.TextExplanation, tuple[str, ...], int]:
    from models.pretrained.hf import readable_tokens
    from ui.transformer import load_model

    loaded = load_model(model_dir)
    tok = loaded.tokenizer
    enc = lambda s: tok(s, truncation=True, max_length=min(loaded.max_tokens, MAX_CONTEXT),  # noqa: E731
                        return_tensors="pt")["input_ids"][0]
    ids, other_ids = enc(text), enc(other)
    target = ta.encoder_target(loaded.model, ids, other_ids, ta.baseline_id(tok), ta.special_ids(tok))
    n_total = len(tok(text, truncation=False, verbose=False)["input_ids"])
    return ta.explain(target, ta.attention_maps(loaded.model, ids)), readable_tokens(tok, ids.tolist()), n_total


def _card_table(card_name: str | None):
    card = next((c for c in load_cards() if c.get("name") == card_name), None) if card_name else None
    if card is None:
        return None
    rows = []
    for method, label in METHOD_LABELS.items():
        a = card["agreement"][method]
        cell = lambda s: "—" if s["mean"] is None else f"{s['mean']:+.2f} ± {s['sd']:.2f}"  # noqa: E731
        best = a["raw_best_head"]
        rows.append({"attribution": label, "raw attention (every head)": cell(a["raw_all_heads"]),
                     f"best head (L{best['layer']} H{best['head']})": cell(best),
                     "mean of last layer's heads": cell(a["mean_of_heads_last_layer"]),
                     "rollout": cell(a["rollout"])})
    return card, rows


def show_explanation(ex: ta.TextExplanation, tokens, layer: int, head: int, target_label: str,
                     key: str, head_keys: tuple[str, str], card_name: str | None, config: dict) -> None:
    """The agreement grid (click a head), the chosen head against the attribution per
    token, and the deletion curves beside random orders."""
    method = st.segmented_control("Attribution", list(METHOD_LABELS), format_func=METHOD_LABELS.get,
                                  default="integrated_gradients", key=f"{key}_method") or "integrated_gradients"
    agree = ex.agreement[method]
    m = st.columns(4)
    m[0].metric("f(x)", f"{ex.value:.3f}", help=target_label)
    m[1].metric(f"ρ, layer {layer} head {head}", f"{agree['raw'][layer, head]:+.2f}",
                help="Spearman's ρ between this head's attention and the attribution; chance 0")
    m[2].metric("ρ, heads' mean", f"{agree['mean']:+.2f}", help="the mean of the last layer's heads")
    m[3].metric("ρ, rollout", f"{agree['rollout']:+.2f}")
    st.caption(f"Spearman's ρ over the {int(ex.attributable.sum())} "
               "attributable tokens; the attention bars show the predicting query's row "
               "(an encoder: the mean over queries, i.e. attention received). "
               "Special tokens are left out; chance is 0. Integrated gradients' "
               f"convergence delta: {ex.ig_delta:.1e}.")

    st.plotly_chart(layer_head_grid(np.nan_to_num(agree["raw"]), f"Spearman ρ of each head with "
                                    f"{METHOD_LABELS[method].lower()} (chance 0; click a head)", "ρ",
                                    selected=(layer, head)),
                    config=config, key=f"{key}_grid", on_select=pair_from(f"{key}_grid", head_keys),
                    selection_mode="points")
    left, right = st.columns(2)
    left.plotly_chart(token_bar_figure(ex.attributions[method], tokens, METHOD_LABELS[method], "attribution"),
                      config=config, key=f"{key}_attr")
    right.plotly_chart(token_bar_figure(ex.rankings["raw"][layer, head], tokens,
                                        f"Layer {layer}, head {head}: attention", "weight"),
                       config=config, key=f"{key}_head")
    k = np.arange(len(ex.chance))
    curves = {name: (k, c, ta.deletion_drop(c)) for name, c in ex.deletion.items()}
    curves["chance (random order)"] = (k, ex.chance, ta.deletion_drop(ex.chance))
    st.plotly_chart(deletion_figure(curves, "Remove the top-k tokens of each ranking", x_title="tokens removed",
                                    y_title=f"f: {target_label}", x_format="d", area_name="mean drop"),
                    config=config, key=f"{key}_deletion")
    st.caption("Each ranking's top tokens are replaced by the baseline token one at a time; a ranking that "
               "finds what f depends on makes f fall sooner (a larger mean drop f(x) − f_k over k). Random orders "
               "are the chance level.")
    table = _card_table(card_name)
    if table is not None:
        card, rows = table
        st.markdown(f"**Over {card['sentences']} held-out verses** (`{card['made_by']}`): Spearman's ρ, mean ± sd "
                    "over verses. Abnar & Zuidema (2020) report 0.29 for raw attention and 0.71 for rollout "
                    "against blank-out on their BERT task.")
        st.dataframe(rows, hide_index=True)


def default_position(ids, end_of_turn: int | None) -> int:
    """The position that predicts the prompt's last token of text: the token before the last
    end-of-turn marker when a chat template put one there (predicting the template's own
    tokens is trivial), else the last token; within the first MAX_CONTEXT tokens."""
    ends = [j for j, i in enumerate(ids) if end_of_turn is not None and i == end_of_turn and j >= 2]
    position = ends[-1] - 2 if ends else len(ids) - 2
    return max(0, min(position, MAX_CONTEXT - 2))


def show_decoder_attribution(path: str, ids: tuple[int, ...], tokens, layer: int, head: int,
                             config: dict) -> None:
    from ui.llm import load_lm

    n = len(ids)
    if n < 2:
        st.info("The prompt needs at least two tokens: one to predict from and the next one.")
        return
    start = default_position(ids, load_lm(path).tokenizer.eos_token_id)
    position = st.number_input("Predict the next token after position", 0, n - 2, start,
                               key="llm_attr_position",
                               help=f"Attribution runs on up to {MAX_CONTEXT} tokens of context.")
    if position + 1 > MAX_CONTEXT:
        st.info(f"Attribution reads at most {MAX_CONTEXT} tokens of context: pick a position below {MAX_CONTEXT}.")
        return
    target_label = f"log p({tokens[position + 1]!r} | tokens 0..{position})"
    st.caption(f"f = {target_label}")
    ex = computed_or_stop("Integrated gradients, input × gradient and blank-out over the context…",
                          lambda: decoder_explanation(path, tuple(ids), int(position)),
                          "The attribution could not be computed")
    from models.pretrained.llm_local import smollm2_gguf

    # the card was measured on SmolLM2: shown for that model only, never for a typed folder
    card = "text-attribution-smollm2" if str(path) == str(smollm2_gguf()) else None
    show_explanation(ex, tokens[:position + 1], layer, head, target_label, "llm_attr", ("llm_layer", "llm_head"),
                     card, config)


def show_encoder_attribution(model_dir: str, text: str, layer: int, head: int, config: dict) -> None:
    other = st.text_input("Second sentence (f = cosine of the two mean embeddings)",
                          "God made the sky and the land.", key="tf_attr_other", max_chars=2000)
    if not other.strip():
        st.warning("The second sentence is empty: type one to compare the text with.")
        return
    ex, tokens, n_total = computed_or_stop("Integrated gradients, input × gradient and blank-out…",
                                           lambda: encoder_explanation(model_dir, text, other),
                                           "The attribution could not be computed")
    if n_total > len(tokens):
        st.info(f"Attribution reads the first {len(tokens)} of the text's {n_total:,} tokens.")
    from models.pretrained.hf import default_model_dir

    card = "text-attribution-minilm" if str(model_dir) == str(default_model_dir()) else None
    show_explanation(ex, tokens, layer, head, "cosine similarity of the mean embeddings", "tf_attr", ("tf_layer", "tf_head"),
                     card, config)
