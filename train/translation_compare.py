"""``python -m train translation-compare``: write the comparison of the three translation
models (analysis/translation_comparison.py) into each of their cards."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis.translation_comparison import compare
from models.translation.translator import ASSETS, card_path
from models.weights import read_card
from train.cards import write_card


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m train translation-compare")
    p.add_argument("--assets", default=str(ASSETS))
    args = p.parse_args(argv)
    folder = Path(args.assets)
    cards = {}
    for arch in ("seq2seq", "rnnsearch", "transformer"):
        card = read_card(card_path(arch, folder))
        if card is not None:
            cards[arch] = card
    result = compare(cards)
    result["made_by"] = "python -m train translation-compare"
    for arch, card in cards.items():
        card["comparison"] = result
        write_card(card, card_path(arch, folder))
    print(json.dumps(result, indent=2, ensure_ascii=False))
