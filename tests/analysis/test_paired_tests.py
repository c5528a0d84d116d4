"""McNemar's exact test and the across-seed comparison against the binomial and t
distributions written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.paired_tests import across_seeds, mcnemar


def two_sided_binomial(k: int, n: int) -> float:
    """Sum of P(X = i) over every i at most as likely as k, X ~ Binomial(n, 1/2)."""
    probs = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    return min(1.0, sum(p for p in probs if p <= probs[k] * (1 + 1e-7)))


def test_mcnemar_counts_only_the_discordant_items():
    a = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1], dtype=bool)
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1], dtype=bool)
    out = mcnemar(a, b)
    assert (out["only_a"], out["only_b"]) == (6, 1)
    assert out["p_value"] == pytest.approx(two_sided_binomial(6, 7))
    assert mcnemar(b, a)["p_value"] == pytest.approx(out["p_value"])
    assert mcnemar(a, a) == {"only_a": 0, "only_b": 0, "p_value": 1.0}
    with pytest.raises(ValueError, match="same items"):
        mcnemar(a, b[:-1])


def test_across_seeds_is_a_paired_t_test_on_the_differences():
    a, b = [0.80, 0.78, 0.83, 0.79], [0.76, 0.77, 0.80, 0.80]
    d = np.subtract(a, b)
    out = across_seeds(a, b)
    assert out["mean_difference"] == pytest.approx(d.mean())
    assert out["sd_difference"] == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 3))
    t = d.mean() / (out["sd_difference"] / 2)                         # sqrt(4 seeds) = 2
    from scipy.stats import t as student

    assert out["t_test_p_value"] == pytest.approx(2 * student.sf(abs(t), df=3))
    assert out["a_better_on"] == 3 and out["seeds"] == 4
    one = across_seeds([0.8], [0.7])
    assert one["t_test_p_value"] is None and one["sd_difference"] == 0.0
    assert one["mean_difference"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        across_seeds([], [])


def test_mcnemar_reads_zero_one_integers_as_right_and_wrong():
    a, b = np.array([1, 1, 0, 1, 0]), np.array([0, 1, 1, 0, 0])
    assert mcnemar(a, b) == mcnemar(a.astype(bool), b.astype(bool)) == {
        "only_a": 2, "only_b": 1, "p_value": pytest.approx(two_sided_binomial(2, 3))}


def test_across_seeds_with_two_seeds_ties_and_constant_differences():
    two = across_seeds([0.8, 0.7], [0.75, 0.72])
    assert two["sd_difference"] == pytest.approx(np.std([0.05, -0.02], ddof=1))
    assert two["t_test_p_value"] is not None and two["a_better_on"] == 1
    tie = across_seeds([0.8, 0.7, 0.9], [0.8, 0.6, 0.85])              # seed 0 is a tie: not "better"
    assert tie["a_better_on"] == 2
    constant = across_seeds([0.8, 0.7, 0.9], [0.75, 0.65, 0.85])       # the same gain on every seed
    assert constant["t_test_p_value"] is None and constant["sd_difference"] == pytest.approx(0.0, abs=1e-12)
    for a, b in (([0.8, 0.7], [0.8]), ([], []), ([[0.8]], [[0.7]])):
        with pytest.raises(ValueError) as err:
            across_seeds(a, b)
        assert str(err.value) == "need one accuracy per seed for both models"


def test_seed_difference_text_counts_wins_in_the_direction_asked():
    from analysis.paired_tests import seed_difference_text

    fid_a, fid_b = [170.0, 300.0, 250.0], [180.0, 290.0, 260.0]       # A lower on seeds 0 and 2
    d = np.array(fid_a) - np.array(fid_b)                              # -10, +10, -10
    sd = np.sqrt(((d - d.mean()) ** 2).sum() / 2)
    from scipy.stats import t as student

    p = 2 * student.sf(abs(d.mean() / (sd / np.sqrt(3))), df=2)
    assert seed_difference_text(fid_a, fid_b, "FID", "SAGAN", "lower", digits=2) == \
        f"FID {d.mean():+.2f} ± {sd:.2f} (SAGAN lower on 2 of 3 seeds, paired t p = {p:.2f})"
    # higher: the count is of seeds where A is above B (only seed 1 here)
    assert "(SAGAN higher on 1 of 3 seeds" in seed_difference_text(fid_a, fid_b, "FID", "SAGAN")
    # the same gain on every seed has no t-test: no p in the text
    assert seed_difference_text([0.5, 0.6], [0.4, 0.5], "BLEU-4", "the full model") == \
        "BLEU-4 +0.100 ± 0.000 (the full model higher on 2 of 2 seeds)"
    with pytest.raises(ValueError):
        seed_difference_text(fid_a, fid_b, "FID", "SAGAN", "better")
