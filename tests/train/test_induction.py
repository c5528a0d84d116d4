"""python -m train induction: the attention-only model is the equation written out, the
repeated spans are copies, the in-context score and the phase-change step are what the
card says they are, and a tiny run writes a folder the page loads and a card that resumes."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from analysis.head_roles import PROBE_TOKENS, chance
from train import induction as ind


def _rms(x, weight, eps):
    return weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def _rope(x, theta):
    # x: (heads, T, d). Rotate each pair (j, j + d/2) at position t by angle t * theta^(-2j/d).
    h, T, d = x.shape
    half = d // 2
    angle = torch.arange(T)[:, None].float() * theta ** (-torch.arange(half).float() * 2 / d)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * angle.cos() - b * angle.sin(), b * angle.cos() + a * angle.sin()], dim=-1)


def _attention_only_logits(model, ids):
    """x = E[ids]; per layer x += W_O concat_h softmax(causal(RoPE(q) RoPE(k)^T / sqrt(d))) v with
    q, k, v read from RMSNorm(x); logits = W_U RMSNorm(x). No MLP term at all."""
    c = model.config
    H, d = c.num_attention_heads, c.hidden_size // c.num_attention_heads
    x = model.model.embed_tokens.weight[ids]
    T = len(ids)
    mask = torch.ones(T, T).tril().bool()
    for layer in model.model.layers:
        a = layer.self_attn
        h = _rms(x, layer.input_layernorm.weight, c.rms_norm_eps)
        q = (h @ a.q_proj.weight.T).view(T, H, d).transpose(0, 1)
        k = (h @ a.k_proj.weight.T).view(T, H, d).transpose(0, 1)
        v = (h @ a.v_proj.weight.T).view(T, H, d).transpose(0, 1)
        theta = c.rope_parameters["rope_theta"]
        q, k = _rope(q, theta), _rope(k, theta)
        scores = (q @ k.transpose(1, 2) / math.sqrt(d)).masked_fill(~mask, float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(0, 1).reshape(T, H * d)
        x = x + out @ a.o_proj.weight.T
    return _rms(x, model.model.norm.weight, c.rms_norm_eps) @ model.lm_head.weight.T


def _model(layers=2):
    torch.manual_seed(0)
    return ind.build_model(50, layers, 32, 4, 64, dict(bos_token_id=0, eos_token_id=1, pad_token_id=2))


def test_the_model_is_attention_only_and_stays_so_after_training():
    model = _model()
    ids = torch.randint(3, 50, (20,))
    with torch.no_grad():
        # the trained embedding is not the identity of a fresh init: perturb every weight first
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = ind.position_losses(model, ids[None]).mean()
    loss.backward()
    opt.step()
    with torch.no_grad():
        ours = model(input_ids=ids[None]).logits[0]
        torch.testing.assert_close(ours, _attention_only_logits(model, ids), atol=1e-4, rtol=1e-4)
    assert all(not p.requires_grad and p.abs().max() == 0 for layer in model.model.layers
               for p in layer.mlp.parameters())


@pytest.mark.parametrize("max_len, max_gap", [(0, -1), (10, 3)])
def test_text_repeats_copy_one_span_to_a_later_place(max_len, max_gap):
    batch = torch.arange(40 * 64).view(40, 64)  # every token distinct: a copy shows where it came from
    out = ind.repeat_spans(batch, 1.0, torch.Generator().manual_seed(1), max_len=max_len, max_gap=max_gap)
    lengths, gaps = [], []
    for row, orig in zip(out, batch):
        changed = torch.nonzero(row != orig).flatten()
        b, m = int(changed[0]), len(changed)
        assert m >= 8 and changed.tolist() == list(range(b, b + m))      # one contiguous span
        a = int(row[b] - orig[0])                                        # where it was copied from
        assert a >= 1 and a + m <= b and torch.equal(row[b:b + m], orig[a:a + m])
        lengths.append(m)
        gaps.append(b - a - m)
    assert max(lengths) <= (max_len or 31) and (max_gap < 0 or max(gaps) <= max_gap)
    assert max(lengths) > 8 and max(gaps) > 0  # drawn, not fixed at the bounds


def test_random_repeats_are_two_equal_spans_of_ordinary_tokens_and_share_zero_changes_nothing():
    batch = torch.zeros(4, 64, dtype=torch.long)
    out = ind.repeat_spans(batch, 1.0, torch.Generator().manual_seed(2), vocab=50)
    for row in out:
        changed = torch.nonzero(row).flatten().tolist()
        half = len(changed) // 2
        first, second = changed[:half], changed[half:]
        assert first == list(range(first[0], first[0] + half)) and second[0] >= first[-1] + 1
        assert torch.equal(row[first], row[second]) and int(row[first].min()) >= 3
    assert torch.equal(ind.repeat_spans(batch, 0.0, torch.Generator().manual_seed(2), vocab=50), batch)


def test_icl_score_is_late_minus_early_loss_per_position():
    model = _model()
    dev = torch.randint(3, 50, (5, 260))
    model.config.max_position_embeddings = 260
    with torch.no_grad():
        logits = model(input_ids=dev).logits
    # position p's loss is the loss of predicting token p from tokens 0..p-1
    loss = torch.stack([F.cross_entropy(logits[:, p - 1], dev[:, p]) for p in range(1, 260)])
    late = loss[[p - 1 for p in ind.ICL_LATE]].mean()
    early = loss[[p - 1 for p in ind.ICL_EARLY]].mean()
    icl, mean = ind.icl_score(model, dev)
    assert icl == pytest.approx(float(late - early), abs=1e-5)
    assert mean == pytest.approx(float(loss.mean()), abs=1e-5)


def _history(bests):
    return [{"step": 100 * i, "induction": [[0.0, b], [0.001, 0.0]], "previous": [[0.2, 0.0], [0.0, 0.0]]}
            for i, b in enumerate(bests)]


def test_the_phase_change_is_the_first_probe_at_half_the_final_score():
    assert ind.phase_change_step(_history([0.01, 0.02, 0.1, 0.39, 0.41, 0.8])) == 400
    assert ind.phase_change_step(_history([0.01, 0.02, 0.02])) is None  # never well above chance
    summary = ind.induction_summary(_history([0.012, 0.5, 0.8]))
    assert summary["init"] == 0.012 and summary["final"] == 0.8 and summary["final_head"] == [0, 1]
    assert summary["chance"] == round(chance("induction", PROBE_TOKENS), 4)
    assert summary["phase_change_step"] == 100 and summary["previous_final"] == 0.2


@pytest.fixture
def texts(tmp_path):
    rng = torch.Generator().manual_seed(0)
    words = ["the", "lord", "said", "to", "moses", "and", "he", "went", "out", "of", "land", "egypt"]
    verse = lambda: " ".join(words[int(i)] for i in torch.randint(0, len(words), (12,), generator=rng)) + "."
    cache = tmp_path / "ckpt" / "induction-texts.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({"train": [verse() for _ in range(400)], "dev": [verse() for _ in range(120)]}))
    return tmp_path


def _run(tmp_path, *extra):
    return ind.main(["--steps", "4", "--probe-every", "2", "--vocab", "300", "--d-model", "16", "--heads", "2",
                     "--batch", "2", "--threads", "1", "--checkpoints", str(tmp_path / "ckpt"),
                     "--out", str(tmp_path / "assets"), *extra])


def test_a_tiny_run_writes_a_loadable_folder_a_card_and_resumes(texts):
    from models.pretrained.llm_local import load_causal_lm

    assert _run(texts, "--layers", "1") == 0            # the control first: its card goes into the model's
    assert _run(texts) == 0
    card = json.loads((texts / "assets" / "induction-2l.json").read_text())
    assert [h["step"] for h in card["curves"]] == [0, 2, 4]
    assert len(card["curves"][-1]["induction"]) == 2 and len(card["curves"][-1]["induction"][0]) == 2
    assert card["induction"]["init"] == ind.best_head(card["curves"][0]["induction"])[0]
    control = card["control_1_layer"]
    assert control["card"] == "induction-1l.json" and [c["step"] for c in control["curves"]] == [0, 2, 4]
    loaded = load_causal_lm(texts / "assets" / "induction-2l", device=torch.device("cpu"))
    assert loaded.n_layers == 2 and loaded.n_heads == 2 and loaded.tokenizer.bos_token == ind.BOS


def test_resume_continues_the_same_run(texts):
    assert _run(texts, "--steps", "6", "--no-export") == 0
    straight = json.loads((texts / "assets" / "induction-2l.json").read_text())
    (texts / "ckpt" / "induction-2l.pt").unlink()
    # stop after the probe at step 2 by asking for 2 steps of a 6-step schedule, then resume to 6
    assert _run(texts, "--steps", "6", "--stop-at", "2", "--no-export") == 0
    assert _run(texts, "--steps", "6", "--resume", "--no-export") == 0
    resumed = json.loads((texts / "assets" / "induction-2l.json").read_text())
    assert [h["step"] for h in resumed["curves"]] == [0, 2, 4, 6]
    assert [h["loss"] for h in resumed["curves"][1:]] == pytest.approx(
        [h["loss"] for h in straight["curves"][1:]], abs=1e-4)
    assert [(s["from_step"], s["to_step"]) for s in resumed["sittings"]] == [(0, 2), (2, 6)]
    assert not any("ended" in s or "last_step" in s for s in resumed["sittings"])  # both ended as asked


@pytest.mark.parametrize("random_spans", [False, True])
def test_blocks_are_spans_written_twice_back_to_back(random_spans):
    T = 128
    batch = torch.arange(20 * T).view(20, T) + 1000       # distinct text tokens
    vocab = 10**7 if random_spans else None                # random spans that never repeat by chance
    out = ind.repeat_blocks(batch, 1.0, torch.Generator().manual_seed(3), vocab=vocab, min_len=4, max_len=12)
    for row, orig in zip(out, batch):
        assert row[0] == orig[0]
        pos, read, lengths = 1, 1, []
        while pos < T:
            later = torch.nonzero(row[pos + 1:] == row[pos]).flatten()
            m = int(later[0]) + 1 if len(later) else T - pos   # the span ends where its copy starts
            n = min(m, T - pos - m) if len(later) else 0        # the copy, cut by the end of the sequence
            assert torch.equal(row[pos + m:pos + m + n], row[pos:pos + n])
            if random_spans:
                assert int(row[pos:pos + m].min()) >= 3
            else:  # the row's own text, read on in order
                assert torch.equal(row[pos:pos + m], orig[read:read + m])
                read += m
            lengths.append(m)
            pos += m + n
        assert all(4 <= m <= 12 for m in lengths[:-1]) and len(set(lengths)) > 1
    assert torch.equal(ind.repeat_blocks(batch, 0.0, torch.Generator().manual_seed(3)), batch)


def test_the_phase_change_is_read_on_the_short_probe_when_the_curves_hold_it():
    history = _history([0.01, 0.01, 0.02, 0.7, 0.8])          # the page's probe rises late
    for h, short in zip(history, [0.03, 0.2, 0.6, 0.9, 0.9]):  # the short probe rose earlier
        h["induction_short"] = [[0.0, short], [0.0, 0.0]]
    summary = ind.induction_summary(history)
    assert summary["phase_change_step"] == 200 and summary["phase_change_step_page_probe"] == 300
    assert summary["short_probe"] == {"tokens_per_copy": ind.SHORT_PROBE_N, "init": 0.03, "final": 0.9,
                                      "chance": round(chance("induction", ind.SHORT_PROBE_N), 4)}
