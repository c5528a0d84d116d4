"""Show-Attend-Tell: caption grammar, attention and beta invariants, beam = greedy at width 1,
a few training steps end to end on a tiny synthetic set (no dataset needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.localisation import box_mass, cell_coverage
from corpora.captions import MAX_LEN, VOCAB, NOUNS, PAD, WORD_ID, caption_from_layout, decode, encode
from models.records import AttentionMap
from models.show_attend_tell import MODES, ShowAttendTell, caption_loss
from train.captioning import evaluate, fit



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: on a shared 2-core machine a second thread only adds contention
    (a few steps took 20 s with 2 threads against 3 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


BAG, SNEAKER, COAT, DRESS, SHIRT = (NOUNS.index(n) for n in ("bag", "sneaker", "coat", "dress", "shirt"))


# ---------------------------------------------------------------- grammar
def test_two_items_side_by_side_read_left_to_right():
    # The bag's box is right of the sneaker's, so the sneaker is named first whatever the item order.
    cap = caption_from_layout([BAG, SNEAKER], [(40, 20, 60, 40), (2, 22, 22, 42)])
    assert cap.text == "a sneaker left of a bag"
    assert cap.noun_boxes == {1: (2, 22, 22, 42), 5: (40, 20, 60, 40)}


def test_three_items_stacked_read_top_to_bottom():
    boxes = [(20, 44, 40, 62), (22, 2, 42, 18), (24, 22, 44, 40)]  # shirt bottom, coat top, dress middle
    cap = caption_from_layout([SHIRT, COAT, DRESS], boxes)
    assert cap.text == "a coat above a dress and a shirt"
    assert cap.noun_boxes == {1: boxes[1], 4: boxes[2], 7: boxes[0]}
    assert len(encode(cap.words)) <= MAX_LEN


def test_grammar_refuses_repeated_classes_and_wrong_counts():
    with pytest.raises(ValueError):
        caption_from_layout([BAG, BAG], [(0, 0, 5, 5), (10, 10, 20, 20)])
    with pytest.raises(ValueError):
        caption_from_layout([BAG], [(0, 0, 5, 5)])


def test_encode_decode_round_trip():
    words = ("a", "coat", "above", "a", "bag")
    assert tuple(decode(encode(words) + [WORD_ID[PAD]] * 3)) == words


def test_box_mass_counts_partial_cells():
    a = np.zeros((8, 8))
    a[1, 1] = 1.0                       # the cell covering pixels 8..15 x 8..15
    assert box_mass(a, (8, 8, 16, 16)) == pytest.approx(1.0)
    assert box_mass(a, (12, 8, 16, 16)) == pytest.approx(0.5)
    assert cell_coverage((0, 0, 64, 64), (8, 8)).sum() == pytest.approx(64.0)


# ---------------------------------------------------------------- model invariants
@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 64, 64, generator=g)
    tokens = torch.tensor([encode(caption_from_layout([BAG, COAT], [(0, 0, 20, 20), (40, 40, 60, 60)]).words)
                           + [WORD_ID[PAD]] * 4] * 3)
    return x, tokens


@pytest.mark.parametrize("mode", MODES)
def test_attention_sums_to_one_and_beta_in_unit_interval(mode, batch):
    model = ShowAttendTell(mode, VOCAB, MAX_LEN).eval()
    x, tokens = batch
    with torch.inference_mode():
        _logp, alphas, betas, grid = model.teacher_forced(x, tokens)
    assert grid == (8, 8) and alphas.shape == (3, tokens.shape[1], 64)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(alphas.shape[:2]))
    assert (alphas >= 0).all()
    assert ((betas >= 0) & (betas <= 1)).all()
    if mode == "no_beta":
        assert (betas == 1).all()


def test_records_one_per_word(batch):
    model = ShowAttendTell("full", VOCAB, MAX_LEN).eval()
    got = model.greedy(batch[0][:1])
    assert len(got.records) == len(got.words) == len(got.betas)
    for t, r in enumerate(got.records):
        assert isinstance(r, AttentionMap) and r.kind == "spatial" and r.axes == ("h", "w") and r.grid == (8, 8)
        assert r.meta["word"] == got.words[t]
        assert float(r.weights.sum()) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= r.meta["beta"] <= 1.0


@pytest.mark.parametrize("seed", range(4))
def test_beam_width_one_equals_greedy(seed):
    torch.manual_seed(seed)
    model = ShowAttendTell("full", VOCAB, MAX_LEN).eval()
    x = torch.rand(1, 1, 64, 64)
    greedy, beam1 = model.greedy(x), model.beam_search(x, width=1)
    assert greedy.words == beam1.words
    assert greedy.score == pytest.approx(beam1.score, abs=1e-4)
    for a, b in zip(greedy.records, beam1.records):
        torch.testing.assert_close(a.weights, b.weights)
    # A wider beam never finds a worse caption under the model's own score.
    assert model.beam_search(x, width=5).score >= greedy.score - 1e-4


def test_bad_mode_and_width_are_refused():
    with pytest.raises(ValueError):
        ShowAttendTell("soft", VOCAB, MAX_LEN)
    with pytest.raises(ValueError):
        ShowAttendTell("full", VOCAB, MAX_LEN).beam_search(torch.rand(1, 1, 64, 64), width=11)


def test_doubly_stochastic_term_adds_the_coverage_penalty(batch):
    model = ShowAttendTell("full", VOCAB, MAX_LEN).eval()
    x, tokens = batch
    with torch.inference_mode():
        logp, alphas, _b, _g = model.teacher_forced(x, tokens)
    plain, _ = caption_loss(logp, alphas, tokens, lam=0.0)
    with_ds, _ = caption_loss(logp, alphas, tokens, lam=1.0)
    valid = (tokens != WORD_ID[PAD])[..., None]
    expected = ((1 - (alphas * valid).sum(1)) ** 2).sum(1).mean()
    torch.testing.assert_close(with_ds - plain, expected)


# ---------------------------------------------------------------- training end to end
def _synthetic(n: int, seed: int) -> dict[str, np.ndarray]:
    """Bright squares of two 'classes' (ids 8 and 4) at random places, with their captions."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 64, 64), np.uint8)
    tokens = np.full((n, MAX_LEN), WORD_ID[PAD], np.int64)
    noun_boxes = np.full((n, MAX_LEN, 4), -1, np.int64)
    for i in range(n):
        boxes = []
        for j, level in enumerate((255, 120)):
            x, y = (int(v) for v in rng.integers(0, 44, size=2))
            images[i, y : y + 20, x : x + 20] = level
            boxes.append((x, y, x + 20, y + 20))
        cap = caption_from_layout([BAG, COAT], boxes)
        ids = encode(cap.words)
        tokens[i, : len(ids)] = ids
        for pos, box in cap.noun_boxes.items():
            noun_boxes[i, pos] = box
    return {"images": images, "tokens": tokens, "noun_boxes": noun_boxes}


