"""Fashion-MNIST scenes: items composed on a larger canvas, with ground-truth boxes.

Data: Debian's ``dataset-fashion-mnist`` installs the four idx files of Zalando's
Fashion-MNIST under /usr/share/datasets/fashion-mnist:

    train-images-idx3-ubyte.gz  (60000, 28, 28) uint8
    train-labels-idx1-ubyte.gz  (60000,)        uint8
    t10k-images-idx3-ubyte.gz   (10000, 28, 28) uint8
    t10k-labels-idx1-ubyte.gz   (10000,)        uint8

A *scene* is a 64 x 64 grey canvas holding one or more whole items, each at a random
place and scale, among clutter: small crops of items of other classes. Each item's
tight box (x0, y0, x1, y1; pixel units, x1/y1 exclusive) is kept as ground truth.

Everything is a pure function of (seed, split, index): scene ``i`` of a split is
drawn from ``np.random.default_rng([seed, split_code, i])``, so one scene can be
rebuilt alone (the page picks test scenes by index) and a whole split is the same on
every machine. Train scenes use only Fashion-MNIST's training images, test scenes only
its test images, so no item seen in training appears in a test scene.

``compose_scene`` takes any list of items, so the classification lab uses one target
per scene (``classification_scene``) and a captioning lab can place 2-3 items with
their boxes from the same code.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SPLIT_CODE = {"train": 0, "test": 1}
CANVAS = 64
DEFAULT_SEED = 0


class DatasetMissing(FileNotFoundError):
    """The Debian package is not installed; the message says how to install it."""


def _read_idx(path: Path) -> np.ndarray:
    """Parse one (gzipped) idx file: magic 0x00 0x00 dtype ndim, then big-endian dims."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {tuple(dims)} but holds {body.size} bytes")
    return body.reshape(tuple(dims))


def dataset_available(data_dir: Path = DATA_DIR) -> bool:
    return all((data_dir / f).is_file() for pair in FILES.values() for f in pair)


@lru_cache(maxsize=4)
def load_split(split: str, data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) int64) of Fashion-MNIST's train or test set."""
    if split not in FILES:
        raise ValueError(f"split must be one of {tuple(FILES)}, got {split!r}")
    image_file, label_file = (Path(data_dir) / f for f in FILES[split])
    if not (image_file.is_file() and label_file.is_file()):
        raise DatasetMissing(
            f"Fashion-MNIST not found under {data_dir}. Install it with "
            "`apt-get install -y dataset-fashion-mnist` (as root)."
        )
    images, labels = _read_idx(image_file), _read_idx(label_file)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"unexpected Fashion-MNIST shapes {images.shape}, {labels.shape}")
    images.setflags(write=False)
    return images, labels.astype(np.int64)


@dataclass(frozen=True)
class Scene:
    """A composed canvas and the ground truth of each whole item on it."""

    image: np.ndarray                          # (CANVAS, CANVAS) uint8
    labels: tuple[int, ...]                    # class of each item, in placement order
    boxes: tuple[tuple[int, int, int, int], ...]  # (x0, y0, x1, y1) per item, x1/y1 exclusive
    sources: tuple[int, ...]                   # index of each item in its Fashion-MNIST split

    @property
    def label(self) -> int:
        """The target's class (the first item) for the classification lab."""
        return self.labels[0]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.boxes[0]


def _resize(item: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR))


