"""Streamlit glue for decoder-only LLMs on the Transformer page.

One fused forward per (model, prompt, options) records every layer's queries and keys
(models/pretrained/llm_capture.py): O(layers x T x d) memory, so thousands of tokens fit.
Each view (a head's pooled overview, a zoomed tile, one token's row, attention
received, the layers x heads grid) is computed from them when first asked for and kept in
``st.cache_resource``, so a layer or head switch recomputes one head, never the model.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from analysis.head_roles import PROBE_SEEDS, PROBE_TOKENS, measure_roles
from models.pretrained import llm_capture as lc
from models.pretrained.hf import ModelDirError
from models.weights import ASSETS
from models.pretrained.llm_local import GGUFError, LoadedLM, load_causal_lm, prompt_ids

MAX_CHARS = 400_000        # read at most this much text (a 200,000-character paste fits)
MAX_NEW_TOKENS = 64
TILE = 128                 # zoomed tiles are TILE x TILE tokens, sent as plotly data
OVERVIEW = 1024            # the pooled overview is at most OVERVIEW x OVERVIEW cells
LOCAL_WINDOW = 8


def is_causal_lm(path: str) -> bool:
    """A .gguf file, or a folder whose config names a causal-LM architecture."""
    if path.lower().endswith(".gguf"):
        return True
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    names = config.get("architectures") or []
    return not config.get("is_encoder_decoder") and any(
        n.endswith(("ForCausalLM", "LMHeadModel")) for n in names)


@st.cache_resource(show_spinner="Loading the language model (a .gguf is converted once)…", max_entries=2)
def load_lm(path: str) -> LoadedLM:
    return load_causal_lm(path)


def load_lm_or_explain(path: str) -> LoadedLM | None:
    try:
        return load_lm(path)
    except (GGUFError, ModelDirError, lc.CaptureError) as exc:
        st.error(str(exc))
    except (OSError, ValueError, RuntimeError) as exc:
        st.error(f"{path!r} could not be loaded as a language model: {exc}")
    return None


@dataclass(frozen=True, eq=False)
class LLMRun:
    tokens: tuple[str, ...]      # every token read: the prompt (with its chat template) + continuation
    n_prompt: int                # tokens of the prompt, before the continuation
    n_prompt_cut: int            # prompt tokens dropped to fit the context
    n_chars_cut: int
    continuation: str
    captured: lc.Captured
    ids: tuple[int, ...] = ()    # the token ids the labels stand for

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


def token_labels(tokenizer, ids) -> tuple[str, ...]:
    """Each token as the text it stands for (spaces kept, so a row reads as the text)."""
    return tuple(tokenizer.decode([int(i)]) for i in ids)


@st.cache_resource(show_spinner=False, max_entries=4)
def run_llm(path: str, text: str, chat: bool, n_new: int) -> LLMRun:
    """The prompt (cut to the context), an optional greedy continuation, then one captured forward."""
    loaded = load_lm(path)
    n_chars_cut = max(0, len(text) - MAX_CHARS)
    ids = prompt_ids(loaded, text[:MAX_CHARS], chat)[0]
    limit = loaded.context_length or 2048
    n_cut = max(0, ids.shape[0] + n_new - limit)
    if n_cut:  # keep the end of the prompt: with a chat template it holds the generation prompt
        ids = ids[n_cut:]
    n_prompt = int(ids.shape[0])
    continuation = ""
    if n_new:
        with torch.inference_mode():
            out = loaded.model.generate(ids[None].to(loaded.device), max_new_tokens=n_new, do_sample=False,
                                        attention_mask=torch.ones(1, n_prompt, dtype=torch.long,
                                                                  device=loaded.device),
                                        pad_token_id=loaded.tokenizer.eos_token_id)
        ids = out[0].cpu()
        continuation = loaded.tokenizer.decode(ids[n_prompt:], skip_special_tokens=True)
    labels = token_labels(loaded.tokenizer, ids)
    _, captured = lc.capture(loaded.model, ids, tokens=labels, logits_to_keep=1)
    return LLMRun(labels, n_prompt, n_cut, n_chars_cut, continuation, captured, tuple(int(i) for i in ids))


@st.cache_resource(show_spinner=False, max_entries=4)
def _statistics_store(path: str, text: str, chat: bool, n_new: int) -> dict:
    # The computation runs outside st.cache_resource so that it may drive a progress
    # bar on the page (a cached function's elements would be replayed on every hit).
    return {"lock": threading.Lock()}


def statistics_of(path: str, text: str, chat: bool, n_new: int, progress=None) -> dict[str, np.ndarray]:
    """Every head's statistics at full length, computed once per run and then kept;
    ``progress(fraction)`` follows the layers while they are computed."""
    store = _statistics_store(path, text, chat, n_new)
    with store["lock"]:
        if "stats" not in store:
            run = run_llm(path, text, chat, n_new)
            stats = lc.head_statistics(run.captured, local_window=LOCAL_WINDOW, progress=progress)
            store["stats"] = {k: v.numpy() for k, v in stats.items()}
    return store["stats"]


@st.cache_resource(show_spinner=False, max_entries=32)
def overview_of(path: str, text: str, chat: bool, n_new: int, layer: int, head: int) -> tuple[np.ndarray, int]:
    rec = lc.head_overview(run_llm(path, text, chat, n_new).captured, layer, head, size=OVERVIEW)
    return rec.numpy(), int(rec.meta["block"])


@st.cache_resource(show_spinner=False, max_entries=32)
def tile_of(path: str, text: str, chat: bool, n_new: int, layer: int, head: int, r0: int, c0: int):
    run = run_llm(path, text, chat, n_new)
    t = run.n_tokens
    return lc.head_map(run.captured, layer, head, rows=slice(r0, min(t, r0 + TILE)), cols=slice(c0, min(t, c0 + TILE)))


@st.cache_resource(show_spinner=False, max_entries=64)
def row_of(path: str, text: str, chat: bool, n_new: int, layer: int, head: int, query: int) -> np.ndarray:
    return lc.query_row(run_llm(path, text, chat, n_new).captured, layer, head, query).numpy()


@st.cache_resource(show_spinner=False, max_entries=16)
def received_of(path: str, text: str, chat: bool, n_new: int, layer: int) -> np.ndarray:
    return lc.attention_received(run_llm(path, text, chat, n_new).captured, layer).numpy()


@st.cache_resource(show_spinner="Running the head-role probes once for this model…", max_entries=2)
def roles_of(path: str) -> tuple[dict[str, np.ndarray], lc.Captured, int] | None:
    """Each head's role scores on seeded repeated-random-token probes (analysis/head_roles.py),
    computed once per model; the first probe's capture, labelled, to show a head on it; and
    the probe's tokens per copy (PROBE_TOKENS, fewer for a tiny vocabulary or context).
    None when the model cannot hold a probe of 2 tokens per copy."""
    loaded = load_lm(path)
    tok = loaded.tokenizer
    vocab = loaded.model.config.get_text_config().vocab_size
    usable = vocab - len(set(tok.all_special_ids) & set(range(vocab)))
    n = min(PROBE_TOKENS, usable - 1, ((loaded.context_length or 2 * PROBE_TOKENS + 1) - 1) // 2)
    if n < 2:
        return None
    scores, first = measure_roles(loaded.model, vocab, tok.bos_token_id, tok.all_special_ids, n,
                                  PROBE_SEEDS, labels=lambda ids: list(token_labels(tok, ids)))
    return {k: v.numpy() for k, v in scores.items()}, first, n


def training_card(path: str) -> dict | None:
    """The card of a model trained here to show how its heads formed (``python -m train
    induction``): assets/NAME.json beside the folder assets/NAME/, when it holds curves."""
    folder = Path(path).resolve()
    card_path = ASSETS.resolve() / f"{folder.name}.json"
    if folder.parent != ASSETS.resolve() or not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and card.get("curves") and "induction" in card else None


MODEL_VIEW_TOKENS = 256    # every layer x head at once only for prompts this short


@st.cache_resource(show_spinner="Drawing every layer and head…", max_entries=4)
def model_view_of(path: str, text: str, chat: bool, n_new: int):
    """Every head's full map in one mosaic image (viz.attention), for short prompts only."""
    from viz.attention import model_view_image

    captured = run_llm(path, text, chat, n_new).captured
    stack = lc.every_map(captured).cpu().numpy()                          # (layers, heads, T, T)
    return model_view_image(stack)
