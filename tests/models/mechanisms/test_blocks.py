"""Invariants of the image-lab attention blocks (tiny tensors, CPU, seeded)."""

from __future__ import annotations

import pytest
import torch

from models.mechanisms.cbam import CBAM
from models.classifiers import ARCHS, SpatialClassifier
from models.mechanisms.dnl import DisentangledNonLocal
from models.mechanisms.non_local import MODES, NonLocalBlock
from models.records import by_name
from models.gan import Discriminator, Generator
from models.mechanisms.sagan import SelfAttention

B, C, H, W = 3, 8, 5, 6
N = H * W


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _x(b=B):
    return torch.randn(b, C, H, W)


def _randomise(module):
    """Zero-initialised parts (W_z's BN, gamma) would hide bugs: give them values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.5)
    return module.eval()


@pytest.mark.parametrize("mode", MODES)
def test_nonlocal_shapes_and_normalisation(mode):
    block = NonLocalBlock(C, mode=mode, inter_channels=4).eval()
    with torch.inference_mode():
        z, (rec,) = block(_x())
    assert z.shape == (B, C, H, W)
    assert rec.shape == (B, N, N) and rec.axes == ("batch", "query", "key") and rec.grid == (H, W)
    w = rec.weights
    if mode in ("gaussian", "embedded_gaussian"):
        torch.testing.assert_close(w.sum(-1), torch.ones(B, N))
        assert rec.meta["normalised"] == "softmax"
    else:
        # C(x) = N: (N * w) is the raw pairwise term, not a distribution.
        assert rec.meta["normalised"] == "1/N"
        assert not torch.allclose(w.sum(-1), torch.ones(B, N))
    if mode == "concatenation":
        assert (w >= 0).all()  # ReLU


@pytest.mark.parametrize("mode", MODES)
def test_nonlocal_starts_as_identity(mode):
    block = NonLocalBlock(C, mode=mode).eval()  # W_z's BN gamma is zero at init
    x = _x()
    with torch.inference_mode():
        z, _ = block(x)
    torch.testing.assert_close(z, x)


def test_nonlocal_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        NonLocalBlock(C, mode="cosine")


@pytest.mark.parametrize("mode", MODES)
def test_nonlocal_one_row_equals_full_row(mode):
    block = _randomise(NonLocalBlock(C, mode=mode, inter_channels=4))
    x = _x()
    with torch.inference_mode():
        _, (rec,) = block(x)
        for q in (0, 7, (H - 1, W - 1)):
            i = q if isinstance(q, int) else q[0] * W + q[1]
            torch.testing.assert_close(block.attention_row(x, q)[0].weights, rec.weights[:, i])


@pytest.mark.parametrize("mode", MODES)
def test_nonlocal_batched_equals_per_sample(mode):
    block = _randomise(NonLocalBlock(C, mode=mode, inter_channels=4))
    x = _x()
    with torch.inference_mode():
        z, (rec,) = block(x)
        for b in range(B):
            zb, (rb,) = block(x[b : b + 1])
            torch.testing.assert_close(zb[0], z[b], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(rb.weights[0], rec.weights[b], atol=1e-6, rtol=1e-5)


def test_nonlocal_row_out_of_range():
    block = NonLocalBlock(C).eval()
    with pytest.raises(IndexError):
        block.attention_row(_x(), N)
    with pytest.raises(IndexError):
        block.attention_row(_x(), (H, 0))


def test_dnl_terms():
    block = _randomise(DisentangledNonLocal(C, inter_channels=4))
    x = _x()
    with torch.inference_mode():
        z, (pair, unary) = block(x)
        rows = {r.name.rsplit(".", 1)[-1]: r.weights for r in block.attention_row(x, (2, 3))}
        one = block(x[1:2])
    assert z.shape == x.shape
    assert pair.kind == "pairwise" and pair.shape == (B, N, N)
    assert unary.kind == "unary" and unary.shape == (B, H, W) and unary.axes == ("batch", "h", "w")
    torch.testing.assert_close(pair.weights.sum(-1), torch.ones(B, N))
    torch.testing.assert_close(unary.weights.sum((1, 2)), torch.ones(B))
    i = 2 * W + 3
    torch.testing.assert_close(rows["pairwise"], pair.weights[:, i])
    torch.testing.assert_close(rows["unary"], unary.weights.reshape(B, N))
    torch.testing.assert_close(rows["combined"], pair.weights[:, i] + unary.weights.reshape(B, N))
    torch.testing.assert_close(one[1][0].weights[0], pair.weights[1], atol=1e-6, rtol=1e-5)


def test_dnl_whitening_removes_query_independent_part():
    # Whitening subtracts the mean over positions: queries and keys come out centred,
    # so a key component shared by all positions cannot raise every query's logit.
    block = _randomise(DisentangledNonLocal(C, inter_channels=4))
    with torch.inference_mode():
        q, k, _ = block.embed(_x())
    torch.testing.assert_close(q.mean(1), torch.zeros(B, 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(k.mean(1), torch.zeros(B, 4), atol=1e-6, rtol=0)


def test_dnl_starts_as_identity():
    block = DisentangledNonLocal(C).eval()
    x = _x()
    with torch.inference_mode():
        z, _ = block(x)
    torch.testing.assert_close(z, x)


@pytest.mark.parametrize("mode", ["channel", "full"])
def test_cbam_gates_in_unit_interval(mode):
    block = _randomise(CBAM(C, mode=mode, reduction=2))
    x = _x() * 5
    with torch.inference_mode():
        out, recs = block(x)
    assert out.shape == x.shape
    channel = by_name(recs, "cbam.channel")
    assert channel.shape == (B, C) and channel.kind == "channel"
    assert ((channel.weights >= 0) & (channel.weights <= 1)).all()
    if mode == "full":
        spatial = by_name(recs, "cbam.spatial")
        assert spatial.shape == (B, H, W) and spatial.kind == "spatial"
        assert ((spatial.weights >= 0) & (spatial.weights <= 1)).all()
        expected = x * channel.weights[:, :, None, None] * spatial.weights[:, None]
    else:
        assert len(recs) == 1
        expected = x * channel.weights[:, :, None, None]
    torch.testing.assert_close(out, expected)


def test_cbam_spatial_at_equals_full_mask():
    block = _randomise(CBAM(C, mode="full", reduction=2))
    x = _x()
    with torch.inference_mode():
        _, recs = block(x)
        mask = by_name(recs, "cbam.spatial").weights
        for r, c in [(0, 0), (2, 3), (H - 1, W - 1), (0, W - 1)]:
            torch.testing.assert_close(block.spatial_at(x, (r, c))[0].weights, mask[:, r, c])


def test_cbam_rejects_unknown_mode():
    with pytest.raises(ValueError):
        CBAM(C, mode="spatial_only")


def test_sagan_gamma_zero_returns_input():
    attn = SelfAttention(C, k=2).eval()
    x = _x()
    with torch.inference_mode():
        y, (rec,) = attn(x)
    assert attn.gamma.detach().item() == 0.0
    torch.testing.assert_close(y, x)
    torch.testing.assert_close(rec.weights.sum(-1), torch.ones(B, N))


def test_sagan_row_and_batch():
    attn = SelfAttention(C, k=2).eval()
    with torch.no_grad():
        attn.gamma.fill_(0.7)
    x = _x()
    with torch.inference_mode():
        y, (rec,) = attn(x)
        assert not torch.allclose(y, x)
        torch.testing.assert_close(attn.attention_row(x, (1, 2))[0].weights, rec.weights[:, 1 * W + 2])
        y0, (r0,) = attn(x[:1])
        torch.testing.assert_close(r0.weights[0], rec.weights[0], atol=1e-6, rtol=1e-5)


def test_sagan_generator_discriminator_shapes():
    g, d = Generator(z_dim=8, width=16).eval(), Discriminator(width=16).eval()
    with torch.inference_mode():
        img, (grec,) = g(torch.randn(2, 8))
        score, (drec,) = d(img)
    assert img.shape == (2, 1, 28, 28) and img.min() >= -1 and img.max() <= 1
    assert grec.shape == (2, 196, 196) and grec.grid == (14, 14)
    assert score.shape == (2,) and drec.grid == (14, 14)


@pytest.mark.parametrize("arch", ARCHS)
def test_classifier_every_arch(arch):
    model = SpatialClassifier(arch, width=4).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.inference_mode():
        logits, recs = model(x)
    assert logits.shape == (2, 10)
    names = {r.name for r in recs}
    expected = {
        "baseline": set(),
        "dnl": {"dnl.pairwise", "dnl.unary"},
        "cbam_channel": {"cbam.1.channel", "cbam.2.channel"},
        "cbam_full": {"cbam.1.channel", "cbam.1.spatial", "cbam.2.channel", "cbam.2.spatial"},
    }.get(arch, {"nl.affinity"})
    assert names == expected
    if arch.startswith("nl") or arch == "dnl":
        rec = recs[0]
        assert rec.grid == (16, 16) and rec.shape == (2, 256, 256)
        with torch.inference_mode():
            row = model.attention_row(x, 37)[0].weights   # NL's affinity or DNL's pairwise term
        torch.testing.assert_close(row, rec.weights[:, 37])


def test_classifier_rejects_unknown_arch():
    with pytest.raises(ValueError, match="arch must be one of"):
        SpatialClassifier("transformer")
