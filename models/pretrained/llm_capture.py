"""Long-context attention of a Hugging Face model: a fused forward, exact maps on demand.

``output_attentions=True`` needs the eager path, which materialises
layers x heads x T x T weights (2.8 GB for a SmolLM2-135M-shaped model at 1k tokens).
Here the model runs its fused path (PyTorch SDPA) and, through transformers'
``AttentionInterface``, every layer's attention function records the queries and
keys *exactly as it receives them*: after the projections, after RoPE, before the
key/value heads are repeated. A head's map, a tile of it or one query's row is then
recomputed when asked for, with the model's own parameters:

    S_ij  = (q_i · k_j) * scaling            scaling: the model's own (1/sqrt(d) for Llama,
                                             query_pre_attn_scalar^-1/2 for Gemma2,
                                             1/(sqrt(d) (layer+1)) for GPT-2 when configured)
    S_ij  = tanh(S_ij / c) * c               logit soft-capping, where the layer has c (Gemma2)
    S_ij  = -inf  where j > i                causal mask (decoders)
    S_ij  = -inf  where i - j >= w           sliding window w, where the layer has one
                                             (transformers: key j is seen iff j > i - w)
    A_i   = softmax_j(S_ij)                  (query, key); each row sums to 1

Grouped-query attention: query head h reads key/value head h // (n_heads / n_kv_heads)
(transformers' ``repeat_kv``). Dropout is never applied (eval mode is required).

Memory stays O(layers x T x d): per layer q (H, T, d) and k (KV, T, d) are kept; a map
is built only for the head (or tile, or row) asked for, and the per-head statistics run
over row chunks of at most ``chunk x T`` weights at a time.

Shapes returned:
    capture(model, ids)          -> (logits (T', vocab), Captured)
    head_map(c, l, h, rows, cols) -> AttentionMap  axes ("query", "key")   (Tq, Tk)
    query_row(c, l, h, i)        -> AttentionMap  axes ("key",)           (T,)
    head_overview(c, l, h, size) -> AttentionMap  axes ("query", "key")   max-pooled
    head_statistics(c)           -> {stat: (layers, heads) tensor}

Where SDPA cannot run a layer exactly (logit soft-capping: transformers' ``sdpa``
refuses ``softcap``), the registered function computes that layer's attention itself,
in the same row chunks, with the equations above; its logits then equal the eager
path's, which is the only other exact path for such models.

The model must use transformers' AttentionInterface (Llama, Mistral, Qwen2/3, Gemma/
Gemma2, GPT-2, Phi-3, OLMo and most modern families do). Masks other than causal /
sliding-window (padding, packed sequences, chunked or bidirectional-prefix attention,
ALiBi biases, attention sinks) are refused with ``CaptureError`` rather than drawn wrong.
"""

from __future__ import annotations

import contextvars
import math
import os
from dataclasses import dataclass, field

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AttentionInterface  # noqa: E402
from transformers.integrations.sdpa_attention import sdpa_attention_forward  # noqa: E402
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask  # noqa: E402

from models.records import AttentionMap  # noqa: E402

# The name under which the capturing function is registered. A model loaded with it
# runs plain SDPA whenever no capture is under way (it is safe to share).
ATTN_IMPLEMENTATION = "workbench_capture"

# Upper bound on the weights one chunk of rows may hold (elements): 4M float32 = 16 MB.
# A chunk's scores are transformed in place, so about one chunk is alive at a time; with
# 16M the overview of one head at 4k tokens held ~250 MB of temporaries beside the 377 MB
# of captured q, k (bench/llm_long.py), for no measurable gain in speed.
CHUNK_ELEMENTS = 4 * 2**20

_RECORDER: contextvars.ContextVar["_Recorder | None"] = contextvars.ContextVar("llm_capture", default=None)


class CaptureError(ValueError):
    """A model, input or request the capture cannot serve exactly; the message says what to do."""


class CaptureMemoryError(CaptureError):
    """The estimate says the run would not fit in the memory available."""


