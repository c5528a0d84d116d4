"""Word pooling and alignment scores on hand-made cases; the BLEU-vs-length figure."""

import math

import numpy as np
import pytest

from analysis.alignment import (
    AlignmentScore,
    diagonal_word_attention,
    pool_to_words,
    reference_matrix,
    uniform_attention,
)
from models.translation.translator import word_index
from viz.translation import bleu_length_figure, highlight_row


def test_word_index_follows_sentencepiece_word_starts():
    assert word_index(["▁In", "▁the", "▁begin", "ning", "▁", ",", "</s>"]).tolist() == [0, 1, 2, 2, 3, 3, -1]


def test_pool_to_words_sums_keys_and_averages_queries():
    att = np.array([[0.5, 0.25, 0.25],   # target word 0, piece 0
                    [0.1, 0.1, 0.8],     # target word 0, piece 1
                    [0.0, 1.0, 0.0]])    # target word 1
    src_words = np.array([0, 0, -1])     # two pieces of source word 0, then </s>
    out = pool_to_words(att, np.array([0, 0, 1]), src_words)
    assert out.shape == (2, 1)
    assert out[:, 0].tolist() == pytest.approx([(0.75 + 0.2) / 2, 1.0])


def test_alignment_score_perfect_uniform_and_aer():
    links = [(0, 0), (1, 1), (1, 2)]     # target 1 has two reference words
    perfect = np.array([[1.0, 0, 0], [0, 0.5, 0.5]])
    s = AlignmentScore()
    s.add(perfect, links)
    r = s.result()
    assert r["mass"] == pytest.approx(1.0) and r["hit"] == pytest.approx(1.0)
    assert r["aer"] == pytest.approx(1 - 2 * 2 / (2 + 3))  # one argmax link per word, 3 sure links
    u = AlignmentScore()
    u.add(uniform_attention((2, 3)), links, expected=True)
    assert u.result()["mass"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert u.result()["hit"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert math.isnan(AlignmentScore().result()["aer"])


def test_diagonal_and_reference_matrices():
    assert diagonal_word_attention(3, 5).argmax(1).tolist() == [0, 2, 4]
    ref = reference_matrix([(0, 1), (2, 0), (9, 9)], 3, 2)
    assert ref.tolist() == [[0, 1], [0, 0], [1, 0]]


def test_bleu_length_figure_escapes_names_and_marks_empty_buckets():
    fig = bleu_length_figure(["1-10", "11-20"], {"<b>x</b>": [10.0, None]}, [5, 0])
    assert fig.data[0].name == "&lt;b&gt;x&lt;/b&gt;"
    assert np.isnan(fig.data[0].y[1])
    with pytest.raises(ValueError):
        bleu_length_figure(["1-10"], {"a": [1.0, 2.0]})
    import plotly.graph_objects as go
    fig = highlight_row(go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])), 1, 2)
    assert fig.layout.shapes[0].y0 == 0.5


def test_compare_derives_length_trend_from_card_metrics():
    from analysis.translation_comparison import compare

    def card(values, **extra):
        keys = ["1_10", "11_20", "21_30", "31_40", "41_plus"]
        return {"metrics": {"bleu": sum(values) / 5, **{f"bleu_len_{k}": v for k, v in zip(keys, values)}, **extra}}

    cards = {"seq2seq": card([10, 8, 6, 4, 2]),
             "rnnsearch": card([11, 10, 9, 8, 7], align_mass=0.4, align_uniform_mass=0.1, align_hit=0.5,
                               align_uniform_hit=0.1, align_aer=0.6, align_uniform_aer=0.9, align_diagonal_aer=0.8),
             "transformer": card([12, 9, 6, 4, 2])}
    out = compare(cards)
    assert out["rnnsearch_minus_seq2seq_bleu_by_length"]["41_plus"] == 5
    assert out["rnnsearch_advantage_slope_per_bucket"] == 1.0 and out["rnnsearch_advantage_rises_every_bucket"]
    assert "grows" in out["rnnsearch_vs_seq2seq"] and "4.00x" in out["rnnsearch_attention_vs_chance"]
    assert out["transformer_advantage_slope_per_bucket"] < 0
    assert "does not grow" in out["transformer_vs_seq2seq"]


def test_bleu_length_figure_draws_the_intervals_it_is_given():
    fig = bleu_length_figure(["1-10", "11-20"], {"rnnsearch": [10.0, 12.0]}, [5, 7], {"rnnsearch": [1.5, None]})
    assert list(fig.data[0].error_y.array[:1]) == [1.5] and np.isnan(fig.data[0].error_y.array[1])
    assert "95%" in fig.data[0].hovertemplate
    with pytest.raises(ValueError, match="intervals"):
        bleu_length_figure(["1-10", "11-20"], {"a": [1.0, 2.0]}, errors={"a": [1.0]})


def test_learning_curve_plots_bleu_and_loss_by_step_and_rings_the_exported_step():
    from viz.translation import learning_curve_figure

    history = [{"step": 1500, "dev_bleu": 4.0, "dev_loss": 5.0}, {"step": 3000, "dev_bleu": 9.5, "dev_loss": 4.1},
               {"step": 4500, "dev_bleu": 9.2, "dev_loss": 4.0}]
    fig = learning_curve_figure({"transformer": history, "<i>x</i>": []}, {"transformer": 3000})
    bleu, loss, ring = fig.data[0], fig.data[1], fig.data[2]
    assert list(bleu.x) == [1500, 3000, 4500] and list(bleu.y) == [4.0, 9.5, 9.2]
    assert list(loss.y) == [5.0, 4.1, 4.0] and loss.xaxis == "x2"
    assert list(ring.x) == [3000] and list(ring.y) == [9.5]
    assert fig.data[3].name == "&lt;i&gt;x&lt;/i&gt;"


def test_link_markers_outline_the_linked_cells_by_their_labels():
    from viz.attention import attention_heatmap
    from viz.translation import add_link_markers

    fig = attention_heatmap(np.full((2, 3), 1 / 3), ["el", "gato"], ["the", "cat", "</s>"])
    heat = fig.data[0]
    add_link_markers(fig, [(0, 0), (1, 1), (5, 0)], "eflomal <x>")  # (5, 0) lies outside: skipped
    marks = fig.data[1]
    assert list(marks.x) == [heat.x[0], heat.x[1]] and list(marks.y) == [heat.y[0], heat.y[1]]
    assert "&lt;x&gt;" in marks.hovertemplate


def test_learning_curve_marks_each_restart_on_both_panels():
    from viz.translation import learning_curve_figure

    history = [{"step": 500, "dev_bleu": 1.0, "dev_loss": 5.0}, {"step": 1000, "dev_bleu": 3.0, "dev_loss": 4.5}]
    fig = learning_curve_figure({"rnnsearch": history, "seq2seq": history}, {}, {"rnnsearch": [500], "seq2seq": []})
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted((s.x0, s.xref) for s in lines) == [(500, "x"), (500, "x2")]
    titles = ["dev BLEU (greedy)", "dev loss (nats per token)"]
    assert [a.text for a in fig.layout.annotations] == titles  # no per-line labels to overlap
    assert [d.name for d in fig.data if d.showlegend is not False][-1] == "restarted from exported weights"
    plain = learning_curve_figure({"rnnsearch": history})
    assert not plain.layout.shapes and "restarted from exported weights" not in [d.name for d in plain.data]
