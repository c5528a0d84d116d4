"""Precision and recall of hard argmax links, and the oracle that follows the reference."""

import math

import numpy as np
import pytest

from analysis.alignment import AlignmentScore, oracle_attention, uniform_attention
from corpora.alignment_check import oracle_floor


def test_precision_and_recall_by_hand():
    # target word 0: links {0}; word 1: links {1, 2}; word 2: links {0}; word 3 has none (not scored)
    links = [(0, 0), (1, 1), (1, 2), (2, 0)]
    att = np.array([[0.9, 0.1, 0.0],    # argmax 0: right
                    [0.2, 0.1, 0.7],    # argmax 2: right
                    [0.1, 0.6, 0.3],    # argmax 1: wrong
                    [1.0, 0.0, 0.0]])   # not scored
    s = AlignmentScore()
    s.add(att, links)
    r = s.result()
    # A = {(0,0), (1,2), (2,1)}, S = 4 links, |A ∩ S| = 2
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 4)
    assert r["precision"] == pytest.approx(r["hit"])
    assert r["aer"] == pytest.approx(1 - 2 * 2 / (3 + 4))
    p, q = r["precision"], r["recall"]
    assert 1 - r["aer"] == pytest.approx(2 * p * q / (p + q))   # sure links only: 1 - AER = F1
    assert {"mass", "hit", "aer", "words"} <= r.keys() and r["words"] == 3


def test_precision_and_recall_accumulate_over_verses_and_expected_hits():
    s = AlignmentScore()
    s.add(np.array([[1.0, 0.0]]), [(0, 0)])               # 1 of 1
    s.add(np.array([[0.0, 1.0]]), [(0, 0)])               # 0 of 1
    assert (s.result()["precision"], s.result()["recall"]) == (0.5, 0.5)
    u = AlignmentScore()
    u.add(uniform_attention((1, 4)), [(0, 1), (0, 2)], expected=True)   # hit with prob 2/4
    assert u.result()["precision"] == pytest.approx(0.5) and u.result()["recall"] == pytest.approx(0.25)
    empty = AlignmentScore().result()
    assert math.isnan(empty["precision"]) and math.isnan(empty["recall"]) and empty["words"] == 0


def test_oracle_attention_reaches_the_reference_floor():
    verses = [{"links": [(0, 0), (0, 1), (1, 2), (3, 3)], "shape": (4, 4)},
              {"links": [(0, 1), (1, 0), (1, 1), (1, 2)], "shape": (2, 3)}]
    s = AlignmentScore()
    for v in verses:
        att = oracle_attention(v["links"], *v["shape"])
        np.testing.assert_allclose(att.sum(1), 1.0)
        s.add(att, v["links"])
    r, floor = s.result(), oracle_floor(verses)
    assert r["precision"] == 1.0 and r["mass"] == pytest.approx(1.0)
    assert r["recall"] == pytest.approx(floor["recall"]) and r["aer"] == pytest.approx(floor["aer"])
    assert floor["aer"] == pytest.approx(1 - 2 * 5 / (5 + 8))
