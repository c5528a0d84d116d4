"""Captioned Fashion-MNIST scenes for the Show-Attend-Tell lab.

A captioned scene is a 64 x 64 canvas with 2 or 3 whole Fashion-MNIST items of
distinct classes (plus clutter pieces of other classes), composed by
``corpora.fashion.draw_scene``; every item's tight box is kept. Its caption is
generated from the layout by a small deterministic grammar on the boxes' centres:

    axis      = "x" when the centres spread more horizontally than vertically
                (max-min of x >= max-min of y), else "y"
    order     = items sorted along that axis (left to right, or top to bottom)
    relation  = "left of" for axis x, "above" for axis y
    2 items:  "a <n0> <relation> a <n1>"                e.g. "a sneaker left of a bag"
    3 items:  "a <n0> <relation> a <n1> and a <n2>"     e.g. "a coat above a dress and a shirt"
              (n0 is first along the axis, n1 second, n2 third)

Nouns are one word per class (NOUNS). Each noun token is linked to its item's box
(``Caption.noun_boxes``: token position -> box), which is what attention
correctness is measured against.

Splits (fixed by ``seed``): scene i of split s is drawn from
``default_rng([seed, SPLIT_CODE[s], i, 5])`` (the trailing 5 keeps these scenes
apart from the classification lab's); train and val use Fashion-MNIST's training
images (different rng streams), test uses its test images only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpora.fashion import CANVAS, DATA_DIR, DEFAULT_SEED, draw_scene, load_split

NOUNS = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
PAD, START, END = "<pad>", "<start>", "<end>"
WORDS = ("a", "left", "of", "above", "and")
VOCAB = (PAD, START, END) + WORDS + NOUNS
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
MAX_WORDS = 10          # "a X left of a Y and a Z"
MAX_LEN = MAX_WORDS + 1  # + <end>
SPLITS = {"train": ("train", 0), "val": ("train", 2), "test": ("test", 1)}
STREAM = 5  # distinguishes captioning scenes from the classification lab's scenes


@dataclass(frozen=True)
class Caption:
    words: tuple[str, ...]
    noun_boxes: dict[int, tuple[int, int, int, int]]  # token position -> its item's box

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def caption_from_layout(labels, boxes) -> Caption:
    """The grammar above; ``labels`` are Fashion-MNIST class ids, ``boxes`` (x0, y0, x1, y1)."""
    if len(labels) not in (2, 3) or len(labels) != len(boxes):
        raise ValueError("a caption needs 2 or 3 items with one box each")
    if len(set(labels)) != len(labels):
        raise ValueError("items must be of distinct classes, or a noun would not name one item")
    centres = np.array([_centre(b) for b in boxes])
    spread = centres.max(0) - centres.min(0)
    axis = 0 if spread[0] >= spread[1] else 1
    # Stable sort with the other coordinate as tie-break, so equal centres still order deterministically.
    order = sorted(range(len(labels)), key=lambda i: (centres[i, axis], centres[i, 1 - axis], i))
    relation = ("left", "of") if axis == 0 else ("above",)
    words: list[str] = ["a", NOUNS[labels[order[0]]], *relation, "a", NOUNS[labels[order[1]]]]
    noun_boxes = {1: tuple(boxes[order[0]]), len(words) - 1: tuple(boxes[order[1]])}
    if len(order) == 3:
        words += ["and", "a", NOUNS[labels[order[2]]]]
        noun_boxes[len(words) - 1] = tuple(boxes[order[2]])
    return Caption(words=tuple(words), noun_boxes={k: tuple(int(v) for v in b) for k, b in noun_boxes.items()})


def encode(words) -> list[int]:
    """Word strings -> ids, ending in <end> (no <start>: the decoder adds it)."""
    return [WORD_ID[w] for w in words] + [WORD_ID[END]]


def decode(ids) -> list[str]:
    """Ids -> words, stopping at <end> and dropping <pad>/<start>."""
    out = []
    for i in ids:
        w = VOCAB[int(i)]
        if w == END:
            break
        if w not in (PAD, START):
            out.append(w)
    return out


@dataclass(frozen=True)
class CaptionedScene:
    image: np.ndarray                               # (64, 64) uint8
    labels: tuple[int, ...]
    boxes: tuple[tuple[int, int, int, int], ...]
    caption: Caption


def captioned_scene(split: str, index: int, seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR) -> CaptionedScene:
    """Scene ``index`` of ``split`` ("train", "val" or "test"): 2 or 3 items and its caption."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    if index < 0:
        raise ValueError("scene index must be non-negative")
    source, code = SPLITS[split]
    images, labels = load_split(source, data_dir)
    rng = np.random.default_rng([seed, code, index, STREAM])
    n_items = int(rng.integers(2, 4))
    scene = draw_scene(images, labels, rng, n_items=n_items, n_clutter=(2, 4))
    return CaptionedScene(image=scene.image, labels=scene.labels, boxes=scene.boxes,
                          caption=caption_from_layout(scene.labels, scene.boxes))


def build_captioned(split: str, n: int, seed: int = DEFAULT_SEED, data_dir: Path = DATA_DIR,
                    cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """Scenes 0..n-1 as arrays: images (n,64,64) uint8, tokens (n, MAX_LEN) int64 (padded),
    noun_boxes (n, MAX_LEN, 4) int64 (-1 where the token is not a noun).

    Cached as .npz under ``cache_dir`` (checkpoints/, git-ignored); the name holds every argument.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"captions_{split}_{n}_seed{seed}_v1.npz"
        if path.is_file():
            with np.load(path) as f:
                return {k: f[k] for k in ("images", "tokens", "noun_boxes")}
    images = np.zeros((n, CANVAS, CANVAS), np.uint8)
    tokens = np.full((n, MAX_LEN), WORD_ID[PAD], np.int64)
    noun_boxes = np.full((n, MAX_LEN, 4), -1, np.int64)
    for i in range(n):
        s = captioned_scene(split, i, seed, data_dir)
        ids = encode(s.caption.words)
        images[i], tokens[i, : len(ids)] = s.image, ids
        for pos, box in s.caption.noun_boxes.items():
            noun_boxes[i, pos] = box
    out = {"images": images, "tokens": tokens, "noun_boxes": noun_boxes}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **out)
        tmp.replace(path)
    return out
