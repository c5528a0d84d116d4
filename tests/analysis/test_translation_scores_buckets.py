"""Bucket edges, when an interval is reported, the defaults, and the paired-bootstrap record, against sacrebleu."""

from __future__ import annotations

import pytest
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from analysis.translation_scores import paired_bootstrap, score_translations

REFS = [f"the man {w} eats bread in house {i}" for i, w in enumerate(["big", "old", "red", "tall"] * 6)]
HYPS = [r if i % 3 else "the dog eats" for i, r in enumerate(REFS)]
OTHER = [r if i % 2 else "a house" for i, r in enumerate(REFS)]


def _ci(hyps, refs, n):
    return BLEU().corpus_score(hyps, [refs], n_bootstrap=n)._ci


def test_bucket_edges_are_inclusive():
    lengths = [1, 10, 11, 20, 21, 30, 31, 40, 41, 10_000, 0, 10_001]  # 0 and 10 001 fall in no bucket
    out = score_translations(HYPS[:12], REFS[:12], lengths, n_bootstrap=1)
    assert [out[f"n_len_{b}"] for b in ("1_10", "11_20", "21_30", "31_40", "41_plus")] == [2, 2, 2, 2, 2]
    assert out["test_sentences"] == 12
    assert out["bleu_len_1_10"] == pytest.approx(BLEU().corpus_score(HYPS[:2], [REFS[:2]]).score)


def test_one_sentence_has_no_interval_two_have_sacrebleus():
    lengths = [5, 15, 16] + [25] * 21  # 1_10: one sentence, 11_20: two
    out = score_translations(HYPS, REFS, lengths, n_bootstrap=50)
    assert out["n_len_1_10"] == 1 and out["bleu_len_1_10_ci95"] is None
    assert out["bleu_len_1_10"] == pytest.approx(BLEU().corpus_score(HYPS[:1], [REFS[:1]]).score)
    assert out["bleu_len_11_20_ci95"] == pytest.approx(_ci(HYPS[1:3], REFS[1:3], 50))
    assert out["bleu_len_21_30_ci95"] == pytest.approx(_ci(HYPS[3:], REFS[3:], 50))
    assert out["bleu_ci95"] == pytest.approx(_ci(HYPS, REFS, 50)) and out["bleu_ci95"] > 0


def test_n_bootstrap_one_gives_no_interval_two_gives_one():
    assert score_translations(HYPS, REFS, [5] * len(REFS), n_bootstrap=1)["bleu_ci95"] is None
    two = score_translations(HYPS, REFS, [5] * len(REFS), n_bootstrap=2)
    assert two["bleu_ci95"] is not None and two["bleu_ci95"] == pytest.approx(_ci(HYPS, REFS, 2))
    assert two["bleu_len_1_10_ci95"] == pytest.approx(_ci(HYPS, REFS, 2))


def test_default_is_1000_resamples(monkeypatch):
    # one resample more or less rarely moves the 2.5th/97.5th percentiles, so watch the call instead
    seen = []
    original = BLEU.corpus_score

    def spy(self, hyps, refs, n_bootstrap=1):
        seen.append(n_bootstrap)
        return original(self, hyps, refs, n_bootstrap=n_bootstrap)

    monkeypatch.setattr(BLEU, "corpus_score", spy)
    out = score_translations(HYPS, REFS, [5] * len(REFS))
    assert seen == [1000, 1000]  # the corpus, then the one non-empty bucket
    assert out["bleu_ci95"] == pytest.approx(_ci(HYPS, REFS, 1000))


def test_paired_bootstrap_record_equals_sacrebleus_test():
    out = paired_bootstrap(("other", OTHER), ("hyps", HYPS), REFS)  # default 1000 resamples
    _, scores = PairedTest([("other", OTHER), ("hyps", HYPS)], {"BLEU": BLEU()}, [REFS], test_type="bs",
                           n_samples=1000)()
    base, system = scores["BLEU"]
    assert out == {"baseline": "other", "system": "hyps", "baseline_bleu": pytest.approx(base.score),
                   "system_bleu": pytest.approx(system.score), "p_value": pytest.approx(system.p_value),
                   "n_samples": 1000, "test": "sacrebleu paired bootstrap resampling (Koehn 2004)"}
    assert out["baseline_bleu"] == pytest.approx(BLEU().corpus_score(OTHER, [REFS]).score)
    with pytest.raises(ValueError, match=r"^both systems need one hypothesis per reference$"):
        paired_bootstrap(("a", HYPS), ("b", OTHER), REFS[:-1])
