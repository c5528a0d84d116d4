"""Show, Attend and Tell (Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption
Generation with Visual Attention", ICML), soft deterministic attention, small version.

Encoder: a small CNN turns the (B, 1, 64, 64) canvas into annotation vectors
    a = {a_1 .. a_L},  a_i in R^C,  L = gh * gw = 8 * 8 grid cells        # (B, L, C)

Decoder: an LSTM; at step t, with previous hidden state h_{t-1} and previous word y_{t-1}:
    e_ti    = w^T tanh(W_a a_i + W_h h_{t-1} + b)          (additive / MLP attention)
    alpha_t = softmax_i(e_ti)                               # (B, L), sums to 1 over the grid
    beta_t  = sigmoid(f_beta(h_{t-1}))                      # (B, 1), the gating scalar
    z_t     = beta_t * sum_i alpha_ti a_i                   # (B, C), the gated context
    h_t, c_t = LSTM([E y_{t-1}; z_t], (h_{t-1}, c_{t-1}))
    p(y_t)  = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t))   (deep output layer)
    h_0, c_0 = tanh(f_init,h(mean_i a_i)), tanh(f_init,c(mean_i a_i))

Loss (per caption): -sum_t log p(y_t) + lambda * sum_i (1 - sum_t alpha_ti)^2
(the doubly stochastic regularisation: every cell should receive about one unit of
attention over the whole caption).

The attention itself (e_ti, alpha_t, beta_t, z_t) is models/mechanisms/additive.py;
this file is the network around it.

Variants (a checked ``mode``): "full" (beta and the regulariser), "no_ds" (lambda = 0,
handled by the loss), "no_beta" (beta fixed to 1). The forward pass is the same code.

The vocabulary is the caller's (corpora/captions.py builds it); it must begin with
"<pad>", "<start>", "<end>".

``forward(x, tokens)`` (teacher forcing) returns (log-probs (B, T, V), records):
"sat.alpha" kind "spatial", (B, T, gh, gw), axes ("batch", "step", "h", "w"), and
"sat.beta" kind "gate", (B, T), axes ("batch", "step"). ``teacher_forced`` returns the
same as live tensors for the loss (records are detached snapshots).

Attention records: ``greedy`` and ``beam_search`` return, per generated word, one
``AttentionMap`` of kind "spatial" with axes ("h", "w"), weights (gh, gw) = alpha_t
reshaped (row-major over the grid), grid=(gh, gw), name "sat.step<t>", and
meta {"word": ..., "step": t, "beta": beta_t}. Alpha is taken after the softmax, in
eval mode, under ``torch.inference_mode()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.mechanisms.additive import additive_attention, gated_context
from models.mechanisms.base import check_mode
from models.records import AttentionMap

MODES = ("full", "no_ds", "no_beta")
PAD, START, END = "<pad>", "<start>", "<end>"
SPECIAL = (PAD, START, END)


def restrict(lp: torch.Tensor, last: bool) -> torch.Tensor:
    """Decoding rules shared by greedy and beam search (so width 1 equals greedy):
    <pad> and <start> are never generated (they are never targets), and at the last
    allowed step only <end> may follow, so every caption ends."""
    pad, start, end = range(len(SPECIAL))  # the vocabulary begins with SPECIAL
    mask = torch.zeros_like(lp)
    if last:
        mask.fill_(float("-inf"))
        mask[:, end] = 0
    else:
        mask[:, pad] = float("-inf")
        mask[:, start] = float("-inf")
    return lp + mask


class Encoder(nn.Module):
    """(B, 1, 64, 64) -> annotation vectors (B, gh*gw, C) on an 8 x 8 grid."""

    def __init__(self, channels: int = 64):
        super().__init__()

        def conv(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        # Kept light (about 20 MFLOP per image) so a few minutes on one CPU thread train it.
        self.net = nn.Sequential(*conv(1, 16), nn.MaxPool2d(2),                       # 64 -> 32
                                 *conv(16, 32), nn.MaxPool2d(2),                      # 32 -> 16
                                 *conv(32, channels), *conv(channels, channels), nn.MaxPool2d(2))  # 16 -> 8

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        f = self.net(x)                                   # (B, C, 8, 8)
        b, c, gh, gw = f.shape
        return f.flatten(2).transpose(1, 2), (gh, gw)     # (B, L, C)


@dataclass(frozen=True)
class Generated:
    words: tuple[str, ...]
    records: tuple[AttentionMap, ...]   # one per word, (gh, gw)
    betas: tuple[float, ...]
    score: float                        # sum of log-probabilities (incl. <end>)


class ShowAttendTell(nn.Module):
    def __init__(self, mode: str, vocab: tuple[str, ...], max_len: int, channels: int = 64,
                 embed: int = 32, hidden: int = 128, attn: int = 64):
        super().__init__()
        self.mode = check_mode(mode, MODES)
        if tuple(vocab[: len(SPECIAL)]) != SPECIAL:
            raise ValueError(f"the vocabulary must begin with {SPECIAL}")
        self.vocab, self.max_len = tuple(vocab), int(max_len)
        self.word_id = {w: i for i, w in enumerate(self.vocab)}
        self.encoder = Encoder(channels)
        self.embed = nn.Embedding(len(self.vocab), embed)
        self.att_a = nn.Linear(channels, attn)            # W_a
        self.att_h = nn.Linear(hidden, attn, bias=False)  # W_h
        self.att_w = nn.Linear(attn, 1)                   # w
        self.f_beta = nn.Linear(hidden, 1)
        self.init_h = nn.Linear(channels, hidden)
        self.init_c = nn.Linear(channels, hidden)
        self.lstm = nn.LSTMCell(embed + channels, hidden)
        self.out_h = nn.Linear(hidden, embed)             # L_h
        self.out_z = nn.Linear(channels, embed)           # L_z
        self.out = nn.Linear(embed, len(self.vocab))      # L_o
        self.dropout = nn.Dropout(0.2)

    # ------------------------------------------------------------ one step
    def init_state(self, a: torch.Tensor):
        mean = a.mean(1)                                                  # (B, C)
        return torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def step(self, a, a_proj, y_prev, h, c):
        """One decoder step. Returns log-probs (B, V), alpha (B, L), beta (B,), h, c."""
        # e_ti = w^T tanh(W_a a_i + W_h h_{t-1}); att_w's bias is the same for every i and
        # cancels in the softmax, so only its weight vector enters.
        context, alpha = additive_attention(self.att_h(h), a_proj, self.att_w.weight[0], a)  # (B, C), (B, L)
        if self.mode == "no_beta":
            z, beta = context, torch.ones(h.shape[0], 1, device=h.device, dtype=h.dtype)
        else:
            z, beta = gated_context(context, self.f_beta(h))                     # (B, C), (B, 1)
        emb = self.embed(y_prev)                                                 # (B, E)
        h, c = self.lstm(torch.cat([emb, z], 1), (h, c))
        logits = self.out(self.dropout(emb + self.out_h(self.dropout(h)) + self.out_z(z)))  # (B, V)
        return F.log_softmax(logits, -1), alpha, beta.squeeze(1), h, c

    def encode(self, x: torch.Tensor):
        a, grid = self.encoder(x)
        return a, self.att_a(a), grid

    # ------------------------------------------------------------ teacher forcing
    def forward(self, x: torch.Tensor, tokens: torch.Tensor):
        """x (B,1,64,64), tokens (B,T): log-probs (B,T,V) and the records (module docstring)."""
        logp, alphas, betas, (gh, gw) = self.teacher_forced(x, tokens)
        meta = {"model": f"show_attend_tell/{self.mode}"}
        return logp, (
            AttentionMap(name="sat.alpha", kind="spatial",
                         weights=alphas.reshape(*alphas.shape[:2], gh, gw),   # (B, T, gh, gw)
                         axes=("batch", "step", "h", "w"), grid=(gh, gw), meta=meta),
            AttentionMap(name="sat.beta", kind="gate", weights=betas, axes=("batch", "step"), meta=meta),
        )

    def teacher_forced(self, x: torch.Tensor, tokens: torch.Tensor):
        """x (B,1,64,64), tokens (B,T) targets ending in <end> then <pad>.

        Returns live tensors for the loss: log-probs (B,T,V), alphas (B,T,L), betas (B,T), grid.
        """
        a, a_proj, grid = self.encode(x)
        h, c = self.init_state(a)
        b, t_len = tokens.shape
        y_prev = torch.full((b,), self.word_id[START], dtype=torch.long, device=x.device)
        logps, alphas, betas = [], [], []
        for t in range(t_len):
            lp, alpha, beta, h, c = self.step(a, a_proj, y_prev, h, c)
            logps.append(lp)
            alphas.append(alpha)
            betas.append(beta)
            y_prev = tokens[:, t]
        return torch.stack(logps, 1), torch.stack(alphas, 1), torch.stack(betas, 1), grid

    # ------------------------------------------------------------ decoding
    def _records(self, words, alphas, betas, grid) -> tuple[AttentionMap, ...]:
        gh, gw = grid
        return tuple(
            AttentionMap(name=f"sat.step{t}", kind="spatial", weights=alpha.reshape(gh, gw).float().cpu(),
                         axes=("h", "w"), grid=(gh, gw),
                         meta={"word": w, "step": t, "beta": float(b), "model": f"show_attend_tell/{self.mode}"})
            for t, (w, alpha, b) in enumerate(zip(words, alphas, betas)))

    def _start(self, x: torch.Tensor, max_len: int | None):
        """What every decoder begins with: annotations, their projection, the grid, the
        initial LSTM state, <start> for each image, and the length limit."""
        self.eval()
        a, a_proj, grid = self.encode(x)
        h, c = self.init_state(a)
        y = torch.full((x.shape[0],), self.word_id[START], dtype=torch.long, device=x.device)
        return a, a_proj, grid, h, c, y, max_len or self.max_len

    @torch.inference_mode()
    def greedy_tokens(self, x: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
        """Batched greedy decoding with the same rules as ``greedy``: token ids (B, max_len)
        (everything after the first <end> is to be ignored)."""
        a, a_proj, _grid, h, c, y, max_len = self._start(x, max_len)
        out = []
        for step in range(max_len):
            lp, _alpha, _beta, h, c = self.step(a, a_proj, y, h, c)
            y = restrict(lp, last=step == max_len - 1).argmax(-1)
            out.append(y)
        return torch.stack(out, 1)

    @torch.inference_mode()
    def greedy(self, x: torch.Tensor, max_len: int | None = None) -> Generated:
        """Argmax decoding of one image x (1, 1, 64, 64)."""
        if x.shape[0] != 1:
            raise ValueError("greedy decodes one image at a time")
        a, a_proj, grid, h, c, y, max_len = self._start(x, max_len)
        words, alphas, betas, score = [], [], [], 0.0
        for step in range(max_len):
            lp, alpha, beta, h, c = self.step(a, a_proj, y, h, c)
            lp = restrict(lp, last=step == max_len - 1)
            y = lp.argmax(-1)
            score += float(lp[0, y])
            if int(y) == self.word_id[END]:
                break
            words.append(self.vocab[int(y)])
            alphas.append(alpha[0])
            betas.append(float(beta[0]))
        return Generated(tuple(words), self._records(words, alphas, betas, grid), tuple(betas), score)

    @torch.inference_mode()
    def beam_search(self, x: torch.Tensor, width: int = 3, max_len: int | None = None) -> Generated:
        """Beam search over one image; the best finished hypothesis by summed log-probability.

        With width 1 this is greedy decoding (same argmax at each step).
        """
        if not 1 <= int(width) <= 10:
            raise ValueError("beam width must be between 1 and 10")
        if x.shape[0] != 1:
            raise ValueError("beam search decodes one image at a time")
        a, a_proj, grid, h, c, y, max_len = self._start(x, max_len)
        # Live beams: token lists, scores, alpha/beta history; all batched along dim 0.
        seqs: list[list[int]] = [[]]
        scores = torch.zeros(1, device=x.device)
        hist_alpha: list[list[torch.Tensor]] = [[]]
        hist_beta: list[list[float]] = [[]]
        finished: list[tuple[float, list[int], list, list]] = []
        for step in range(max_len):
            n = len(seqs)
            lp, alpha, beta, h, c = self.step(a.expand(n, -1, -1), a_proj.expand(n, -1, -1), y, h, c)
            lp = restrict(lp, last=step == max_len - 1)
            total = (scores[:, None] + lp).flatten()                      # (n*V,)
            k = min(width, total.numel())
            top, idx = total.topk(k)
            vocab = lp.shape[1]
            new_seqs, new_scores, new_alpha, new_beta, keep, next_y = [], [], [], [], [], []
            for s, i in zip(top.tolist(), idx.tolist()):
                src, tok = divmod(i, vocab)
                if tok == self.word_id[END]:
                    finished.append((s, seqs[src], hist_alpha[src], hist_beta[src]))
                    continue
                new_seqs.append(seqs[src] + [tok])
                new_scores.append(s)
                new_alpha.append(hist_alpha[src] + [alpha[src]])
                new_beta.append(hist_beta[src] + [float(beta[src])])
                keep.append(src)
                next_y.append(tok)
            # Stop when the best finished hypothesis beats every live one (scores only fall).
            if not new_seqs or (finished and max(f[0] for f in finished) >= max(new_scores)):
                break
            seqs, hist_alpha, hist_beta = new_seqs, new_alpha, new_beta
            scores = torch.tensor(new_scores, device=x.device)
            keep_t = torch.tensor(keep, device=x.device)
            h, c = h[keep_t], c[keep_t]
            y = torch.tensor(next_y, device=x.device)
        best = max(finished, key=lambda f: f[0]) if finished else (float(scores[0]), seqs[0], hist_alpha[0], hist_beta[0])
        s, toks, al, be = best
        words = [self.vocab[t] for t in toks]
        return Generated(tuple(words), self._records(words, al, be, grid), tuple(be), float(s))


def caption_loss(logp: torch.Tensor, alphas: torch.Tensor, tokens: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (over captions) of NLL summed over words + lam * sum_i (1 - sum_t alpha_ti)^2.

    Padded steps carry no loss and no attention. Returns (total, nll per word) for logging.
    """
    valid = tokens != SPECIAL.index(PAD)                                            # (B, T)
    nll = F.nll_loss(logp.transpose(1, 2), tokens, reduction="none") * valid      # (B, T)
    total = nll.sum(1).mean()
    if lam > 0:
        coverage = (alphas * valid[..., None]).sum(1)                            # (B, L)
        total = total + lam * ((1.0 - coverage) ** 2).sum(1).mean()
    return total, nll.sum() / valid.sum()
