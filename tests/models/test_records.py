import numpy as np
import pytest
import torch

from models.records import AttentionMap, by_name


def _record(**kw):
    w = torch.softmax(torch.randn(2, 3, 4, 4), dim=-1)
    args = dict(name="encoder.self", kind="self", weights=w, axes=("layer", "head", "query", "key"),
                query_labels=tuple("abcd"), key_labels=tuple("abcd"))
    args.update(kw)
    return AttentionMap(**args)


def test_record_numpy_is_float32_and_matches():
    r = _record()
    arr = r.numpy()
    assert arr.dtype == np.float32 and arr.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(arr.sum(-1), 1.0, atol=1e-6)


def test_record_select_names_remaining_axes():
    r = _record()
    one = r.select(layer=1, head=2)
    assert one.axes == ("query", "key")
    assert one.query_labels == tuple("abcd")
    torch.testing.assert_close(one.weights, r.weights[1, 2])
    with pytest.raises(ValueError):
        r.select(channel=0)
    with pytest.raises(IndexError):
        r.select(layer=5)


@pytest.mark.parametrize(
    "bad",
    [
        dict(kind="magic"),
        dict(axes=("layer", "head", "query")),
        dict(axes=("layer", "head", "query", "query")),
        dict(axes=("layer", "head", "query", "nonsense")),
        dict(query_labels=("a", "b")),
        dict(weights=np.zeros((2, 3, 4, 4))),
        dict(grid=(3, 3)),
    ],
)
def test_record_rejects_inconsistent_fields(bad):
    with pytest.raises((ValueError, TypeError)):
        _record(**bad)


def test_record_is_frozen_and_detached():
    w = torch.rand(4, 4, requires_grad=True)
    r = AttentionMap("x", "affinity", w, ("query", "key"), grid=(2, 2))
    assert not r.weights.requires_grad
    with pytest.raises(AttributeError):
        r.name = "y"


def test_by_name():
    r = _record()
    assert by_name([r], "encoder.self") is r
    with pytest.raises(KeyError):
        by_name([r], "decoder.cross")