@dataclass(frozen=True, eq=False)
class LayerCapture:
    """One layer's attention inputs as its attention function received them."""

    q: torch.Tensor                 # (H, T, d)  post-RoPE queries
    k: torch.Tensor                 # (KV, T, d) post-RoPE keys, before repeat_kv
    scaling: float
    causal: bool
    sliding_window: int | None      # key j seen by query i iff j > i - w
    softcap: float | None           # tanh(S / c) * c before the mask

    @property
    def n_heads(self) -> int:
        return int(self.q.shape[0])

    @property
    def n_kv_heads(self) -> int:
        return int(self.k.shape[0])

    def kv_head(self, head: int) -> int:
        """GQA: query head h reads key/value head h // (H / KV)."""
        return head // (self.n_heads // self.n_kv_heads)


@dataclass(frozen=True, eq=False)
class Captured:
    """Every layer's queries and keys from one forward pass (batch of one)."""

    layers: tuple[LayerCapture, ...]
    n_tokens: int
    model_type: str
    tokens: tuple[str, ...] | None = None     # labels for the views, when given
    meta: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_heads(self) -> int:
        return self.layers[0].n_heads

    def nbytes(self) -> int:
        return sum(t.q.element_size() * t.q.numel() + t.k.element_size() * t.k.numel() for t in self.layers)


# --------------------------------------------------------------------------- capture


class _Recorder:
    def __init__(self, store_dtype: torch.dtype | None, store_device: torch.device | None):
        self.store_dtype = store_dtype
        self.store_device = store_device
        self.layers: list[LayerCapture] = []
        self.checked_masks: set[tuple] = set()


def _resolve_causal(module, kwargs) -> bool:
    # As transformers' sdpa_attention_forward resolves it.
    is_causal = kwargs.get("is_causal")
    return bool(is_causal if is_causal is not None else getattr(module, "is_causal", True))


def _capturing_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """The registered attention function: record q, k and the layer's parameters, then
    run SDPA (or, for soft-capped layers, the exact chunked computation)."""
    softcap = kwargs.get("softcap")
    sliding_window = kwargs.get("sliding_window")
    recorder = _RECORDER.get()
    if recorder is not None:
        for name in ("position_bias", "s_aux", "sinks"):
            if kwargs.get(name) is not None:
                raise CaptureError(f"This model's attention adds {name!r}, which the capture does not "
                                   "reproduce; load it with attn_implementation='eager' for small inputs.")
        if dropout:
            raise CaptureError("Attention dropout is active: put the model in eval mode first.")
        if query.shape[0] != 1 or key.shape[2] != query.shape[2]:
            raise CaptureError("Capture takes one sequence without a cache (batch 1, use_cache=False).")
        scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
        causal = _resolve_causal(module, kwargs)
        window = int(sliding_window) if sliding_window else None
        if attention_mask is not None:
            _check_mask(recorder, attention_mask, causal, window, query.shape[2])
        elif window is not None and window < query.shape[2]:
            raise CaptureError("A sliding-window layer ran without a mask; the capture cannot tell what it saw.")
        store = dict(dtype=recorder.store_dtype or query.dtype, device=recorder.store_device or query.device)
        recorder.layers.append(LayerCapture(
            q=query[0].detach().to(**store, copy=True),   # (H, T, d)
            k=key[0].detach().to(**store, copy=True),     # (KV, T, d)
            scaling=scale, causal=causal, sliding_window=window,
            softcap=float(softcap) if softcap is not None else None,
        ))
    if softcap is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    return _softcap_attention(module, query, key, value, attention_mask, dropout, scaling, softcap,
                              _resolve_causal(module, kwargs))


