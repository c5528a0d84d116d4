"""compare(cards): per-bucket BLEU differences, their least-squares slope, 'rising', and the text.

The slope is recomputed by hand: for points (x_i, y_i), slope = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)².
"""

from __future__ import annotations

import math

import pytest

from analysis.translation_comparison import compare

BASE = {"bleu": 10.0, "bleu_len_1_10": 12.0, "bleu_len_11_20": 10.0, "bleu_len_21_30": 8.0,
        "bleu_len_31_40": 6.0, "bleu_len_41_plus": 4.0}
# differences 1.00049 (rounds to 1.0 at 3 decimals), 2, 3, 4, 5: slope 1, rising
RNNSEARCH = {"bleu": 14.50049, "bleu_len_1_10": 13.00049, "bleu_len_11_20": 12.0, "bleu_len_21_30": 11.0,
             "bleu_len_31_40": 10.0, "bleu_len_41_plus": 9.0}
# differences 2, (no 11-20 bucket), 0, 1, -1 at bucket positions 0, 2, 3, 4
TRANSFORMER = {"bleu": 9.0, "bleu_len_1_10": 14.0, "bleu_len_21_30": 8.0, "bleu_len_31_40": 7.0,
               "bleu_len_41_plus": 3.0,
               "align_mass": 0.5, "align_uniform_mass": 0.2, "align_hit": 0.4, "align_uniform_hit": 0.1,
               "align_aer": 0.6, "align_uniform_aer": 0.9, "align_diagonal_aer": 0.7}


def _slope(xs, ys):
    xm, ym = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - xm) * (y - ym) for x, y in zip(xs, ys)) / sum((x - xm) ** 2 for x in xs)


def test_the_whole_comparison_by_hand():
    cards = {"seq2seq": {"metrics": BASE}, "rnnsearch": {"metrics": RNNSEARCH},
             "transformer": {"metrics": TRANSFORMER, "best_head_by_aer": [3, 1]}}
    # x = 0, 2, 3, 4; y = 2, 0, 1, -1: Σ(x−x̄)(y−ȳ) = −5.5, Σ(x−x̄)² = 8.75 -> −0.628571…
    assert _slope([0, 2, 3, 4], [2, 0, 1, -1]) == pytest.approx(-5.5 / 8.75)
    assert compare(cards) == {
        "rnnsearch_minus_seq2seq_bleu": 4.5,
        "rnnsearch_minus_seq2seq_bleu_by_length": {"1_10": 1.0, "11_20": 2.0, "21_30": 3.0, "31_40": 4.0,
                                                   "41_plus": 5.0},
        "rnnsearch_advantage_slope_per_bucket": 1.0,
        "rnnsearch_advantage_rises_every_bucket": True,
        "rnnsearch_vs_seq2seq": "rnnsearch test BLEU 14.50 vs seq2seq 10.00 (+4.50); its advantage grows with "
                                "source length (slope +1.00 BLEU per 10-word bucket, rising in every bucket).",
        "transformer_minus_seq2seq_bleu": -1.0,
        "transformer_minus_seq2seq_bleu_by_length": {"1_10": 2.0, "11_20": None, "21_30": 0.0, "31_40": 1.0,
                                                     "41_plus": -1.0},
        "transformer_advantage_slope_per_bucket": -0.629,
        "transformer_advantage_rises_every_bucket": False,
        "transformer_vs_seq2seq": "transformer test BLEU 9.00 vs seq2seq 10.00 (-1.00); its advantage does not "
                                  "grow with source length (slope -0.63 BLEU per 10-word bucket, not rising in "
                                  "every bucket).",
        "transformer_attention_vs_chance": "attention mass on reference-aligned words 0.500 vs chance 0.200 "
                                           "(2.50x); argmax hit rate 0.400 vs 0.100; AER 0.600 vs chance 0.900 "
                                           "and diagonal baseline 0.700",
        "transformer_best_head_by_aer": [3, 1],
    }


