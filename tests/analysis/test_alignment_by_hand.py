"""analysis/alignment.py on small arrays whose every entry is worked out by hand in the test
(mutation-testing survivors: pooling with more pieces than source pieces, links on the edge of
the matrix, the keys of an empty result, the whole diagonal and oracle matrices)."""

import math

import numpy as np
import pytest

from analysis.alignment import (
    AlignmentScore,
    diagonal_word_attention,
    oracle_attention,
    pool_to_words,
    reference_matrix,
    uniform_attention,
)

KEYS = {"mass", "hit", "precision", "recall", "aer", "words"}


def test_pool_to_words_by_hand_with_more_target_pieces_than_source_pieces():
    att = np.array([[0.1, 0.1, 0.4, 0.4],      # target word 0
                    [0.4, 0.1, 0.5, 0.0],      # target word 1, piece 1
                    [0.2, 0.2, 0.2, 0.4],      # target word 1, piece 2
                    [0.0, 0.5, 0.3, 0.2],      # target word 2
                    [0.25, 0.25, 0.25, 0.25]])  # </s>: dropped
    tgt_words = np.array([0, 1, 1, 2, -1])
    src_words = np.array([0, 0, 1, -1])       # source word 0 has two pieces, then </s>
    out = pool_to_words(att, tgt_words, src_words)
    # source word 0 = pieces 0 + 1, word 1 = piece 2 (piece 3 is </s>, its mass is lost)
    # rows: [0.2, 0.4], [0.5, 0.5], [0.4, 0.2], [0.5, 0.3]; word 1 = mean of its two rows
    expected = np.array([[0.2, 0.4],
                         [0.45, 0.35],
                         [0.5, 0.3]])
    assert out.shape == (3, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_alignment_score_skips_links_on_and_past_the_edge_of_the_matrix():
    att = np.array([[0.7, 0.2, 0.1],
                    [0.1, 0.6, 0.3]])         # 2 target words x 3 source words
    inside = [(0, 0), (1, 1), (1, 2)]
    edge = [(2, 0), (0, 3), (1, 3), (2, 3), (5, 5)]   # j == 2 or i == 3 lies outside
    s = AlignmentScore()
    s.add(att, inside + edge)
    r = s.result()
    # word 0: links {0}, mass 0.7, argmax 0 (hit); word 1: links {1, 2}, mass 0.9, argmax 1 (hit)
    # A = 2 links, both right; S = 3 links
    assert r["words"] == 2
    assert r["mass"] == pytest.approx((0.7 + 0.9) / 2)
    assert r["hit"] == 1.0 and r["precision"] == 1.0
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["aer"] == pytest.approx(1 - 2 * 2 / (2 + 3))
    assert set(r) == KEYS


def test_alignment_score_sums_every_quantity_over_verses():
    s = AlignmentScore()
    s.add(np.array([[0.6, 0.4]]), [(0, 1)])                 # mass 0.4, argmax 0: miss
    s.add(np.array([[0.2, 0.5, 0.3],
                    [0.1, 0.1, 0.8]]), [(0, 1), (1, 0), (1, 2)])  # 0.5 hit; 0.9 hit
    r = s.result()
    # 3 words, mass 0.4 + 0.5 + 0.9, hits 0 + 1 + 1, |A| = 3, |S| = 1 + 1 + 2 = 4
    assert r["words"] == 3
    assert r["mass"] == pytest.approx(1.8 / 3)
    assert r["hit"] == pytest.approx(2 / 3) and r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 4)
    assert r["aer"] == pytest.approx(1 - 2 * 2 / (3 + 4))


def test_expected_hits_are_links_over_source_words():
    s = AlignmentScore()
    s.add(uniform_attention((2, 5)), [(0, 0), (0, 3), (1, 4)], expected=True)
    r = s.result()
    # word 0: 2 of 5 words linked, mass 2/5; word 1: 1 of 5, mass 1/5
    assert r["hit"] == pytest.approx((2 / 5 + 1 / 5) / 2) and r["mass"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert r["recall"] == pytest.approx((2 / 5 + 1 / 5) / 3)


def test_an_empty_score_has_every_key_and_nan_values():
    r = AlignmentScore().result()
    assert set(r) == KEYS and r["words"] == 0
    assert all(math.isnan(r[k]) for k in KEYS - {"words"})
    s = AlignmentScore()
    s.add(np.array([[1.0, 0.0]]), [(1, 0), (0, 2)])          # only links outside: nothing scored
    assert s.result()["words"] == 0 and math.isnan(s.result()["mass"])


def test_uniform_attention_by_hand():
    u = uniform_attention((2, 4))
    assert u.shape == (2, 4)
    np.testing.assert_array_equal(u, np.full((2, 4), 0.25))


@pytest.mark.parametrize("n_tgt, n_src, expected", [
    (2, 3, [[1, 0, 0], [0, 0, 1]]),                 # j * 2 / 1
    (3, 2, [[1, 0], [1, 0], [0, 1]]),               # j * 1 / 2: 0, round(0.5) = 0, 1
    (1, 3, [[1, 0, 0]]),                            # one target word: column 0
    (3, 5, [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]),
    (4, 4, np.eye(4).tolist()),
])
def test_diagonal_word_attention_whole_matrix(n_tgt, n_src, expected):
    np.testing.assert_array_equal(diagonal_word_attention(n_tgt, n_src), np.array(expected, dtype=float))


def test_oracle_attention_whole_matrix_non_square():
    links = [(0, 1), (0, 2), (2, 0), (1, 4), (3, 0)]      # (1, 4) and (3, 0) lie outside 3 x 4
    att = oracle_attention(links, 3, 4)
    expected = np.array([[0.0, 0.5, 0.5, 0.0],      # two links: half each
                         [0.25, 0.25, 0.25, 0.25],  # no link inside: uniform
                         [1.0, 0.0, 0.0, 0.0]])     # one link
    assert att.dtype == np.float64
    np.testing.assert_array_equal(att, expected)


def test_oracle_attention_whole_matrix_square():
    att = oracle_attention([(0, 0), (1, 0), (1, 1)], 2, 2)
    np.testing.assert_array_equal(att, np.array([[1.0, 0.0], [0.5, 0.5]]))


def test_reference_matrix_skips_links_on_and_past_the_edge():
    m = reference_matrix([(0, 1), (1, 0), (2, 0), (0, 2), (2, 2), (1, 1)], 2, 2)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, np.array([[0.0, 1.0], [1.0, 1.0]]))
