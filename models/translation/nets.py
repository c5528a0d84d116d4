"""Three translation models trained on the same corpus, each returning AttentionMap records.

seq2seq (Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural
Networks"): a multilayer LSTM reads the *reversed* source; its final (h, c) states
start a multilayer LSTM decoder.
    p(y_1..y_T | x) = prod_t softmax(W h_t),  h_t = LSTM(y_{t-1}, h_{t-1}),  h_0 = enc(reverse(x))
    The whole source passes through one fixed-size state: there is no attention, so
    ``attention`` returns an empty tuple.

RNNsearch (Bahdanau, Cho & Bengio 2015): bidirectional GRU encoder, h_j = [h_j_fwd; h_j_bwd];
GRU decoder s_i = GRU([y_{i-1}; c_i], s_{i-1}), s_0 = tanh(W_s h_1_bwd), with additive
attention (models/mechanisms/additive.py) giving one alignment row a_i. per target token;
readout t_i = tanh(W_o [s_i; c_i; y_{i-1}]) -> softmax (the paper's maxout readout replaced
by tanh, a simplification).
    record "rnnsearch.alignment": kind "alignment", axes (batch, query, key) =
    (sentence, target, source), shape (B, T, S); every row sums to 1.

Transformer (Vaswani et al. 2017): pre-norm encoder-decoder (pre-norm instead of the
paper's post-norm, which trains more reliably in a short CPU run), sinusoidal positions,
multi-head scaled dot-product attention on the plain path.
    records "encoder.self"  (batch, layer, head, query, key)  (B, L, H, S, S)
            "decoder.self"  (batch, layer, head, query, key)  (B, L, H, T, T), causal: zero above the diagonal
            "decoder.cross" (batch, layer, head, query, key)  (B, L, H, T, S)

Every network's ``forward(src, tgt_in, need_weights=True)`` returns (logits (B, T, V),
records); training passes need_weights=False and gets no records (the Transformer then
runs PyTorch's fused attention kernel).
``sentence_attention`` gives one sentence's records without the batch axis, with labels.

Decoding: ``greedy`` and ``beam_search`` (width 1..10; width 1 is greedy) only choose
tokens; the attention of the chosen hypothesis is then read by one teacher-forced pass
over it (``sentence_attention``), which in eval mode gives exactly the weights seen while decoding.
Token ids: 0 pad, 1 unk, 2 bos, 3 eos (as in the sentencepiece models of corpora/bible.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.records import AttentionMap
from models.mechanisms.additive import additive_attention
from models.mechanisms.multi_head import MultiHead, causal_mask

PAD, UNK, BOS, EOS = 0, 1, 2, 3
ARCHS = ("seq2seq", "rnnsearch", "transformer")


@dataclass
class NetConfig:
    arch: str
    src_vocab: int
    tgt_vocab: int
    emb: int = 256
    hidden: int = 384
    layers: int = 2
    heads: int = 4
    ff: int = 1024
    dropout: float = 0.2
    max_len: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


def _lengths_mask(src: torch.Tensor) -> torch.Tensor:
    return src != PAD                                                   # (B, S)


# --------------------------------------------------------------------------- seq2seq
class Seq2Seq(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.emb, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.emb, padding_idx=PAD)
        self.encoder = nn.LSTM(cfg.emb, cfg.hidden, cfg.layers, batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.decoder = nn.LSTM(cfg.emb, cfg.hidden, cfg.layers, batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, cfg.tgt_vocab)

    @staticmethod
    def _reverse(src: torch.Tensor) -> torch.Tensor:
        """Reverse each sentence's real tokens, keeping padding at the end (the paper's trick)."""
        lengths = _lengths_mask(src).sum(1)                             # (B,)
        idx = torch.arange(src.shape[1], device=src.device).expand_as(src)
        rev = (lengths.unsqueeze(1) - 1 - idx).clamp(min=0)
        out = src.gather(1, rev)
        return out.masked_fill(idx >= lengths.unsqueeze(1), PAD)

    def encode(self, src: torch.Tensor):
        rev = self._reverse(src)
        lengths = _lengths_mask(rev).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.src_emb(rev)), lengths,
                                                   batch_first=True, enforce_sorted=False)
        _, (h, c) = self.encoder(packed)                                # (layers, B, H) each
        return {"h": h, "c": c}

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, need_weights: bool = True):
        state = self.encode(src)
        out, _ = self.decoder(self.drop(self.tgt_emb(tgt_in)), (state["h"], state["c"]))
        # no attention: the source reaches the decoder only through (h, c)
        return self.out(self.drop(out)), ()                             # (B, T, V), no records

    def step(self, state: dict, last: torch.Tensor):
        out, (h, c) = self.decoder(self.tgt_emb(last).unsqueeze(1), (state["h"], state["c"]))
        return torch.log_softmax(self.out(out[:, 0]), -1), {"h": h, "c": c}

    @staticmethod
    def reorder(state: dict, idx: torch.Tensor) -> dict:
        return {"h": state["h"][:, idx], "c": state["c"][:, idx]}



# --------------------------------------------------------------------------- RNNsearch
class RNNsearch(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        enc = cfg.hidden // 2  # per direction, so h_j has size `hidden`
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.emb, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.emb, padding_idx=PAD)
        self.encoder = nn.GRU(cfg.emb, enc, batch_first=True, bidirectional=True)
        self.init = nn.Linear(enc, cfg.hidden)
        self.W_a = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        self.U_a = nn.Linear(2 * enc, cfg.hidden)
        self.v_a = nn.Parameter(torch.empty(cfg.hidden).uniform_(-0.1, 0.1))
        self.cell = nn.GRUCell(cfg.emb + 2 * enc, cfg.hidden)
        self.readout = nn.Linear(cfg.hidden + 2 * enc + cfg.emb, cfg.emb)
        self.out = nn.Linear(cfg.emb, cfg.tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def encode(self, src: torch.Tensor) -> dict:
        mask = _lengths_mask(src)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.src_emb(src)), lengths,
                                                   batch_first=True, enforce_sorted=False)
        out, h = self.encoder(packed)
        annotations, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                          total_length=src.shape[1])  # (B, S, 2E)
        s0 = torch.tanh(self.init(h[1]))                                # h[1]: backward state at j=1
        return {"s": s0, "h": annotations, "Uh": self.U_a(annotations), "mask": mask}

    def _step(self, state: dict, emb: torch.Tensor):
        context, weights = additive_attention(self.W_a(state["s"]), state["Uh"], self.v_a,
                                              state["h"], state["mask"])  # (B, 2E), (B, S)
        s = self.cell(torch.cat([emb, context], -1), state["s"])       # (B, hidden)
        logits = self.out(self.drop(torch.tanh(self.readout(self.drop(torch.cat([s, context, emb], -1))))))
        return logits, {**state, "s": s}, weights

    def forward(self, src, tgt_in, need_weights: bool = True):
        """Teacher forcing: logits (B, T, V) and ("rnnsearch.alignment": (B, T, S),),
        or no records with need_weights=False (training). One step at a time: batching
        the readout over all target positions measured no faster on CPU (0.97x)."""
        state = self.encode(src)
        emb = self.drop(self.tgt_emb(tgt_in))                           # (B, T, emb)
        logits, rows = [], []
        for t in range(tgt_in.shape[1]):
            lg, state, w = self._step(state, emb[:, t])
            logits.append(lg)
            rows.append(w)
        logits = torch.stack(logits, 1)                                 # (B, T, V)
        if not need_weights:
            return logits, ()
        record = AttentionMap("rnnsearch.alignment", "alignment", torch.stack(rows, 1),  # (B, T, S)
                              ("batch", "query", "key"),
                              meta={"model": "rnnsearch", "normalised": "softmax over source"})
        return logits, (record,)

    def step(self, state, last):
        logits, state, _ = self._step(state, self.tgt_emb(last))
        return torch.log_softmax(logits, -1), state

    @staticmethod
    def reorder(state, idx):
        return {k: v[idx] for k, v in state.items()}

# --------------------------------------------------------------------------- Transformer
class EncoderLayer(nn.Module):
    def __init__(self, cfg: NetConfig, index: int = 0):
        super().__init__()
        d = cfg.emb
        self.att = MultiHead(d, cfg.heads, name=f"encoder.{index}.self", kind="self")
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ff, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask, need_weights: bool = True):
        y = self.n1(x)
        a, records = self.att(y, y, mask, need_weights)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.n2(x))), records


class DecoderLayer(nn.Module):
    def __init__(self, cfg: NetConfig, index: int = 0):
        super().__init__()
        d = cfg.emb
        self.self_att = MultiHead(d, cfg.heads, name=f"decoder.{index}.self", kind="self")
        self.cross = MultiHead(d, cfg.heads, name=f"decoder.{index}.cross", kind="cross")
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.ff, d))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mem, self_mask, mem_mask, need_weights: bool = True):
        y = self.n1(x)
        a, self_records = self.self_att(y, y, self_mask, need_weights)
        x = x + self.drop(a)
        a, cross_records = self.cross(self.n2(x), mem, mem_mask, need_weights)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.n3(x))), self_records + cross_records

    def step(self, x, cache, cross_kv, mem_mask):
        """One new position x (B, 1, d) given the cached self-attention keys and values
        of the earlier positions (None at the first step) and the memory's projected
        keys and values: the same sums as ``forward`` over the prefix, for the last row
        only (a new query sees every cached key, so no causal mask is needed)."""
        y = self.n1(x)
        k, v = self.self_att.keys_values(y)                             # (B, h, 1, d/h) each
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        a, _ = self.self_att(y, None, None, need_weights=False, kv=(k, v))
        x = x + self.drop(a)
        a, _ = self.cross(self.n2(x), None, mem_mask, need_weights=False, kv=cross_kv)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.n3(x))), (k, v)


def sinusoid(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    return pe                                                           # (n, d)


class Transformer(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.emb
        self.src_emb = nn.Embedding(cfg.src_vocab, d, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, d, padding_idx=PAD)
        # Embeddings are multiplied by sqrt(d_model) (section 3.4), so they start at std
        # d_model^-0.5 as in the paper's tensor2tensor code: the scaled token vectors then
        # have unit scale, like the sinusoids added to them. PyTorch's default N(0, 1) made
        # them 16x the positions at d_model 256, and the model could hardly tell word order
        # (dev BLEU 3.0 after 2,000 steps against RNNsearch's 14.7 on the same batches).
        for table in (self.src_emb, self.tgt_emb):
            nn.init.normal_(table.weight, 0.0, d ** -0.5)
            with torch.no_grad():
                table.weight[PAD].zero_()
        self.register_buffer("pe", sinusoid(cfg.max_len + 2, d), persistent=False)
        self.enc = nn.ModuleList(EncoderLayer(cfg, i) for i in range(cfg.layers))
        self.dec = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.out = nn.Linear(d, cfg.tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def _embed(self, table, ids, start: int = 0):
        n = start + ids.shape[1]
        if n > self.pe.shape[0]:
            raise ValueError(f"sequence of {n} tokens is longer than the model's {self.pe.shape[0]}")
        return self.drop(table(ids) * math.sqrt(self.cfg.emb) + self.pe[start:n])

    def encode(self, src, need_weights: bool = True):
        mask = _lengths_mask(src)[:, None, None, :]                     # (B, 1, 1, S)
        x, records = self._embed(self.src_emb, src), []
        for layer in self.enc:
            x, layer_records = layer(x, mask, need_weights)
            records.extend(layer_records)
        return {"mem": self.enc_norm(x), "mask": mask, "records": records}

    def decode(self, state, tgt_in, need_weights: bool = True):
        T = tgt_in.shape[1]
        self_mask = causal_mask(T, tgt_in.device)[None, None] & (tgt_in != PAD)[:, None, None, :]
        x, records = self._embed(self.tgt_emb, tgt_in), []
        for layer in self.dec:
            x, layer_records = layer(x, state["mem"], self_mask, state["mask"], need_weights)
            records.extend(layer_records)
        return self.out(self.dec_norm(x)), records                      # (B, T, V), per-layer records

    def forward(self, src, tgt_in, need_weights: bool = True):
        """Teacher forcing: logits (B, T, V) and the per-layer maps stacked into
        "encoder.self" (B, L, H, S, S), "decoder.self" (B, L, H, T, T, causal) and
        "decoder.cross" (B, L, H, T, S), axes ("batch", "layer", "head", "query", "key").
        need_weights=False (training) runs the fused kernel and returns no records."""
        state = self.encode(src, need_weights)
        logits, dec_records = self.decode(state, tgt_in, need_weights)
        if not need_weights:
            return logits, ()
        per_layer = state["records"] + dec_records
        meta = {"model": "transformer", "normalised": "softmax(QK^T/sqrt(d)) per head"}

        def stacked(part: str, kind: str) -> AttentionMap:
            layers = [r.weights for r in per_layer if r.name.startswith(part + ".") and r.kind == kind]
            return AttentionMap(f"{part}.{kind}", kind, torch.stack(layers, 1),  # (B, L, H, Tq, Tk)
                                ("batch", "layer", "head", "query", "key"),
                                causal=part == "decoder" and kind == "self", meta=meta)

        return logits, (stacked("encoder", "self"), stacked("decoder", "self"), stacked("decoder", "cross"))

    def step(self, state, last):
        """One decoding step with cached keys and values: each layer keeps its
        self-attention keys and values of the earlier positions, and the memory's keys and
        values are projected once, so a step costs O(t) instead of re-running the prefix."""
        t = state.get("t", 0)
        if "cross_kv" not in state:
            state = {**state, "cross_kv": [layer.cross.keys_values(state["mem"]) for layer in self.dec]}
        x = self._embed(self.tgt_emb, last.unsqueeze(1), start=t)       # (B, 1, d)
        caches = []
        for i, layer in enumerate(self.dec):
            x, kv = layer.step(x, state["self_kv"][i] if t else None, state["cross_kv"][i], state["mask"])
            caches.append(kv)
        logits = self.out(self.dec_norm(x))[:, 0]                       # (B, V)
        return torch.log_softmax(logits, -1), {**state, "self_kv": caches, "t": t + 1}

    @staticmethod
    def reorder(state, idx):
        def pick(v):
            if torch.is_tensor(v):
                return v[idx]
            if isinstance(v, (list, tuple)):
                return type(v)(pick(x) for x in v)
            return v
        return {k: pick(v) for k, v in state.items() if k != "records"}

def sentence_attention(model: nn.Module, src: torch.Tensor, tgt_in: torch.Tensor,
                       src_labels=None, tgt_labels=None) -> tuple[AttentionMap, ...]:
    """One sentence's records, src (1, S), tgt_in (1, T) beginning with BOS, with token
    labels: row i is the attention used to emit token i. Decoder self-attention keys are
    the decoder's inputs: <s> then the emitted tokens."""
    _, records = model(src, tgt_in)
    shifted = ("<s>",) + tuple(tgt_labels[:-1]) if tgt_labels else None
    return tuple(
        record.item(0, query_labels=tgt_labels if record.name != "encoder.self" else src_labels,
                    key_labels=shifted if record.name == "decoder.self" else src_labels)
        for record in records)


