"""Captured q, k (SDPA forward) against eager output_attentions, on tiny random models.

Each family is built from a config in the test (no downloads): Llama with GQA, Qwen2
with GQA, Mistral with a sliding window shorter than the sequence, Gemma2 with strong
logit soft-capping and sliding/full layers alternating, GPT-2 with layer-scaled
attention. Every head's map, every tile and row, the chunked statistics and the
logits are compared with the eager path, which materialises the weights itself.
"""

from __future__ import annotations

import copy

import pytest
import torch

from models.pretrained import llm_capture as lc

T = 24
VOCAB = 64


def _llama(**kw):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **kw)
    return LlamaForCausalLM(cfg)


def _qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64)
    return Qwen2ForCausalLM(cfg)


def _mistral():
    from transformers import MistralConfig, MistralForCausalLM

    cfg = MistralConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
                        sliding_window=5)
    return MistralForCausalLM(cfg)


def _gemma2():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    cfg = Gemma2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                       sliding_window=6, attn_logit_softcapping=0.7, query_pre_attn_scalar=5,
                       layer_types=["sliding_attention", "full_attention"] * 2)
    return Gemma2ForCausalLM(cfg)


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                     scale_attn_by_inverse_layer_idx=True)
    return GPT2LMHeadModel(cfg)


FAMILIES = {"llama": _llama, "qwen2": _qwen2, "mistral": _mistral, "gemma2": _gemma2, "gpt2": _gpt2}


def _random_weights(model):
    # Random init is small; larger weights give peaked maps that a wrong mask, scale or
    # cap cannot pass by accident.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.5 if "embed" in name or "wte" in name or "wpe" in name else 0.25)
    return model.eval()


def _pair(family: str):
    """(capture model, eager model) with the same weights, float32."""
    torch.manual_seed(0)
    base = _random_weights(FAMILIES[family]())
    eager = copy.deepcopy(base)
    eager.set_attn_implementation("eager")
    base.set_attn_implementation(lc.ATTN_IMPLEMENTATION)
    return base, eager


@pytest.fixture(scope="module", params=list(FAMILIES))
def run(request):
    torch.manual_seed(1)
    model, eager = _pair(request.param)
    ids = torch.randint(0, VOCAB, (1, T))
    logits, captured = lc.capture(model, ids, tokens=[f"t{i}" for i in range(T)])
    with torch.inference_mode():
        out = eager(input_ids=ids, output_attentions=True, use_cache=False)
    maps = torch.stack([a[0] for a in out.attentions])  # (layers, heads, T, T)
    return request.param, model, eager, ids, logits, captured, maps, out.logits[0]


def test_every_head_equals_eager(run):
    family, _, _, _, _, captured, maps, _ = run
    assert captured.n_layers == maps.shape[0] and captured.n_heads == maps.shape[1]
    for layer in range(captured.n_layers):
        for head in range(captured.n_heads):
            rec = lc.head_map(captured, layer, head)
            assert rec.axes == ("query", "key") and rec.causal and rec.shape == (T, T)
            assert rec.name == f"decoder.self.layer{layer}.head{head}" and rec.meta["head"] == head
            assert rec.query_labels == rec.key_labels == tuple(f"t{i}" for i in range(T))
            torch.testing.assert_close(rec.weights, maps[layer, head], atol=1e-5, rtol=0,
                                       msg=f"{family} layer {layer} head {head}")


def test_layer_parameters_are_the_models(run):
    family, model, *_ = run
    captured = run[5]
    layers = captured.layers
    if family == "mistral":
        assert all(layer.sliding_window == 5 for layer in layers)
    elif family == "gemma2":
        assert [layer.sliding_window for layer in layers] == [6, None, 6, None]
        assert all(layer.softcap == 0.7 for layer in layers)
        assert all(layer.scaling == pytest.approx(5 ** -0.5) for layer in layers)
    elif family == "gpt2":
        assert [layer.scaling for layer in layers] == pytest.approx([8 ** -0.5, 8 ** -0.5 / 2])
    else:
        assert all(layer.sliding_window is None and layer.softcap is None for layer in layers)
    # GQA: queries keep all heads, keys only the key/value heads.
    cfg = model.config
    kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    assert layers[0].q.shape == (cfg.num_attention_heads, T, layers[0].q.shape[-1])
    assert layers[0].k.shape[0] == kv


