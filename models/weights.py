"""Loading our own trained weights (safetensors) and model cards (JSON) from assets/.

Weights are stored in fp16 (train/checkpoint.py writes them) to keep each file small;
they are cast back to the model's dtype on load. Nothing here unpickles: safetensors
holds tensors only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors.torch import load_file
from torch import nn

# WORKBENCH_ASSETS points the app and the training CLI at another folder (scratch runs,
# tests with throw-away weights) without touching the committed assets/.
ASSETS = Path(os.environ.get("WORKBENCH_ASSETS") or Path(__file__).resolve().parent.parent / "assets")


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """Load a safetensors file into ``model`` (strict), casting fp16 back; eval mode."""
    state = load_file(str(path))
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_card(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