def _softcap_attention(module, query, key, value, attention_mask, dropout, scaling, softcap, causal):
    """Eager-equivalent attention for soft-capped layers, in row chunks (SDPA cannot cap).

    query (B, H, T, d), key/value (B, KV, Tk, d), attention_mask bool (B, 1, T, Tk) or None
    -> (B, T, H, d) like every transformers attention function.
    """
    if dropout and module.training:
        raise CaptureError("Soft-capped attention with dropout is not supported; use eval mode.")
    b, h, t, d = query.shape
    kv, tk = key.shape[1], key.shape[2]
    n_rep = h // kv
    scale = scaling if scaling is not None else d ** -0.5
    causal = attention_mask is None and causal and t > 1
    out = torch.empty(b, h, t, value.shape[-1], dtype=query.dtype, device=query.device)
    chunk = _chunk_rows(h * b, tk)
    kt = key.transpose(-1, -2)                                   # (B, KV, d, Tk)
    for r0 in range(0, t, chunk):
        r1 = min(t, r0 + chunk)
        q = query[:, :, r0:r1].reshape(b, kv, n_rep * (r1 - r0), d)
        s = (q @ kt).view(b, h, r1 - r0, tk) * scale             # (B, H, c, Tk)
        s = torch.tanh(s / softcap) * softcap
        if attention_mask is not None:
            m = attention_mask[:, :, r0:r1]
            s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m
        elif causal:
            s = s.masked_fill(_allowed(r0, r1, 0, tk, True, None, s.device).logical_not(), float("-inf"))
        p = torch.softmax(s, dim=-1, dtype=torch.float32).to(value.dtype)
        out[:, :, r0:r1] = (p.view(b, kv, n_rep * (r1 - r0), tk) @ value).view(b, h, r1 - r0, -1)
    return out.transpose(1, 2).contiguous(), None


def _check_mask(recorder: _Recorder, mask: torch.Tensor, causal: bool, window: int | None, t: int) -> None:
    """The mask the model built must be the causal / sliding-window pattern we rebuild."""
    key = (mask.data_ptr(), tuple(mask.shape), mask.dtype, causal, window)
    if key in recorder.checked_masks:
        return
    if mask.ndim != 4 or mask.shape[0] != 1 or mask.shape[1] != 1 or mask.shape[-1] != t:
        raise CaptureError(f"Unsupported attention mask of shape {tuple(mask.shape)} (one sequence, no padding).")
    chunk = _chunk_rows(1, t)
    for r0 in range(0, mask.shape[2], chunk):
        r1 = min(mask.shape[2], r0 + chunk)
        m = mask[0, 0, r0:r1]
        if m.dtype == torch.bool:
            seen = m
        else:  # additive float mask: 0 where seen, the dtype's minimum where not
            seen = m == 0
            if not bool(((m == 0) | (m <= torch.finfo(m.dtype).min / 2)).all()):
                raise CaptureError("The model adds a bias to its attention scores (ALiBi or similar); "
                                   "the capture does not reproduce biases.")
        if not torch.equal(seen, _allowed(r0, r1, 0, t, causal, window, m.device)):
            raise CaptureError("The model's attention mask is not a plain causal / sliding-window mask "
                               "(padding, packed or chunked attention); the capture would draw it wrong.")
    recorder.checked_masks.add(key)


def _register() -> None:
    AttentionInterface.register(ATTN_IMPLEMENTATION, _capturing_attention)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, sdpa_mask)


_register()


def prepare(model):
    """Switch a model loaded with SDPA to the capturing implementation (plain SDPA when no
    capture is under way). Models loaded with ``attn_implementation=ATTN_IMPLEMENTATION``
    need nothing."""
    current = getattr(model.config, "_attn_implementation", None)
    if current == ATTN_IMPLEMENTATION:
        return model
    if current != "sdpa":
        raise CaptureError(f"The model runs attention with {current!r}; load it with "
                           f"attn_implementation={ATTN_IMPLEMENTATION!r} (or 'sdpa') to capture.")
    model.set_attn_implementation(ATTN_IMPLEMENTATION)
    if model.config._attn_implementation != ATTN_IMPLEMENTATION:
        raise CaptureError(f"{type(model).__name__} does not use transformers' AttentionInterface, "
                           "so its queries and keys cannot be captured.")
    return model


