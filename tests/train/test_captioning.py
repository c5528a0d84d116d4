"""The captioner stops at its validation plateau (train.captioning.plateau_reached, fit)."""

import numpy as np
import pytest
import torch

import train.captioning as cap
from corpora.captions import MAX_LEN, VOCAB, WORD_ID
from models.show_attend_tell import ShowAttendTell


def _point(bleu, ac):
    return {"val_bleu4": bleu, "val_attention_correctness": ac}


def _rule(series, window=3, gain=0.005):
    """The rule written out: best of the last `window` minus best before them, below `gain`."""
    return len(series) > window and max(series[-window:]) - max(series[:-window]) < gain


@pytest.mark.parametrize("bleu,ac", [
    ([0.2, 0.3, 0.4], [0.1, 0.1, 0.1]),                                # too few epochs: never
    ([0.5, 0.5, 0.5, 0.5], [0.3, 0.3, 0.3, 0.3]),                      # flat: stop
    ([0.5, 0.5, 0.5, 0.504], [0.3, 0.3, 0.3, 0.3]),                    # gains 0.004 < 0.005: stop
    ([0.5, 0.5, 0.5, 0.506], [0.3, 0.3, 0.3, 0.3]),                    # BLEU still rising: go on
    ([0.5, 0.5, 0.5, 0.5], [0.2, 0.25, 0.28, 0.31]),                   # attention still rising: go on
    ([0.5, 0.6, 0.4, 0.45, 0.5], [0.3, 0.4, 0.3, 0.3, 0.3]),           # both below their best: stop
])
def test_plateau_needs_both_scores_flat(bleu, ac):
    curve = [_point(b, a) for b, a in zip(bleu, ac)]
    assert cap.plateau_reached(curve) is (_rule(bleu) and _rule(ac))


def _tiny_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    tokens = np.full((n, MAX_LEN), WORD_ID["<pad>"], dtype=np.int64)
    tokens[:, 0], tokens[:, 1:4], tokens[:, 4] = WORD_ID["<start>"], WORD_ID["a"], WORD_ID["<end>"]
    return {"images": rng.integers(0, 255, (n, 64, 64), dtype=np.uint8), "tokens": tokens}


def test_fit_stops_at_the_plateau_and_a_resumed_run_trains_no_more(tmp_path, monkeypatch):
    # Validation scores that never move: the rule stops after window + 1 = 4 epochs of the 10 allowed.
    monkeypatch.setattr(cap, "evaluate", lambda *a, **k: {
        "bleu4": 0.3, "attention_correctness": 0.2, "attention_correctness_uniform_reference": 0.1})
    torch.manual_seed(0)
    model = ShowAttendTell("no_ds", VOCAB, MAX_LEN)
    ck = tmp_path / "c.pt"
    stats = cap.fit(model, _tiny_data(), epochs=10, batch=4, lr=1e-3, lam=0.0, seed=0, device="cpu",
                    checkpoint=ck, progress=False, val={})
    assert stats["at_plateau"] and stats["epochs_completed"] == 4.0 and len(stats["curve"]) == 4
    assert stats["steps"] == 4 * 2
    again = cap.fit(ShowAttendTell("no_ds", VOCAB, MAX_LEN), _tiny_data(), epochs=10, batch=4, lr=1e-3, lam=0.0,
                    seed=0, device="cpu", checkpoint=ck, resume=True, progress=False, val={})
    assert again["at_plateau"] and again["steps"] == 8 and again["epochs_completed"] == 4.0
    # one sitting trained it; the resumed run at its plateau trained nothing and adds none
    assert [(r["from_step"], r["to_step"]) for r in stats["sittings"]] == [(0, 8)]
    assert again["sittings"] == stats["sittings"]


def test_fit_without_validation_runs_every_epoch(tmp_path):
    stats = cap.fit(ShowAttendTell("no_ds", VOCAB, MAX_LEN), _tiny_data(), epochs=2, batch=4, lr=1e-3, lam=0.0,
                    seed=0, device="cpu", checkpoint=tmp_path / "c.pt", progress=False)
    assert not stats["at_plateau"] and stats["epochs_completed"] == 2.0 and stats["steps"] == 4
    assert [(r["from_step"], r["to_step"]) for r in stats["sittings"]] == [(0, 4)]


def test_a_run_stopped_by_its_clock_resumes_in_a_second_sitting(tmp_path):
    ck = tmp_path / "c.pt"
    first = cap.fit(ShowAttendTell("no_ds", VOCAB, MAX_LEN), _tiny_data(), epochs=2, batch=4, lr=1e-3, lam=0.0,
                    seed=0, device="cpu", checkpoint=ck, progress=False, max_seconds=0.0, command="first")
    assert first["stopped_by_cap"] and first["steps"] == 1
    again = cap.fit(ShowAttendTell("no_ds", VOCAB, MAX_LEN), _tiny_data(), epochs=2, batch=4, lr=1e-3, lam=0.0,
                    seed=0, device="cpu", checkpoint=ck, resume=True, progress=False, command="second")
    assert again["steps"] == 4 and [(r["command"], r["from_step"], r["to_step"], r.get("ended"))
                                    for r in again["sittings"]] == [("first", 0, 1, None), ("second", 1, 4, None)]
