"""The shared learning-curve figure: what each panel draws, and what the legend and axes say."""

from __future__ import annotations

import pytest

from viz.curves import Panel, panel_curves


def _curve(scale, n=3):
    return [{"epoch": e, "step": 100 * e, "loss": scale / e, "acc": scale * e / 10, "chance": 0.1}
            for e in range(1, n + 1)]


def test_each_panel_draws_each_model_once_with_one_legend_entry_per_model():
    fig = panel_curves({"a <b>": _curve(1.0), "b": _curve(2.0)},
                       (Panel("accuracy", "acc", reference_key="chance", reference_label="uniform"),
                        Panel("loss <i>", "loss", hline=0.5, hline_label="floor <x>", percent=True)))
    lines = [t for t in fig.data if t.line.dash is None]
    assert [(t.name, t.xaxis) for t in lines] == [("a &lt;b&gt;", "x"), ("a &lt;b&gt;", "x2"),
                                                  ("b", "x"), ("b", "x2")]
    assert all(t.mode == "lines+markers" for t in lines)
    assert [t.showlegend for t in lines] == [True, False, True, False]  # one entry per model
    assert list(lines[2].x) == [1, 2, 3] and list(lines[3].y) == pytest.approx([2.0, 1.0, 2 / 3])
    assert lines[0].line.color != lines[2].line.color and lines[0].legendgroup == lines[1].legendgroup == "a <b>"
    refs = [t for t in fig.data if t.line.dash == "dot"]
    assert [t.name for t in refs] == ["a &lt;b&gt;: uniform", "b: uniform"]
    assert all(t.showlegend and t.xaxis == "x" for t in refs)
    assert list(refs[1].x) == [1, 2, 3] and list(refs[1].y) == [0.1] * 3
    assert refs[1].line.color == lines[2].line.color and refs[1].legendgroup == "b"
    (shape,) = fig.layout.shapes
    assert shape.y0 == 0.5 and shape.xref.startswith("x2")
    texts = [a.text for a in fig.layout.annotations]
    assert texts[:2] == ["accuracy", "loss &lt;i&gt;"] and "floor &lt;x&gt;" in texts
    assert fig.layout.yaxis2.tickformat == ".0%" and fig.layout.yaxis.tickformat is None
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.xaxis.dtick == 1
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]  # side by side, one row
    assert fig.layout.yaxis.domain == fig.layout.yaxis2.domain


def test_points_without_a_key_are_skipped_and_steps_get_free_ticks():
    curve = _curve(1.0)
    del curve[1]["acc"]
    fig = panel_curves({"m": curve}, (Panel("accuracy", "acc"),), x="step")
    assert list(fig.data[0].x) == [100, 300]
    assert fig.layout.xaxis.title.text == "step" and fig.layout.xaxis.dtick is None
    long = panel_curves({"m": _curve(1.0, n=25)}, (Panel("loss", "loss"),))
    assert long.layout.xaxis.dtick is None  # 25 epochs: plotly picks the ticks
    assert panel_curves({}, (Panel("loss", "loss"),)).data == ()


def test_the_legend_gets_room_below_the_axes_for_its_rows():
    from viz.curves import LEGEND_ROW_PX, legend_rows

    assert legend_rows([]) == 0 and legend_rows(["a"]) == 1
    assert legend_rows(["x" * 40] * 3) == 2            # 305 px each: two fit in 640 px
    assert legend_rows(["x" * 200]) == 1               # one long entry still takes one row
    few = panel_curves({"m": _curve(1.0)}, (Panel("loss", "loss"),))
    many = panel_curves({f"model number {i}": _curve(1.0) for i in range(8)}, (Panel("loss", "loss"),))
    assert many.layout.legend.yref == "container" and many.layout.legend.y == 0
    extra = many.layout.height - few.layout.height
    assert extra == many.layout.margin.b - few.layout.margin.b > 0 and extra % LEGEND_ROW_PX == 0
