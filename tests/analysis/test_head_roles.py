"""Head roles against eager attention maps read by hand on the probe, and chance levels."""

import pytest
import torch

from analysis.head_roles import chance, measure_roles, probe_ids, role_scores
from models.pretrained import llm_capture as lc


def test_probe_is_a_start_token_then_one_random_copy_twice():
    ids = probe_ids(50, 6, seed=3, start=1, avoid=(0, 1, 2))
    assert ids.shape == (13,) and ids[0] == 1
    assert torch.equal(ids[1:7], ids[7:13])
    assert len(set(ids[1:7].tolist())) == 6 and not set(ids[1:].tolist()) & {0, 1, 2}
    assert not torch.equal(ids, probe_ids(50, 6, seed=4, start=1, avoid=(0, 1, 2)))
    with pytest.raises(ValueError):
        probe_ids(5, 6, seed=0, start=None)


def test_chance_is_uniform_causal_attention_on_the_same_queries():
    n = 4  # positions 0..8; second copy 5..8
    assert chance("induction", n) == pytest.approx((1 / 6 + 1 / 7 + 1 / 8 + 1 / 9) / 4)
    assert chance("previous", n) == pytest.approx(sum(1 / (i + 1) for i in range(1, 9)) / 8)
    assert chance("sink", n) == pytest.approx(sum(1 / (i + 1) for i in range(9)) / 9)


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).eval()
    for p in model.parameters():  # larger weights than the init, so heads differ
        torch.nn.init.normal_(p, std=0.3)
    return model


def test_roles_equal_the_eager_maps_read_at_the_role_positions():
    import copy

    model = _tiny_llama()
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    model.set_attn_implementation(lc.ATTN_IMPLEMENTATION)
    n = 7
    ids = probe_ids(40, n, seed=0, start=1)
    _, captured = lc.capture(model, ids)
    with torch.inference_mode():
        maps = torch.stack(eager(input_ids=ids[None], output_attentions=True).attentions)[:, 0]  # (L, H, T, T)
    second = torch.arange(n + 1, 2 * n + 1)
    expected = {"induction": maps[:, :, second, second - n + 1].mean(-1),
                "duplicate": maps[:, :, second, second - n].mean(-1),
                "previous": maps[:, :, torch.arange(1, 2 * n + 1), torch.arange(0, 2 * n)].mean(-1),
                "sink": maps[:, :, :, 0].mean(-1)}
    scores = role_scores(captured, n)
    for role, value in expected.items():
        torch.testing.assert_close(scores[role], value, atol=1e-5, rtol=1e-5, msg=role)
    with pytest.raises(ValueError):
        role_scores(captured, n + 1)
    mean, first = measure_roles(model, 40, 1, n=n, seeds=(0, 5), labels=lambda ids: [f"t{i}" for i in ids])
    other = role_scores(lc.capture(model, probe_ids(40, n, seed=5, start=1))[1], n)
    torch.testing.assert_close(mean["induction"], (scores["induction"] + other["induction"]) / 2)
    assert first.n_tokens == 2 * n + 1 and first.tokens == tuple(f"t{i}" for i in ids.tolist())