def build_model(cfg: NetConfig) -> nn.Module:
    if cfg.arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {cfg.arch!r}")
    return {"seq2seq": Seq2Seq, "rnnsearch": RNNsearch, "transformer": Transformer}[cfg.arch](cfg)


# --------------------------------------------------------------------------- decoding
def _encode(model, src):
    """The encoder's state for decoding; the Transformer skips its attention records."""
    return model.encode(src, need_weights=False) if isinstance(model, Transformer) else model.encode(src)


def _next(model, state, last):
    """One decoding step; PAD and BOS can never be produced."""
    logp, state = model.step(state, last)
    logp = logp.clone()
    logp[:, PAD] = logp[:, BOS] = float("-inf")
    return logp, state


@torch.inference_mode()
def greedy(model, src: torch.Tensor, max_len: int = 120) -> list[list[int]]:
    """Batched greedy decoding; src (B, S). Returns token ids without BOS/EOS."""
    model.eval()
    B = src.shape[0]
    state = _encode(model, src)
    last = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    out = torch.zeros(B, 0, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logp, state = _next(model, state, last)
        last = logp.argmax(-1).masked_fill(done, PAD)
        out = torch.cat([out, last.unsqueeze(1)], 1)
        done |= last == EOS
        if done.all():
            break
    result = []
    for row in out.tolist():
        ids = []
        for t in row:
            if t in (EOS, PAD):
                break
            ids.append(t)
        result.append(ids)
    return result


@torch.inference_mode()
def beam_search(model, src: torch.Tensor, width: int = 5, max_len: int = 120,
                alpha: float = 1.0) -> list[int]:
    """Beam search for one sentence, src (1, S). Width 1 is exactly greedy.

    Each step keeps the ``width`` best expansions; those ending in EOS are finished and
    the beam shrinks (so width 1 stops where greedy stops). The finished hypothesis with
    the best log-probability / length**alpha wins.
    """
    if not 1 <= width <= 10:
        raise ValueError("beam width must be between 1 and 10")
    model.eval()
    state = _encode(model, src)
    hyps = [[]]
    scores = torch.zeros(1, device=src.device)
    last = torch.full((1,), BOS, dtype=torch.long, device=src.device)
    finished: list[tuple[float, list[int]]] = []
    for t in range(max_len):
        logp, state = _next(model, state, last)                         # (n, V)
        total = (scores.unsqueeze(1) + logp).view(-1)
        k = width - len(finished)
        best, flat = total.topk(k)
        V = logp.shape[1]
        keep_idx, keep_tok, keep_score = [], [], []
        for s, f in zip(best.tolist(), flat.tolist()):
            h, tok = divmod(f, V)
            if tok == EOS:
                finished.append((s / max(1, len(hyps[h]) + 1) ** alpha, hyps[h]))
            else:
                keep_idx.append(h)
                keep_tok.append(tok)
                keep_score.append(s)
        if not keep_idx or len(finished) >= width:
            break
        idx = torch.tensor(keep_idx, device=src.device)
        state = model.reorder(state, idx)
        hyps = [hyps[h] + [tok] for h, tok in zip(keep_idx, keep_tok)]
        scores = torch.tensor(keep_score, device=src.device)
        last = torch.tensor(keep_tok, device=src.device)
    if not finished:  # ran out of length: the best unfinished one
        finished = [(float(s) / max(1, len(h)) ** alpha, h) for s, h in zip(scores.tolist(), hyps)]
    return max(finished, key=lambda x: x[0])[1]
