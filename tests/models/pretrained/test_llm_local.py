"""Local LLMs: .gguf checks on small hand-written files; SmolLM2 when its package is installed.

The SmolLM2 tests convert the packaged GGUF once into the shared cache (cache/, git-ignored;
about 40 s the first time on two cores, then reused), check the folder, and measure the
induction head that issue 12 names (layer 18, head 6).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from models.pretrained import llm_capture as lc
from models.pretrained import llm_local as ll


def _write_gguf(path, arch: str, n_values: int = 4096) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.arange(n_values, dtype=np.float32).reshape(-1, 64))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_unsupported_architecture_is_refused(tmp_path):
    path = tmp_path / "rwkv.gguf"
    _write_gguf(path, "rwkv6")
    with pytest.raises(ll.GGUFError, match="'rwkv6' model, which transformers cannot read"):
        ll.check_gguf(path)
    with pytest.raises(ll.GGUFError, match="cannot read"):
        ll.gguf_to_folder(path, cache=tmp_path / "cache")
    _write_gguf(path, "mamba")
    with pytest.raises(ll.GGUFError, match="without attention"):
        ll.check_gguf(path)


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.02])
def test_truncated_file_is_refused(tmp_path, keep):
    whole = tmp_path / "whole.gguf"
    _write_gguf(whole, "llama")
    assert ll.check_gguf(whole) == "llama"
    data = whole.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ll.GGUFError, match="truncated"):
        ll.check_gguf(cut)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ll.GGUFError, match="not a GGUF file"):
        ll.check_gguf(path)
    with pytest.raises(ll.GGUFError, match="not a file"):
        ll.check_gguf(tmp_path / "missing.gguf")


SMOLLM2 = importlib.util.find_spec(ll.SMOLLM2_PACKAGE) is not None
needs_smollm2 = pytest.mark.skipif(not SMOLLM2, reason=f"SmolLM2 not installed: {ll.SMOLLM2_INSTALL}")


@pytest.fixture(scope="module")
def smollm2():
    return ll.load_causal_lm(ll.smollm2_folder(), device=torch.device("cpu"))


@needs_smollm2
def test_smollm2_converts_once_to_a_folder(smollm2):
    folder = ll.smollm2_folder()
    assert folder == smollm2.path and folder.parent == ll.cache_root()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert (smollm2.model_type, smollm2.n_layers, smollm2.n_heads, smollm2.n_kv_heads) == ("llama", 30, 9, 3)
    assert smollm2.context_length == 8192 and smollm2.has_chat_template
    assert smollm2.model.config._attn_implementation == lc.ATTN_IMPLEMENTATION
    assert ll.model_folder(ll.smollm2_gguf()) == folder  # a typed .gguf path finds the cache


@needs_smollm2
def test_smollm2_induction_head(smollm2):
    """Repeated random tokens [x, x]: query i in the second copy should read key
    i - (n - 1), the token after its previous occurrence. Issue 12 measured 0.90."""
    n = 50
    scores = []
    for seed in range(4):
        x = torch.randint(0, smollm2.model.config.vocab_size, (n,), generator=torch.Generator().manual_seed(seed))
        _, captured = lc.capture(smollm2.model, torch.cat([x, x]), logits_to_keep=1)
        scores.append(lc.offset_scores(captured, offset=n - 1, first=1))
    score = torch.stack(scores).mean(0)  # (30, 9)
    assert score[18, 6] > 0.85  # measured 0.905
    assert int(score.flatten().argmax()) == 18 * 9 + 6


@needs_smollm2
def test_smollm2_context_limit(smollm2):
    with pytest.raises(lc.CaptureError, match="at most 8,192"):
        lc.capture(smollm2.model, torch.zeros(8193, dtype=torch.long))


def test_a_typed_gguf_path_is_checked_as_a_path_first(tmp_path):
    from models.pretrained.hf import ModelDirError
    from models.pretrained.llm_local import checked_gguf, model_folder

    with pytest.raises(ModelDirError, match="not a usable path"):
        checked_gguf("x" * 5000 + ".gguf")
    with pytest.raises(ModelDirError, match="File name too long"):
        model_folder(str(tmp_path / ("y" * 300 + ".gguf")))
    with pytest.raises(ModelDirError, match="is not a file"):
        model_folder(str(tmp_path / "missing.gguf"))
