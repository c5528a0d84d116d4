"""The one checkpoint helper: states and counters round-trip, the random streams continue
where they were saved, and a checkpoint of another configuration is refused."""

import random

import numpy as np
import torch

from train.checkpoint import restore_checkpoint, save_checkpoint


def _draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_round_trip_with_rng_states(tmp_path):
    path = tmp_path / "ck" / "run.pt"
    model = torch.nn.Linear(3, 2)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    save_checkpoint(path, {"model": model}, step=7, config={"a": 1})
    expected = _draws()
    other = torch.nn.Linear(3, 2)
    state = restore_checkpoint(path, "cpu", expect={"config": {"a": 1}}, model=other)
    assert state["step"] == 7
    torch.testing.assert_close(other.weight, model.weight)
    assert _draws() == expected
    assert not path.with_suffix(".tmp").exists()


def test_other_configuration_and_missing_file(tmp_path):
    path = tmp_path / "run.pt"
    assert restore_checkpoint(path, "cpu") is None
    save_checkpoint(path, {"model": torch.nn.Linear(2, 2)}, config={"a": 1})
    assert restore_checkpoint(path, "cpu", expect={"config": {"a": 2}}, model=torch.nn.Linear(2, 2)) is None
