"""viz/images.py: pure figure functions, names escaped, maps shrunk before they are sent."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from viz import images as vz


def test_blend_is_small_and_keeps_the_aspect():
    img = np.zeros((1000, 500, 3), np.uint8)
    out = vz.blend(img, np.random.default_rng(0).random((32, 16)), max_side=200)
    assert out.shape == (200, 100, 3) and out.dtype == np.uint8
    assert out.max() > 0  # the map shows


def test_resize_map_keeps_a_constant_and_the_range():
    assert np.allclose(vz.resize_map(np.full((7, 9), 3.0), (20, 11)), 3.0)
    m = vz.resize_map(np.arange(16.0).reshape(4, 4), (9, 9))
    assert m.shape == (9, 9) and m.min() >= 0 and m.max() <= 15


def test_class_names_are_escaped():
    fig = vz.top_classes_figure(["<b>cat</b>", "dog"], [0.7, 0.2])
    assert "&lt;b&gt;cat&lt;/b&gt;" in list(fig.data[0].y)
    fig = vz.agreement_figure(["<i>x</i>", "y"], np.eye(2), "<script>")
    assert "<script>" not in fig.layout.title.text
    with pytest.raises(ValueError):
        vz.top_classes_figure(["a"], [0.1, 0.2])


def test_click_figure_caps_the_number_of_points_and_carries_positions():
    fig = vz.click_figure(np.zeros((300, 400, 3), np.uint8), grid=(256, 256), marker=(0.5, 0.5), max_cells=64)
    cells = [t for t in fig.data if isinstance(t, go.Scatter) and t.name == "cells"][0]
    assert len(cells.x) == 64 * 64
    custom = np.asarray(cells.customdata)
    assert custom.min() > 0 and custom.max() < 1
    assert fig.layout.clickmode == "event+select"


def test_deletion_and_mosaic_figures():
    fig = vz.deletion_figure({"IG": (np.linspace(0, 1, 5), np.linspace(0.9, 0, 5), 0.4)})
    assert len(fig.data) == 1 and "AUC 0.400" in fig.data[0].name
    mosaic = vz.head_mosaic(np.zeros((64, 64, 3), np.uint8), np.random.default_rng(0).random((5, 4, 4)),
                            cell=32, columns=3, gutter=2)
    assert mosaic.shape == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2, 3)
