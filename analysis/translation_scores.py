"""Translation quality with sacrebleu: corpus BLEU and chrF with their signatures, BLEU by
source-length bucket with 95% bootstrap intervals, and the paired bootstrap test.

``score_translations(hyps, refs, src_words)`` returns
    bleu, chrf                      corpus scores (sacrebleu defaults: 13a tokenisation, exp smoothing)
    bleu_signature, chrf_signature  sacrebleu's signatures, so a reader can reproduce them
    bleu_ci95                       half-width of the 95% bootstrap interval of the corpus BLEU
    bleu_len_<lo>_<hi>, n_len_<lo>_<hi>, bleu_len_<lo>_<hi>_ci95
                                    the same per bucket of source length in words
                                    (``_plus`` for the open last bucket)
Intervals: sacrebleu resamples the sentences ``n_bootstrap`` times with a fixed seed and
reports half the distance between the 2.5th and 97.5th percentiles.

``paired_bootstrap(baseline, system, refs)``: sacrebleu's paired bootstrap resampling
(Koehn 2004) of ``system`` against ``baseline`` on the same references; the p-value is
the share of resamples in which the system's advantage disappears.
"""

from __future__ import annotations

BUCKETS = [(1, 10), (11, 20), (21, 30), (31, 40), (41, 10_000)]


def bucket_name(lo: int, hi: int) -> str:
    return f"{lo}_{hi}" if hi < 10_000 else f"{lo}_plus"


def _bleu(hyps, refs, n_bootstrap: int):
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    score = metric.corpus_score(hyps, [refs], n_bootstrap=n_bootstrap)
    return score.score, (score._ci if n_bootstrap > 1 else None), str(metric.get_signature())


def score_translations(hyps: list[str], refs: list[str], src_words: list[int], n_bootstrap: int = 1000) -> dict:
    from sacrebleu.metrics import CHRF

    if not (len(hyps) == len(refs) == len(src_words)) or not hyps:
        raise ValueError(f"need as many hypotheses as references and source lengths, got "
                         f"{len(hyps)}, {len(refs)}, {len(src_words)}")
    bleu, ci, signature = _bleu(hyps, refs, n_bootstrap)
    chrf = CHRF()
    out = {"bleu": bleu, "bleu_ci95": ci, "bleu_signature": signature,
           "chrf": chrf.corpus_score(hyps, [refs]).score, "chrf_signature": str(chrf.get_signature()),
           "test_sentences": len(hyps)}
    for lo, hi in BUCKETS:
        name = bucket_name(lo, hi)
        sel = [i for i, n in enumerate(src_words) if lo <= n <= hi]
        out[f"n_len_{name}"] = len(sel)
        if sel:
            b, c, _ = _bleu([hyps[i] for i in sel], [refs[i] for i in sel], n_bootstrap if len(sel) > 1 else 1)
        else:
            b = c = None
        out[f"bleu_len_{name}"], out[f"bleu_len_{name}_ci95"] = b, c
    return out


def paired_bootstrap(baseline: tuple[str, list[str]], system: tuple[str, list[str]], refs: list[str],
                     n_samples: int = 1000) -> dict:
    """Paired bootstrap of system against baseline (names, hypotheses); BLEU only."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    if not (len(baseline[1]) == len(system[1]) == len(refs)):
        raise ValueError("both systems need one hypothesis per reference")
    test = PairedTest([baseline, system], {"BLEU": BLEU()}, [refs], test_type="bs", n_samples=n_samples)
    _, scores = test()
    base, sys_ = scores["BLEU"]
    return {"baseline": baseline[0], "system": system[0], "baseline_bleu": base.score,
            "system_bleu": sys_.score, "p_value": sys_.p_value, "n_samples": n_samples,
            "test": "sacrebleu paired bootstrap resampling (Koehn 2004)"}
