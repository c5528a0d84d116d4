"""Compare the three trained translation models from the metrics in their cards.

``compare(cards)`` takes the cards of seq2seq, RNNsearch and the Transformer (written by
train/translation.py) and computes per source-length bucket the BLEU difference of
each attention model over seq2seq, whether that difference grows with length (its
least-squares slope over the buckets, and whether it rises bucket to bucket), and the
attention-vs-reference margins over chance (``python -m train translation-compare``
stores them under "comparison" in every card). Nothing is typed in: every number is derived from the cards' metrics.
"""

from __future__ import annotations

import numpy as np


BUCKETS = ["1_10", "11_20", "21_30", "31_40", "41_plus"]


def compare(cards: dict[str, dict]) -> dict:
    out: dict = {}
    base = cards.get("seq2seq", {}).get("metrics", {})
    for arch in ("rnnsearch", "transformer"):
        m = cards.get(arch, {}).get("metrics")
        if not m:
            continue
        if base:
            diffs = {b: (None if m.get(f"bleu_len_{b}") is None or base.get(f"bleu_len_{b}") is None
                         else round(m[f"bleu_len_{b}"] - base[f"bleu_len_{b}"], 3)) for b in BUCKETS}
            pts = [(i, d) for i, d in enumerate(diffs.values()) if d is not None]
            # rounded before it is judged: a flat advantage fits a slope of ±1e-16, which is no growth
            # (+ 0.0 turns a rounded -0.0 into 0.0)
            slope = (round(float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0]), 3) + 0.0
                     if len(pts) >= 2 else None)
            rising = all(b[1] >= a[1] for a, b in zip(pts, pts[1:])) if len(pts) >= 2 else None
            overall = round(m["bleu"] - base["bleu"], 3)
            out[f"{arch}_minus_seq2seq_bleu"] = overall
            out[f"{arch}_minus_seq2seq_bleu_by_length"] = diffs
            out[f"{arch}_advantage_slope_per_bucket"] = slope
            out[f"{arch}_advantage_rises_every_bucket"] = rising
            grows = slope is not None and slope > 0
            out[f"{arch}_vs_seq2seq"] = (
                f"{arch} test BLEU {m['bleu']:.2f} vs seq2seq {base['bleu']:.2f} ({overall:+.2f}); "
                f"its advantage {'grows' if grows else 'does not grow'} with source length "
                f"(slope {slope:+.2f} BLEU per 10-word bucket"
                f"{', rising in every bucket' if rising else ', not rising in every bucket'})."
                if slope is not None else f"{arch} test BLEU {m['bleu']:.2f} vs seq2seq {base['bleu']:.2f}")
        if "align_mass" in m:
            out[f"{arch}_attention_vs_chance"] = (
                f"attention mass on reference-aligned words {m['align_mass']:.3f} vs chance "
                f"{m['align_uniform_mass']:.3f} ({m['align_mass'] / m['align_uniform_mass']:.2f}x); argmax hit "
                f"rate {m['align_hit']:.3f} vs {m['align_uniform_hit']:.3f}; AER {m['align_aer']:.3f} vs chance "
                f"{m['align_uniform_aer']:.3f} and diagonal baseline {m['align_diagonal_aer']:.3f}")
    best = cards.get("transformer", {}).get("best_head_by_aer")
    if best:
        out["transformer_best_head_by_aer"] = best
    # a gap between models trained for different budgets is not the architectures' gap alone:
    # the page says so beside each paired test
    steps = {arch: c.get("metrics", {}).get("train_steps") for arch, c in cards.items()}
    if any(v is not None for v in steps.values()):
        out["train_steps"] = steps
    return out
