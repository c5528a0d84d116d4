"""The captioning word strip: one tile per word with its label, escaped and kept short."""

import numpy as np
import pytest

from viz.captioning import strip_figure


def test_strip_labels_are_two_short_escaped_lines_with_the_full_word_on_hover():
    image = np.zeros((64, 64), np.uint8)
    alphas = np.full((3, 8, 8), 1 / 64, np.float32)
    fig = strip_figure(image, alphas, ["a", "<b>", "extraordinarily"], tile=64, betas=[0.5, 0.25, 1.0])
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["(input)", "a<br>β=0.50", "&lt;b&gt;<br>β=0.25", "extraordi…<br>β=1.00"]
    assert fig.layout.annotations[3].hovertext == "extraordinarily"
    xs = [a.x for a in fig.layout.annotations]
    assert np.allclose(np.diff(xs), 64 + 6)  # one label centred over each tile
    assert strip_figure(image, alphas, ["a", "b", "c"], tile=64).layout.annotations[1].text == "a"
    with pytest.raises(ValueError):
        strip_figure(image, alphas, ["a"], tile=64)


def test_curve_figure_draws_each_models_curves_beside_the_uniform_level():
    from viz.captioning import curve_figure

    def curve(scale):
        return [{"epoch": e, "step": 10 * e, "train_loss": 9.0 / e, "train_nll_per_word": 1.0 / e,
                 "val_bleu4": scale * e / 10, "val_attention_correctness": scale * e / 20, "val_uniform": 0.13}
                for e in (1, 2, 3)]

    fig = curve_figure({"full <b>": curve(1.0), "no_ds": curve(2.0)})
    by_name = {}
    for trace in fig.data:
        by_name.setdefault(trace.name, []).append(trace)
    assert set(by_name) == {"full &lt;b&gt;", "no_ds", "full &lt;b&gt;: uniform map", "no_ds: uniform map"}
    correctness, bleu, loss = by_name["no_ds"]
    assert list(correctness.y) == pytest.approx([0.1, 0.2, 0.3])
    assert list(bleu.y) == pytest.approx([0.2, 0.4, 0.6]) and list(loss.y) == pytest.approx([9.0, 4.5, 3.0])
    assert list(correctness.x) == [1, 2, 3] and correctness.xaxis == "x" and bleu.xaxis == "x2" and loss.xaxis == "x3"
    (uniform,) = by_name["no_ds: uniform map"]
    assert list(uniform.y) == [0.13] * 3 and uniform.line.dash == "dot" and uniform.xaxis == "x"
    assert [a.text for a in fig.layout.annotations] == ["attention correctness (val)", "BLEU-4 (val)", "training loss"]
