"""Show, Attend and Tell (Xu et al. 2015) recomputed from the paper with the model's
parameters: attention on h_{t-1}, beta = sigmoid(f_beta(h_{t-1})) (1 in "no_beta"),
z_t = beta * context, the LSTM by hand, the deep output, and the doubly stochastic loss.
"""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from models.show_attend_tell import ShowAttendTell, caption_loss
from tests.models.equations import randomise

VOCAB = ("<pad>", "<start>", "<end>", "a", "b", "c", "d")
TOKENS = torch.tensor([[3, 4, 5, 2, 0], [6, 2, 0, 0, 0], [4, 4, 3, 6, 2]])


def lstm_cell(cell, x, h, c):
    i, f, g, o = (x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh).chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def linear(lin, x):
    return x @ lin.weight.T + (lin.bias if lin.bias is not None else 0)


@pytest.mark.parametrize("mode", ("full", "no_ds", "no_beta"))
@torch.no_grad()
def test_captioner_attends_from_the_previous_hidden_state(mode):
    model = randomise(ShowAttendTell(mode, VOCAB, max_len=6, channels=8, embed=6, hidden=10, attn=7), scale=0.3)
    x = torch.rand(3, 1, 64, 64, dtype=torch.float64)
    logp, (alpha_rec, beta_rec) = model(x, TOKENS)
    assert (alpha_rec.name, alpha_rec.kind, alpha_rec.axes, alpha_rec.grid) == (
        "sat.alpha", "spatial", ("batch", "step", "h", "w"), (8, 8))
    assert (beta_rec.name, beta_rec.kind, beta_rec.axes) == ("sat.beta", "gate", ("batch", "step"))
    fmap = model.encoder.net(x)                                         # (B, C, 8, 8)
    for b in range(3):
        a = torch.stack([fmap[b, :, r, c] for r in range(8) for c in range(8)])   # a_i, row-major (L, C)
        h = torch.tanh(linear(model.init_h, a.mean(0)))
        c = torch.tanh(linear(model.init_c, a.mean(0)))
        y_prev = 1                                                      # <start>
        for t in range(TOKENS.shape[1]):
            h_prev = h                                                  # h_{t-1}
            e = torch.stack([linear(model.att_w, torch.tanh(linear(model.att_a, a[i]) + linear(model.att_h, h_prev)))[0]
                             for i in range(a.shape[0])])
            alpha = torch.exp(e) / torch.exp(e).sum()
            beta = torch.ones(()) if mode == "no_beta" else torch.sigmoid(linear(model.f_beta, h_prev))[0]
            z = beta * (alpha[:, None] * a).sum(0)
            emb = model.embed.weight[y_prev]
            h, c = lstm_cell(model.lstm, torch.cat([emb, z]), h, c)
            logits = linear(model.out, emb + linear(model.out_h, h) + linear(model.out_z, z))
            assert_close(alpha_rec.weights[b, t], alpha.reshape(8, 8))
            assert_close(beta_rec.weights[b, t], beta.to(torch.float64))
            assert_close(logp[b, t], logits - torch.logsumexp(logits, 0))
            y_prev = int(TOKENS[b, t])
    if mode == "no_beta":
        assert bool((beta_rec.weights == 1).all())


def test_caption_loss_is_nll_plus_doubly_stochastic_penalty():
    b, t, v, l = 3, 5, 7, 6
    logp = torch.log_softmax(torch.randn(b, t, v, dtype=torch.float64), -1)
    alphas = torch.softmax(torch.randn(b, t, l, dtype=torch.float64), -1)
    for lam in (0.0, 1.0, 0.3):
        total, per_word = caption_loss(logp, alphas, TOKENS, lam)
        nll, penalty, words = 0.0, 0.0, 0
        for i in range(b):
            steps = [s for s in range(t) if TOKENS[i, s] != 0]      # padded steps carry nothing
            nll += -sum(float(logp[i, s, TOKENS[i, s]]) for s in steps)
            words += len(steps)
            penalty += sum((1 - sum(float(alphas[i, s, cell]) for s in steps)) ** 2 for cell in range(l))
        assert float(total) == pytest.approx(nll / b + lam * penalty / b)
        assert float(per_word) == pytest.approx(nll / words)
