"""Streamlit glue for the translation lab: cached models, cached translations, cards, test verses.

Models load once per process (``st.cache_resource``); each (text, decoding) is translated
once by all three models and kept, so moving the step slider or picking a layer/head
never reruns a model. Weights live in assets/ (or the folder in $TRANSLATION_ASSETS,
which the tests point at tiny models).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from models.device import pick_device
from analysis.alignment import AlignmentScore, pool_to_words, reference_matrix, uniform_attention
from models.translation.nets import ARCHS
from models.translation.translator import ASSETS, Translator, card_path, weights_path, word_index
from ui.loads import logged_compute, logged_load

MAX_WORDS = 80  # the models were trained on verses of at most 80 words
TITLES = {"seq2seq": "seq2seq (LSTM, no attention)", "rnnsearch": "RNNsearch (additive attention)",
          "transformer": "Transformer (multi-head)"}
BUCKETS = [("1-10", "1_10"), ("11-20", "11_20"), ("21-30", "21_30"), ("31-40", "31_40"), ("41+", "41_plus")]


def assets_dir() -> str:
    return os.environ.get("TRANSLATION_ASSETS", str(ASSETS))


def train_command(arch: str) -> str:
    return f"python -m train translation --arch {arch}"


@st.cache_resource(show_spinner="Loading the translation models…", max_entries=2)
@logged_load
def load_translators(folder: str) -> tuple[dict[str, Translator], dict[str, str]]:
    """Every model whose weights exist, and for the rest the reason they are missing."""
    found, missing = {}, {}
    for arch in ARCHS:
        path = weights_path(arch, Path(folder))
        if not path.exists():
            missing[arch] = f"no weights at {path.name}: `{train_command(arch)}` makes them"
            continue
        try:
            found[arch] = Translator.load(path, pick_device())
        except (OSError, ValueError, RuntimeError, KeyError, json.JSONDecodeError) as exc:
            missing[arch] = f"{path.name} could not be loaded ({exc.__class__.__name__}: {exc}); " \
                            f"`{train_command(arch)}` remakes it"
    return found, missing


@dataclass(frozen=True, eq=False)
class ModelOutput:
    arch: str
    text: str
    src_pieces: tuple[str, ...]
    out_pieces: tuple[str, ...]
    maps: dict[str, np.ndarray]   # record name -> read-only float32 array
    n_src_cut: int


def _freeze(translation, arch) -> ModelOutput:
    maps = {}
    for r in translation.records:
        a = r.numpy()
        a.setflags(write=False)  # shared between reruns and sessions
        maps[r.name] = a
    return ModelOutput(arch, translation.text, translation.src_pieces, translation.out_pieces, maps,
                       translation.n_src_cut)


def cut_words(text: str, limit: int = MAX_WORDS) -> tuple[str, int]:
    """At most ``limit`` whitespace words; returns the text and how many words were dropped."""
    words = text.split()
    return " ".join(words[:limit]), max(0, len(words) - limit)


@st.cache_resource(show_spinner="Translating…", max_entries=16)
@logged_compute
def translate_all(folder: str, text: str, beam: int) -> dict[str, ModelOutput]:
    translators, _ = load_translators(folder)
    return {arch: _freeze(t.translate(text, beam=beam), arch) for arch, t in translators.items()}


@st.cache_data(show_spinner=False)
def load_cards(folder: str) -> dict[str, dict]:
    cards = {}
    for arch in ARCHS:
        path = card_path(arch, Path(folder))
        try:
            cards[arch] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return cards


def bleu_series(cards: dict[str, dict]) -> tuple[list[str], dict[str, list], list[int] | None, dict[str, list]]:
    """Per model: test BLEU per source-length bucket and the half-widths of their 95% intervals."""
    series, errors, counts = {}, {}, None
    for arch, card in cards.items():
        m = card.get("metrics", {})
        series[arch] = [m.get(f"bleu_len_{key}") for _, key in BUCKETS]
        errors[arch] = [m.get(f"bleu_len_{key}_ci95") for _, key in BUCKETS]
        counts = counts or [m.get(f"n_len_{key}", 0) for _, key in BUCKETS]
    return [label for label, _ in BUCKETS], series, counts, errors


def quality_rows(cards: dict[str, dict]) -> list[dict]:
    """One row per model for the quality table, read from its card."""
    rows = []
    for arch, card in cards.items():
        m = card.get("metrics", {})
        ci = m.get("bleu_ci95")
        # cards written before beam evaluation hold one greedy BLEU under "bleu"
        beam, greedy = (m.get("bleu"), m.get("bleu_greedy")) if "bleu_greedy" in m else (None, m.get("bleu"))
        rows.append({"model": arch, "test verses": m.get("test_sentences"),
                     "BLEU (beam)": None if beam is None else round(beam, 2),
                     "± 95%": None if ci is None else round(ci, 2),
                     "BLEU (greedy)": None if greedy is None else round(greedy, 2),
                     "chrF": None if m.get("chrf") is None else round(m["chrf"], 2),
                     "steps": m.get("train_steps"), "best step": card.get("best_step"),
                     "stopped by": card.get("stopped_by") or "not recorded",
                     "training minutes": m.get("train_minutes"), "made by": card.get("made_by")})
    return rows


def stopping_line(cards: dict[str, dict]) -> str:
    """How each model's training ended, read from its card: a learning curve that was cut by a
    step cap must not be captioned as a plateau."""
    parts = []
    for arch, card in cards.items():
        why = card.get("stopped_by") or ""
        if why.startswith("plateau"):
            parts.append(f"{arch} at its plateau (dev BLEU gained less than 0.3 over three evaluations)")
        elif why.startswith("step cap"):
            parts.append(f"{arch} at a {why}, before any plateau: its curve was still rising")
        else:
            parts.append(f"{arch}: not recorded in its card")
        if card.get("rewarms"):
            steps = ", ".join(f"{s:,}" for s in card["rewarms"])
            parts[-1] += (f" (continued from its exported weights at step {steps} with a fresh optimiser: "
                          "the earlier checkpoint was gone)")
    return "Training stopped: " + "; ".join(parts) + "." if parts else ""


def significance_lines(cards: dict[str, dict]) -> list[str]:
    """The paired bootstrap tests that translation-compare stored in the cards."""
    comparison = next((c["comparison"] for c in cards.values() if c.get("comparison")), {})
    lines = []
    for key, test in comparison.items():
        if key.endswith("_paired_bootstrap") and isinstance(test, dict):
            verdict = ("a significant gain" if test.get("significant_gain") else "not a significant gain")
            line = (f"{test['system']} {test['system_bleu']:.2f} vs {test['baseline']} "
                    f"{test['baseline_bleu']:.2f} BLEU: p = {test['p_value']:.4f} "
                    f"({test['n_samples']} paired bootstrap resamples), {verdict} at p < 0.05.")
            steps = comparison.get("train_steps") or {}
            a, b = steps.get(test["system"]), steps.get(test["baseline"])
            if a is not None and b is not None and a != b:
                # a bigger budget can only flatter the model that had it: when the better model
                # trained for fewer steps, the budget cannot be what put it ahead
                gain = test["system_bleu"] - test["baseline_bleu"]  # a tie has no better model
                better_had_fewer = gain != 0 and (a < b) == (gain > 0)
                line += (f" Trained for {a:,} and {b:,} steps: " +
                         ("the better model had fewer, so its lead is not a bigger budget's." if better_had_fewer
                          else "unequal budgets, so the gap is not the architectures' alone."))
            lines.append(line)
    return lines


@st.cache_data(show_spinner=False)
def test_verses(folder: str) -> list[dict]:
    path = Path(folder) / "translation-test-verses.jsonl"
    if not path.exists():
        path = ASSETS / "translation-test-verses.jsonl"
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


@dataclass(frozen=True, eq=False)
class ReferenceView:
    """A test verse's reference alignment beside each model's attention on the reference Spanish."""

    ref: str
    en_words: tuple[str, ...]
    es_words: tuple[str, ...]
    reference: np.ndarray                 # (es words, en words) 0/1
    attention: dict[str, np.ndarray]      # arch -> (es words, en words), pooled from subwords
    scores: dict[str, dict]               # arch or "uniform" -> mass/hit/aer on this verse
    links: tuple = ()                     # the reference's (es word, en word) links


REFERENCES = {"links_eflomal": "eflomal (statistical aligner)", "links_clean": "Strong's numbers, cleaned",
              "links": "Strong's numbers, as tagged"}
# the same references under the names train/translation.py gives them in the cards' metrics
CARD_REFERENCES = {"eflomal": REFERENCES["links_eflomal"], "strongs_clean": REFERENCES["links_clean"],
                   "strongs": REFERENCES["links"]}


def alignment_rows(cards: dict[str, dict]) -> list[dict]:
    """One row per (model, reference) of the whole-test-split alignment scores in the cards:
    the model's AER, precision and recall beside chance (uniform attention), the diagonal
    baseline and the reference's own floor (an oracle that follows it), and the Transformer's
    best single head."""
    def r(v):
        return None if v is None else round(v, 3)

    rows = []
    for arch, card in cards.items():
        m = card.get("metrics", {})
        for ref, label in CARD_REFERENCES.items():
            if m.get(f"align_{ref}_model_aer") is None:
                continue
            best = (card.get("best_head_by_aer") or {}).get(ref)
            rows.append({"model": arch, "reference": label, "verses": m.get(f"align_{ref}_verses"),
                         "AER": r(m[f"align_{ref}_model_aer"]),
                         "precision": r(m.get(f"align_{ref}_model_precision")),
                         "recall": r(m.get(f"align_{ref}_model_recall")),
                         "AER, uniform (chance)": r(m.get(f"align_{ref}_uniform_aer")),
                         "AER, diagonal": r(m.get(f"align_{ref}_diagonal_aer")),
                         "AER floor (oracle)": r(m.get(f"align_{ref}_oracle_aer")),
                         "best head (AER)": f"{best} ({m[f'align_{ref}_best_head_aer']:.3f})" if best else "—"})
    return rows


def reference_trust_line(cards: dict[str, dict]) -> str:
    """How far the references can be trusted, from the hand check that translation-compare
    copied into the cards."""
    quality = next((c["reference_quality"] for c in cards.values() if c.get("reference_quality")), None)
    if not quality:
        return ""
    hand = quality.get("hand_check", {})
    parts = [f"{hand[k]['precision']:.1%} of the {name} links are right"
             for k, name in (("raw", "tagged Strong's"), ("clean", "cleaned Strong's"), ("eflomal", "eflomal"))
             if k in hand]
    line = f"On {hand.get('verses', 0)} test verses checked by hand, " + ", ".join(parts) + "."
    agree = (quality.get("eflomal_vs_strongs_clean") or {}).get("all")
    if agree:
        line += (f" eflomal against the cleaned Strong's links on the {agree['verses']:,} verses the cleaning keeps: "
                 f"precision {agree['precision']:.2f}, recall {agree['recall']:.2f}, AER {agree['aer']:.2f} "
                 "(the cleaned links cover tagged content words only, so eflomal's other links count against it).")
    return line


@st.cache_resource(show_spinner="Reading the attention on the reference translation…", max_entries=16)
def reference_view(folder: str, verse_json: str, reference: str = "links") -> ReferenceView | None:
    """``reference``: which of the verse's link lists (a key of REFERENCES) to score against."""
    verse = json.loads(verse_json)
    translators, _ = load_translators(folder)
    en_words, es_words = tuple(verse["en"].split()), tuple(verse["es"].split())
    links = verse.get(reference) or []
    ref = reference_matrix(links, len(es_words), len(en_words))
    attention, scores = {}, {}
    for arch, t in translators.items():
        if arch == "seq2seq":
            continue
        src_ids, _ = t.source_ids(verse["en"])
        forced = t.forced(src_ids, t.sp_tgt.encode(verse["es"]))
        sw, tw = word_index(forced.src_pieces), word_index(forced.out_pieces)
        if sw.max() + 1 != len(en_words) or tw.max() + 1 != len(es_words):
            continue  # subwords and whitespace disagree on word count: do not misalign
        rows = slice(0, len(forced.out_pieces) - 1)
        rec = forced.records[0] if arch == "rnnsearch" else next(r for r in forced.records if r.name == "decoder.cross")
        att = rec.numpy()
        att = att[rows] if arch == "rnnsearch" else att.mean((0, 1))[rows]
        attention[arch] = pool_to_words(att, tw[rows], sw).astype(np.float32)
        s = AlignmentScore()
        s.add(attention[arch], links)
        scores[arch] = s.result()
        if "uniform" not in scores:
            u = AlignmentScore()
            u.add(pool_to_words(uniform_attention(att.shape), tw[rows], sw), links, expected=True)
            scores["uniform"] = u.result()
    return ReferenceView(verse["ref"], en_words, es_words, ref, attention, scores, tuple(map(tuple, links)))
