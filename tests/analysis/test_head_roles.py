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


def _hand_built(pick, n: int, sharp: float = 60.0) -> lc.Captured:
    """One layer, one head whose query i reads key pick(i) (None: uniform over 0..i).
    Keys are one-hot positions, so q_i = sharp * e_pick(i) puts weight ~1 on that key."""
    t = 2 * n + 1
    k = torch.eye(t)[None]                               # (1, T, d=T)
    q = torch.zeros(1, t, t)
    for i in range(t):
        j = pick(i)
        if j is not None:
            q[0, i, j] = sharp
    layer = lc.LayerCapture(q=q, k=k, scaling=1.0, causal=True, sliding_window=None, softcap=None)
    return lc.Captured(layers=(layer,), n_tokens=t, model_type="hand-built")


@pytest.mark.parametrize("n", [3, 6])
def test_hand_built_heads_score_one_on_their_role(n):
    t = 2 * n + 1
    second = lambda i: i > n  # noqa: E731 - queries of the second copy
    heads = {
        "previous": lambda i: i - 1 if i else 0,
        "induction": lambda i: i - n + 1 if second(i) else 0,
        "duplicate": lambda i: i - n if second(i) else 0,
        "sink": lambda i: 0,
    }
    for role, pick in heads.items():
        scores = {k: float(v[0, 0]) for k, v in role_scores(_hand_built(pick, n), n).items()}
        assert scores[role] == pytest.approx(1.0, abs=1e-6), role
        # the other roles read exactly the keys this head's queries land on
        expect = {
            "previous": sum(pick(i) == i - 1 for i in range(1, t)) / (t - 1),
            "induction": sum(pick(i) == i - n + 1 for i in range(n + 1, t)) / n,
            "duplicate": sum(pick(i) == i - n for i in range(n + 1, t)) / n,
            "sink": sum(pick(i) == 0 for i in range(t)) / t,
        }
        for other, value in expect.items():
            assert scores[other] == pytest.approx(value, abs=1e-6), (role, other)


@pytest.mark.parametrize("n", [3, 6])
def test_a_uniform_head_scores_chance_on_every_role(n):
    scores = role_scores(_hand_built(lambda i: None, n), n)   # q = 0: uniform over keys 0..i
    for role in ("induction", "duplicate", "previous", "sink"):
        assert float(scores[role][0, 0]) == pytest.approx(chance(role, n), abs=1e-6), role


def test_measure_roles_labels_only_the_first_probe_and_checks_sizes():
    model = _tiny_llama()
    model.set_attn_implementation(lc.ATTN_IMPLEMENTATION)
    calls = []
    mean, first = measure_roles(model, 40, None, avoid=(0, 1), n=5, seeds=(2, 3, 4),
                                labels=lambda ids: calls.append(ids) or [str(i) for i in ids])
    assert len(calls) == 1 and calls[0] == probe_ids(40, 5, seed=2, start=None, avoid=(0, 1)).tolist()
    assert set(mean) == {"induction", "duplicate", "previous", "sink"}
    assert all(v.shape == (2, 4) for v in mean.values())
    each = [role_scores(lc.capture(model, probe_ids(40, 5, seed=s, start=None, avoid=(0, 1)))[1], 5)
            for s in (2, 3, 4)]
    torch.testing.assert_close(mean["sink"], sum(e["sink"] for e in each) / 3)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        probe_ids(40, 1, seed=0, start=None)
    with pytest.raises(ValueError, match="too small"):
        probe_ids(6, 5, seed=0, start=None, avoid=(0,))


def test_probe_and_score_limits_and_messages():
    # the smallest probe (2 tokens a copy) and the smallest pool (n + 1 usable tokens) work
    assert probe_ids(40, 2, seed=0, start=None).shape == (5,)
    ids = probe_ids(6, 5, seed=0, start=None)
    assert ids.shape == (11,) and sorted(set(ids.tolist())) == list(range(6))
    with pytest.raises(ValueError, match=r"^the probe needs at least 2 tokens per copy$"):
        probe_ids(40, 1, seed=0, start=None)
    with pytest.raises(ValueError, match=r"^a vocabulary of 5 usable tokens is too small for a probe of 5$"):
        probe_ids(6, 5, seed=0, start=None, avoid=(0,))
    captured = _hand_built(lambda i: None, 3)
    with pytest.raises(ValueError, match=r"^a probe of 4 tokens per copy has 9 tokens, got 7$"):
        role_scores(captured, 4)


def test_measure_roles_default_probe_has_50_tokens_a_copy():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=80, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=128)).eval()
    model.set_attn_implementation(lc.ATTN_IMPLEMENTATION)
    _, first = measure_roles(model, 80, None, seeds=(0,))
    assert first.n_tokens == 101
