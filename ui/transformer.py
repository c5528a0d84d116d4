"""Streamlit glue for the transformer page: cached model, cached per-text analysis.

The forward pass and everything derived from it (numpy weights, rollout, head
statistics, the rendered model-view mosaic) are computed once per (model, text)
and kept in ``st.cache_resource``. Unlike ``st.cache_data``, that hands back the
same read-only object instead of unpickling a fresh copy on every rerun: at 512
tokens the weights alone are 6 × 12 × 512² floats (75 MB), and a layer or head
switch must cost only the slicing and one figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from analysis.head_stats import head_statistics
from analysis.rollout import rollout
from models.pretrained.hf import LoadedTransformer, ModelDirError, check_model_dir, default_model_dir, load_transformer, run_transformer
from models.pretrained.llm_local import checked_gguf, smollm2_gguf
from models.records import AttentionMap
from models.weights import ASSETS
from viz.attention import ModelViewImage, model_view_image
from ui.loads import logged_compute, logged_load


@st.cache_resource(show_spinner="Loading the model…", max_entries=3)
@logged_load
def load_model(model_dir: str) -> LoadedTransformer:
    return load_transformer(model_dir)


@dataclass(frozen=True, eq=False)
class RecordView:
    """One attention record made ready for the page; all fields are read-only."""

    record: AttentionMap
    weights: np.ndarray                       # (layer, head, Tq, Tk) float32
    query_tokens: tuple[str, ...]
    key_tokens: tuple[str, ...]
    overview: ModelViewImage

    @property
    def is_square_self(self) -> bool:
        """Rollout and head statistics apply to self-attention only."""
        return self.record.kind == "self" and self.weights.shape[-1] == self.weights.shape[-2]


@dataclass(frozen=True, eq=False)
class TextAnalysis:
    tokens: tuple[str, ...]
    n_tokens_total: int
    n_chars_cut: int
    max_tokens: int
    special: tuple[bool, ...]
    views: dict[str, RecordView]

    @property
    def n_tokens_cut(self) -> int:
        return max(0, self.n_tokens_total - len(self.tokens))


def _prepare(record: AttentionMap) -> RecordView:
    weights = record.numpy()
    weights.setflags(write=False)  # shared between reruns and sessions
    return RecordView(
        record=record,
        weights=weights,
        query_tokens=record.query_labels or tuple(str(i) for i in range(weights.shape[-2])),
        key_tokens=record.key_labels or tuple(str(i) for i in range(weights.shape[-1])),
        overview=model_view_image(weights),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
@logged_compute
def analyse_text(model_dir: str, text: str) -> TextAnalysis:
    """One forward pass per (model, text); every view reads from this."""
    loaded = load_model(model_dir)
    run = run_transformer(loaded, text)
    views = {r.name: _prepare(r) for r in run.records}
    return TextAnalysis(
        tokens=run.tokens,
        n_tokens_total=run.n_tokens_total,
        n_chars_cut=run.n_chars_cut,
        max_tokens=loaded.max_tokens,
        special=run.special,
        views=views,
    )


# Rollout and statistics are computed when their tab first opens, then kept.
@st.cache_resource(show_spinner="Computing rollout…", max_entries=8)
def rollout_of(model_dir: str, text: str, record_name: str) -> np.ndarray | None:
    view = analyse_text(model_dir, text).views[record_name]
    return rollout(view.weights) if view.is_square_self else None


@st.cache_resource(show_spinner="Computing head statistics…", max_entries=8)
def stats_of(model_dir: str, text: str, record_name: str) -> dict[str, np.ndarray] | None:
    analysis = analyse_text(model_dir, text)
    view = analysis.views[record_name]
    if not view.is_square_self:
        return None
    # [CLS]/[SEP] shares only make sense on the input's own tokens (not a decoder's).
    n = view.weights.shape[-1]
    special = analysis.special if len(analysis.special) == n else (False,) * n
    return head_statistics(view.weights, special)


MODEL_CHOICES = {"minilm": "all-MiniLM-L6-v2 (encoder, 512 tokens)",
                 "smollm2": "SmolLM2-135M-Instruct (decoder LLM, 8k tokens)",
                 "induction": "Induction heads: 2-layer attention-only model trained here",
                 "path": "A local model folder or .gguf file"}


INDUCTION_MODEL = ASSETS / "induction-2l"   # written by python -m train induction


def model_dir_input() -> str | None:
    """Sidebar choice of the model: the two shipped ones, or a typed folder or .gguf file,
    checked before anything loads. Returns a path, or None after showing why not."""
    choice = st.sidebar.radio("Model", list(MODEL_CHOICES), format_func=MODEL_CHOICES.get, key="tf_model_choice")
    try:
        if choice == "minilm":
            path = str(check_model_dir(default_model_dir()))
        elif choice == "smollm2":
            path = str(smollm2_gguf())
        elif choice == "induction":
            if not INDUCTION_MODEL.is_dir():
                raise ModelDirError(f"The induction model ({INDUCTION_MODEL.name}/) is not in assets/: "
                                    "python -m train induction writes it.")
            path = str(check_model_dir(INDUCTION_MODEL))
        else:
            typed = st.sidebar.text_input(
                "Model folder or .gguf file", value="", key="tf_model_dir", placeholder="/path/to/model",
                help="A local Hugging Face folder (config.json, weights, tokenizer) of an encoder, "
                "encoder-decoder or decoder-only model, or a .gguf file of a decoder-only LLM "
                "(converted once). Nothing is downloaded.")
            if not typed.strip():
                st.sidebar.info("Type the path of a model folder or a .gguf file.")
                return None
            path = str(checked_gguf(typed) if typed.strip().lower().endswith(".gguf") else check_model_dir(typed))
    except ModelDirError as exc:
        st.sidebar.error(str(exc))
        return None
    st.sidebar.caption(f"Reading weights from `{path}`")
    return path


def load_or_explain(model_dir: str) -> LoadedTransformer | None:
    try:
        return load_model(model_dir)
    except ModelDirError as exc:
        st.error(str(exc))
    except (OSError, ValueError, RuntimeError) as exc:
        st.error(f"The model in {model_dir!r} could not be loaded: {exc}")
    return None


def share_transformer_view() -> None:
    """The model choice, the text (when short enough for a link), the attention, layer, head,
    token, the LLM's chat template and continuation, and the open tab travel in the page's
    address (values out of range for the model or the text are clamped when the pickers are
    drawn). ui.share.copy_link shows the link."""
    from ui.llm_views import TABS as LLM_TABS
    from ui.share import Field, flag, int_in, one_of, shareable, show_flag, text_field
    from ui.transformer_views import RECORD_TITLES, TABS

    shareable("transformer", [Field("tf_model_choice", one_of(MODEL_CHOICES)),
                              text_field("tf_text_input"), text_field("llm_text"),
                              Field("tf_record", one_of(RECORD_TITLES)),
                              *(Field(k, int_in(0, 1023)) for k in ("tf_layer", "tf_head", "llm_layer", "llm_head")),
                              *(Field(k, int_in(0, 1_000_000)) for k in ("tf_query", "llm_query")),
                              Field("llm_chat", flag, show_flag), Field("llm_new", int_in(0, 64)),
                              Field("tf_tab", one_of(TABS)), Field("llm_tab", one_of(LLM_TABS))])
