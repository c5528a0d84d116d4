"""The one checkpoint helper of every training command, and the writer of trained
weights into assets/.

A checkpoint holds each named state (model, optimiser, scheduler…), the counters the
lab passes (step, epoch, elapsed…) and the RNG states of torch, numpy and Python, so a
resumed run continues the same random stream. It is written to a temporary file and
renamed, so a run stopped mid-write leaves the previous checkpoint intact. Loading uses
``weights_only=True``: a checkpoint cannot run code.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn


def save_checkpoint(path: Path | None, stateful: dict, **counters) -> None:
    """Write ``{name: obj.state_dict()}`` for each of ``stateful``, the counters and the RNG states."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: obj.state_dict() for name, obj in stateful.items()}
    state.update(counters)
    kind, keys, *rest = np.random.get_state()
    state["rng"] = {
        "torch": torch.get_rng_state(),
        # numpy's legacy state as plain lists so weights_only loading accepts it
        "numpy": [kind, keys.tolist(), *rest],
        "python": random.getstate(),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def restore_checkpoint(path: Path | None, device: torch.device | str, expect: dict | None = None,
                       **stateful) -> dict | None:
    """Load each named state written by ``save_checkpoint`` and the RNG states; returns the
    checkpoint (for its counters), or None when there is none, or when one of the
    ``expect`` entries (e.g. the model's configuration) differs from what it holds."""
    if path is None or not Path(path).is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    for key, value in (expect or {}).items():
        if state.get(key) != value:
            print(f"{path} was written with another {key}: starting fresh")
            return None
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    rng = state.get("rng")
    if isinstance(rng, dict):
        torch.set_rng_state(rng["torch"].cpu())
        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        random.setstate(_as_tuples(rng["python"]))
    return state


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_weights(model: nn.Module, path: Path) -> None:
    """The model's state as fp16 safetensors (small files for assets/; cast back on load)."""
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if value.is_floating_point() else value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
