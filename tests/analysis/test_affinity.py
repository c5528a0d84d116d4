"""Parameter-free affinity and its DNL decomposition: one row, exact against the full matrix."""

from __future__ import annotations

import pytest
import torch

from analysis import affinity as A


@pytest.fixture()
def features():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, 7, generator=g)  # (C, h, w)


@pytest.mark.parametrize("scale", ["paper", "sqrt", "1/C", "auto", 0.3])
def test_affinity_row_equals_the_matching_row_of_the_full_matrix(features, scale):
    full = A.full_affinity(features, scale)  # (35, 35)
    assert full.shape == (35, 35)
    for query in [(0, 0), (2, 3), (4, 6)]:
        row = A.affinity_row(features, query, scale)
        assert row.shape == (5, 7)
        assert torch.allclose(row.sum(), torch.tensor(1.0), atol=1e-5)
        assert torch.allclose(row.flatten(), full[query[0] * 7 + query[1]], atol=1e-6)


def test_dnl_terms_are_softmaxes_of_the_paper_logits(features):
    c, h, w = features.shape
    x = features.reshape(c, h * w)
    mu = x.mean(dim=1)
    i = 2 * w + 3
    pairwise, unary = A.dnl_terms(features, (2, 3))
    expected_p = torch.softmax((x[:, i] - mu) @ (x - mu[:, None]), dim=0)
    expected_u = torch.softmax(mu @ x, dim=0)
    assert torch.allclose(pairwise.flatten(), expected_p, atol=1e-6)
    assert torch.allclose(unary.flatten(), expected_u, atol=1e-6)
    assert torch.allclose(pairwise.sum(), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(unary.sum(), torch.tensor(1.0), atol=1e-5)
    # the unary term does not depend on the query
    _, unary_other = A.dnl_terms(features, (0, 0))
    assert torch.allclose(unary, unary_other)


def test_affinity_is_the_renormalised_product_of_pairwise_and_unary(features):
    for query in [(1, 1), (3, 5)]:
        a = A.affinity_row(features, query)
        p, u = A.dnl_terms(features, query)
        prod = p * u
        assert torch.allclose(a, prod / prod.sum(), atol=1e-5)


def test_click_records_are_grid_records_that_sum_to_one(features):
    records = A.click_records(features, (1, 2), stage="stage3", scale="auto", gain=10)
    assert [r.kind for r in records] == ["affinity", "pairwise", "unary"]
    assert [r.name for r in records] == ["stage3.affinity", "stage3.dnl.pairwise", "stage3.dnl.unary"]
    for r in records:
        assert r.grid == (5, 7) and r.axes == ("h", "w")
        assert abs(float(r.numpy().sum()) - 1.0) < 1e-5
        assert r.meta["query"] == (1, 2)
    # the gain sharpens: the query's own weight rises
    soft = A.click_records(features, (1, 2), scale="auto", gain=1)[0].numpy()
    sharp = A.click_records(features, (1, 2), scale="auto", gain=30)[0].numpy()
    assert sharp.max() > soft.max()


def test_bad_arguments_are_refused(features):
    with pytest.raises(IndexError):
        A.affinity_row(features, (5, 0))
    with pytest.raises(ValueError):
        A.affinity_row(features[0], (0, 0))
    with pytest.raises(ValueError):
        A.affinity_row(features, (0, 0), scale=-1.0)
    with pytest.raises(ValueError):
        A.click_records(features, (0, 0), gain=0)


def test_large_logits_do_not_overflow():
    f = torch.full((4, 3, 3), 100.0)
    f[:, 0, 0] = 120.0
    row = A.affinity_row(f, (0, 0))
    assert torch.isfinite(row).all() and abs(float(row.sum()) - 1) < 1e-5


@pytest.mark.parametrize("scale", ["paper", "sqrt", "auto", 0.05])
def test_cached_click_equals_the_reference_definitions(features, scale):
    cache = A.stage_cache(features)
    for query in [(0, 0), (4, 6), (2, 1)]:
        a, p, u = (r.weights for r in A.click_records(cache, query, scale=scale, gain=2.0))
        s = A.resolve_scale(scale, 8, features.reshape(8, -1)) * 2.0
        assert torch.allclose(a, A.affinity_row(features, query, s), atol=1e-6)
        p_ref, u_ref = A.dnl_terms(features, query, s)
        assert torch.allclose(p, p_ref, atol=1e-6)
        assert torch.allclose(u, u_ref, atol=1e-6)
    # a cache and raw features give the same records
    raw = A.click_records(features, (3, 3), scale=scale)
    cached = A.click_records(cache, (3, 3), scale=scale)
    assert all(torch.equal(r.weights, c.weights) for r, c in zip(raw, cached))
