"""BLEU, chrF, length buckets and the paired bootstrap against sacrebleu called directly."""

import random

import pytest
import sacrebleu

from analysis.translation_scores import paired_bootstrap, score_translations

RNG = random.Random(0)
REFS = [f"el hombre {w} come pan en la casa {i}" for i, w in enumerate(["grande", "viejo", "rojo"] * 20)]
GOOD = [r if RNG.random() < 0.8 else "el perro" for r in REFS]
BAD = [r if RNG.random() < 0.2 else "la casa" for r in REFS]
LENGTHS = [5, 15, 25, 35, 45, 60] * 10


def test_corpus_scores_equal_sacrebleu_and_buckets_select_by_source_length():
    out = score_translations(GOOD, REFS, LENGTHS, n_bootstrap=100)
    assert out["bleu"] == pytest.approx(sacrebleu.corpus_bleu(GOOD, [REFS]).score)
    assert out["chrf"] == pytest.approx(sacrebleu.corpus_chrf(GOOD, [REFS]).score)
    assert out["test_sentences"] == 60 and "tok:13a" in out["bleu_signature"] and "nc:6" in out["chrf_signature"]
    sel = [i for i, n in enumerate(LENGTHS) if 21 <= n <= 30]
    assert out["n_len_21_30"] == len(sel) == 10
    assert out["bleu_len_21_30"] == pytest.approx(
        sacrebleu.corpus_bleu([GOOD[i] for i in sel], [[REFS[i] for i in sel]]).score)
    assert out["n_len_41_plus"] == 20  # 45 and 60
    assert out["bleu_ci95"] > 0 and out["bleu_len_41_plus_ci95"] > 0


def test_a_perfect_system_has_bleu_100_and_no_interval_and_empty_buckets_are_none():
    out = score_translations(REFS, REFS, [5] * len(REFS), n_bootstrap=50)
    assert out["bleu"] == pytest.approx(100.0) and out["bleu_ci95"] == pytest.approx(0.0)
    assert out["n_len_11_20"] == 0 and out["bleu_len_11_20"] is None and out["bleu_len_11_20_ci95"] is None


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="as many"):
        score_translations(GOOD, REFS[:-1], LENGTHS)


def test_paired_bootstrap_separates_a_better_system_and_not_an_equal_one():
    better = paired_bootstrap(("bad", BAD), ("good", GOOD), REFS, n_samples=200)
    assert better["system_bleu"] > better["baseline_bleu"] and better["p_value"] < 0.05
    # sacrebleu's test is two-sided: a worse system is as significant as a better one
    worse = paired_bootstrap(("good", GOOD), ("bad", BAD), REFS, n_samples=200)
    assert worse["system_bleu"] < worse["baseline_bleu"] and worse["p_value"] < 0.05
    one_off = [("el perro" if i == 3 else h) for i, h in enumerate(GOOD)]  # differs in one sentence
    close = paired_bootstrap(("good", GOOD), ("one_off", one_off), REFS, n_samples=200)
    assert close["p_value"] > 0.2
    with pytest.raises(ValueError):
        paired_bootstrap(("a", GOOD), ("b", BAD[:-1]), REFS)
