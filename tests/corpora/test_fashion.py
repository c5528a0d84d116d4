"""Scene composer: determinism, boxes, splits (synthetic items; the real set only where present)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from corpora import fashion
from corpora.fashion import _read_idx, compose_scene, draw_scene


def _items(n=40, seed=0):
    """Synthetic 28x28 'items': a bright filled rectangle per item, 10 classes."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        h, w = rng.integers(10, 20, size=2)
        images[i, 14 - h // 2 : 14 + h // 2, 14 - w // 2 : 14 + w // 2] = 200
    return images, np.arange(n) % 10


def test_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes()
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.tobytes())
    np.testing.assert_array_equal(_read_idx(path), arr)
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as fh:
        fh.write(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError):
        _read_idx(bad)


def test_scene_is_deterministic_and_box_holds_the_item():
    images, labels = _items()
    a = draw_scene(images, labels, np.random.default_rng([0, 1, 5]))
    b = draw_scene(images, labels, np.random.default_rng([0, 1, 5]))
    c = draw_scene(images, labels, np.random.default_rng([0, 1, 6]))
    np.testing.assert_array_equal(a.image, b.image)
    assert a.boxes == b.boxes and a.labels == b.labels
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (64, 64) and a.image.dtype == np.uint8
    x0, y0, x1, y1 = a.box
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
    # The whole item is pasted last, so inside its box (bar the resampled rim) it is
    # bright throughout: a filled rectangle here.
    assert a.image[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].min() > 100
    assert a.label == labels[a.sources[0]]


def test_multi_item_scene_for_captioning():
    images, labels = _items()
    s = draw_scene(images, labels, np.random.default_rng(3), n_items=3)
    assert len(s.labels) == len(s.boxes) == 3
    assert len(set(s.labels)) == 3  # distinct classes, so each can be named


def test_clutter_comes_from_other_classes():
    images, labels = _items()
    rng = np.random.default_rng(1)
    s = compose_scene(rng, items=[images[0]], labels=[0], clutter=[images[1]] * 4)
    x0, y0, x1, y1 = s.box
    outside = s.image.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() > 0  # clutter landed somewhere outside the target


def test_compose_needs_items():
    with pytest.raises(ValueError):
        compose_scene(np.random.default_rng(0), items=[], labels=[])


def test_missing_dataset_message(tmp_path):
    fashion.load_split.cache_clear()
    with pytest.raises(fashion.DatasetMissing, match="apt-get install -y dataset-fashion-mnist"):
        fashion.load_split("test", tmp_path)
    with pytest.raises(ValueError):
        fashion.scene_rng("validation", 0)


@pytest.mark.skipif(not fashion.dataset_available(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install -y dataset-fashion-mnist)")
def test_real_splits_are_fixed_and_disjoint():
    train_images, _ = fashion.load_split("train")
    test_images, _ = fashion.load_split("test")
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    s1 = fashion.classification_scene("test", 17)
    s2 = fashion.classification_scene("test", 17)
    np.testing.assert_array_equal(s1.image, s2.image)
    # Test scenes take their target from the test set.
    assert 0 <= s1.sources[0] < 10000
    split = fashion.build_split("test", 8)
    np.testing.assert_array_equal(split["images"][7], fashion.classification_scene("test", 7).image)
