"""Streamlit glue for the captioning page: cached captioners, inputs, cached decoding.

Captioners load once per process (st.cache_resource; used read-only under
torch.inference_mode). A caption and its per-word maps are cached per
(variant, input pixels, decoding), so moving the word slider never decodes again.
Uploads go through the image lab's conversion (ui.spatial.upload_to_input), so both
labs see an upload the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from safetensors import SafetensorError

from corpora.captions import MAX_LEN, NOUNS, VOCAB, captioned_scene
from models.device import pick_device
from corpora.fashion import DatasetMissing
from models.show_attend_tell import MODES, ShowAttendTell
from models.cards import paired_seed_values, seed_values
from models.weights import load_weights, read_card
from ui.spatial import assets_dir, upload_to_input
from ui.loads import logged_load

__all__ = ["DatasetMissing", "VARIANT_TITLES", "CaptionInput", "available_variants", "load_card",
           "caption_or_reason", "test_scene", "from_upload", "train_command", "noun_item"]

VARIANT_TITLES = {
    "full": "Full (β gate + doubly stochastic term)",
    "no_ds": "Without the doubly stochastic term",
    "no_beta": "Without the gating scalar β",
}


def train_command(variant: str) -> str:
    return f"python -m train captioning --variant {variant}"


@dataclass(frozen=True)
class CaptionInput:
    """What the captioner sees (64 x 64 uint8) plus the ground truth of test scenes."""

    image: np.ndarray
    labels: tuple[int, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    reference: str | None
    source: str

    @property
    def key(self) -> str:
        return hashlib.sha1(self.image.tobytes()).hexdigest()[:16]


def _paths(variant: str) -> tuple[Path, Path]:
    folder = assets_dir()
    return folder / f"captioning_{variant}.safetensors", folder / f"captioning_{variant}.json"


def available_variants() -> list[str]:
    return [v for v in MODES if all(p.is_file() for p in _paths(v))]


def plateau_text(card: dict) -> str:
    """Whether the card's run stopped at its validation plateau (train.captioning.plateau_reached),
    and the epochs each seed trained; cards from fixed-epoch runs say they have no plateau rule."""
    plateau = card.get("plateau")
    if not plateau:
        epochs = card.get("hyperparameters", {}).get("epochs_completed")
        return "no plateau rule" + (f" (fixed {epochs:g} epochs)" if epochs is not None else "")
    per_seed = seed_values(card, "plateau.epochs") or [plateau["epochs"]]
    seed = card.get("seed")
    shown = f"reached{'' if seed is None else f' (seed {seed})'}" if plateau["reached"] else \
        f"not reached{'' if seed is None else f' (seed {seed})'}: stopped by the cap"
    return f"{shown}; epochs per seed {', '.join(f'{e:g}' for e in per_seed)}"


def penalty_effect(full: dict, no_ds: dict) -> str | None:
    """What the doubly stochastic term does here, in numbers: the full model minus the one
    trained without it, seed by seed (analysis.paired_tests.across_seeds), for attention
    correctness and BLEU-4, beside the uniform map. None unless both cards hold the same seeds."""
    from analysis.paired_tests import seed_difference_text

    titles = {"metrics.attention_correctness": "attention correctness", "metrics.bleu4": "BLEU-4"}
    pairs = paired_seed_values(full, no_ds, titles)
    if pairs is None:
        return None
    parts = [seed_difference_text(a, b, titles[path], "the full model") for path, (a, b) in pairs.items()]
    lam = full.get("hyperparameters", {}).get("lambda_ds")
    uniform = full.get("metrics", {}).get("uniform")
    return (f"What the doubly stochastic term (λ = {lam:g}) does here, full model minus the one trained "
            f"without it, seed by seed: {parts[0]}; {parts[1]}. A uniform map's attention correctness "
            f"is {uniform:.3f}.")


@st.cache_data(show_spinner=False)
def load_card(variant: str) -> dict | None:
    return read_card(_paths(variant)[1])


@st.cache_resource(show_spinner="Loading captioner…")
@logged_load
def load_captioner(variant: str) -> ShowAttendTell:
    model = ShowAttendTell(variant, VOCAB, MAX_LEN)
    load_weights(model, _paths(variant)[0])
    return model.to(pick_device()).eval()


@st.cache_data(show_spinner=False, max_entries=64)
def test_scene(index: int) -> CaptionInput:
    s = captioned_scene("test", int(index))
    return CaptionInput(image=s.image, labels=s.labels, boxes=s.boxes, reference=s.caption.text,
                        source=f"test scene {index}")


def from_upload(image, invert: bool, name: str) -> CaptionInput:
    converted = upload_to_input(image, invert, name)
    return CaptionInput(image=converted.image, labels=(), boxes=(), reference=None, source=name)


@st.cache_data(show_spinner="Writing the caption…", max_entries=256)
def _caption(variant: str, key: str, _image: np.ndarray, beam: int) -> dict:
    """Decode one input; ``key`` identifies the pixels (``_image`` is not hashed)."""
    model = load_captioner(variant)
    x = torch.from_numpy(_image.astype(np.float32) / 255.0)[None, None].to(pick_device())
    got = model.greedy(x) if beam == 0 else model.beam_search(x, width=beam)
    alphas = np.stack([r.numpy() for r in got.records]) if got.records else np.zeros((0, 8, 8), np.float32)
    return {"words": list(got.words), "alphas": alphas, "betas": list(got.betas), "score": got.score}


def caption_or_reason(variant: str, inp: CaptionInput, beam: int) -> tuple[dict | None, str | None]:
    """The caption, or None and why not (damaged or mismatched weights). beam 0 = greedy."""
    try:
        return _caption(variant, inp.key, inp.image, int(beam)), None
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as exc:
        return None, (f"its weights could not be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
                      f"retrain with `{train_command(variant)}`")


def noun_item(word: str, inp: CaptionInput) -> int | None:
    """Index of the scene item a generated noun names (test scenes only), else None."""
    if word not in NOUNS:
        return None
    cls = NOUNS.index(word)
    return inp.labels.index(cls) if cls in inp.labels else None
