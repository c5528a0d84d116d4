"""Scores that compare spatial attention with ground truth, and query-independence.

numpy only (kept in models/ so the training CLI can use it); maps arrive as arrays (``AttentionMap.numpy()`` does the conversion).

pointing game   For each scene, the peak cell of a (h, w) map is a hit when the centre
                of that cell, scaled to canvas pixels, lies inside the target box
                (x0, y0, x1, y1; x1/y1 exclusive). Accuracy = hits / scenes.
                (Zhang et al., "Top-down neural attention by excitation backprop",
                2016, without the 15-pixel tolerance: a 16 x 16 grid cell is already
                4 canvas pixels.)
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


def pointing_hits(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> np.ndarray:
    """(B, h, w) maps, (B, 4) boxes in canvas pixels -> (B,) bool: peak inside the box."""
    m = np.asarray(maps)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if b.shape[0] != m.shape[0]:
        raise ValueError(f"{m.shape[0]} maps but {b.shape[0]} boxes")
    rows, cols = peak_cells(m)
    y = (rows + 0.5) * canvas / m.shape[1]
    x = (cols + 0.5) * canvas / m.shape[2]
    return (x >= b[:, 0]) & (x < b[:, 2]) & (y >= b[:, 1]) & (y < b[:, 3])


def pointing_game(maps: np.ndarray, boxes: np.ndarray, canvas: int = 64) -> float:
    return float(pointing_hits(maps, boxes, canvas).mean())


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
