"""Energy in box, sign-aware maps and the chance levels of both localisation scores, each
against its definition written out here pixel by pixel and cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.localisation import (box_mass, cell_coverage, centre_prior, energy_in_box, localisation_scores,
                                   sign_aware)

CANVAS = 64


def energy_by_pixels(m: np.ndarray, box, canvas: int = CANVAS, k: int = 4) -> float:
    """Each cell's weight spread evenly over k*k samples per canvas pixel; the share of the
    total that falls on samples inside the box."""
    h, w = m.shape
    n = canvas * k
    pts = (np.arange(n) + 0.5) / k                                       # sample coordinates in pixels
    rows = np.minimum((pts * h / canvas).astype(int), h - 1)
    cols = np.minimum((pts * w / canvas).astype(int), w - 1)
    per_cell = np.zeros((h, w))
    for r in rows:
        for c in cols:
            per_cell[r, c] += 1
    inside = total = 0.0
    for i, y in enumerate(pts):
        for j, x in enumerate(pts):
            weight = m[rows[i], cols[j]] / per_cell[rows[i], cols[j]]
            total += weight
            if box[0] <= x < box[2] and box[1] <= y < box[3]:
                inside += weight
    return inside / total


def peak_hit(m: np.ndarray, box, canvas: int = CANVAS) -> bool:
    h, w = m.shape
    r, c = divmod(int(np.argmax(m)), w)
    x, y = (c + 0.5) * canvas / w, (r + 0.5) * canvas / h
    return box[0] <= x < box[2] and box[1] <= y < box[3]


BOXES = np.array([[8, 8, 40, 24], [30, 2, 62, 61], [0, 0, 17, 64], [21, 33, 23, 35]], dtype=float)


@pytest.mark.parametrize("grid", [(16, 16), (8, 8), (16, 8), (4, 32)])
def test_energy_in_box_spreads_each_cell_over_its_pixels(grid):
    rng = np.random.default_rng(grid[0] * 100 + grid[1])
    maps = rng.random((len(BOXES), *grid)) ** 3
    got = energy_in_box(maps, BOXES)
    for m, box, g in zip(maps, BOXES, got):
        assert g == pytest.approx(energy_by_pixels(m, box), abs=1e-9)
        assert g == pytest.approx(box_mass(m, box), abs=1e-12)
    assert cell_coverage((0, 0, 64, 64), grid).sum() == pytest.approx(grid[0] * grid[1])


def test_energy_in_box_refuses_signed_maps_and_wrong_shapes():
    with pytest.raises(ValueError, match="non-negative maps"):
        energy_in_box(-np.ones((1, 4, 4)), BOXES[:1])
    with pytest.raises(ValueError, match=r"\(B, h, w\) maps and \(B, 4\) boxes"):
        energy_in_box(np.ones((2, 4, 4)), BOXES[:1])
    with pytest.raises(ValueError, match=r"\(B, h, w\) maps"):
        energy_in_box(np.ones((4, 4)), BOXES[:1])
    assert box_mass(np.zeros((4, 4)), BOXES[0]) == 0.0


def test_sign_aware_is_the_distance_from_the_maps_own_mean():
    m = np.array([[[1.0, 1.0], [1.0, -5.0]], [[0.0, 2.0], [4.0, 6.0]]])
    expected = np.array([[[1.5, 1.5], [1.5, 4.5]], [[3.0, 1.0], [1.0, 3.0]]])     # means -0.5 and 3
    np.testing.assert_allclose(sign_aware(m), expected)


def test_centre_prior_is_a_gaussian_on_the_canvas_centre():
    prior = centre_prior((4, 8))
    for r in range(4):
        for c in range(8):
            y, x = (r + 0.5) * 16 - 32, (c + 0.5) * 8 - 32
            assert prior[r, c] == pytest.approx(np.exp(-(x * x + y * y) / (2 * 16.0 ** 2)))


@pytest.mark.parametrize("grid", [(16, 16), (8, 4)])
def test_scores_and_every_chance_level_by_hand(grid):
    rng = np.random.default_rng(7)
    maps = rng.normal(size=(len(BOXES), *grid))
    maps[0, 2, 1] = -9.0      # a map whose strongest point is its most negative one
    out = localisation_scores(maps, BOXES)
    signed = [np.abs(m - m.mean()) for m in maps]
    h, w = grid
    centre = np.array([[np.exp(-(((c + 0.5) * CANVAS / w - 32) ** 2 + ((r + 0.5) * CANVAS / h - 32) ** 2)
                               / (2 * 16.0 ** 2)) for c in range(w)] for r in range(h)])
    shuffled = [BOXES[i - 1] for i in range(len(BOXES))]                 # scene i scored on scene i-1's box
    random_cell = [np.mean([box[0] <= (c + 0.5) * CANVAS / w < box[2] and box[1] <= (r + 0.5) * CANVAS / h < box[3]
                            for r in range(h) for c in range(w)]) for box in BOXES]
    pg, en = out["pointing_game"], out["energy_in_box"]
    assert pg["map"] == pytest.approx(np.mean([peak_hit(m, b) for m, b in zip(signed, BOXES)]))
    assert pg["chance"]["uniform"] == pytest.approx(np.mean(random_cell))
    assert pg["chance"]["centre_prior"] == pytest.approx(np.mean([peak_hit(centre, b) for b in BOXES]))
    assert pg["chance"]["shuffled_box"] == pytest.approx(np.mean([peak_hit(m, b) for m, b in zip(signed, shuffled)]))
    assert en["map"] == pytest.approx(np.mean([energy_by_pixels(m, b, k=1) for m, b in zip(signed, BOXES)]))
    area = [(b[2] - b[0]) * (b[3] - b[1]) / CANVAS ** 2 for b in BOXES]
    assert en["chance"]["uniform"] == pytest.approx(np.mean(area))
    assert en["chance"]["centre_prior"] == pytest.approx(np.mean([energy_by_pixels(centre, b, k=1) for b in BOXES]))
    assert en["chance"]["shuffled_box"] == pytest.approx(
        np.mean([energy_by_pixels(m, b, k=1) for m, b in zip(signed, shuffled)]))
    with pytest.raises(ValueError, match="4 maps but 3 boxes"):
        localisation_scores(maps, BOXES[:3])


def test_a_map_on_the_target_beats_every_chance_level():
    maps = np.zeros((len(BOXES), 16, 16))
    for m, (x0, y0, x1, y1) in zip(maps, BOXES.astype(int)):
        m[y0 // 4:max(y0 // 4 + 1, y1 // 4), x0 // 4:max(x0 // 4 + 1, x1 // 4)] = -1.0   # the target, negative
    out = localisation_scores(maps, BOXES)
    for score in ("pointing_game", "energy_in_box"):
        assert out[score]["map"] > max(out[score]["chance"].values()), score


def test_a_larger_canvas_scales_every_score_and_chance_level():
    rng = np.random.default_rng(11)
    maps = rng.normal(size=(len(BOXES), 8, 8))
    boxes = BOXES * 2                                                  # the same scenes on a 128-pixel canvas
    assert localisation_scores(maps, boxes, canvas=128) == localisation_scores(maps, BOXES)
    signed = sign_aware(maps)
    np.testing.assert_allclose(energy_in_box(signed, boxes, canvas=128), energy_in_box(signed, BOXES))
    assert box_mass(signed[0], boxes[0], canvas=128) == pytest.approx(box_mass(signed[0], BOXES[0]))


def test_box_mass_of_a_map_whose_total_is_below_one():
    m = np.zeros((8, 8))
    m[1, 1], m[5, 5] = 0.3, 0.1                                        # total 0.4
    assert box_mass(m, (8, 8, 16, 16)) == pytest.approx(0.75)


def test_a_cell_centre_on_the_bottom_or_right_edge_is_outside():
    # 16 x 16 grid: row 6's centre is y = 26; a box ending at y1 = 26 leaves it out
    maps = np.zeros((1, 16, 16))
    out = localisation_scores(maps, np.array([[0.0, 0.0, 64.0, 26.0]]))
    assert out["pointing_game"]["chance"]["uniform"] == pytest.approx(6 / 16)
    out = localisation_scores(maps, np.array([[0.0, 0.0, 26.0, 64.0]]))
    assert out["pointing_game"]["chance"]["uniform"] == pytest.approx(6 / 16)


def test_energy_in_box_message_is_whole():
    with pytest.raises(ValueError, match=r"^energy in box needs non-negative maps \(score a signed map sign-aware\)$"):
        energy_in_box(-np.ones((1, 4, 4)), BOXES[:1])
