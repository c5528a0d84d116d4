import numpy as np
import pytest

from viz.attention import (
    attention_heatmap,
    escape_labels,
    head_view_figure,
    layer_head_figure,
    model_view_figure,
    model_view_image,
    model_view_mosaic,
    pool_map,
    token_bar_figure,
)

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "😀", "你好", "שלום", "a"]


def test_heatmap_shape_and_escaped_unique_labels():
    w = np.random.default_rng(0).random((6, 6))
    fig = attention_heatmap(w, HOSTILE, HOSTILE, title="<b>t</b>")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (6, 6)
    labels = list(fig.data[0].x)
    assert len(set(labels)) == 6
    assert all("<" not in lab for lab in labels)
    assert labels[0] == "0: &lt;script&gt;alert(1)&lt;/script&gt;"
    assert "<b>" not in fig.layout.title.text


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 2, 2))])
def test_heatmap_rejects_non_2d(bad):
    with pytest.raises(ValueError):
        attention_heatmap(bad)


def test_heatmap_rejects_label_mismatch():
    with pytest.raises(ValueError):
        attention_heatmap(np.zeros((3, 3)), ["a", "b"], ["a", "b", "c"])


def test_pool_map_preserves_mean_and_never_upsamples():
    w = np.random.default_rng(1).random((512, 300))
    p = pool_map(w, 48)
    assert p.shape == (48, 48)
    assert p.mean() == pytest.approx(w.mean(), rel=0.02)
    assert pool_map(np.ones((5, 7)), 48).shape == (5, 7)


def test_model_view_mosaic_and_figure_geometry():
    stack = np.random.default_rng(2).random((3, 4, 10, 10)).astype(np.float32)
    mosaic = model_view_mosaic(stack, cell=40, gutter=3)
    # 10 tokens are enlarged 4x to fill 40-pixel cells
    assert mosaic.shape == (3 * 40 + 4 * 3, 4 * 40 + 5 * 3, 3) and mosaic.dtype == np.uint8
    image = model_view_image(stack, cell=40)
    assert image.source.startswith("data:image/png;base64,")
    fig = model_view_figure(image, selected=(2, 1))
    markers = fig.data[1]
    assert len(markers.x) == 12  # one clickable marker per head
    np.testing.assert_array_equal(np.asarray(markers.customdata)[5, :2], [1, 1])  # row-major: layer, head
    assert len(fig.layout.shapes) == 1


def test_model_view_rejects_bad_shapes():
    with pytest.raises(ValueError):
        model_view_mosaic(np.zeros((3, 10, 10)))
    with pytest.raises(ValueError):
        model_view_mosaic(np.zeros((0, 2, 4, 4)))


def test_model_view_payload_stays_small_for_long_input():
    """Overview bytes do not grow with tokens²: 512 tokens still make a small PNG."""
    rng = np.random.default_rng(3)
    stack = rng.random((6, 12, 512, 512)).astype(np.float32)
    image = model_view_image(stack)
    assert image.n_bytes < 6 * 12 * 512 * 512 * 4 / 50


def test_head_view_lines_follow_top_weights():
    w = np.zeros((2, 4, 4), dtype=np.float32)
    w[0, 1] = [0.7, 0.2, 0.1, 0.0]
    w[1, 1] = [0.0, 0.0, 0.5, 0.5]
    fig = head_view_figure(w, list("abcd"), query=1, heads=[0, 1], top_k=2, min_weight=0.15)
    # head 0: keys 0 and 1; head 1: keys 2 and 3
    assert len(fig.layout.shapes) == 4
    assert {s.y1 for s in fig.layout.shapes} == {0, -1, -2, -3}
    compact = head_view_figure(w, list("abcd"), query=1, heads=[0], top_k=1, compact=True)
    assert len(compact.layout.shapes) == 1


@pytest.mark.parametrize("kwargs", [dict(query=9, heads=[0]), dict(query=0, heads=[5])])
def test_head_view_rejects_out_of_range(kwargs):
    with pytest.raises(ValueError):
        head_view_figure(np.zeros((2, 4, 4)), list("abcd"), **kwargs)


def test_bar_and_layer_head_figures():
    bar = token_bar_figure(np.arange(4.0), HOSTILE[:4])
    assert len(bar.data[0].y) == 4 and all("<" not in x for x in bar.data[0].x)
    grid = layer_head_figure(np.zeros((6, 12)), "entropy", "nats")
    assert np.asarray(grid.data[0].z).shape == (6, 12)
    with pytest.raises(ValueError):
        token_bar_figure(np.zeros((2, 2)), ["a", "b"])
    with pytest.raises(ValueError):
        layer_head_figure(np.zeros(3))


def test_escape_labels_keeps_text():
    assert escape_labels(["a&b", "<i>"]) == ["0: a&amp;b", "1: &lt;i&gt;"]
