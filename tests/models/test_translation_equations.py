"""The translation networks recomputed from their papers with the modules' parameters.

seq2seq: the source is read reversed, padding kept at the end. RNNsearch: e_ij from
s_{i-1} (the state before emitting token i), padded source keys masked, the GRU decoder
loop written out by hand. Transformer: pre-norm layers by hand, padding masks on keys,
the causal mask on decoder self-attention, 1/sqrt(d_k), records stacked per layer.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from models.translation.nets import PAD, NetConfig, RNNsearch, Seq2Seq, Transformer
from tests.models.equations import randomise

SRC = torch.tensor([[5, 6, 7, 8, 9, 4, 10],      # odd lengths, padding at the end
                    [11, 12, 13, 0, 0, 0, 0],
                    [14, 15, 16, 17, 18, 0, 0]])
TGT = torch.tensor([[2, 5, 6, 7, 8],
                    [2, 9, 10, 0, 0],
                    [2, 11, 12, 13, 0]])


def cfg(arch, **kw):
    return NetConfig(arch=arch, src_vocab=20, tgt_vocab=16, emb=12, hidden=10, layers=2,
                     heads=3, ff=14, dropout=0.3, max_len=16, **kw)


def lengths(ids):
    return [int((row != PAD).sum()) for row in ids]


# ------------------------------------------------------------------ seq2seq
def test_seq2seq_reverses_real_tokens_and_keeps_padding_at_the_end():
    rev = Seq2Seq._reverse(SRC)
    for row, out in zip(SRC.tolist(), rev.tolist()):
        real = [t for t in row if t != PAD]
        assert out == real[::-1] + [PAD] * (len(row) - len(real))


@torch.no_grad()
def test_seq2seq_reads_each_sentence_reversed():
    model = randomise(Seq2Seq(cfg("seq2seq")), scale=0.3)
    logits, records = model(SRC, TGT)
    assert records == ()
    for i, n in enumerate(lengths(SRC)):
        src = SRC[i, :n].flip(0)[None]                               # reversed, no padding
        _, (h, c) = model.encoder(model.src_emb(src))
        out, _ = model.decoder(model.tgt_emb(TGT[i : i + 1]), (h, c))
        assert_close(logits[i], model.out(out)[0])


# ------------------------------------------------------------------ RNNsearch
def gru_cell(cell, x, h):
    """Cho et al.'s GRU: r, z gates; n = tanh(W_n x + r * (U_n h)); h' = (1 - z) n + z h."""
    wr, wz, wn = cell.weight_ih.chunk(3)
    ur, uz, un = cell.weight_hh.chunk(3)
    br, bz, bn = cell.bias_ih.chunk(3)
    cr, cz, cn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ wr.T + br + h @ ur.T + cr)
    z = torch.sigmoid(x @ wz.T + bz + h @ uz.T + cz)
    n = torch.tanh(x @ wn.T + bn + r * (h @ un.T + cn))
    return (1 - z) * n + z * h


@torch.no_grad()
def test_rnnsearch_attends_from_the_previous_state():
    model = randomise(RNNsearch(cfg("rnnsearch")), scale=0.4)
    logits, (record,) = model(SRC, TGT)
    assert (record.name, record.kind, record.axes) == ("rnnsearch.alignment", "alignment", ("batch", "query", "key"))
    assert record.shape == (3, 5, 7)
    enc = model.cfg.hidden // 2
    for b, n in enumerate(lengths(SRC)):
        ann, _ = model.encoder(model.src_emb(SRC[b : b + 1, :n]))     # (1, n, 2E), no padding seen
        h = ann[0]                                                     # h_j = [fwd_j; bwd_j]
        s = torch.tanh(model.init(h[0, enc:]))                         # s_0 = tanh(W_s bwd_1)
        for i in range(TGT.shape[1]):
            y_prev = model.tgt_emb(TGT[b, i])
            # e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j): s is still the state before token i
            e = torch.stack([model.v_a @ torch.tanh(model.W_a.weight @ s + model.U_a.weight @ h[j] + model.U_a.bias)
                             for j in range(n)])
            a = torch.exp(e) / torch.exp(e).sum()
            expected = torch.zeros(SRC.shape[1], dtype=torch.float64)
            expected[:n] = a                                          # padded keys get no weight
            assert_close(record.weights[b, i], expected)
            c = (a[:, None] * h).sum(0)
            s = gru_cell(model.cell, torch.cat([y_prev, c]), s)        # s_i
            t = torch.tanh(model.readout.weight @ torch.cat([s, c, y_prev]) + model.readout.bias)
            assert_close(logits[b, i], model.out.weight @ t + model.out.bias)


@torch.no_grad()
def test_rnnsearch_step_matches_teacher_forcing():
    model = randomise(RNNsearch(cfg("rnnsearch")), scale=0.4)
    logits, _ = model(SRC, TGT)
    state = model.encode(SRC)
    for i in range(TGT.shape[1]):
        logp, state = model.step(state, TGT[:, i])
        assert_close(logp, torch.log_softmax(logits[:, i], -1))


# ------------------------------------------------------------------ Transformer
def layer_norm(ln, x):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def linear(lin, x):
    return x @ lin.weight.T + lin.bias


def attention(mha, x, mem, allowed):
    """x (Tq, d), mem (Tk, d), allowed (Tq, Tk): out (Tq, d), weights (heads, Tq, Tk)."""
    d = x.shape[-1]
    heads = mha.h
    dk = d // heads
    q, k, v = linear(mha.q, x), linear(mha.k, mem), linear(mha.v, mem)
    outs, maps = [], []
    for head in range(heads):
        cols = slice(head * dk, (head + 1) * dk)
        scores = q[:, cols] @ k[:, cols].T / math.sqrt(dk)
        e = torch.exp(scores) * allowed
        w = e / e.sum(-1, keepdim=True)
        outs.append(w @ v[:, cols])
        maps.append(w)
    return linear(mha.o, torch.cat(outs, -1)), torch.stack(maps)


def positions(n, d):
    pe = torch.zeros(n, d, dtype=torch.float64)
    for pos in range(n):
        for i in range(0, d, 2):
            pe[pos, i] = math.sin(pos / 10000 ** (i / d))
            pe[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    return pe


def feed_forward(ff, x):
    return linear(ff[3], torch.relu(linear(ff[0], x)))


@torch.no_grad()
def test_transformer_layer_by_layer_with_masks_and_scaling():
    model = randomise(Transformer(cfg("transformer")), scale=0.3)
    logits, records = model(SRC, TGT)
    names = [(r.name, r.kind, r.axes, r.causal) for r in records]
    axes = ("batch", "layer", "head", "query", "key")
    assert names == [("encoder.self", "self", axes, False), ("decoder.self", "self", axes, True),
                     ("decoder.cross", "cross", axes, False)]
    enc_self, dec_self, cross = records
    assert enc_self.shape == (3, 2, 3, 7, 7) and dec_self.shape == (3, 2, 3, 5, 5) and cross.shape == (3, 2, 3, 5, 7)
    d = model.cfg.emb
    for b in range(SRC.shape[0]):
        s_len, t_len = SRC.shape[1], TGT.shape[1]
        src_ok = (SRC[b] != PAD)[None].expand(s_len, s_len)           # padded source keys hidden
        x = model.src_emb.weight[SRC[b]] * math.sqrt(d) + positions(s_len, d)
        for li, layer in enumerate(model.enc):
            a, w = attention(layer.att, layer_norm(layer.n1, x), layer_norm(layer.n1, x), src_ok)
            assert_close(enc_self.weights[b, li], w)
            x = x + a
            x = x + feed_forward(layer.ff, layer_norm(layer.n2, x))
        mem = layer_norm(model.enc_norm, x)
        causal = torch.tensor([[j <= i for j in range(t_len)] for i in range(t_len)])
        self_ok = causal & (TGT[b] != PAD)[None]
        cross_ok = (SRC[b] != PAD)[None].expand(t_len, s_len)
        y = model.tgt_emb.weight[TGT[b]] * math.sqrt(d) + positions(t_len, d)
        for li, layer in enumerate(model.dec):
            a, w = attention(layer.self_att, layer_norm(layer.n1, y), layer_norm(layer.n1, y), self_ok)
            assert_close(dec_self.weights[b, li], w)
            y = y + a
            a, w = attention(layer.cross, layer_norm(layer.n2, y), mem, cross_ok)
            assert_close(cross.weights[b, li], w)
            y = y + a
            y = y + feed_forward(layer.ff, layer_norm(layer.n3, y))
        assert_close(logits[b], linear(model.out, layer_norm(model.dec_norm, y)))


@torch.no_grad()
def test_transformer_step_matches_teacher_forcing():
    model = randomise(Transformer(cfg("transformer")), scale=0.3)
    logits, _ = model(SRC, TGT)
    state = model.encode(SRC)
    for i in range(TGT.shape[1]):
        logp, state = model.step(state, TGT[:, i])
        real = TGT[:, i] != PAD
        assert_close(logp[real], torch.log_softmax(logits[real, i], -1))


@torch.no_grad()
def test_transformer_training_path_gives_the_same_logits_without_records():
    model = randomise(Transformer(cfg("transformer")), scale=0.3).eval()
    logits, records = model(SRC, TGT)
    fast, none = model(SRC, TGT, need_weights=False)
    assert none == () and len(records) == 3
    real = TGT != PAD
    assert_close(fast[real], logits[real])


@torch.no_grad()
@pytest.mark.parametrize("arch", ["rnnsearch", "transformer", "seq2seq"])
def test_decoder_state_follows_a_reorder(arch):
    """Beam search reorders the cached decoder state: after picking rows [2, 0, 0] the
    next step must equal teacher forcing on those sentences."""
    model = randomise({"rnnsearch": RNNsearch, "transformer": Transformer, "seq2seq": Seq2Seq}[arch](cfg(arch)),
                      scale=0.3).eval()
    tgt = TGT[:, :3].clone()
    tgt[tgt == PAD] = 7
    state = model.encode(SRC)
    for i in range(2):
        _, state = model.step(state, tgt[:, i])
    idx = torch.tensor([2, 0, 0])
    logp, _ = model.step(model.reorder(state, idx), tgt[idx, 2])
    logits, _ = model(SRC[idx], tgt[idx])
    assert_close(logp, torch.log_softmax(logits[:, 2], -1))
