"""Training command for every lab: ``python -m models.train <lab> [options]``.

    python -m models.train spatial --arch cbam_full     # scene classifiers (image lab)
    python -m models.train sagan                        # SAGAN on Fashion-MNIST items
    python -m models.train translation --arch rnnsearch # seq2seq, RNNsearch, Transformer (en→es)
    python -m models.train captioning --variant full    # Show-Attend-Tell captioner

Each lab is a module with ``main(argv)``; this file only dispatches by lab name, so
the translation and captioning labs add one line to LABS. Modules are imported only
when their lab is asked for, so one lab's dependencies never slow another's start.
"""

from __future__ import annotations

import importlib
import sys

LABS = {
    "spatial": "models.train_spatial",
    "sagan": "models.train_sagan",
    "translation": "models.translation.train",
    "captioning": "models.train_captioning",
}
# Labs whose main() records how it was called (``prog``) in the model card's made_by.
TAKES_PROG = {"translation"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in LABS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown lab {argv[0]!r}", file=sys.stderr)
        print("usage: python -m models.train {" + ",".join(LABS) + "} [options]\n"
              "       python -m models.train <lab> --help   for that lab's options",
              file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    module = importlib.import_module(LABS[argv[0]])
    if argv[0] in TAKES_PROG:
        return int(module.main(argv[1:], prog=f"python -m models.train {argv[0]}") or 0)
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
