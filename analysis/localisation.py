"""Scores that compare spatial attention with ground truth, and query-independence.

numpy only (kept in models/ so the training CLI can use it); maps arrive as arrays (``AttentionMap.numpy()`` does the conversion).

pointing game   For each scene, the peak cell of a (h, w) map is a hit when the centre
                of that cell, scaled to canvas pixels, lies inside the target box
                (x0, y0, x1, y1; x1/y1 exclusive). Accuracy = hits / scenes.
                (Zhang et al., "Top-down neural attention by excitation backprop",
                2016, without the 15-pixel tolerance: a 16 x 16 grid cell is already
                4 canvas pixels.)
energy in box   The share of a non-negative map's mass inside the box, each cell
                spreading its weight evenly over its canvas pixels (so a cell half
                inside counts half): sum_c m_c cov_c / sum_c m_c.
sign-aware      A map whose sign carries no meaning (the 1/N non-local maps are
                products of learned embeddings: the target may be its most negative
                region) is scored as |m - mean(m)|, its strongest departure from its
                own mean, either way.
chance levels   The same scores for maps that know nothing of the scene, on the same
                scenes and boxes: a uniform map (pointing: the share of cells whose
                centre lies in the box, a random cell's hit rate; energy: the box's
                share of the canvas), a centre prior (a Gaussian bump on the canvas
                centre, sigma a quarter of the canvas), and the model's own map scored
                against another scene's box (each scene's box moved to the next scene),
                which is high when the map is a location prior rather than the target.
affinity mass   For an affinity matrix A (N queries x N keys), the mass a key receives
                averaged over all queries: mean_i A_ij, as a (h, w) map.
query           For an affinity matrix A, the mean cosine similarity between the rows
independence    (attention maps) of two different query positions:
                    QI = 1 / (N (N - 1)) * sum_{i != k} cos(A_i, A_k)
                1 means every query attends to the same places (the map is
                query-independent, as GCNet and DNL report for plain NL); near 0 means
                each query has its own map. Rows of the 1/N variants may be negative,
                so QI can be below 0 for them.
"""

from __future__ import annotations

import numpy as np


def peak_cells(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, h, w) -> row and column (B,) of each map's maximum."""
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim != 3:
        raise ValueError(f"maps must be (B, h, w), got shape {m.shape}")
    flat = m.reshape(m.shape[0], -1).argmax(axis=1)
    return flat // m.shape[2], flat % m.shape[2]


def centres_in_box(boxes: np.ndarray, grid: tuple[int, int], canvas: int = 64) -> np.ndarray:
    """(B, 4) boxes -> (B, h, w) bool: whether each cell's centre, scaled to canvas pixels,
    lies inside the scene's box (x0, y0 inside; x1, y1 outside)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ys = (np.arange(grid[0]) + 0.5) * canvas / grid[0]
    xs = (np.arange(grid[1]) + 0.5) * canvas / grid[1]
    return ((xs[None, None, :] >= b[:, 0, None, None]) & (xs[None, None, :] < b[:, 2, None, None])
            & (ys[None, :, None] >= b[:, 1, None, None]) & (ys[None, :, None] < b[:, 3, None, None]))


def pointing_hits(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> np.ndarray:
    """(B, h, w) maps, (B, 4) boxes in canvas pixels -> (B,) bool: peak inside the box."""
    m = np.asarray(maps)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if b.shape[0] != m.shape[0]:
        raise ValueError(f"{m.shape[0]} maps but {b.shape[0]} boxes")
    rows, cols = peak_cells(m)
    return centres_in_box(b, m.shape[1:], canvas)[np.arange(len(rows)), rows, cols]


def pointing_game(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> float:
    return float(pointing_hits(maps, boxes, canvas).mean())


def cell_coverage(box, grid: tuple[int, int], canvas: int = 64) -> np.ndarray:
    """(gh, gw): the fraction of each grid cell's canvas pixels that lie inside the box.

    Each cell spreads its attention evenly over the pixels it covers, so a cell half
    inside the box counts half and the score does not depend on the grid size.
    """
    gh, gw = grid
    x0, y0, x1, y1 = (float(v) for v in box)
    ch, cw = canvas / gh, canvas / gw
    ys = np.clip(np.minimum(np.arange(1, gh + 1) * ch, y1) - np.maximum(np.arange(gh) * ch, y0), 0, None) / ch
    xs = np.clip(np.minimum(np.arange(1, gw + 1) * cw, x1) - np.maximum(np.arange(gw) * cw, x0), 0, None) / cw
    return np.outer(ys, xs)


def box_mass(alpha: np.ndarray, box, canvas: int = 64) -> float:
    """Share of a (gh, gw) non-negative map's mass inside a pixel box (x0, y0, x1, y1); 0 for a zero map."""
    a = np.asarray(alpha, dtype=np.float64)
    total = a.sum()
    return float((a * cell_coverage(box, a.shape, canvas)).sum() / total) if total > 0 else 0.0


