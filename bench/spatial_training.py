"""Image-lab training speed: images per second of one training step (forward, backward,
AdamW) of every classifier, in the layout train/spatial.py used before (channels-first)
and the one it uses now (channels-last), in the same run, with the ratio (not part of
make test).

    python bench/spatial_training.py [--threads 1] [--batch 128] [--steps 12]

One thread by default: the image-lab experiment runs two one-thread trials side by side.
Both layouts train the same initial weights on the same random batch; each layout's
first 3 steps are warm-up and not timed. Layouts alternate arch by arch, so a busy
neighbour slows both alike.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from models.classifiers import ARCHS, SpatialClassifier  # noqa: E402


def images_per_s(arch: str, channels_last: bool, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = SpatialClassifier(arch).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 64, 64).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step():
        logits, _ = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, {args.steps} timed steps")
    print(f"{'arch':<14}{'channels-first':>16}{'channels-last':>15}{'ratio':>8}")
    for arch in args.archs:
        before = images_per_s(arch, False, args.batch, args.steps)
        after = images_per_s(arch, True, args.batch, args.steps)
        print(f"{arch:<14}{before:>12.0f} i/s{after:>11.0f} i/s{after / before:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
