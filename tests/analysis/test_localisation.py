"""Pointing game and query-independence on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.localisation import (affinity_mass, pointing_game, pointing_hits,
                                   query_independence)


def test_pointing_hits_by_cell_centre():
    maps = np.zeros((2, 16, 16), np.float32)
    maps[0, 2, 3] = 1.0   # cell centre (x=14, y=10) in canvas pixels
    maps[1, 15, 15] = 1.0  # centre (62, 62)
    boxes = np.array([[12, 8, 20, 12], [12, 8, 20, 12]])
    np.testing.assert_array_equal(pointing_hits(maps, boxes), [True, False])
    assert pointing_game(maps, boxes) == 0.5
    with pytest.raises(ValueError):
        pointing_hits(maps, boxes[:1])


def test_query_independence_extremes():
    n = 6
    same = np.tile(np.random.default_rng(0).random(n), (n, 1))      # every row alike
    eye = np.eye(n)                                                   # each query its own key
    np.testing.assert_allclose(query_independence(same), [1.0])
    np.testing.assert_allclose(query_independence(eye), [0.0], atol=1e-12)
    # Brute force on a random matrix agrees with the closed form.
    a = np.random.default_rng(1).random((2, n, n))
    r = a / np.linalg.norm(a, axis=2, keepdims=True)
    brute = [(np.sum(ri @ ri.T) - n) / (n * (n - 1)) for ri in r]
    np.testing.assert_allclose(query_independence(a), brute)


def test_affinity_mass_is_mean_over_queries():
    a = np.random.default_rng(2).random((1, 4, 4))
    np.testing.assert_allclose(affinity_mass(a, (2, 2))[0].ravel(), a[0].mean(0))
    with pytest.raises(ValueError):
        affinity_mass(a, (3, 3))