def context_length(config) -> int | None:
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def estimate_bytes(config, n_tokens: int, logits_to_keep: int = 0, store_bytes: int = 4) -> dict[str, int]:
    """A rough upper estimate of what ``capture`` needs besides the weights, in bytes.

    captured   layers x (H + KV) x T x d x store_bytes
    activations about 4 hidden + 3 MLP-width vectors per token at once, float32
    logits     T' x vocab x 4 (T' = logits_to_keep or T)
    mask       T x T bytes when a sliding window is shorter than T (transformers builds it)
    """
    c = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = getattr(c, "hidden_size", None) or getattr(c, "n_embd")
    heads = getattr(c, "num_attention_heads", None) or getattr(c, "n_head")
    kv = getattr(c, "num_key_value_heads", None) or heads
    d = getattr(c, "head_dim", None) or hidden // heads
    layers = getattr(c, "num_hidden_layers", None) or getattr(c, "n_layer")
    inner = getattr(c, "intermediate_size", None) or getattr(c, "n_inner", None) or 4 * hidden
    vocab = getattr(c, "vocab_size", 0)
    t = int(n_tokens)
    window = getattr(c, "sliding_window", None)
    kept = logits_to_keep if logits_to_keep else t
    parts = {
        "captured": layers * (heads + kv) * t * d * store_bytes,
        "activations": t * (4 * hidden + 3 * inner + 2 * heads * d) * 4,
        "logits": min(kept, t) * vocab * 4,
        "mask": t * t if isinstance(window, int) and window < t else 0,
    }
    parts["total"] = sum(parts.values())
    return parts


def available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with accelerate
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


