"""The shared pieces: checked mode, row-major flattening, query index, masked softmax."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from models.mechanisms.base import check_mode, flat_index, flatten, masked_softmax


def test_check_mode():
    assert check_mode("a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="mode must be one of"):
        check_mode("c", ("a", "b"))


def test_flatten_is_row_major():
    x = torch.randn(2, 3, 4, 5)
    f = flatten(x)
    assert f.shape == (2, 20, 3)
    for r in range(4):
        for c in range(5):
            assert_close(f[:, r * 5 + c], x[:, :, r, c])


def test_flat_index():
    assert flat_index((2, 3), (4, 5)) == 13
    assert flat_index([0, 0], (4, 5)) == 0
    assert flat_index(19, (4, 5)) == 19
    assert flat_index(0, (4, 5)) == 0
    assert flat_index((3, 4), (4, 5)) == 19
    for bad in ((4, 0), (0, 5), (-1, 0), (0, -1), 20, -1):
        with pytest.raises(IndexError):
            flat_index(bad, (4, 5))


def test_masked_softmax():
    s = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 3.0]], dtype=torch.float64)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    w = masked_softmax(s, mask)
    z = math.exp(0.5) + math.exp(2.0)
    assert_close(w[0], torch.tensor([math.exp(0.5) / z, 0.0, math.exp(2.0) / z], dtype=torch.float64))
    assert_close(w[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    e = torch.exp(s)
    assert_close(masked_softmax(s, None), e / e.sum(-1, keepdim=True))


def test_flat_index_says_what_is_out_of_range():
    with pytest.raises(IndexError, match=r"^query \(4, 0\) outside the 4 x 5 grid$"):
        flat_index((4, 0), (4, 5))
    with pytest.raises(IndexError, match=r"^query 20 outside 0\.\.19$"):
        flat_index(20, (4, 5))
