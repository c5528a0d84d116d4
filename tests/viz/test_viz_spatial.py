"""Image-lab figures: shapes checked, titles escaped, click markers carry their cell."""

from __future__ import annotations

import numpy as np
import pytest

from viz.spatial import channel_bars, clickable_image, mosaic, cell_map_figure, samples_image


def test_clickable_image_has_one_marker_per_cell():
    fig = clickable_image(np.zeros((64, 64)), (16, 16), box=(1, 2, 30, 40), query=(3, 4),
                          title="<b>scene</b>")
    markers = fig.data[1]
    assert len(markers.x) == 256
    assert markers.customdata[16 * 3 + 4].tolist() == [3, 4]
    # Cell (3, 4) covers canvas pixels x 16..19, y 12..15: its marker sits at the centre.
    assert markers.x[16 * 3 + 4] == pytest.approx(17.5) and markers.y[16 * 3 + 4] == pytest.approx(13.5)
    assert "&lt;b&gt;" in fig.layout.title.text
    assert len(fig.layout.shapes) == 2  # ground-truth box and query cell


def test_overlay_places_grid_over_canvas():
    att = np.arange(16.0).reshape(4, 4)
    fig = cell_map_figure(np.zeros((64, 64)), att, title="a & b")
    heat = fig.data[1]
    assert heat.dx == 16 and heat.x0 == pytest.approx(7.5)
    assert "&amp;" in fig.layout.title.text
    with pytest.raises(ValueError):
        cell_map_figure(np.zeros((64, 64)), np.zeros(16))
    with pytest.raises(ValueError):
        cell_map_figure(np.zeros((2, 2, 3)), att)


def test_channel_bars_and_mosaic():
    fig = channel_bars(np.linspace(0, 1, 32), title="cbam.1.channel")
    assert len(fig.data[0].y) == 32 and tuple(fig.layout.yaxis.range) == (0, 1)
    with pytest.raises(ValueError):
        channel_bars([])
    m = mosaic(np.ones((10, 28, 28)), columns=4, pad=2)
    assert m.shape == (3 * 30 + 2, 4 * 30 + 2)
    assert m.sum() == 10 * 28 * 28


def test_samples_image_scales_the_mosaic_pixel_by_pixel_on_its_own_grey_scale():
    images = np.zeros((3, 28, 28), np.float32)
    images[0, 0, 0], images[1, 5, 7], images[2, 27, 27] = 2.0, 1.0, -0.5   # the grid's max is white
    picture = samples_image(images, columns=2, scale=3)
    assert picture.dtype == np.uint8 and picture.shape == (3 * (2 * 30 + 2), 3 * (2 * 30 + 2))
    # image 0 at the first cell (pad 2): its top-left pixel is a 3x3 block of white
    assert (picture[6:9, 6:9] == 255).all() and picture[5, 6] == 0 and picture[9, 9] == 0
    # image 1, row 5, column 7, at cell (0, 1): half the max -> round(127.5) = 128
    y, x = 3 * (2 + 5), 3 * (2 + 30 + 7)
    assert (picture[y:y + 3, x:x + 3] == 128).all()
    assert picture.min() == 0 and int((picture == 255).sum()) == 9 and int((picture == 128).sum()) == 9
    assert samples_image(np.ones((3, 28, 28)), columns=8, scale=1).shape == (32, 8 * 30 + 2)
    with pytest.raises(ValueError, match="scale"):
        samples_image(images, scale=0)


def test_class_histogram_figure_draws_shares_per_source_with_the_limits():
    from viz.spatial import class_histogram_figure

    classes = [f"c{i}" for i in range(10)]
    fig = class_histogram_figure({"GAN <b>": [10, 0, 0, 0, 0, 0, 0, 0, 0, 30], "real": [1] * 10}, classes, "t")
    assert [t.name for t in fig.data] == ["GAN &lt;b&gt;", "real", "limit 25 %", "even spread 10 %"]
    np.testing.assert_allclose(fig.data[0].y, [0.25] + [0.0] * 8 + [0.75])
    np.testing.assert_allclose(fig.data[1].y, [0.1] * 10)
    assert list(fig.data[2].y) == [0.25, 0.25] and list(fig.data[3].y) == [0.1, 0.1]
    assert list(fig.data[2].x) == ["c0", "c9"]  # across every class
    with pytest.raises(ValueError, match="3 counts for 10 classes"):
        class_histogram_figure({"x": [1, 2, 3]}, classes)


def test_classifier_curve_figure_draws_every_arch_beside_chance():
    from viz.spatial import classifier_curve_figure

    def curve(v):
        return [{"epoch": e, "step": 10 * e, "train_loss": 2.0 / e, "train_accuracy": v * e, "val_accuracy": v * e / 2}
                for e in (1, 2)]

    fig = classifier_curve_figure({"a": curve(0.2), "b <i>": curve(0.4)})
    assert [t.name for t in fig.data] == ["a"] * 3 + ["b &lt;i&gt;"] * 3
    assert list(fig.data[3].y) == pytest.approx([0.2, 0.4]) and fig.data[3].xaxis == "x"
    assert list(fig.data[4].y) == pytest.approx([0.4, 0.8]) and fig.data[4].xaxis == "x2"
    assert list(fig.data[5].y) == pytest.approx([2.0, 1.0]) and fig.data[5].xaxis == "x3"
    assert [s.y0 for s in fig.layout.shapes] == [0.1]  # chance of ten classes, on the validation panel
    assert fig.layout.shapes[0].yref.startswith("y") and fig.layout.yaxis.tickformat == ".0%"


def test_gan_curve_figure_has_one_line_per_gan_and_score_and_the_floor():
    from viz.spatial import gan_curve_figure

    curve = [{"step": 500, "fid": 40.0, "inception_score": 5.0, "largest_class_share": 0.3},
             {"step": 1000, "fid": 20.0, "inception_score": 6.0, "largest_class_share": 0.2}]
    fig = gan_curve_figure({"a": curve, "b": curve[:1]}, fid_floor=1.5)
    assert len(fig.data) == 6
    assert list(fig.data[0].x) == [500, 1000] and list(fig.data[0].y) == [40.0, 20.0]
    assert list(fig.data[2].y) == [0.3, 0.2] and list(fig.data[3].y) == [40.0]
    assert 1.5 in [s.y0 for s in fig.layout.shapes]
