"""Image lab, SAGAN: ``python -m train sagan``.

Trains the small SAGAN (models.gan) on Fashion-MNIST's 28 x 28 training items with
the paper's recipe: hinge loss, spectral normalisation in G and D, two time-scale
update rule (D lr 4e-4, G lr 1e-4, Adam betas (0, 0.9)), gamma initialised to 0.

Writes assets/sagan.safetensors (generator.* and discriminator.* in fp16) and
assets/sagan.json (data, parameters, seed, device, time, losses, learned gammas).
Seeded, tqdm progress, CUDA when present; a checkpoint goes to checkpoints/sagan.pt
every ``--checkpoint-every`` steps and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from corpora.fashion import DATA_DIR, load_split
from models.gan import SAGAN
from models.weights import read_card
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint, save_weights
from train.options import add_run_options, start_run


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train sagan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1600)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--refresh-card", action="store_true",
                   help="only add the descriptive fields to an existing assets/sagan.json")
    add_run_options(p, "continue from checkpoints/sagan.pt", DATA_DIR)
    return p.parse_args(argv)


def train_gan(gan: SAGAN, images: np.ndarray, *, steps, batch, lr_g, lr_d, seed, device,
              checkpoint: Path | None = None, resume=False, checkpoint_every=250,
              progress=True) -> dict:
    """Hinge-loss training on uint8 (N, 28, 28) images; returns losses and timing."""
    gan.to(device).train()
    G, D = gan.generator, gan.discriminator
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.0, 0.9))
    start, elapsed = 0, 0.0
    history: list[tuple[float, float]] = []
    state = restore_checkpoint(checkpoint, device, gan=gan, opt_g=opt_g, opt_d=opt_d) if resume else None
    if state is not None:
        start, elapsed = int(state["step"]), float(state["elapsed"])
        print(f"resumed from {checkpoint} at step {start} ({elapsed:.0f} s so far)")
    data = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)[:, None]  # [-1, 1]
    t0 = time.perf_counter()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="sagan", disable=not progress,
               file=sys.stdout, mininterval=2.0)
    for step in bar:
        # Step-seeded draws: a resumed run sees the same batches and noise.
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(data), (batch,), generator=gen)
        real = data[idx].to(device)
        z1 = torch.randn(batch, G.z_dim, generator=gen).to(device)
        z2 = torch.randn(batch, G.z_dim, generator=gen).to(device)

        fake, _ = G(z1)
        d_loss = (torch.relu(1.0 - D(real)[0]).mean() + torch.relu(1.0 + D(fake.detach())[0]).mean())
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        fake, _ = G(z2)
        g_loss = -D(fake)[0].mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        history.append((d_loss.detach().item(), g_loss.detach().item()))
        if step % 20 == 0:
            bar.set_postfix(d=f"{history[-1][0]:.3f}", g=f"{history[-1][1]:.3f}",
                            gamma_g=f"{G.attn.gamma.detach().item():.3f}")
        done = step + 1
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
            save_checkpoint(checkpoint, {"gan": gan, "opt_g": opt_g, "opt_d": opt_d},
                            step=done, elapsed=elapsed + time.perf_counter() - t0)
    elapsed += time.perf_counter() - t0
    tail = np.array(history[-200:]) if history else np.full((1, 2), np.nan)
    return {"elapsed_s": elapsed, "d_loss_last200": float(tail[:, 0].mean()),
            "g_loss_last200": float(tail[:, 1].mean())}


DESCRIPTION = {
    "task": "unconditional generation of 28x28 Fashion-MNIST items (GAN)",
    "source": "trained here: python -m train sagan",
    "page": "Image lab",
    "trained_here": True,
}


def main(argv) -> int:
    args = parse_args(argv)
    if args.refresh_card:
        # Only the descriptive fields above; every number stays what the run wrote.
        path = args.out / "sagan.json"
        card = read_card(path)
        if card is None:
            print(f"no card at {path}", file=sys.stderr)
            return 1
        card = {**card, **DESCRIPTION, "source": "trained here: " + card.get("command", "")}
        if isinstance(card.get("parameters"), dict):  # cards from before the split field
            card["parameters_by_network"] = card["parameters"]
            card["parameters"] = int(sum(card["parameters"].values()))
        write_card(card, path)
        print(f"refreshed {path}")
        return 0
    device = start_run(args, "sagan")
    images, _labels = load_split("train", args.data_dir)
    gan = SAGAN(args.z_dim, args.width)
    stats = train_gan(gan, images, steps=args.steps, batch=args.batch, lr_g=args.lr_g,
                      lr_d=args.lr_d, seed=args.seed, device=device,
                      checkpoint=args.checkpoints / "sagan.pt", resume=args.resume,
                      checkpoint_every=args.checkpoint_every)
    gan.eval()
    weights = args.out / "sagan.safetensors"
    save_weights(gan, weights)
    G, D = gan.generator, gan.discriminator
    card = {
        "name": "sagan",
        "lab": "spatial",
        "command": "python -m train sagan " + " ".join(argv),
        "data": {"dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)", "path": str(args.data_dir),
                 "split": "all 60000 training items, 28x28, scaled to [-1, 1]; no labels used"},
        "architecture": "G: z(64) -> 7x7 -> 14x14 -> self-attention at 14x14 -> 28x28, tanh; "
                        "D: 28x28 -> 14x14 -> self-attention at 14x14 -> 7x7 -> sum pool -> linear; "
                        "spectral norm in G and D",
        # One number for the model zoo's Parameters column; the split per network beside it.
        "parameters": int(sum(p.numel() for p in gan.parameters())),
        "parameters_by_network": {"generator": int(sum(p.numel() for p in G.parameters())),
                                  "discriminator": int(sum(p.numel() for p in D.parameters()))},
        "hyperparameters": {"steps": args.steps, "batch": args.batch, "z_dim": args.z_dim,
                            "width": args.width, "lr_g": args.lr_g, "lr_d": args.lr_d,
                            "loss": "hinge", "optimizer": "Adam betas (0, 0.9)"},
        **run_facts(args, device, stats["elapsed_s"]),
        "d_loss_last200": round(stats["d_loss_last200"], 4),
        "g_loss_last200": round(stats["g_loss_last200"], 4),
        "gamma": {"generator": round(G.attn.gamma.detach().item(), 4),
                  "discriminator": round(D.attn.gamma.detach().item(), 4)},
        "quality": "not measured (no FID/IS reference network offline); judge the samples on the page",
        "weights": weights.name,
    }
    card.update(DESCRIPTION)
    card["source"] = "trained here: " + card["command"]
    write_card(card, args.out / "sagan.json")
    print(f"sagan: {args.steps} steps in {card['training_time_s']} s; gamma G {card['gamma']['generator']}, "
          f"D {card['gamma']['discriminator']}; d_loss {card['d_loss_last200']}, g_loss {card['g_loss_last200']}")
    print(f"wrote {weights} and {args.out / 'sagan.json'}")
    return 0
