"""``python -m train translation-compare``: write the comparison of the three translation
models (analysis/translation_comparison.py) into each of their cards, with sacrebleu's
paired bootstrap test of RNNsearch against seq2seq (and the Transformer against
RNNsearch) on the test hypotheses that ``python -m train translation`` wrote beside the
cards, scored against the corpus's test references; and, under "reference_quality", how far
the reference alignments the attention is scored against can be trusted: the hand-checked
precision of the raw and cleaned Strong's links and of eflomal's (corpora/alignment_check.py,
docs/alignment_reference.md), eflomal's agreement with the cleaned links on every test verse,
and each reference's oracle floor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis.translation_comparison import compare
from analysis.translation_scores import paired_bootstrap
from corpora.bible import DATA
from models.translation.translator import ASSETS, card_path
from models.weights import read_card
from train.cards import write_card

PAIRS = (("seq2seq", "rnnsearch"), ("rnnsearch", "transformer"))


def significance(folder: Path, data: Path, beam: int, n_samples: int) -> dict:
    """Paired bootstrap for each (baseline, system) whose test hypotheses both exist."""
    test = data / "test.tsv"
    if not test.is_file():
        return {}
    refs = [line.split("\t")[1].strip() for line in test.read_text(encoding="utf-8").splitlines()
            if line.count("\t") >= 1 and line.split("\t")[0].strip() and line.split("\t")[1].strip()]
    out = {}
    for base, system in PAIRS:
        files = [folder / f"translation-{a}.test.beam{beam}.txt" for a in (base, system)]
        if not all(f.is_file() for f in files):
            continue
        hyps = [f.read_text(encoding="utf-8").split("\n")[:len(refs)] for f in files]
        if any(len(h) != len(refs) for h in hyps):
            print(f"skipping {base} vs {system}: hypotheses do not cover the {len(refs)} test verses")
            continue
        result = paired_bootstrap((base, hyps[0]), (system, hyps[1]), refs, n_samples)
        result["significant_gain"] = result["system_bleu"] > result["baseline_bleu"] and result["p_value"] < 0.05
        out[f"{system}_vs_{base}_paired_bootstrap"] = result
    return out


def reference_quality(data: Path) -> dict | None:
    """The hand check's precision per reference, eflomal against the cleaned Strong's links,
    and the oracle floors; None without the built corpus (no references to judge)."""
    from corpora import alignment_check

    if not (data / "test.align.jsonl").is_file():
        return None
    out = {"hand_check": alignment_check.rates(alignment_check.CHECK, data),
           "oracle_floors": alignment_check.floors(data),
           "made_by": "python -m corpora.alignment_check rates / floors / agreement"}
    if (data / "test.align.eflomal.jsonl").is_file() and (data / "test.align.clean.jsonl").is_file():
        out["eflomal_vs_strongs_clean"] = alignment_check.agreement(data)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m train translation-compare")
    p.add_argument("--assets", default=str(ASSETS))
    p.add_argument("--data", default=str(DATA), help="corpus folder with test.tsv (the references)")
    p.add_argument("--beam", type=int, default=5, help="which test hypotheses to pair (beam width)")
    p.add_argument("--samples", type=int, default=1000, help="bootstrap resamples")
    args = p.parse_args(argv)
    folder = Path(args.assets)
    cards = {}
    for arch in ("seq2seq", "rnnsearch", "transformer"):
        card = read_card(card_path(arch, folder))
        if card is not None:
            cards[arch] = card
    result = compare(cards)
    result.update(significance(folder, Path(args.data), args.beam, args.samples))
    result["made_by"] = "python -m train translation-compare"
    quality = reference_quality(Path(args.data))
    for arch, card in cards.items():
        card["comparison"] = result
        if quality is not None and arch != "seq2seq":  # seq2seq has no attention to score
            card["reference_quality"] = quality
        write_card(card, card_path(arch, folder))
    print(json.dumps(result, indent=2, ensure_ascii=False))
