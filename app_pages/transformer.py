"""Transformer attention: one head, every head, BertViz-style lines, rollout, statistics.

Thin page: widgets -> ui.transformer (cached model and analysis) -> ui.transformer_views.
"""

from __future__ import annotations

import streamlit as st

from ui.llm import is_causal_lm
from ui.llm_views import llm_page
from ui.sidebar import device_badge
from ui.transformer import load_or_explain, model_dir_input, share_transformer_view
from ui.transformer_views import analyse_or_stop, explore, pick_record, text_form

st.title("Transformer attention")
st.caption(
    "Type or paste text and see what every head of a transformer attends to. Weights are "
    "softmax(QKᵀ/√d) per head: for encoders read from the eager attention path; for decoder LLMs "
    "recomputed per head from the queries and keys of one fused forward pass, so long prompts fit."
)
device_badge()
share_transformer_view()
model_dir = model_dir_input()
if model_dir is None:
    st.stop()
if is_causal_lm(model_dir):  # decoder LLMs: one fused forward, maps on demand, thousands of tokens
    llm_page(model_dir)
    st.stop()
loaded = load_or_explain(model_dir)
if loaded is None:
    st.stop()
st.sidebar.caption(
    f"{loaded.model_type} · {loaded.architecture} · {loaded.n_layers} layers × "
    f"{loaded.n_heads} heads · reads up to {loaded.max_tokens} tokens"
)

text = text_form()
analysis = analyse_or_stop(model_dir, text)
record_name = pick_record(analysis)
explore(model_dir, loaded.model_type, text, analysis, record_name)
