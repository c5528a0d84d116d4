"""Model cards: JSON files in assets/ that say how each model was made and how good it is.

The app reads them here; training commands write them with train/cards.py.
"""

from __future__ import annotations

import json
import math
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


def numbers(card: dict, prefix: str = "") -> dict[str, float]:
    """Every finite number in a card (nested dicts walked, lists and booleans left out), by
    dotted path: the keys of ``across_seeds`` (python -m train experiment writes them)."""
    out = {}
    for key, value in card.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(numbers(value, path + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[path] = float(value)
    return out


def seed_spread(card: dict, path: str) -> dict:
    """{"mean", "sd", "values"} of one number over the seeds a card summarises (``across_seeds``,
    written by python -m train experiment, keyed by the number's dotted path); {} when absent."""
    return (card.get("across_seeds") or {}).get(path) or {}


def seed_values(card: dict, path: str) -> list | None:
    """The per-seed values of one number, in seed order; None when the card has none."""
    return seed_spread(card, path).get("values") or None


def paired_seed_values(a: dict, b: dict, paths) -> dict[str, tuple[list, list]] | None:
    """For each dotted path, (A's values, B's values) seed by seed: only when both cards summarise
    the same seeds, two or more, and hold every path on every seed; else None (no paired reading)."""
    seeds = a.get("seeds")
    if not seeds or len(seeds) < 2 or b.get("seeds") != seeds:
        return None
    pairs = {}
    for path in paths:
        x, y = seed_values(a, path), seed_values(b, path)
        if not x or not y or not len(x) == len(y) == len(seeds):
            return None
        pairs[path] = (x, y)
    return pairs


def across_seeds_text(card: dict, path: str, value) -> str | None:
    """A card's number as text: "mean ± sd (n seeds)" when the card summarises several seeds
    (``across_seeds``, written by python -m train experiment), else the one value."""
    spread = seed_spread(card, path)
    if spread and len(spread.get("values", [])) > 1:
        return f"{spread['mean']:.3f} ± {spread['sd']:.3f} ({len(spread['values'])} seeds)"
    return None if value is None else f"{float(value):.3f}"