def test_sliding_window_and_softcap_actually_matter(run):
    """The comparison above would catch a dropped window or cap: without them maps differ."""
    family, *_ = run
    captured, maps = run[5], run[6]
    if family not in ("mistral", "gemma2"):
        pytest.skip("no window or cap in this family")
    layer = captured.layers[0]
    for change in ({"sliding_window": None}, {"softcap": None} if family == "gemma2" else {}):
        if not change:
            continue
        altered = lc.Captured(layers=(lc.LayerCapture(**{**layer.__dict__, **change}),), n_tokens=T,
                              model_type=family)
        assert (lc.head_map(altered, 0, 0).weights - maps[0, 0]).abs().max() > 1e-3


def test_tiles_and_rows_are_slices_of_the_full_map(run):
    captured, maps = run[5], run[6]
    for layer, head in ((0, 0), (captured.n_layers - 1, captured.n_heads - 1)):
        full = maps[layer, head]
        tile = lc.head_map(captured, layer, head, rows=slice(5, 17), cols=slice(3, 11))
        assert tile.shape == (12, 8) and tile.meta["rows"] == (5, 17) and tile.meta["cols"] == (3, 11)
        assert tile.query_labels == tuple(f"t{i}" for i in range(5, 17))
        torch.testing.assert_close(tile.weights, full[5:17, 3:11], atol=1e-5, rtol=0)
        for i in (0, 1, T // 2, T - 1):
            row = lc.query_row(captured, layer, head, i)
            assert row.axes == ("key",) and row.meta["query"] == i
            torch.testing.assert_close(row.weights, full[i], atol=1e-5, rtol=0)
        torch.testing.assert_close(lc.query_row(captured, layer, head, -1).weights, full[-1], atol=1e-5, rtol=0)


def test_captured_forward_logits_equal_the_plain_forward(run):
    family, model, eager, ids, logits, *_, eager_logits = run
    if family == "gemma2":
        # transformers' SDPA refuses soft-capping; the only other exact path is eager.
        torch.testing.assert_close(logits, eager_logits, atol=1e-5, rtol=1e-5)
        return
    plain = copy.deepcopy(model)
    plain.set_attn_implementation("sdpa")
    with torch.inference_mode():
        expected = plain(input_ids=ids, use_cache=False).logits[0]
        outside = model(input_ids=ids, use_cache=False).logits[0]  # capture name, no capture
    torch.testing.assert_close(logits, expected, atol=0, rtol=0)
    torch.testing.assert_close(outside, expected, atol=0, rtol=0)
    torch.testing.assert_close(logits, eager_logits, atol=1e-5, rtol=1e-5)


def _stats_from_full(maps: torch.Tensor, window: int) -> dict[str, torch.Tensor]:
    """The statistics by their definitions, from the full (layers, heads, T, T) maps."""
    t = maps.shape[-1]
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    dist = (i - j).abs().float()
    plogp = torch.where(maps > 0, maps * maps.log(), torch.zeros_like(maps))
    return {
        "entropy": -plogp.sum(-1).mean(-1),
        "sink": maps[..., 0].mean(-1),
        "distance": (maps * dist).sum(-1).mean(-1),
        "local": (maps * (dist <= window)).sum(-1).mean(-1),
    }


@pytest.mark.parametrize("chunk", [1, 5, None])
def test_chunked_statistics_equal_full_map_statistics(run, chunk):
    captured, maps = run[5], run[6]
    stats = lc.head_statistics(captured, local_window=3, chunk=chunk)
    expected = _stats_from_full(maps, 3)
    assert set(stats) == set(lc.STATISTICS)
    for name, value in expected.items():
        torch.testing.assert_close(stats[name], value, atol=1e-5, rtol=1e-5, msg=name)


def test_offset_scores_and_overview(run):
    captured, maps = run[5], run[6]
    scores = lc.offset_scores(captured, offset=3, first=2, chunk=4)
    i = torch.arange(5, T)
    torch.testing.assert_close(scores, maps[:, :, i, i - 3].mean(-1), atol=1e-5, rtol=1e-5)
    over = lc.head_overview(captured, 1, 2, size=5)   # blocks of 5 tokens -> 5 x 5 cells
    assert over.shape == (5, 5) and over.meta["block"] == 5
    padded = torch.nn.functional.pad(maps[1, 2], (0, 1, 0, 1))
    torch.testing.assert_close(over.weights, padded.view(5, 5, 5, 5).amax((1, 3)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [24, 8, 7, 5])
@pytest.mark.parametrize("budget", [1, 40, 100])
def test_overview_in_row_chunks_is_the_max_pool_of_the_eager_map(run, monkeypatch, size, budget):
    # Small budgets split the rows into chunks of 1..4 blocks, so each chunk scores only
    # its band of keys (causal: up to its last row; sliding window: from its first row's
    # window) and pools it into the right columns; the rest must stay exactly 0.
    captured, maps = run[5], run[6]
    monkeypatch.setattr(lc, "CHUNK_ELEMENTS", budget * T)
    for layer, head in ((0, 0), (1, 2)):
        over = lc.head_overview(captured, layer, head, size=size)
        block = -(-T // size)
        n = -(-T // block)
        padded = torch.nn.functional.pad(maps[layer, head], (0, n * block - T, 0, n * block - T))
        assert over.meta["block"] == block and over.shape == (n, n)
        torch.testing.assert_close(over.weights, padded.view(n, block, n, block).amax((1, 3)), atol=1e-5, rtol=0)


def test_every_map_stacks_every_heads_full_map(run):
    captured, maps = run[5], run[6]
    stack = lc.every_map(captured)
    assert stack.shape == maps.shape
    torch.testing.assert_close(stack, maps, atol=1e-5, rtol=1e-5)


def test_float64_model_matches_eager_tightly():
    torch.manual_seed(2)
    model, eager = _pair("llama")
    model, eager = model.double(), eager.double()
    ids = torch.randint(0, VOCAB, (1, T))
    _, captured = lc.capture(model, ids, store_dtype=None)
    assert captured.layers[0].q.dtype == torch.float64
    with torch.inference_mode():
        maps = eager(input_ids=ids, output_attentions=True, use_cache=False).attentions
    for layer in range(2):
        for head in range(4):
            # eager takes its softmax in float32 even for a float64 model: 1e-7 is its rounding
            torch.testing.assert_close(lc.head_map(captured, layer, head, dtype=torch.float64).weights,
                                       maps[layer][0, head], atol=1e-6, rtol=0)


def test_memory_is_layers_times_tokens_times_d():
    torch.manual_seed(3)
    model, _ = _pair("llama")
    _, captured = lc.capture(model, torch.randint(0, VOCAB, (60,)))
    # 2 layers x (4 + 2 heads) x 60 tokens x 8 dims x 4 bytes; nothing T x T is kept
    assert captured.nbytes() == 2 * 6 * 60 * 8 * 4


def test_clear_errors():
    torch.manual_seed(4)
    model, eager = _pair("llama")
    with pytest.raises(lc.CaptureError, match="at most 64"):
        lc.capture(model, torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(lc.CaptureError, match="empty"):
        lc.capture(model, torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(lc.CaptureError, match="one sequence"):
        lc.capture(model, torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(lc.CaptureError, match="eager"):
        lc.capture(eager, torch.zeros(1, 5, dtype=torch.long))
    model.train()
    with pytest.raises(lc.CaptureError, match="eval"):
        lc.capture(model, torch.zeros(1, 5, dtype=torch.long))
    model.eval()
    # A memory estimate refuses what would not fit (64k tokens of a wide config).
    from transformers import LlamaConfig

    big = LlamaConfig(vocab_size=150_000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, intermediate_size=14336, max_position_embeddings=131072)
    need = lc.estimate_bytes(big, 65_536)
    assert need["captured"] == 32 * 40 * 65_536 * 128 * 4
    assert need["total"] > lc.available_bytes(torch.device("cpu"))
    model.config.max_position_embeddings = 10_000_000
    model.config.vocab_size = 10_000_000  # only the estimate reads it: no forward runs
    with pytest.raises(lc.CaptureMemoryError, match="fewer tokens"):
        lc.capture(model, torch.zeros(1, 100_000, dtype=torch.long))


def test_sdpa_model_is_prepared_and_stays_sdpa():
    torch.manual_seed(5)
    model = _random_weights(_llama())
    model.set_attn_implementation("sdpa")
    ids = torch.randint(0, VOCAB, (1, 10))
    with torch.inference_mode():
        before = model(input_ids=ids).logits
    logits, captured = lc.capture(model, ids)
    assert model.config._attn_implementation == lc.ATTN_IMPLEMENTATION and captured.n_tokens == 10
    torch.testing.assert_close(logits, before[0], atol=0, rtol=0)


def test_padding_mask_is_refused():
    """A mask that is not plain causal would be drawn wrong: the capture refuses it."""
    torch.manual_seed(6)
    model, _ = _pair("llama")
    ids = torch.randint(0, VOCAB, (1, 8))
    recorder = lc._Recorder(torch.float32, None)
    token = lc._RECORDER.set(recorder)
    try:
        with pytest.raises(lc.CaptureError, match="not a plain causal"):
            with torch.inference_mode():
                model(input_ids=ids, attention_mask=torch.tensor([[0, 1, 1, 1, 1, 1, 1, 1]]), use_cache=False)
    finally:
        lc._RECORDER.reset(token)


@pytest.mark.parametrize("chunk", [3, None])
def test_attention_received_is_the_mean_of_each_key_column(run, chunk):
    captured, maps = run[5], run[6]
    for layer in range(captured.n_layers):
        rec = lc.attention_received(captured, layer, chunk=chunk)
        assert rec.axes == ("head", "key") and rec.key_labels == tuple(f"t{i}" for i in range(T))
        torch.testing.assert_close(rec.weights, maps[layer].mean(1), atol=1e-5, rtol=1e-5)


def test_uniform_baseline_is_what_a_uniform_causal_head_scores():
    """Zero queries make every score equal, so attention is uniform over keys 0..i: its
    statistics must be the chance levels, which are also written out here by hand."""
    t, window = 23, 4
    layer = lc.LayerCapture(q=torch.zeros(2, t, 3), k=torch.randn(1, t, 3), scaling=1.0, causal=True,
                            sliding_window=None, softcap=None)
    captured = lc.Captured(layers=(layer,), n_tokens=t, model_type="toy")
    stats = lc.head_statistics(captured, local_window=window)
    base = lc.uniform_baseline(t, window)
    for name, value in base.items():
        torch.testing.assert_close(stats[name], torch.full((1, 2), value), atol=1e-5, rtol=1e-5, msg=name)
    import math
    assert base["sink"] == pytest.approx(sum(1 / (i + 1) for i in range(t)) / t)
    assert base["entropy"] == pytest.approx(sum(math.log(i + 1) for i in range(t)) / t)
    assert base["distance"] == pytest.approx(sum(i / 2 for i in range(t)) / t)
    assert base["local"] == pytest.approx(sum(min(i + 1, window + 1) / (i + 1) for i in range(t)) / t)


def test_statistics_report_progress_per_layer(run):
    captured = run[5]
    seen = []
    lc.head_statistics(captured, progress=seen.append)
    assert seen == [(i + 1) / captured.n_layers for i in range(captured.n_layers)]
