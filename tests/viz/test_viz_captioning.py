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