def energy_in_box(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> np.ndarray:
    """(B, h, w) non-negative maps, (B, 4) boxes -> (B,) share of each map's mass in its box."""
    m = np.asarray(maps, dtype=np.float64)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if m.ndim != 3 or b.shape[0] != m.shape[0]:
        raise ValueError(f"need (B, h, w) maps and (B, 4) boxes, got {m.shape} and {b.shape}")
    if (m < 0).any():
        raise ValueError("energy in box needs non-negative maps (score a signed map sign-aware)")
    return np.array([box_mass(mi, bi, canvas) for mi, bi in zip(m, b)])


def sign_aware(maps: np.ndarray) -> np.ndarray:
    """(B, h, w) -> |m - mean(m)| per map: where it departs most from its mean, either sign."""
    m = np.asarray(maps, dtype=np.float64)
    return np.abs(m - m.mean(axis=(1, 2), keepdims=True))


def centre_prior(grid: tuple[int, int]) -> np.ndarray:
    """(h, w) Gaussian bump on the centre, sampled at the cell centres, sigma a quarter of the
    side (in cell units: the same map on any canvas, as coordinates and sigma scale together)."""
    h, w = grid
    y = (np.arange(h) + 0.5) / h - 0.5
    x = (np.arange(w) + 0.5) / w - 0.5
    return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * 0.25 ** 2))


def localisation_scores(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> dict:
    """Pointing game and energy in box of sign-aware maps, each beside its chance levels:
    {"pointing_game": {"map", "chance": {"uniform", "centre_prior", "shuffled_box"}},
     "energy_in_box": {...the same keys}} (means over the B scenes)."""
    m = sign_aware(maps)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) != len(m):
        raise ValueError(f"{len(m)} maps but {len(b)} boxes")
    grid = m.shape[1:]
    shuffled = np.roll(b, 1, axis=0)
    prior = np.broadcast_to(centre_prior(grid), m.shape)
    inside = centres_in_box(b, grid, canvas)
    box_share = np.array([cell_coverage(bi, grid, canvas).mean() for bi in b])
    return {
        "pointing_game": {"map": float(pointing_hits(m, b, canvas).mean()),
                          "chance": {"uniform": float(inside.mean(axis=(1, 2)).mean()),
                                     "centre_prior": float(pointing_hits(prior, b, canvas).mean()),
                                     "shuffled_box": float(pointing_hits(m, shuffled, canvas).mean())}},
        "energy_in_box": {"map": float(energy_in_box(m, b, canvas).mean()),
                          "chance": {"uniform": float(box_share.mean()),
                                     "centre_prior": float(energy_in_box(prior, b, canvas).mean()),
                                     "shuffled_box": float(energy_in_box(m, shuffled, canvas).mean())}},
    }


def affinity_mass(affinity: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(B, N, N) -> (B, h, w): attention each key receives, averaged over queries."""
    a = np.asarray(affinity, dtype=np.float32)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[2] != grid[0] * grid[1]:
        raise ValueError(f"affinity must be (B, N, N) with N = {grid[0] * grid[1]}, got {a.shape}")
    return a.mean(axis=1).reshape(a.shape[0], *grid)


def query_independence(affinity: np.ndarray) -> np.ndarray:
    """(B, N, N) -> (B,): mean cosine similarity between rows of different queries."""
    a = np.asarray(affinity, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"affinity must be (B, N, N), got shape {a.shape}")
    n = a.shape[1]
    if n < 2:
        raise ValueError("query independence needs at least two query positions")
    norms = np.linalg.norm(a, axis=2, keepdims=True)
    r = a / np.where(norms > 0, norms, 1.0)                       # unit rows (B, N, N)
    # sum_{i,k} cos(A_i, A_k) = |sum_i r_i|^2, so no (N x N) Gram matrix is needed.
    total = np.square(r.sum(axis=1)).sum(axis=1)                  # (B,)
    diag = np.square(r).sum(axis=(1, 2))                          # sum_i |r_i|^2 (= N, or less for zero rows)
    return (total - diag) / (n * (n - 1))