def test_a_flat_advantage_does_not_grow_and_ties_still_rise():
    # differences 1, 1, 1 in the first three buckets: the fitted slope is ±1e-16, reported as 0
    flat = {"bleu": 11.0, "bleu_len_1_10": 13.0, "bleu_len_11_20": 11.0, "bleu_len_21_30": 9.0}
    out = compare({"seq2seq": {"metrics": BASE}, "rnnsearch": {"metrics": flat}})
    assert out["rnnsearch_minus_seq2seq_bleu_by_length"] == {"1_10": 1.0, "11_20": 1.0, "21_30": 1.0,
                                                             "31_40": None, "41_plus": None}
    assert out["rnnsearch_advantage_slope_per_bucket"] == 0.0
    assert out["rnnsearch_advantage_rises_every_bucket"] is True  # equal neighbours do not break "rising"
    assert out["rnnsearch_vs_seq2seq"] == ("rnnsearch test BLEU 11.00 vs seq2seq 10.00 (+1.00); its advantage "
                                           "does not grow with source length (slope +0.00 BLEU per 10-word "
                                           "bucket, rising in every bucket).")


def test_a_flat_advantage_fitted_below_zero_reads_plus_zero():
    # differences 1, 1, 1, 1: numpy fits a slope of about −2e-16, which rounds to −0.0
    flat = {"bleu": 11.0, "bleu_len_1_10": 13.0, "bleu_len_11_20": 11.0, "bleu_len_21_30": 9.0, "bleu_len_31_40": 7.0}
    out = compare({"seq2seq": {"metrics": BASE}, "rnnsearch": {"metrics": flat}})
    slope = out["rnnsearch_advantage_slope_per_bucket"]
    assert slope == 0.0 and math.copysign(1.0, slope) == 1.0
    assert "does not grow with source length (slope +0.00 BLEU" in out["rnnsearch_vs_seq2seq"]


def test_two_buckets_are_enough_for_a_slope_one_is_not():
    two = {"bleu": 10.0, "bleu_len_31_40": 6.5, "bleu_len_41_plus": 4.25}  # differences .5, .25 at x = 3, 4
    out = compare({"seq2seq": {"metrics": BASE}, "rnnsearch": {"metrics": two}})
    assert out["rnnsearch_advantage_slope_per_bucket"] == -0.25
    assert out["rnnsearch_advantage_rises_every_bucket"] is False
    assert "(slope -0.25 BLEU per 10-word bucket, not rising in every bucket)." in out["rnnsearch_vs_seq2seq"]
    one = {"bleu": 10.5, "bleu_len_1_10": 13.0}
    out = compare({"seq2seq": {"metrics": BASE}, "rnnsearch": {"metrics": one}})
    assert out["rnnsearch_advantage_slope_per_bucket"] is None
    assert out["rnnsearch_advantage_rises_every_bucket"] is None
    assert out["rnnsearch_minus_seq2seq_bleu"] == 0.5
    assert out["rnnsearch_vs_seq2seq"] == "rnnsearch test BLEU 10.50 vs seq2seq 10.00"


def test_a_missing_baseline_bucket_drops_that_point():
    base = dict(BASE)
    del base["bleu_len_11_20"]
    out = compare({"seq2seq": {"metrics": base}, "rnnsearch": {"metrics": RNNSEARCH}})
    assert out["rnnsearch_minus_seq2seq_bleu_by_length"]["11_20"] is None
    assert out["rnnsearch_advantage_slope_per_bucket"] == pytest.approx(round(_slope([0, 2, 3, 4], [1, 3, 4, 5]), 3))


def test_without_seq2seq_only_attention_margins_and_heads_and_no_metrics_no_rows():
    out = compare({"rnnsearch": {"metrics": {}}, "transformer": {"metrics": TRANSFORMER}})
    assert set(out) == {"transformer_attention_vs_chance"}
    assert compare({"transformer": {"best_head_by_aer": [0, 0]}}) == {"transformer_best_head_by_aer": [0, 0]}
    assert compare({}) == {}
