"""Attention functions against hand-computed cases; shapes and invariants of the three models."""

import math

import pytest
import torch

from models.mechanisms.additive import additive_attention
from models.mechanisms.multi_head import causal_mask, scaled_dot_product
from models.translation.nets import ARCHS, BOS, EOS, NetConfig, beam_search, build_model, greedy, sentence_attention


def test_additive_attention_hand_computed():
    # e_j = v . tanh(Ws + Uh_j); with Ws = 0 and v = (1, 0): e = (tanh 0, tanh 1, tanh -1)
    query_proj = torch.zeros(1, 2)
    keys_proj = torch.tensor([[[0.0, 5.0], [1.0, 0.0], [-1.0, 2.0]]])
    v = torch.tensor([1.0, 0.0])
    values = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]])
    e = [0.0, math.tanh(1.0), math.tanh(-1.0)]
    z = sum(math.exp(x) for x in e)
    expected = [math.exp(x) / z for x in e]
    context, weights = additive_attention(query_proj, keys_proj, v, values)
    assert weights[0].tolist() == pytest.approx(expected, abs=1e-6)
    assert context[0].tolist() == pytest.approx(
        [expected[0] + 2 * expected[2], expected[1] + 2 * expected[2]], abs=1e-6)


def test_additive_attention_mask_gives_zero_weight():
    _, weights = additive_attention(torch.zeros(1, 2), torch.randn(1, 3, 2), torch.ones(2),
                                    torch.randn(1, 3, 4), torch.tensor([[True, True, False]]))
    assert weights[0, 2].item() == 0.0
    assert weights.sum().item() == pytest.approx(1.0)


def test_scaled_dot_product_hand_computed():
    # one query (1, 0) against keys (1, 0) and (0, 1), d = 2: scores 1/sqrt2 and 0
    q = torch.tensor([[[[1.0, 0.0]]]])
    k = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    v = torch.tensor([[[[10.0, 0.0], [0.0, 10.0]]]])
    a = math.exp(1 / math.sqrt(2))
    w0, w1 = a / (a + 1), 1 / (a + 1)
    out, weights = scaled_dot_product(q, k, v)
    assert weights[0, 0, 0].tolist() == pytest.approx([w0, w1], abs=1e-6)
    assert out[0, 0, 0].tolist() == pytest.approx([10 * w0, 10 * w1], abs=1e-5)


def test_causal_mask_is_lower_triangular():
    m = causal_mask(4)
    assert m.tolist() == [[True, False, False, False], [True, True, False, False],
                          [True, True, True, False], [True, True, True, True]]


def _tiny(arch):
    torch.manual_seed(0)
    cfg = NetConfig(arch, 30, 40, emb=16, hidden=24, layers=2, heads=4, ff=32, dropout=0.0)
    return build_model(cfg).eval()


SRC = torch.tensor([[5, 6, 7, 8, 9, EOS]])
TGT_IN = torch.tensor([[BOS, 11, 12, 13]])


@pytest.mark.parametrize("arch", ["rnnsearch", "transformer"])
def test_alignment_shape_is_target_by_source_and_rows_sum_to_one(arch):
    with torch.inference_mode():
        records = sentence_attention(_tiny(arch), SRC, TGT_IN)
    cross = records[0] if arch == "rnnsearch" else [r for r in records if r.name == "decoder.cross"][0]
    assert cross.shape[-2:] == (4, 6)  # (target, source)
    assert cross.axes[-2:] == ("query", "key")
    assert torch.allclose(cross.weights.sum(-1), torch.ones(cross.shape[:-1]), atol=1e-5)
    if arch == "rnnsearch":
        assert cross.kind == "alignment" and cross.axes == ("query", "key")
    else:
        assert cross.shape == (2, 4, 4, 6)


def test_transformer_decoder_self_attention_is_zero_above_the_diagonal():
    with torch.inference_mode():
        records = sentence_attention(_tiny("transformer"), SRC, TGT_IN)
    dec = [r for r in records if r.name == "decoder.self"][0]
    assert dec.causal and dec.shape == (2, 4, 4, 4)
    upper = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
    assert dec.weights[..., upper].abs().max().item() == 0.0
    assert dec.weights[..., ~upper].min().item() > 0.0
    enc = [r for r in records if r.name == "encoder.self"][0]
    assert enc.shape == (2, 4, 6, 6)


def test_seq2seq_has_no_attention():
    with torch.inference_mode():
        assert sentence_attention(_tiny("seq2seq"), SRC, TGT_IN) == ()


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_width_one_equals_greedy(arch):
    model = _tiny(arch)
    for seed in range(3):
        torch.manual_seed(seed)
        src = torch.cat([torch.randint(4, 30, (1, 7)), torch.tensor([[EOS]])], 1)
        assert beam_search(model, src, width=1, max_len=15) == greedy(model, src, max_len=15)[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_beam_search_widths_return_valid_tokens(arch):
    model = _tiny(arch)
    for width in (2, 5, 10):
        out = beam_search(model, SRC, width=width, max_len=12)
        assert len(out) <= 12 and all(4 <= t < 40 or t == 1 for t in out)
    with pytest.raises(ValueError):
        beam_search(model, SRC, width=11)


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_forward_equals_per_sentence(arch):
    model = _tiny(arch)
    src = torch.tensor([[5, 6, 7, EOS], [8, 9, EOS, 0]])
    tgt = torch.tensor([[BOS, 11, 12], [BOS, 13, 14]])
    with torch.inference_mode():
        both, _ = model(src, tgt)
        one, _ = model(src[1:, :3], tgt[1:])
    assert torch.allclose(both[1], one[0], atol=1e-5)


def test_transformer_scaled_embeddings_start_on_the_scale_of_the_positions():
    """Section 3.4 multiplies embeddings by sqrt(d_model): they must start at std d_model^-0.5 so
    that the scaled token vectors (std 1) do not drown the sinusoids (values in [-1, 1]). With
    PyTorch's default N(0, 1) they were 16x larger at d_model 256."""
    torch.manual_seed(0)
    d = 256
    model = build_model(NetConfig("transformer", 4000, 4000, emb=d, hidden=d, layers=1, heads=4))
    for table in (model.src_emb, model.tgt_emb):
        scaled = table.weight[1:] * math.sqrt(d)
        assert scaled.std().item() == pytest.approx(1.0, rel=0.02)
        assert table.weight[0].abs().max().item() == 0.0  # the padding row stays zero
    pe = model.pe
    assert pe.pow(2).mean().sqrt().item() == pytest.approx(math.sqrt(0.5), rel=0.02)  # sin/cos: rms 1/sqrt2
