"""The run options every training command shares, and what they set up.

    --seed N        initialisation and batch order
    --threads N     CPU threads (0: torch's default)
    --device D      auto (CUDA when present), cpu or cuda
    --resume        continue from this run's checkpoint
    --out DIR       where weights and the model card go (default: assets/)
    --checkpoints   where resumable state goes (default: checkpoints/, git-ignored)

Each lab adds its own budget (steps, epochs, minutes) and architecture options.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch

from models.device import describe_device
from models.weights import ASSETS

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"  # git-ignored


def add_run_options(parser: argparse.ArgumentParser, resume_help: str, data_dir: Path | None = None,
                    scene_seed: bool = False, seed: int = 0, threads: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=seed, help="initialisation and batch order")
    if scene_seed:
        parser.add_argument("--scene-seed", type=int, default=0, help="which scenes make up the splits")
    parser.add_argument("--threads", type=int, default=threads, help="CPU threads (0: torch's default)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: CUDA when present, else CPU")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--out", type=Path, default=ASSETS, help="where weights and the model card go")
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    if data_dir is not None:
        parser.add_argument("--data-dir", type=Path, default=data_dir)


def start_run(args: argparse.Namespace, name: str) -> torch.device:
    """Apply --threads, --seed and --device; print and return the device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available here")
    device = torch.device("cuda" if args.device == "cuda" or
                          (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    print(f"{name}: device {describe_device(device)}")
    return device