def _tight_box(patch: np.ndarray, threshold: int = 24) -> tuple[int, int, int, int]:
    """Box of the pixels brighter than ``threshold`` (ink, not the faint halo)."""
    ys, xs = np.nonzero(patch > threshold)
    if ys.size == 0:
        return 0, 0, patch.shape[1], patch.shape[0]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _overlap(a, b) -> float:
    """Intersection over the smaller box: how much one item would hide the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1)


def compose_scene(
    rng: np.random.Generator,
    items: Sequence[np.ndarray],
    labels: Sequence[int],
    clutter: Sequence[np.ndarray] = (),
    sources: Sequence[int] | None = None,
    canvas: int = CANVAS,
    scale_range: tuple[float, float] = (0.75, 1.3),
    piece_range: tuple[int, int] = (8, 14),
    max_overlap: float = 0.15,
) -> Scene:
    """Place whole ``items`` (28 x 28 uint8) and pieces of ``clutter`` items on a canvas.

    Clutter goes down first, as random crops of ``piece_range`` pixels whose centres
    avoid the items' boxes; items are pasted last with a pixel-wise max, so a piece can
    touch an item but never hides it. Items avoid each other (overlap of the smaller
    box at most ``max_overlap``, best effort) so a captioning lab can name each one.
    """
    if len(items) != len(labels) or not items:
        raise ValueError("need at least one item and one label per item")
    placed: list[tuple[np.ndarray, tuple[int, int, int, int], tuple[int, int]]] = []
    boxes = []
    for item in items:
        for _attempt in range(50):
            side = int(round(28 * rng.uniform(*scale_range)))
            side = min(side, canvas)
            patch = _resize(np.asarray(item, dtype=np.uint8), side)
            bx0, by0, bx1, by1 = _tight_box(patch)
            # Place so the tight box lies fully on the canvas (the empty margin may not).
            x = int(rng.integers(-bx0, canvas - bx1 + 1))
            y = int(rng.integers(-by0, canvas - by1 + 1))
            box = (x + bx0, y + by0, x + bx1, y + by1)
            if all(_overlap(box, other) <= max_overlap for other in boxes):
                break
        placed.append((patch, box, (x, y)))
        boxes.append(box)

    out = np.zeros((canvas, canvas), dtype=np.uint8)
    for piece_src in clutter:
        p = int(rng.integers(piece_range[0], piece_range[1] + 1))
        src = np.asarray(piece_src, dtype=np.uint8)
        # Crops from the item's middle carry ink; the 28 x 28 borders are mostly empty.
        cy, cx = (int(v) for v in rng.integers(3, 28 - p - 2, size=2))
        piece = src[cy : cy + p, cx : cx + p]
        for _attempt in range(20):
            x, y = (int(v) for v in rng.integers(0, canvas - p + 1, size=2))
            centre = (x + p / 2, y + p / 2)
            if not any(b[0] <= centre[0] < b[2] and b[1] <= centre[1] < b[3] for b in boxes):
                break
        region = out[y : y + p, x : x + p]
        np.maximum(region, piece, out=region)

    for patch, _box, (x, y) in placed:
        # Clip the (possibly partly off-canvas) patch to the canvas before pasting.
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + patch.shape[1], canvas), min(y + patch.shape[0], canvas)
        sub = patch[y0 - y : y1 - y, x0 - x : x1 - x]
        region = out[y0:y1, x0:x1]
        np.maximum(region, sub, out=region)

    return Scene(
        image=out,
        labels=tuple(int(l) for l in labels),
        boxes=tuple(boxes),
        sources=tuple(int(s) for s in sources) if sources is not None else tuple(-1 for _ in items),
    )


def scene_rng(split: str, index: int, seed: int = DEFAULT_SEED) -> np.random.Generator:
    if split not in SPLIT_CODE:
        raise ValueError(f"split must be one of {tuple(SPLIT_CODE)}, got {split!r}")
    if index < 0:
        raise ValueError("scene index must be non-negative")
    return np.random.default_rng([seed, SPLIT_CODE[split], index])


def draw_scene(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    n_items: int = 1,
    n_clutter: tuple[int, int] = (3, 6),
    **kwargs,
) -> Scene:
    """Pick ``n_items`` of distinct classes and clutter from other classes, then compose."""
    chosen: list[int] = []
    while len(chosen) < n_items:
        i = int(rng.integers(len(images)))
        if all(labels[i] != labels[j] for j in chosen):
            chosen.append(i)
    taken = {int(labels[i]) for i in chosen}
    k = int(rng.integers(n_clutter[0], n_clutter[1] + 1))
    clutter_idx = []
    while len(clutter_idx) < k:
        j = int(rng.integers(len(images)))
        if int(labels[j]) not in taken:  # a piece of the target's class would be a hint
            clutter_idx.append(j)
    return compose_scene(
        rng,
        items=[images[i] for i in chosen],
        labels=[int(labels[i]) for i in chosen],
        clutter=[images[j] for j in clutter_idx],
        sources=chosen,
        **kwargs,
    )


def classification_scene(split: str, index: int, seed: int = DEFAULT_SEED,
                         data_dir: Path = DATA_DIR) -> Scene:
    """Scene ``index`` of a split: one target among clutter (label = target class)."""
    images, labels = load_split(split, data_dir)
    return draw_scene(images, labels, scene_rng(split, index, seed), n_items=1)


def build_split(split: str, n: int, seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR,
                cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Scenes 0..n-1 of a split as arrays: images (n, 64, 64) uint8, labels (n,), boxes (n, 4).

    With ``cache_dir`` the arrays are kept in an .npz (checkpoints/ is git-ignored)
    because composing 20k scenes takes a while on a small machine; the cache name holds
    every argument, so a stale cache is never read.
    """
    if cache_dir is not None:
        path = Path(cache_dir) / f"scenes_{split}_{n}_seed{seed}_v1.npz"
        if path.is_file():
            with np.load(path) as f:
                return {k: f[k] for k in ("images", "labels", "boxes")}
    images = np.zeros((n, CANVAS, CANVAS), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    boxes = np.zeros((n, 4), dtype=np.int64)
    for i in range(n):
        s = classification_scene(split, i, seed, data_dir)
        images[i], labels[i], boxes[i] = s.image, s.label, s.box
    out = {"images": images, "labels": labels, "boxes": boxes}
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **out)
        tmp.replace(path)
    return out


def to_input(image: np.ndarray) -> np.ndarray:
    """uint8 canvas (H, W) -> float32 (1, H, W) in [0, 1], what the classifiers take."""
    return (np.asarray(image, dtype=np.float32) / 255.0)[None]
