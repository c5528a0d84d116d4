"""Peak cells, pointing boxes at their edges, affinity mass and query independence by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.localisation import (affinity_mass, peak_cells, pointing_game, pointing_hits,
                                   query_independence)


def test_peak_cells_on_a_non_square_grid():
    maps = np.zeros((3, 2, 5))
    maps[0, 1, 3] = 1.0  # flat index 8
    maps[1, 0, 4] = 2.0  # flat index 4
    maps[2, 1, 0] = 0.5  # flat index 5
    rows, cols = peak_cells(maps)
    assert rows.tolist() == [1, 0, 1] and cols.tolist() == [3, 4, 0]
    assert rows.dtype.kind == "i" and cols.dtype.kind == "i"
    with pytest.raises(ValueError, match=r"^maps must be \(B, h, w\), got shape \(2, 5\)$"):
        peak_cells(maps[0])


def test_pointing_uses_cell_centres_on_a_non_square_grid():
    # grid 2 x 4 on a 64 canvas: cells are 32 tall and 16 wide; cell (1, 2) has centre x = 40, y = 48
    maps = np.zeros((1, 2, 4))
    maps[0, 1, 2] = 1.0
    inside = [[39, 47, 41, 49]]
    assert pointing_hits(maps, inside).tolist() == [True]
    for box in ([41, 0, 64, 64], [0, 49, 64, 64], [0, 0, 39, 64], [0, 0, 64, 47]):
        assert pointing_hits(maps, [box]).tolist() == [False], box


def test_box_edges_left_and_top_are_inside_right_and_bottom_outside():
    maps = np.zeros((1, 2, 4))
    maps[0, 1, 2] = 1.0  # centre (40, 48)
    assert pointing_hits(maps, [[40, 48, 41, 49]]).tolist() == [True]   # x0 = x, y0 = y: inside
    assert pointing_hits(maps, [[30, 40, 40, 64]]).tolist() == [False]  # x1 = x: exclusive
    assert pointing_hits(maps, [[30, 40, 64, 48]]).tolist() == [False]  # y1 = y: exclusive


def test_canvas_size_scales_the_centres():
    maps = np.zeros((2, 2, 4))
    maps[0, 1, 2] = 1.0   # centre (40, 48) on 64; (20, 24) on 32
    maps[1, 0, 0] = 1.0   # centre (8, 16) on 64; (4, 8) on 32
    boxes = np.array([[38, 46, 42, 50], [7, 15, 9, 17]])
    assert pointing_hits(maps, boxes).tolist() == [True, True]  # default canvas 64
    assert pointing_game(maps, boxes) == 1.0
    # boxes a fraction of a pixel wide: on a 65-pixel canvas the centres would be (40.6, 48.75), (8.1, 16.25)
    tight = np.array([[40, 48, 40.5, 48.5], [8, 16, 8.1, 16.1]])
    assert pointing_hits(maps, tight).tolist() == [True, True]
    assert pointing_game(maps, tight) == 1.0
    assert pointing_hits(maps, boxes, canvas=32).tolist() == [False, False]
    assert pointing_game(maps, [[19, 23, 21, 25], [0, 0, 1, 1]], canvas=32) == 0.5  # 0 on 64
    with pytest.raises(ValueError, match=r"^2 maps but 1 boxes$"):
        pointing_hits(np.zeros((2, 3, 4)), boxes[:1])


def test_affinity_mass_by_hand_and_its_shape_check():
    a = np.array([[[0.5, 0.5, 0.0, 0.0],
                   [0.0, 1.0, 0.0, 0.0],
                   [0.25, 0.25, 0.25, 0.25],
                   [0.0, 0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(affinity_mass(a, (1, 4)), [[[0.1875, 0.4375, 0.0625, 0.3125]]])
    np.testing.assert_allclose(affinity_mass(a, (2, 2)), [[[0.1875, 0.4375], [0.0625, 0.3125]]])
    assert affinity_mass(a, (1, 4)).dtype == np.float32
    with pytest.raises(ValueError, match=r"^affinity must be \(B, N, N\) with N = 3, got \(1, 4, 4\)$"):
        affinity_mass(a, (1, 3))
    for bad, grid in [(a[0], (2, 2)), (a[:, :3], (2, 2)), (a[:, :, :3], (1, 3)), (a, (1, 3))]:
        with pytest.raises(ValueError, match=r"^affinity must be \(B, N, N\) with N = "):
            affinity_mass(bad, grid)


def test_query_independence_by_hand():
    # rows (1, 0), (.6, .8): cos = .6; two queries -> QI = (.6 + .6) / 2
    a = np.array([[1.0, 0.0], [0.6, 0.8]])
    np.testing.assert_allclose(query_independence(a), [0.6])  # a (N, N) matrix is one batch
    # rows shorter than 1 (softmax rows) are normalised too: cos((.5, .5), (.2, .8)) = 1 / √1.36
    soft = np.array([[[0.5, 0.5], [0.2, 0.8]]])
    np.testing.assert_allclose(query_independence(soft), [1.0 / np.sqrt(1.36)])
    # a zero row is cosine 0 with every row: pairs (0, 2) and (2, 0) count 1 each -> 2 / 6
    z = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]])
    np.testing.assert_allclose(query_independence(z), [1 / 3])
    # queries and keys may differ in number: two queries over three keys, cos = .6
    assert query_independence(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])) == pytest.approx([0.6])
    # computed (and returned) in float64 whatever the input dtype
    assert query_independence(np.eye(3, dtype=np.float32)).dtype == np.float64


def test_query_independence_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"^affinity must be \(B, N, N\), got shape \(3,\)$"):
        query_independence(np.ones(3))
    with pytest.raises(ValueError, match=r"^query independence needs at least two query positions$"):
        query_independence(np.ones((2, 1, 1)))
