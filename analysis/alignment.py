"""Attention against a reference word alignment (numpy only).

Subword attention (T pieces + </s>, S pieces + </s>) is first pooled to words:
    A_word[j, i] = mean over target pieces p of word j of  sum over source pieces q of word i  A[p, q]
so a row keeps the mass that fell on real source words (mass on </s> is lost, not spread).

Scores, over target words that have at least one reference link (untagged Spanish
words, such as words the translators added, are not scored):
    mass  = mean_j sum_{i: (j,i) in S} A_word[j, i]        share of attention on aligned words
    hit   = mean_j [argmax_i A_word[j, i] is aligned]        precision of the hard alignment
    precision = |A ∩ S| / |A|   recall = |A ∩ S| / |S|   (A = one argmax link per scored
            target word, S = the reference links of those words; precision equals hit)
    AER   = 1 - 2 |A ∩ S| / (|A| + |S|)   (Och & Ney 2003 with sure links only, so
            1 - AER is the F1 of precision and recall. AER cannot reach 0 when a word has
            several reference links: the oracle that follows the reference, ``oracle_attention``,
            gets precision 1, recall (scored words) / |S|, and that AER is the reference's floor)
Baselines, scored the same way: "uniform" (every source piece equally, the chance
level; its hits are expected values) and "diagonal" (target word j -> source word at the
same relative position).
"""

from __future__ import annotations

import numpy as np


def pool_to_words(att: np.ndarray, tgt_words: np.ndarray, src_words: np.ndarray) -> np.ndarray:
    """(T, S) piece attention -> (n_tgt_words, n_src_words); word index -1 is dropped."""
    att = np.asarray(att, dtype=np.float64)
    nt, ns = int(tgt_words.max()) + 1, int(src_words.max()) + 1
    cols = np.zeros((att.shape[0], ns))
    for q, w in enumerate(src_words):
        if w >= 0:
            cols[:, w] += att[:, q]
    out = np.zeros((nt, ns))
    for j in range(nt):
        rows = np.where(tgt_words == j)[0]
        out[j] = cols[rows].mean(0)
    return out


class AlignmentScore:
    """Accumulates sums over verses so the final numbers are micro-averages over words."""

    def __init__(self):
        self.mass = self.hit = 0.0
        self.words = 0
        self.a_and_s = self.a = self.s = 0.0

    def add(self, word_att: np.ndarray, links, expected: bool = False) -> None:
        ref = {}
        for j, i in links:
            if j < word_att.shape[0] and i < word_att.shape[1]:
                ref.setdefault(j, set()).add(i)
        for j, aligned in ref.items():
            row = word_att[j]
            idx = list(aligned)
            self.mass += float(row[idx].sum())
            if expected:  # uniform attention: argmax is a random word, hit with prob k/n
                h = len(aligned) / row.shape[0]
            else:
                h = float(int(np.argmax(row)) in aligned)
            self.hit += h
            self.a_and_s += h
            self.a += 1
            self.s += len(aligned)
            self.words += 1

    def result(self) -> dict:
        """mass, hit, precision, recall, aer (micro-averages) and the number of scored words."""
        if not self.words:
            nan = float("nan")
            return {"mass": nan, "hit": nan, "precision": nan, "recall": nan, "aer": nan, "words": 0}
        return {"mass": self.mass / self.words, "hit": self.hit / self.words,
                "precision": self.a_and_s / self.a, "recall": self.a_and_s / self.s,
                "aer": 1.0 - 2.0 * self.a_and_s / (self.a + self.s), "words": self.words}


def uniform_attention(shape) -> np.ndarray:
    return np.full(shape, 1.0 / shape[1])


def diagonal_word_attention(n_tgt: int, n_src: int) -> np.ndarray:
    out = np.zeros((n_tgt, n_src))
    for j in range(n_tgt):
        out[j, int(round(j * (n_src - 1) / max(1, n_tgt - 1)))] = 1.0
    return out


def oracle_attention(links, n_tgt: int, n_src: int) -> np.ndarray:
    """Word attention that follows the reference: each linked target word spreads its mass
    evenly over its reference words (so its argmax is one of them), others attend uniformly.
    Scored with AlignmentScore, it gives the best that one argmax link per word can get."""
    m = reference_matrix(links, n_tgt, n_src).astype(np.float64)
    rows = m.sum(1, keepdims=True)
    return np.where(rows > 0, m / np.maximum(rows, 1.0), 1.0 / n_src)


def reference_matrix(links, n_tgt: int, n_src: int) -> np.ndarray:
    """0/1 (target word, source word) matrix of the reference links, for display."""
    m = np.zeros((n_tgt, n_src), dtype=np.float32)
    for j, i in links:
        if j < n_tgt and i < n_src:
            m[j, i] = 1.0
    return m
