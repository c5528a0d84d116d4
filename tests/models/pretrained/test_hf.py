"""The HF loader against hand-computed softmax(QKᵀ/√d) on tiny random models."""

import math

import numpy as np
import pytest
import torch

from models.pretrained.hf import ModelDirError, check_model_dir, load_transformer, run_transformer
from tests.tiny_models import tiny_bart, tiny_bert, tiny_gpt2


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert"))


def test_encoder_attention_equals_hand_computed_softmax(bert_dir):
    loaded = load_transformer(bert_dir, device=torch.device("cpu"))
    assert loaded.architecture == "encoder" and loaded.n_layers == 2 and loaded.n_heads == 4
    run = run_transformer(loaded, "the cat sat on the mat")
    (record,) = run.records
    assert record.name == "encoder.self" and record.axes == ("layer", "head", "query", "key")
    weights = record.numpy()
    t = len(run.tokens)
    assert weights.shape == (2, 4, t, t)
    assert run.tokens[0] == "[CLS]" and run.tokens[-1] == "[SEP]"
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)

    # Recompute layer 1 by hand from the hidden states entering it.
    model = loaded.model
    enc = loaded.tokenizer("the cat sat on the mat", return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[1][0]  # (T, d)
        attn = model.encoder.layer[1].attention.self
        d = attn.attention_head_size
        q = attn.query(hidden).view(t, 4, d).transpose(0, 1)  # (heads, T, d)
        k = attn.key(hidden).view(t, 4, d).transpose(0, 1)
        expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1).numpy()
    np.testing.assert_allclose(weights[1], expected, atol=1e-5)


def test_decoder_only_is_causal(tmp_path):
    loaded = load_transformer(tiny_gpt2(tmp_path), device=torch.device("cpu"))
    assert loaded.architecture == "decoder"
    run = run_transformer(loaded, "the cat sat on the mat")
    (record,) = run.records
    assert record.causal and record.name == "decoder.self"
    w = record.numpy()
    upper = np.triu(np.ones(w.shape[-2:], dtype=bool), k=1)
    assert np.all(w[..., upper] == 0.0)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


def test_encoder_decoder_gives_three_records(tmp_path):
    loaded = load_transformer(tiny_bart(tmp_path), device=torch.device("cpu"))
    assert loaded.architecture == "encoder-decoder"
    run = run_transformer(loaded, "the cat sat", target_text="el gato")
    names = [r.name for r in run.records]
    assert names == ["encoder.self", "decoder.self", "decoder.cross"]
    enc, dec, cross = (r.numpy() for r in run.records)
    t_src, t_tgt = len(run.tokens), len(run.target_tokens)
    assert enc.shape[-2:] == (t_src, t_src)
    assert dec.shape[-2:] == (t_tgt, t_tgt)
    assert cross.shape[-2:] == (t_tgt, t_src)
    assert np.all(dec[..., np.triu(np.ones((t_tgt, t_tgt), dtype=bool), k=1)] == 0.0)
    for w in (enc, dec, cross):
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    # Without a target the model writes its own (greedy), and cross-attention follows it.
    run = run_transformer(loaded, "the cat sat")
    assert run.records[2].numpy().shape[-2] == len(run.target_tokens) >= 1


def test_long_text_is_cut_with_counts(bert_dir):
    loaded = load_transformer(bert_dir, device=torch.device("cpu"))
    run = run_transformer(loaded, "hello world " * 200)
    assert len(run.tokens) == loaded.max_tokens == 64
    assert run.n_tokens_total == 402 and run.truncated


def test_empty_text_is_refused(bert_dir):
    loaded = load_transformer(bert_dir, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="empty"):
        run_transformer(loaded, "  \n ")


def test_model_dir_checks(tmp_path, bert_dir):
    with pytest.raises(ModelDirError, match="does not exist"):
        check_model_dir(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ModelDirError, match="not a directory"):
        check_model_dir(tmp_path / "file.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelDirError, match="config.json"):
        check_model_dir(empty)
    (empty / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match="cannot be read"):
        check_model_dir(empty)
    (empty / "config.json").write_text('{"hello": 1}')
    with pytest.raises(ModelDirError, match="model_type"):
        check_model_dir(empty)
    assert check_model_dir(str(bert_dir)) == bert_dir


def test_default_model_loads_offline():
    """all-MiniLM-L6-v2 from its PyPI package, with HF offline mode on."""
    import os

    from models.pretrained.hf import default_model_dir

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    loaded = load_transformer(default_model_dir(), device=torch.device("cpu"))
    assert (loaded.n_layers, loaded.n_heads, loaded.max_tokens) == (6, 12, 512)
    run = run_transformer(loaded, "A cat 😀 你好 שלום <b>x</b>")
    assert run.records[0].numpy().shape[:2] == (6, 12)


def test_default_model_never_touches_the_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    from models.pretrained.hf import default_model_dir

    loaded = load_transformer(default_model_dir(), device=torch.device("cpu"))
    run = run_transformer(loaded, "No network was used to read this.")
    assert run.records[0].numpy().shape[0] == 6


def test_model_dir_box_survives_hostile_paths(tmp_path):
    """Issue 14: 5,000 characters once ended in OSError 'File name too long' as a traceback."""
    with pytest.raises(ModelDirError, match="not a usable path .5,000 characters"):
        check_model_dir("x" * 5000)
    with pytest.raises(ModelDirError, match="NUL"):
        check_model_dir("a\x00b")
    with pytest.raises(ModelDirError, match="cannot be read: File name too long"):
        check_model_dir(tmp_path / ("y" * 300))  # one component longer than NAME_MAX
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ModelDirError, match="symbolic link that leads nowhere"):
        check_model_dir(tmp_path / "a")
    with pytest.raises(ModelDirError, match=r"/q/z+…' does not exist") as err:  # long paths cut in the message
        check_model_dir(tmp_path / "q" / ("z" * 200))
    assert len(str(err.value)) < 140
