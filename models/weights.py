"""Saving and loading our own trained weights (safetensors) and model cards (JSON).

Weights are stored in fp16 to keep each file small; they are cast back to the
model's dtype on load. Nothing here unpickles: safetensors holds tensors only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

# WORKBENCH_ASSETS points the app and the training CLI at another folder (scratch runs,
# tests with throw-away weights) without touching the committed assets/.
ASSETS = Path(os.environ.get("WORKBENCH_ASSETS") or Path(__file__).resolve().parent.parent / "assets")


CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"  # git-ignored


def add_scene_run_options(parser, resume_help: str, data_dir: Path) -> None:
    """The options every scene-lab training command shares: seeds, threads, resume, folders."""
    parser.add_argument("--seed", type=int, default=0, help="init and batch order")
    parser.add_argument("--scene-seed", type=int, default=0, help="which scenes make up the splits")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--out", type=Path, default=ASSETS)
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    parser.add_argument("--data-dir", type=Path, default=data_dir)


def save_weights(model: nn.Module, path: Path) -> None:
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        state[key] = value.half() if value.is_floating_point() else value
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a safetensors file into ``model`` (strict), casting fp16 back; eval mode."""
    state = load_file(str(path))
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def restore_checkpoint(path: Path | None, device: torch.device | str, **stateful) -> dict | None:
    """Resume training: load each named state (model, optimiser, scheduler…) from a
    checkpoint written with the same names; returns the checkpoint, or None if absent."""
    if path is None or not Path(path).is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    return state


def write_card(card: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def read_card(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