def test_few_training_steps_end_to_end(tmp_path):
    data = _synthetic(48, 0)
    model = ShowAttendTell("full", VOCAB, MAX_LEN)
    ckpt = tmp_path / "cap.pt"
    first = fit(model, data, epochs=2, batch=16, lr=3e-3, lam=1.0, seed=0, device=torch.device("cpu"),
                checkpoint=ckpt, progress=False)
    assert first["steps"] == 6 and np.isfinite(first["loss"]) and ckpt.is_file()
    # Resuming with more epochs continues from the checkpoint's step count.
    again = fit(ShowAttendTell("full", VOCAB, MAX_LEN), data, epochs=3, batch=16, lr=3e-3, lam=1.0, seed=0,
                device=torch.device("cpu"), checkpoint=ckpt, resume=True, progress=False)
    assert again["steps"] == 9
    metrics = evaluate(model, _synthetic(10, 1), device=torch.device("cpu"))
    assert first["curve"] == [] and again["curve"] == []               # no validation scenes: no curve
    for key in ("bleu4", "exact_match", "attention_correctness"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["noun_tokens"] == 20


def test_the_learning_curve_has_a_point_per_epoch_and_survives_a_resume(tmp_path):
    data, val = _synthetic(32, 0), _synthetic(8, 3)
    ckpt = tmp_path / "cap.pt"
    torch.manual_seed(0)
    straight = fit(ShowAttendTell("full", VOCAB, MAX_LEN), data, epochs=3, batch=16, lr=3e-3, lam=0.1, seed=0,
                   device=torch.device("cpu"), progress=False, val=val)
    torch.manual_seed(0)
    model = ShowAttendTell("full", VOCAB, MAX_LEN)
    fit(model, data, epochs=2, batch=16, lr=3e-3, lam=0.1, seed=0, device=torch.device("cpu"), checkpoint=ckpt,
        progress=False, val=val)
    resumed = fit(model, data, epochs=3, batch=16, lr=3e-3, lam=0.1, seed=0, device=torch.device("cpu"),
                  checkpoint=ckpt, resume=True, progress=False, val=val)
    assert [p["epoch"] for p in straight["curve"]] == [1, 2, 3] and [p["step"] for p in straight["curve"]] == [2, 4, 6]
    assert len(resumed["curve"]) == 3
    for a, b in zip(straight["curve"], resumed["curve"]):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
    last = straight["curve"][-1]
    assert last["val_uniform"] == pytest.approx(evaluate(model, val, device=torch.device("cpu"))[
        "attention_correctness_uniform_reference"])
    assert 0.0 <= last["val_attention_correctness"] <= 1.0 and last["train_loss"] > last["train_nll_per_word"] > 0


def test_wall_clock_cap_stops_training(tmp_path):
    stats = fit(ShowAttendTell("no_ds", VOCAB, MAX_LEN), _synthetic(32, 2), epochs=50, batch=16, lr=1e-3, lam=0.0, seed=0,
                device=torch.device("cpu"), max_seconds=0.0, checkpoint=tmp_path / "c.pt", progress=False)
    assert stats["stopped_by_cap"] and stats["steps"] == 1