@torch.inference_mode()
def capture(model, input_ids, *, tokens=None, logits_to_keep: int = 0,
            store_dtype: torch.dtype | None = torch.float32, store_device=None,
            check_memory: bool = True) -> tuple[torch.Tensor, Captured]:
    """One fused forward over one sequence, recording every layer's q and k: a causal LM,
    or an encoder (BERT…; loaded with ``attn_implementation=ATTN_IMPLEMENTATION``), which
    has no logits.

    input_ids      (T,) or (1, T) token ids
    tokens         optional token strings (labels of the maps), T of them
    logits_to_keep 0: logits for every position (T, vocab); n: the last n positions
    store_dtype    dtype of the captured q, k (float32 default; None keeps the model's)
    store_device   where q, k are kept (default: the model's device)
    -> logits (T', vocab) (None for a model without an output head), Captured
    """
    ids = torch.as_tensor(input_ids)
    if ids.ndim == 1:
        ids = ids[None]
    if ids.ndim != 2 or ids.shape[0] != 1:
        raise CaptureError(f"Capture takes one sequence of token ids, got shape {tuple(ids.shape)}.")
    t = int(ids.shape[1])
    if t == 0:
        raise CaptureError("The prompt is empty: there are no tokens to attend over.")
    limit = context_length(model.config)
    if limit is not None and t > limit:
        raise CaptureError(f"The input has {t:,} tokens but the model reads at most {limit:,} "
                           f"(its context length). Shorten the text.")
    if tokens is not None and len(tokens) != t:
        raise CaptureError(f"{len(tokens)} token labels for {t} tokens.")
    if model.training:
        raise CaptureError("The model is in training mode (dropout on); call model.eval() first.")
    prepare(model)
    device = next(model.parameters()).device
    if check_memory:
        need = estimate_bytes(model.config, t, logits_to_keep,
                              torch.finfo(store_dtype).bits // 8 if store_dtype else 4)
        have = available_bytes(torch.device(store_device) if store_device else device)
        if need["total"] > 0.9 * have:
            raise CaptureMemoryError(
                f"{t:,} tokens would need about {_gib(need['total'])} (captured queries and keys "
                f"{_gib(need['captured'])}, logits {_gib(need['logits'])}) but {_gib(have)} is free on "
                f"{device.type}. Use fewer tokens, keep fewer logits, or store q and k in half precision.")
    recorder = _Recorder(store_dtype, torch.device(store_device) if store_device else None)
    token = _RECORDER.set(recorder)
    try:
        # only a model with an output head (a causal LM) takes logits_to_keep
        extra = {"logits_to_keep": logits_to_keep} if model.get_output_embeddings() is not None else {}
        out = model(input_ids=ids.to(device), use_cache=False, **extra)
    finally:
        _RECORDER.reset(token)
    n_expected = _first_int(model.config, ("num_hidden_layers", "n_layer"))
    if not recorder.layers or (n_expected and len(recorder.layers) != n_expected):
        raise CaptureError(f"{type(model).__name__} called the attention function {len(recorder.layers)} times "
                           f"for {n_expected} layers; it does not route attention through AttentionInterface.")
    captured = Captured(layers=tuple(recorder.layers), n_tokens=t,
                        model_type=str(getattr(model.config, "model_type", "")),
                        tokens=tuple(tokens) if tokens is not None else None)
    logits = getattr(out, "logits", None)
    return (logits[0] if logits is not None else None), captured


def _first_int(config, names) -> int:
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


# --------------------------------------------------------------------------- maps on demand


def _chunk_rows(heads: int, n_keys: int, budget: int | None = None) -> int:
    return max(1, (budget or CHUNK_ELEMENTS) // max(1, heads * n_keys))


def _allowed(r0: int, r1: int, c0: int, c1: int, causal: bool, window: int | None, device) -> torch.Tensor:
    """(r1 - r0, c1 - c0) bool: True where query i may see key j."""
    i = torch.arange(r0, r1, device=device)[:, None]
    j = torch.arange(c0, c1, device=device)[None, :]
    seen = torch.ones(r1 - r0, c1 - c0, dtype=torch.bool, device=device)
    if causal:
        seen &= j <= i
    if window is not None:
        seen &= j > i - window
    return seen


def _layer(captured: Captured, layer: int) -> LayerCapture:
    if not -captured.n_layers <= layer < captured.n_layers:
        raise IndexError(f"layer {layer} out of range for {captured.n_layers} layers")
    return captured.layers[layer]


def _band_probs(lc: LayerCapture, heads: list[int], r0: int, r1: int,
                dtype: torch.dtype) -> tuple[torch.Tensor, int, int]:
    """Rows r0..r1 of the given heads' maps over the keys lo..hi that some row of the chunk
    may see: (len(heads), r1 - r0, hi - lo), lo, hi. Every other key has weight exactly 0."""
    t = lc.k.shape[1]
    # Only keys some row of the chunk may see are scored: a causal row i sees keys <= i, a
    # window w keys > i - w. The rest are exactly 0 after the softmax, so they are never
    # computed (about half the work of a causal map, far more with a window).
    lo = max(0, r0 - lc.sliding_window + 1) if lc.sliding_window is not None and lc.causal else 0
    hi = r1 if lc.causal else t
    q = lc.q[heads, r0:r1].to(dtype)                            # (h, c, d)
    kv = [lc.kv_head(h) for h in heads]
    if len(set(kv)) == 1:                                       # one key head: a view, no copy
        k = lc.k[kv[0]:kv[0] + 1, lo:hi].to(dtype)              # (1, hi - lo, d)
    else:
        k = lc.k[:, lo:hi].index_select(0, torch.tensor(kv, device=lc.k.device)).to(dtype)
    s = torch.matmul(q, k.transpose(-1, -2)).mul_(lc.scaling)  # (h, c, hi - lo)
    if lc.softcap is not None:
        s.div_(lc.softcap).tanh_().mul_(lc.softcap)
    seen = _allowed(r0, r1, lo, hi, lc.causal, lc.sliding_window, s.device)
    # softmax in place (max subtracted, as torch.softmax does): one chunk-sized buffer, not three
    p = s.masked_fill_(~seen, float("-inf"))
    p.sub_(p.amax(dim=-1, keepdim=True)).exp_()
    p.div_(p.sum(dim=-1, keepdim=True))
    return p, lo, hi


def _rows_probs(lc: LayerCapture, heads: list[int], r0: int, r1: int, dtype: torch.dtype) -> torch.Tensor:
    """Full rows r0..r1 of the given heads' maps: (len(heads), r1 - r0, T)."""
    t = lc.k.shape[1]
    p, lo, hi = _band_probs(lc, heads, r0, r1, dtype)
    if (lo, hi) == (0, t):
        return p
    out = torch.zeros(*p.shape[:2], t, dtype=p.dtype, device=p.device)
    out[..., lo:hi] = p
    return out                                                  # (h, c, T)


def _check_slice(s: slice | None, n: int, what: str) -> tuple[int, int]:
    s = s if s is not None else slice(None)
    if not isinstance(s, slice) or s.step not in (None, 1):
        raise ValueError(f"{what} must be a contiguous slice")
    a, b, _ = s.indices(n)
    if b <= a:
        raise ValueError(f"empty {what} slice {s} of {n}")
    return a, b


def _record(captured: Captured, name: str, weights, axes, layer, head, rows=None, cols=None, extra=None):
    lc = captured.layers[layer]
    labels = captured.tokens
    meta = {"model_type": captured.model_type, "layer": layer, "head": head, "kv_head": lc.kv_head(head),
            "scaling": lc.scaling, "sliding_window": lc.sliding_window, "softcap": lc.softcap,
            "n_tokens": captured.n_tokens, "source": "captured q,k (SDPA forward)"}
    if rows is not None:
        meta["rows"] = rows
    if cols is not None:
        meta["cols"] = cols
    meta.update(extra or {})
    q_labels = labels[rows[0]:rows[1]] if labels and "query" in axes and rows else None
    k_labels = labels[cols[0]:cols[1]] if labels and cols else None
    return AttentionMap(name, "self", weights, axes, query_labels=q_labels, key_labels=k_labels,
                        causal=lc.causal, meta=meta)


@torch.inference_mode()
def head_map(captured: Captured, layer: int, head: int, rows: slice | None = None, cols: slice | None = None,
             dtype: torch.dtype = torch.float32) -> AttentionMap:
    """Head ``head`` of layer ``layer``: the full map, or the tile rows x cols (query, key).

    Each row is normalised over all keys it may see, so a tile equals the same slice of
    the full map. Memory: (rows) x T for the computation.
    """
    lc = _layer(captured, layer)
    _check_head(lc, head)
    t = captured.n_tokens
    r0, r1 = _check_slice(rows, t, "rows")
    c0, c1 = _check_slice(cols, t, "cols")
    out = torch.empty(r1 - r0, c1 - c0, dtype=dtype, device=lc.q.device)
    chunk = _chunk_rows(1, t)
    for a in range(r0, r1, chunk):
        b = min(r1, a + chunk)
        out[a - r0:b - r0] = _rows_probs(lc, [head], a, b, dtype)[0, :, c0:c1]
    name = f"{_prefix(lc)}.layer{layer}.head{head}" + ("" if (r0, r1, c0, c1) == (0, t, 0, t) else ".tile")
    return _record(captured, name, out, ("query", "key"), layer, head, (r0, r1), (c0, c1))


@torch.inference_mode()
def every_map(captured: Captured, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(layers, heads, T, T): every head's whole map. T^2 per head, so for short inputs
    only (the model view, attributions); long inputs use head_map's tiles and rows."""
    return torch.stack([torch.stack([head_map(captured, layer, head, dtype=dtype).weights
                                     for head in range(captured.n_heads)]) for layer in range(captured.n_layers)])


@torch.inference_mode()
def query_row(captured: Captured, layer: int, head: int, i: int, dtype: torch.dtype = torch.float32) -> AttentionMap:
    """Which keys query ``i`` reads in one head: (T,), summing to 1."""
    lc = _layer(captured, layer)
    _check_head(lc, head)
    t = captured.n_tokens
    if not -t <= i < t:
        raise IndexError(f"query {i} out of range for {t} tokens")
    i = i % t
    row = _rows_probs(lc, [head], i, i + 1, dtype)[0, 0]
    rec = _record(captured, f"{_prefix(lc)}.layer{layer}.head{head}.query{i}", row, ("key",), layer, head,
                  cols=(0, t), extra={"query": i})
    return rec


def _prefix(lc: LayerCapture) -> str:
    # the names hf.py gives the same maps, stacked: "decoder.self" / "encoder.self"
    return "decoder.self" if lc.causal else "encoder.self"


def _check_head(lc: LayerCapture, head: int) -> None:
    if not 0 <= head < lc.n_heads:
        raise IndexError(f"head {head} out of range for {lc.n_heads} heads")


@torch.inference_mode()
def head_overview(captured: Captured, layer: int, head: int, size: int = 1024) -> AttentionMap:
    """The whole map pooled by maximum to at most size x size cells (peaks survive).

    Cell (a, b) holds the largest weight among queries in row block a and keys in column
    block b; blocks are ceil(T / size) tokens wide. Computed in row chunks: never T x T.
    """
    lc = _layer(captured, layer)
    _check_head(lc, head)
    t = captured.n_tokens
    block = max(1, math.ceil(t / size))
    n = math.ceil(t / block)
    out = torch.zeros(n, n, dtype=torch.float32, device=lc.q.device)
    chunk = max(block, _chunk_rows(1, t) // block * block)
    for a in range(0, t, chunk):
        b = min(t, a + chunk)
        p, lo, hi = _band_probs(lc, [head], a, b, torch.float32)
        p = p[0]                                                    # (c, hi - lo)
        # Pool only the key blocks the band touches; the others stay 0 (their weights are 0).
        c_lo, c_hi = lo // block * block, math.ceil(hi / block) * block
        pad = (lo - c_lo, c_hi - hi, 0, (-p.shape[0]) % block)
        if any(pad):  # zeros never win a max over probabilities
            p = torch.nn.functional.pad(p, pad)
        pooled = p.view(p.shape[0] // block, block, (c_hi - c_lo) // block, block).amax(dim=(1, 3))
        out[a // block:a // block + pooled.shape[0], c_lo // block:c_hi // block] = pooled
    return _record(captured, f"{_prefix(lc)}.layer{layer}.head{head}.overview", out, ("query", "key"),
                   layer, head, extra={"block": block, "pooled": "max"})


# --------------------------------------------------------------------------- statistics

STATISTICS = {
    "entropy": "mean_i -sum_j A_ij log A_ij (nats)",
    "sink": "mean_i A_i0: share on the first token",
    "distance": "mean_i sum_j A_ij |i - j| (tokens)",
    "local": "mean_i sum_{|i-j| <= window} A_ij: share within the local window",
}


def uniform_baseline(n_tokens: int, local_window: int = 8, causal: bool = True) -> dict[str, float]:
    """Each statistic of ``head_statistics`` for uniform causal attention over the same
    number of tokens (query i spreads 1/(i+1) over keys 0..i): the chance level to read
    every head's value against.
        entropy  mean_i log(i+1)      sink  mean_i 1/(i+1)
        distance mean_i i/2           local mean_i min(i+1, window+1)/(i+1)
    With ``causal=False`` (an encoder: query i spreads 1/T over all T keys):
        entropy  log T                sink  1/T
        distance mean_i mean_j |i-j|  local mean_i #{j: |i-j| <= window}/T"""
    if n_tokens < 1:
        raise ValueError("need at least one token")
    i = torch.arange(n_tokens, dtype=torch.float64)
    if not causal:
        dist = (i[:, None] - i[None, :]).abs()                       # (T, T)
        return {"entropy": math.log(n_tokens), "sink": 1.0 / n_tokens, "distance": float(dist.mean()),
                "local": float((dist <= local_window).double().mean())}
    return {"entropy": float(torch.log(i + 1).mean()), "sink": float((1 / (i + 1)).mean()),
            "distance": float((i / 2).mean()),
            "local": float((torch.clamp(i + 1, max=local_window + 1) / (i + 1)).mean())}


def _iter_layer_rows(lc: LayerCapture, t: int, dtype, chunk: int | None):
    heads = list(range(lc.n_heads))
    step = chunk or _chunk_rows(len(heads), t)
    for r0 in range(0, t, step):
        r1 = min(t, r0 + step)
        yield r0, r1, _rows_probs(lc, heads, r0, r1, dtype)   # (H, c, T)


@torch.inference_mode()
def head_statistics(captured: Captured, local_window: int = 8, chunk: int | None = None,
                    dtype: torch.dtype = torch.float32, progress=None) -> dict[str, torch.Tensor]:
    """{stat: (layers, heads)} over all T query rows (see STATISTICS), computed in
    chunks of at most ``chunk`` rows (default: CHUNK_ELEMENTS / (heads x T)).
    ``progress(fraction)`` is called after each layer, for a progress bar."""
    t = captured.n_tokens
    sums = {name: torch.zeros(captured.n_layers, captured.n_heads, dtype=torch.float64) for name in STATISTICS}
    for li, lc in enumerate(captured.layers):
        for r0, r1, p in _iter_layer_rows(lc, t, dtype, chunk):
            i = torch.arange(r0, r1, device=p.device, dtype=dtype)[:, None]
            j = torch.arange(t, device=p.device, dtype=dtype)[None, :]
            dist = (i - j).abs()                                         # (c, T)
            sums["entropy"][li] += torch.special.entr(p).sum((-1, -2)).double().cpu()
            sums["sink"][li] += p[..., 0].sum(-1).double().cpu()
            sums["distance"][li] += (p * dist).sum((-1, -2)).double().cpu()
            sums["local"][li] += (p * (dist <= local_window)).sum((-1, -2)).double().cpu()
        if progress is not None:
            progress((li + 1) / captured.n_layers)
    return {name: (s / t).float() for name, s in sums.items()}


@torch.inference_mode()
def offset_scores(captured: Captured, offset: int, first: int = 0, chunk: int | None = None) -> torch.Tensor:
    """(layers, heads): mean over queries i >= first + offset of A_{i, i - offset}.

    With offset = period - 1 on a sequence that repeats with that period from ``first``
    on, this is the induction score (Olsson et al. 2022): the weight on the token that
    followed the current one's previous occurrence. offset = 1 is the previous-token share.
    """
    t = captured.n_tokens
    start = first + offset
    if offset < 0 or start >= t:
        raise ValueError(f"offset {offset} from {first} leaves no query in {t} tokens")
    out = torch.zeros(captured.n_layers, captured.n_heads, dtype=torch.float64)
    for li, lc in enumerate(captured.layers):
        for r0, r1, p in _iter_layer_rows(lc, t, torch.float32, chunk):
            a = max(r0, start)
            if a >= r1:
                continue
            i = torch.arange(a, r1, device=p.device)
            out[li] += p[:, i - r0, i - offset].sum(-1).double().cpu()
    return (out / (t - start)).float()


@torch.inference_mode()
def attention_received(captured: Captured, layer: int, chunk: int | None = None) -> AttentionMap:
    """(heads, T): how much attention each key receives in one layer, per head,
    mean over all T queries of A_ij (each head's row sums to 1; a sink stands out).
    Computed in row chunks, never T x T."""
    lc = _layer(captured, layer)
    t = captured.n_tokens
    total = torch.zeros(lc.n_heads, t, dtype=torch.float64)
    for _, _, p in _iter_layer_rows(lc, t, torch.float32, chunk):
        total += p.sum(1).double().cpu()                                # (H, T)
    labels = captured.tokens
    return AttentionMap(f"{_prefix(lc)}.layer{layer}.received", "self", (total / t).float(), ("head", "key"),
                        key_labels=labels, causal=lc.causal,
                        meta={"model_type": captured.model_type, "layer": layer, "n_tokens": t,
                              "statistic": "mean over queries of A_ij"})
