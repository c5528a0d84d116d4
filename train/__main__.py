"""Training command for every lab: ``python -m train <lab> [options]``.

    python -m train spatial --arch cbam_full     # scene classifiers (image lab)
    python -m train sagan                        # SAGAN on Fashion-MNIST items (--variant no_attention)
    python -m train item-classifier              # the judge of the GANs' samples
    python -m train translation --arch rnnsearch # seq2seq, RNNsearch, Transformer (en→es)
    python -m train captioning --variant full    # Show-Attend-Tell captioner
    python -m train translation-compare          # the three translation cards compared
    python -m train minilm                       # the card of the pretrained MiniLM
    python -m train text-attribution --model minilm  # attention vs attribution on 200 verses
    python -m train induction --layers 2         # the induction-head phase change (--layers 1: control)
    python -m train experiment spatial --arms baseline cbam_full --seeds 0 1 2  # arms x seeds on Ray

Each lab is a module of this package with ``main(argv)``; this file only dispatches by
lab name. Modules are imported only when their lab is asked for, so one lab's
dependencies never slow another's start.
"""

from __future__ import annotations

import importlib
import sys

LABS = {
    "spatial": "train.spatial",
    "sagan": "train.sagan",
    "translation": "train.translation",
    "captioning": "train.captioning",
    "translation-compare": "train.translation_compare",
    "minilm": "train.cards",
    "text-attribution": "train.text_attribution",
    "induction": "train.induction",
    "item-classifier": "train.gan_quality",
    "experiment": "train.experiment",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in LABS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown lab {argv[0]!r}", file=sys.stderr)
        print("usage: python -m train {" + ",".join(LABS) + "} [options]\n"
              "       python -m train <lab> --help   for that lab's options",
              file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    module = importlib.import_module(LABS[argv[0]])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
