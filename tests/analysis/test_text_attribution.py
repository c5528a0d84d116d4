"""Attention against attribution on text: every quantity recomputed by hand on tiny
random models (a Llama-style decoder, a BERT encoder), float64."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from analysis import text_attribution as ta
from analysis.rollout import rollout

V, T = 30, 9


@pytest.fixture(scope="module")
def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=V, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    model = LlamaForCausalLM(cfg).double().eval()
    model.set_attn_implementation("eager")
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.4)
    return model


@pytest.fixture(scope="module")
def bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    model = BertModel(cfg, add_pooling_layer=False).double().eval()
    model.set_attn_implementation("eager")
    return model


IDS = torch.tensor([1, 7, 4, 9, 12, 4, 20, 3, 8])


def test_decoder_target_is_the_next_tokens_log_probability(llama):
    target = ta.decoder_target(llama, IDS, position=5, baseline_id=0, special=(1,))
    assert torch.equal(target.ids, IDS[:6]) and target.query == 5
    assert target.attributable.tolist() == [False, True, True, True, True, True]
    with torch.no_grad():
        logp = torch.log_softmax(llama(input_ids=IDS[None]).logits[0, 5], -1)[IDS[6]]
    # Llama's eager attention takes its softmax in float32 even for a float64 model, and the
    # full input's rows are longer than the context's: they agree to float32 rounding only
    assert ta.value(target) == pytest.approx(float(logp), abs=1e-6)
    with pytest.raises(ValueError, match="next token"):
        ta.decoder_target(llama, IDS, position=8, baseline_id=0)


def test_encoder_target_is_the_cosine_of_mean_pooled_states(bert):
    other = torch.tensor([2, 5, 6, 3])
    target = ta.encoder_target(bert, IDS, other, baseline_id=0, special=(1, 3))
    with torch.no_grad():
        a = bert(input_ids=IDS[None]).last_hidden_state[0].mean(0)
        b = bert(input_ids=other[None]).last_hidden_state[0].mean(0)
    assert ta.value(target) == pytest.approx(float(a @ b / (a.norm() * b.norm())), abs=1e-9)
    assert target.query is None
    assert target.attributable.tolist() == [False, True, True, True, True, True, True, False, True]
    assert torch.equal(target.baseline(), torch.tensor([1, 0, 0, 0, 0, 0, 0, 3, 0]))


@pytest.mark.parametrize("model_name", ["llama", "bert"])
def test_attributions_by_hand(request, model_name):
    model = request.getfixturevalue(model_name)
    target = (ta.decoder_target(model, IDS, 6, baseline_id=0, special=(1,)) if model_name == "llama"
              else ta.encoder_target(model, IDS, torch.tensor([2, 5, 6]), baseline_id=0, special=(1, 3)))
    out, delta = ta.attributions(target, n_steps=64, batch=7)
    assert set(out) == set(ta.ATTRIBUTIONS)
    m = target.attributable
    for name, a in out.items():
        assert a.shape == (len(target.ids),) and np.all(a[~m] == 0), name
    # integrated gradients: completeness, sum_j IG_j = f(x) - f(x'), within Captum's delta
    gap = ta.value(target) - ta.value(target, target.baseline())
    assert out["integrated_gradients"].sum() == pytest.approx(gap, abs=max(1e-3, 2 * delta))
    assert delta < 1e-2
    # input x gradient: e_j . df/de_j with autograd on the embedding output
    emb = target.embeddings(target.ids[None]).detach().requires_grad_(True)
    handle = target.embeddings.register_forward_hook(lambda mod, inp, outp: emb)
    try:
        target.f(target.ids[None]).sum().backward()
    finally:
        handle.remove()
    ixg = (emb * emb.grad)[0].sum(-1).detach().numpy()
    np.testing.assert_allclose(out["input_x_gradient"][m], ixg[m], rtol=1e-6, atol=1e-9)
    # blank-out: one forward per removed token
    full = ta.value(target)
    for j in np.flatnonzero(m):
        x = target.ids.clone()
        x[j] = 0
        assert out["blank_out"][j] == pytest.approx(full - ta.value(target, x), abs=1e-9)


def test_attention_rankings_and_agreement_by_hand(llama):
    with torch.no_grad():
        maps = torch.stack(llama(input_ids=IDS[None], output_attentions=True).attentions)[:, 0].numpy()  # (L,H,T,T)
    ranks = ta.attention_rankings(maps, query=6)
    np.testing.assert_allclose(ranks["raw"], maps[:, :, 6])
    np.testing.assert_allclose(ranks["mean"], maps[-1, :, 6].mean(0))
    np.testing.assert_allclose(ranks["rollout"], rollout(maps)[-1][6])
    received = ta.attention_rankings(maps, query=None)
    np.testing.assert_allclose(received["raw"], maps.mean(axis=2))
    np.testing.assert_allclose(received["rollout"], rollout(maps)[-1].mean(0))
    attribution = np.array([0.0, 3.0, -1.0, 2.0, 0.5, 4.0, 1.0, 0.0, 0.0])
    m = np.array([False, True, True, True, True, True, True, False, False])
    agree = ta.agreement(ranks, attribution, m)
    assert agree["raw"].shape == (2, 4)
    for layer in range(2):
        for head in range(4):
            rho = spearmanr(maps[layer, head, 6][m], attribution[m]).statistic
            assert agree["raw"][layer, head] == pytest.approx(rho, abs=1e-12)
    assert agree["rollout"] == pytest.approx(spearmanr(ranks["rollout"][m], attribution[m]).statistic)
    assert agree["mean"] == pytest.approx(spearmanr(ranks["mean"][m], attribution[m]).statistic)
    with pytest.raises(ValueError):
        ta.attention_rankings(maps[0], query=1)


def test_deletion_curves_by_hand(llama):
    target = ta.decoder_target(llama, IDS, 7, baseline_id=0, special=(1,))
    scores = np.array([9.0, 0.2, 0.9, 0.5, 0.9, 0.1, 0.3, 0.7])
    order = ta.order_of(scores, target.attributable)
    assert order.tolist() == [2, 4, 7, 3, 6, 1, 5]        # position 0 is special; ties by position
    curve = ta.deletion(target, order, steps=3)
    x = target.ids.clone()
    expected = [ta.value(target)]
    for j in order[:3]:
        x[j] = 0
        expected.append(ta.value(target, x))
    np.testing.assert_allclose(curve, expected, atol=1e-12)
    full = ta.deletion(target, order)
    assert len(full) == 8 and full[-1] == pytest.approx(ta.value(target, target.baseline()))
    assert ta.deletion_drop(np.array([1.0, 0.0, 0.0, 0.0])) == 1.0
    assert ta.deletion_drop(np.array([1.0, 1.0, 1.0, 0.0])) == pytest.approx(1 / 3)
    assert ta.deletion_drop(np.array([0.5, 0.7, 0.3])) == pytest.approx(((0.5 - 0.7) + (0.5 - 0.3)) / 2)
    assert np.isnan(ta.deletion_drop(np.array([1.0])))
    rand = ta.random_deletion(target, n_orders=4, seed=3)
    rng = np.random.default_rng(3)
    pos = np.flatnonzero(target.attributable)
    by_hand = np.mean([ta.deletion(target, rng.permutation(pos)) for _ in range(4)], axis=0)
    np.testing.assert_allclose(rand, by_hand, atol=1e-12)
    assert rand[0] == pytest.approx(ta.value(target)) and rand[-1] == pytest.approx(full[-1])


def test_attention_maps_from_the_capture_equal_the_eager_weights(llama):
    import copy

    from models.pretrained import llm_capture as lc

    fused = copy.deepcopy(llama).float()
    fused.set_attn_implementation(lc.ATTN_IMPLEMENTATION)
    eager = ta.attention_maps(copy.deepcopy(llama).float(), IDS)
    assert eager.shape == (2, 4, T, T)
    np.testing.assert_allclose(ta.attention_maps(fused, IDS), eager, atol=1e-5)


def test_explain_puts_the_pieces_together(llama):
    target = ta.decoder_target(llama, IDS, 6, baseline_id=0, special=(1,))
    maps = ta.attention_maps(llama, target.ids)
    ex = ta.explain(target, maps, steps=4, n_steps=16, n_random=3, seed=1)
    assert ex.value == pytest.approx(ta.value(target))
    assert set(ex.agreement) == set(ta.ATTRIBUTIONS)
    assert set(ex.deletion) == {"attention (mean of heads)", "rollout", *ta.ATTRIBUTIONS}
    order = ta.order_of(ex.rankings["rollout"], target.attributable)
    np.testing.assert_allclose(ex.deletion["rollout"], ta.deletion(target, order, 4))
    np.testing.assert_allclose(ex.chance, ta.random_deletion(target, 4, 3, 1))
    assert ex.agreement["blank_out"]["rollout"] == pytest.approx(
        spearmanr(ex.rankings["rollout"][1:], ex.attributions["blank_out"][1:]).statistic)
    with pytest.raises(ValueError, match="cover"):
        ta.explain(target, maps[..., :-1, :-1])


def test_special_ids_leave_the_unknown_token_attributable():
    class Tok:
        all_special_ids = [0, 1, 2, 3]
        unk_token_id = 1

    assert ta.special_ids(Tok()) == {0, 2, 3}
    assert ta.special_ids(object()) == set()


def test_baseline_id_prefers_padding_then_end_of_text_then_unknown():
    class Tok:
        pad_token_id, eos_token_id, unk_token_id = None, 7, 1

    assert ta.baseline_id(Tok()) == 7
    Tok.pad_token_id = 0
    assert ta.baseline_id(Tok()) == 0
    Tok.pad_token_id = Tok.eos_token_id = None
    assert ta.baseline_id(Tok()) == 1
    assert ta.baseline_id(object()) == 0


# ---------------------------------------------------------------- the rest, pinned (mutation testing)
LONG = torch.tensor([1, 7, 4, 9, 12, 4, 20, 3, 8, 5, 6, 11, 13, 2, 17])   # 13 attributable context tokens


def test_decoder_target_edges_and_description(llama):
    first = ta.decoder_target(llama, IDS, position=0, baseline_id=0)
    assert torch.equal(first.ids, IDS[:1]) and first.attributable.tolist() == [True]
    assert first.description == "log p(token 1 | tokens 0..0)"
    assert ta.decoder_target(llama, IDS, 5, 0).description == "log p(token 6 | tokens 0..5)"
    with pytest.raises(ValueError) as err:
        ta.decoder_target(llama, IDS, position=8, baseline_id=0)
    assert str(err.value) == "the predicting position must be in 0..7 (a next token must exist), got 8"
    with pytest.raises(ValueError, match="got -1"):
        ta.decoder_target(llama, IDS, position=-1, baseline_id=0)


def test_encoder_target_description(bert):
    target = ta.encoder_target(bert, IDS, torch.tensor([2, 5]), baseline_id=0)
    assert target.description == "cos(mean embedding of the text, mean embedding of the second text)"


@pytest.mark.parametrize("dtype, expected", [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                             (torch.float32, torch.float32), (torch.float64, torch.float64)])
def test_half_precision_is_scored_in_float32(dtype, expected):
    assert ta._at_least_float32(torch.ones(2, dtype=dtype)).dtype == expected


def integrated_gradients_by_hand(target, n_steps: int) -> np.ndarray:
    """IG_j = sum_d (e - e')_jd * sum_k w_k df/de_jd(e' + a_k (e - e')), with a_k and w_k the
    n-point Gauss-Legendre rule on [0, 1] (Captum's default method), the path in embedding space."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    with torch.no_grad():
        e = target.embeddings(target.ids[None])
        e0 = target.embeddings(target.baseline()[None])
    total = torch.zeros_like(e)
    for a, w in zip(alphas, weights):
        point = (e0 + float(a) * (e - e0)).detach().requires_grad_(True)
        handle = target.embeddings.register_forward_hook(lambda mod, inp, outp, p=point: p)
        try:
            target.f(target.ids[None]).sum().backward()
        finally:
            handle.remove()
        total += float(w) * point.grad
    ig = ((e - e0) * total)[0].sum(-1).numpy()
    return np.where(target.attributable, ig, 0.0)


def test_integrated_gradients_follow_the_gauss_legendre_path_by_hand(llama):
    target = ta.decoder_target(llama, IDS, 6, baseline_id=0, special=(1,))
    # to float32 rounding (the eager softmax); 4 and 32 points differ by far more than that
    out, _ = ta.attributions(target, n_steps=4, batch=3)
    np.testing.assert_allclose(out["integrated_gradients"], integrated_gradients_by_hand(target, 4), atol=1e-7)
    default, _ = ta.attributions(target)
    np.testing.assert_allclose(default["integrated_gradients"], integrated_gradients_by_hand(target, 32), atol=1e-7)
    assert np.abs(integrated_gradients_by_hand(target, 4) - integrated_gradients_by_hand(target, 32)).max() > 1e-5


def _row_stochastic(shape, seed):
    a = np.random.default_rng(seed).random(shape)
    return a / a.sum(-1, keepdims=True)


def test_rankings_read_the_last_layer_and_rollout_through_all_three():
    maps = _row_stochastic((3, 2, 6, 6), 4)
    ranks = ta.attention_rankings(maps.astype(np.float32), query=4)
    assert ranks["mean"].dtype == ranks["raw"].dtype == np.float64
    np.testing.assert_allclose(ranks["mean"], maps[2, :, 4].mean(0), rtol=1e-6)
    np.testing.assert_allclose(ranks["rollout"], rollout(maps)[-1][4], rtol=1e-5)
    for bad in (maps[0], maps[..., :5], maps[None]):
        with pytest.raises(ValueError, match=r"^need \(layers, heads, T, T\) self-attention, got shape"):
            ta.attention_rankings(bad, query=1)


def test_agreement_takes_the_mask_as_a_mask_whatever_its_dtype():
    maps = _row_stochastic((1, 2, 6, 6), 5)
    ranks = ta.attention_rankings(maps, query=5)
    attribution = np.array([0.0, 2.0, -1.0, 3.0, 1.0, 0.5])
    as_bool = ta.agreement(ranks, attribution, np.array([False, True, True, True, True, False]))
    as_int = ta.agreement(ranks, attribution, np.array([0, 1, 1, 1, 1, 0]))
    np.testing.assert_allclose(as_int["raw"], as_bool["raw"])
    assert as_int["mean"] == pytest.approx(as_bool["mean"]) and as_int["rollout"] == pytest.approx(as_bool["rollout"])


def test_order_of_breaks_long_runs_of_ties_by_position():
    scores = np.tile([0.0, 1.0], 60)                                   # 120 positions, two tied levels
    order = ta.order_of(scores, np.ones(120, dtype=bool))
    assert order.tolist() == list(range(1, 120, 2)) + list(range(0, 120, 2))


def test_random_deletion_defaults_and_a_step_cap(llama):
    target = ta.decoder_target(llama, LONG, 13, baseline_id=0, special=(1,))
    pos = np.flatnonzero(target.attributable)
    rng = np.random.default_rng(0)
    by_hand = np.mean([ta.deletion(target, rng.permutation(pos), 3) for _ in range(10)], axis=0)
    capped = ta.random_deletion(target, steps=3)                       # defaults: 10 orders, seed 0
    assert capped.shape == (4,)
    np.testing.assert_allclose(capped, by_hand, atol=1e-12)


def test_deletion_drop_of_a_two_point_curve():
    assert ta.deletion_drop(np.array([1.0, 0.25])) == pytest.approx(0.75)
    assert ta.deletion_drop([2, 1, 0]) == pytest.approx(1.5)


def test_explain_defaults_and_every_field(llama):
    target = ta.decoder_target(llama, LONG, 13, baseline_id=0, special=(1,))
    maps = ta.attention_maps(llama, target.ids)
    ex = ta.explain(target, maps)                                      # steps 10, 32 IG steps, 10 orders, seed 0
    attr, delta = ta.attributions(target, n_steps=32)
    for name in ta.ATTRIBUTIONS:
        np.testing.assert_allclose(ex.attributions[name], attr[name], atol=1e-12)
    assert ex.ig_delta == pytest.approx(delta)
    ranks = ta.attention_rankings(maps, 13)
    for key in ("raw", "mean", "rollout"):
        np.testing.assert_allclose(ex.rankings[key], ranks[key])
    np.testing.assert_allclose(ex.agreement["integrated_gradients"]["raw"],
                               ta.agreement(ranks, attr["integrated_gradients"], target.attributable)["raw"])
    for name, scores in {"attention (mean of heads)": ranks["mean"], "rollout": ranks["rollout"], **attr}.items():
        np.testing.assert_allclose(ex.deletion[name], ta.deletion(target, ta.order_of(scores, target.attributable), 10))
    assert len(ex.chance) == 11
    np.testing.assert_allclose(ex.chance, ta.random_deletion(target, 10, 10, 0))
    assert ex.attributable.tolist() == target.attributable.tolist() and ex.attributable is not target.attributable
    short = ta.explain(target, maps, steps=2, n_steps=4, n_random=2, seed=3)
    np.testing.assert_allclose(short.attributions["integrated_gradients"],
                               ta.attributions(target, n_steps=4)[0]["integrated_gradients"], atol=1e-12)


def test_explain_refuses_maps_of_another_length_and_texts_of_special_tokens_only(llama):
    target = ta.decoder_target(llama, IDS, 6, baseline_id=0, special=(1,))
    maps = ta.attention_maps(llama, target.ids)                        # (2 layers, 4 heads, 7, 7)
    with pytest.raises(ValueError) as err:
        ta.explain(target, maps[..., :-2, :-2])
    assert str(err.value) == "maps cover 5 tokens, the target's input has 7"
    only_special = ta.decoder_target(llama, IDS, 1, baseline_id=0, special=(1, 7))
    with pytest.raises(ValueError) as err:
        ta.explain(only_special, ta.attention_maps(llama, only_special.ids))
    assert str(err.value) == "no token of this text can be attributed (all are special tokens)"
