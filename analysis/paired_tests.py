"""Paired comparisons of two classifiers on the same test items, and across seeds.

McNemar's exact test (McNemar 1947) on one seed: of the n_10 items only model A gets right
and the n_01 only model B gets right, under H0 (equal accuracy) each discordant item is
A's with probability 1/2, so p = P(|Binomial(n_10 + n_01, 1/2) - m/2| >= |n_10 - m/2|),
two-sided (scipy.stats.binomtest). Items both get right or both get wrong say nothing.

Across seeds: seed s of A is paired with seed s of B (same test items, same scenes); the
accuracy differences d_s have mean, sample standard deviation, and a paired t-test
(scipy.stats.ttest_rel) when there are at least two seeds.
"""

from __future__ import annotations

import numpy as np


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> dict:
    """{"only_a", "only_b", "p_value"} for two (n,) boolean vectors over the same items."""
    from scipy.stats import binomtest

    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two correctness vectors over the same items, got {a.shape} and {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": p}


def across_seeds(a_accuracy: list[float], b_accuracy: list[float]) -> dict:
    """{"mean_difference", "sd_difference", "t_test_p_value", "a_better_on"} of A - B per seed."""
    from scipy.stats import ttest_rel

    a, b = np.asarray(a_accuracy, dtype=np.float64), np.asarray(b_accuracy, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("need one accuracy per seed for both models")
    d = a - b
    out = {"mean_difference": float(d.mean()), "sd_difference": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
           "a_better_on": int((d > 0).sum()), "seeds": int(len(d)), "t_test_p_value": None}
    # the same gain on every seed (up to float rounding, e.g. 0.8 - 0.75 and 0.7 - 0.65) has
    # no spread to test against: t would be 0 / 0, or huge from rounding alone
    if len(d) > 1 and np.ptp(d) > 1e-12:
        out["t_test_p_value"] = float(ttest_rel(a, b).pvalue)
    return out


def seed_difference_text(a: list[float], b: list[float], title: str, who: str, better: str = "higher",
                         digits: int = 3) -> str:
    """One number's A - B over seeds as a sentence part: "title +d ± sd (WHO better on k of n
    seeds, paired t p = ...)", where ``better`` ("higher" or "lower") says which way A wins."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    d = across_seeds(a, b)
    wins = d["a_better_on"] if better == "higher" else sum(x < y for x, y in zip(a, b))
    p = d["t_test_p_value"]
    return (f"{title} {d['mean_difference']:+.{digits}f} ± {d['sd_difference']:.{digits}f} ({who} {better} on "
            f"{wins} of {d['seeds']} seeds{'' if p is None else f', paired t p = {p:.2f}'})")
