"""The long-context figures: what each one encodes, checked on small hand-made inputs."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from viz.attention import COLORSCALE, _lut
from viz.llm import layer_head_grid, map_png, overview_figure, shaded_tokens_html


def _pixels(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def test_map_png_colours_by_the_square_root_of_weight_over_max():
    v = np.array([[0.0, 0.25], [1.0, 4.0]])
    px = _pixels(map_png(v))
    lut = _lut(COLORSCALE)
    for (r, c), level in {(0, 0): 0.0, (0, 1): 0.25, (1, 0): 0.5, (1, 1): 1.0}.items():
        assert (px[r, c] == lut[int(round(level * 255))]).all()  # (v / 4) ** 0.5
    assert (_pixels(map_png(np.zeros((2, 2)))) == lut[0]).all()   # an all-zero map stays dark, no NaN
    with pytest.raises(ValueError):
        map_png(np.zeros(3))


def test_overview_has_one_click_point_per_tile_on_or_below_the_diagonal():
    fig = overview_figure(np.ones((5, 5)), block=2, n_tokens=10, tile=4, selected=(4, 0))
    points = fig.data[1]
    starts = {tuple(int(x) for x in p) for p in points.customdata}
    assert starts == {(0, 0), (4, 0), (4, 4), (8, 0), (8, 4), (8, 8)}  # (0, 4), (0, 8), (4, 8) lie above
    assert list(points.x[:1]) == [2.0] and list(points.y[:1]) == [2.0]  # tile centres in token positions
    image = fig.data[0]
    assert (image.dx, image.dy) == (2, 2)                              # one pixel = a 2 x 2 token block
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (0, 4, 4, 8)


def test_shaded_tokens_escape_text_shade_by_weight_and_rank_the_top_keys():
    html = shaded_tokens_html(["<b>", " cat", "\n"], np.array([0.5, 0.25, 0.25]), query=2, top=1)
    assert "<b>" not in html  # the token is text, never markup
    assert "&lt;b&gt;" in html and "rgba(228,0,43,1.000)" in html and "rgba(228,0,43,0.500)" in html
    assert html.count("<sup>") == 1 and "<sup>1</sup>" in html
    assert "outline" in html.split("</span>")[2]       # the query token is boxed
    with pytest.raises(ValueError):
        shaded_tokens_html(["a"], np.array([0.5, 0.5]), 0)


def test_layer_head_grid_points_carry_layer_head_value_and_the_chance_level_is_titled():
    v = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    fig = layer_head_grid(v, "Sink share", "sink", selected=(1, 2), chance=0.125)
    custom = np.asarray(fig.data[1].customdata)
    assert custom.shape == (6, 3) and custom[5].tolist() == pytest.approx([1, 2, 0.6])
    assert "0.125" in fig.layout.title.text
    (rect,) = fig.layout.shapes
    assert (rect.x0, rect.y0) == (1.5, 0.5)
    # whole layers only on the axis, and a 2-layer grid as tall as a 10-layer one's minimum
    assert fig.layout.yaxis.dtick == 1 and fig.layout.height == layer_head_grid(np.zeros((9, 3)), "t", "v").layout.height
    assert layer_head_grid(np.zeros((30, 9)), "t", "v").layout.height == 90 + 16 * 30


def test_a_sink_saturates_instead_of_darkening_the_rest():
    v = np.full((200, 200), 0.01)
    v[:, 0] = 1.0   # a sink column: 200 of 40,000 cells (0.5%), above the 99th percentile
    px = _pixels(map_png(v))
    lut = _lut(COLORSCALE)
    assert (px[5, 0] == lut[255]).all()              # the sink saturates...
    assert (px[5, 5] == lut[255]).all()              # ...and the rest is drawn at full scale, not dark


def test_skip_first_shades_relative_to_the_rest():
    html = shaded_tokens_html(["<s>", "a", "b"], np.array([0.9, 0.05, 0.05]), query=2, skip_first=True)
    assert "rgba(228,0,43,1.000)" in html.split("</span>")[1]   # "a" at full shade
    assert html.count("rgba(228,0,43,1.000)") == 3              # the sink capped at 1


def test_phase_change_figure_plots_the_card_curves_and_marks_the_step():
    from viz.llm import phase_change_figure

    curves = [{"step": s, "loss": None if s == 0 else 5.0 - s / 100, "dev_loss": 6.0 - s / 200, "icl": -s / 1000,
               "induction": [[0.01, s / 400], [0.0, 0.0]], "induction_short": [[0.02, s / 300], [0.0, 0.0]]}
              for s in (0, 100, 200, 300)]
    control = [{"step": s, "dev_loss": 6.1, "icl": -0.05, "best_induction": 0.013} for s in (0, 100, 200, 300)]
    fig = phase_change_figure(curves, control, 200, 0.014, probe=50, short_probe=20)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["training loss"].x) == [100, 200, 300]             # no loss before the first step
    assert list(by_name["2 layers, probe of 50"].y) == [0.01, 0.25, 0.5, 0.75]  # the best head per step
    assert list(by_name["2 layers, probe of 20"].y) == pytest.approx([0.02, 1 / 3, 2 / 3, 1.0])
    assert list(by_name["1-layer control"].y) == [-0.05] * 4
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sum(s.x0 == 200 for s in lines) == 3                            # the phase change on all three panels
    assert any(s.y0 == 0.014 for s in lines)                               # the chance level
    assert any("phase change, step 200" in a.text for a in fig.layout.annotations)
    no_change = phase_change_figure(curves, None, None, 0.014)
    assert not any(s.x0 == 200 for s in no_change.layout.shapes) and "1-layer control" not in {t.name for t in no_change.data}
