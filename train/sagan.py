"""Image lab, GANs: ``python -m train sagan [--variant sagan|no_attention]``.

Trains the small SAGAN (models.gan) on Fashion-MNIST's 28 x 28 training items with the
paper's recipe: hinge loss, spectral normalisation in G and D, two time-scale update
rule (D lr 4e-4, G lr 1e-4, Adam betas (0, 0.9)), gamma initialised to 0.
``--variant no_attention`` trains the same networks without the self-attention layer,
with the same budget: the comparison of Zhang et al.'s table 1 (SN-GAN with and without
attention).

Budget: at most ``--steps`` steps; every ``--eval-every`` steps the generator's samples
are scored (train/gan_quality.py: FID and IS on the judge classifier's features, class
shares, ``--eval-samples`` samples against as many real test images) and training stops
at a plateau, when the best FID of the last three evaluations is not 3 % below the best
before them. The weights of the evaluation with the lowest FID are kept. The final card
scores 10,000 samples against the 10,000 real test images, beside the real-vs-real floor.

Writes assets/<name>.safetensors (generator.* and discriminator.* in fp16) and
assets/<name>.json, name ``sagan`` or ``gan_no_attention``. Seeded, tqdm progress, CUDA
when present; a checkpoint goes to checkpoints/<name>.pt at every evaluation and every
``--checkpoint-every`` steps, and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from corpora.fashion import DATA_DIR, load_split
from models.gan import SAGAN
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint, save_weights
from train.gan_quality import JUDGE_NAME, as_items, judge_card, load_judge, real_floor, sample_quality
from train.options import add_run_options, start_run
from train.sittings import Sittings, command_line

VARIANTS = {"sagan": "sagan", "no_attention": "gan_no_attention"}   # variant -> card and weights name
PLATEAU_EVALS = 3          # compare the best of the last three evaluations ...
PLATEAU_GAIN = 0.03        # ... with the best before them: stop below a 3 % relative gain


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train sagan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=tuple(VARIANTS), default="sagan")
    p.add_argument("--steps", type=int, default=6000, help="the cap on training steps")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--eval-every", type=int, default=500, help="steps between sample-quality evaluations "
                   "(0: none, train to --steps)")
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--final-samples", type=int, default=10000)
    p.add_argument("--checkpoint-every", type=int, default=250)
    add_run_options(p, "continue from checkpoints/<name>.pt", DATA_DIR)
    return p.parse_args(argv)


def plateaued(fids: list[float]) -> bool:
    """True when the best of the last PLATEAU_EVALS FIDs is not PLATEAU_GAIN below the best before."""
    if len(fids) <= PLATEAU_EVALS:
        return False
    before, recent = min(fids[:-PLATEAU_EVALS]), min(fids[-PLATEAU_EVALS:])
    return recent > before * (1.0 - PLATEAU_GAIN)


def train_gan(gan: SAGAN, images: np.ndarray, *, steps, batch, lr_g, lr_d, seed, device,
              checkpoint: Path | None = None, resume=False, checkpoint_every=250, progress=True,
              evaluate=None, eval_every: int = 0, command: str = "train.sagan.train_gan") -> dict:
    """Hinge-loss training on uint8 (N, 28, 28) images. With ``evaluate`` (generator -> dict
    with "fid"), every ``eval_every`` steps adds a point to the curve and training stops at
    the FID plateau; ``gan`` then holds the weights of the best evaluation. Returns losses,
    timing, the curve, the steps run and each sitting (``command``, steps from-to, device,
    minutes), kept in the checkpoint across resumes."""
    gan.to(device).train()
    G, D = gan.generator, gan.discriminator
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.0, 0.9))
    start, elapsed, curve, best, stopped = 0, 0.0, [], None, None
    state = restore_checkpoint(checkpoint, device, gan=gan, opt_g=opt_g, opt_d=opt_d) if resume else None
    if state is not None:
        start, elapsed = int(state["step"]), float(state["elapsed"])
        curve, best, stopped = list(state.get("curve", [])), state.get("best"), state.get("stopped")
        print(f"resumed from {checkpoint} at step {start} ({elapsed:.0f} s so far)")
    sittings = Sittings(state.get("sittings") if state else None, command, start, device,
                        new=stopped is None and start < steps)
    data = as_items(images)
    history: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def save(done):
        last = done == steps or stopped is not None
        save_checkpoint(checkpoint, {"gan": gan, "opt_g": opt_g, "opt_d": opt_d}, step=done,
                        elapsed=elapsed + time.perf_counter() - t0, curve=curve, best=best, stopped=stopped,
                        sittings=sittings.end(done) if last else sittings.at_checkpoint(done))

    bar = tqdm(range(start, steps), initial=start, total=steps, desc=f"gan ({'attention' if gan.attention else 'none'})",
               disable=not progress or stopped is not None, file=sys.stdout, mininterval=5.0)
    for step in bar if stopped is None else ():
        # Step-seeded draws: a resumed run sees the same batches and noise.
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(len(data), (batch,), generator=gen)
        real = data[idx].to(device)
        z1 = torch.randn(batch, G.z_dim, generator=gen).to(device)
        z2 = torch.randn(batch, G.z_dim, generator=gen).to(device)

        fake, _ = G(z1)
        # hinge loss (Lim & Ye; SAGAN eq. 3): D on real and fake in one pass (D has no batch norm)
        scores = D(torch.cat([real, fake.detach()]))[0]
        d_loss = torch.relu(1.0 - scores[:batch]).mean() + torch.relu(1.0 + scores[batch:]).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        fake, _ = G(z2)
        g_loss = -D(fake)[0].mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        history.append((d_loss.detach().item(), g_loss.detach().item()))
        done = step + 1
        if evaluate is not None and eval_every and done % eval_every == 0:
            point = {"step": done, **evaluate(G),
                     "d_loss": float(np.mean([h[0] for h in history[-eval_every:]])),
                     "g_loss": float(np.mean([h[1] for h in history[-eval_every:]]))}
            if gan.attention:
                point["gamma_generator"] = float(G.attn.gamma.detach())
            G.train()
            curve.append(point)
            if best is None or point["fid"] < best["fid"]:
                best = {"step": done, "fid": point["fid"], "state": copy.deepcopy(gan.state_dict())}
            bar.write(f"step {done}: FID {point['fid']:.2f}, IS {point['inception_score']:.2f}, "
                      f"largest class {point['largest_class_share']:.1%} (best FID {best['fid']:.2f} at {best['step']})")
            if plateaued([p["fid"] for p in curve]):
                stopped = {"step": done, "why": f"plateau: the best FID of the last {PLATEAU_EVALS} evaluations "
                                                f"is not {PLATEAU_GAIN:.0%} below the best before"}
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps or stopped is not None):
            save(done)
        if stopped is not None:
            bar.write(f"stopped at step {done}: {stopped['why']}")
            break
    elapsed += time.perf_counter() - t0
    steps_run = stopped["step"] if stopped else max(start, steps)
    if best is not None:
        gan.load_state_dict(best["state"])
    tail = np.array(history[-200:]) if history else np.full((1, 2), np.nan)
    return {"elapsed_s": elapsed, "d_loss_last200": float(tail[:, 0].mean()), "g_loss_last200": float(tail[:, 1].mean()),
            "curve": curve, "steps_run": steps_run, "best_step": best["step"] if best else steps_run,
            "stopped": stopped or {"step": steps_run, "why": "the step cap"}, "sittings": sittings.end(steps_run)}


DESCRIPTION = {
    "task": "unconditional generation of 28x28 Fashion-MNIST items (GAN)",
    "page": "Image lab",
    "trained_here": True,
}


def main(argv) -> int:
    args = parse_args(argv)
    name = VARIANTS[args.variant]
    device = start_run(args, name)
    images, _labels = load_split("train", args.data_dir)
    test_images, _ = load_split("test", args.data_dir)
    real = as_items(test_images)
    judge = load_judge().to(device)
    gan = SAGAN(args.z_dim, args.width, attention=args.variant == "sagan")

    def evaluate(generator):
        quick = sample_quality(generator, judge, real[:args.eval_samples].to(device), args.eval_samples,
                               seed=12345, device=device)
        return {k: quick[k] for k in ("fid", "inception_score", "largest_class_share", "empty_classes")}

    stats = train_gan(gan, images, steps=args.steps, batch=args.batch, lr_g=args.lr_g,
                      lr_d=args.lr_d, seed=args.seed, device=device,
                      checkpoint=args.checkpoints / f"{name}.pt", resume=args.resume,
                      checkpoint_every=args.checkpoint_every, evaluate=evaluate if args.eval_every else None,
                      eval_every=args.eval_every, command=command_line("python -m train sagan", argv))
    gan.eval()
    t0 = time.perf_counter()
    quality = sample_quality(gan.generator, judge, real.to(device), args.final_samples, seed=2024, device=device)
    judge_meta = judge_card() or {}
    # the judge's card holds the floor of this test set (python -m train item-classifier)
    floor = judge_meta.get("real_floor") or real_floor(judge, real.to(device))
    eval_s = time.perf_counter() - t0
    weights = args.out / f"{name}.safetensors"
    save_weights(gan, weights)
    G, D = gan.generator, gan.discriminator
    hist = quality["class_histogram"]
    attention_text = "self-attention at 14x14" if gan.attention else "no attention layer"
    card = {
        "name": name,
        "lab": "spatial",
        "variant": args.variant,
        "command": "python -m train sagan " + " ".join(argv),
        "source": "trained here: python -m train sagan " + " ".join(argv),
        "data": {"dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)", "path": str(args.data_dir),
                 "split": "all 60000 training items, 28x28, scaled to [-1, 1]; no labels used",
                 "held_out": f"{len(real)} test images, the reference of FID and IS"},
        "architecture": f"G: z({args.z_dim}) -> 7x7 -> 14x14 -> {attention_text} -> 28x28, tanh; "
                        f"D: 28x28 -> 14x14 -> {attention_text} -> 7x7 -> sum pool -> linear; "
                        "spectral norm in G and D",
        # One number for the model zoo's Parameters column; the split per network beside it.
        "parameters": int(sum(p.numel() for p in gan.parameters())),
        "parameters_by_network": {"generator": int(sum(p.numel() for p in G.parameters())),
                                  "discriminator": int(sum(p.numel() for p in D.parameters()))},
        "hyperparameters": {"steps": args.steps, "batch": args.batch, "z_dim": args.z_dim,
                            "width": args.width, "lr_g": args.lr_g, "lr_d": args.lr_d,
                            "loss": "hinge", "optimizer": "Adam betas (0, 0.9)",
                            "eval_every": args.eval_every, "eval_samples": args.eval_samples},
        **run_facts(args, device, stats["elapsed_s"]),
        "evaluation_time_s": round(eval_s, 1),
        "steps_run": stats["steps_run"],
        "weights_from_step": stats["best_step"],
        "stopped": stats["stopped"],
        "sittings": stats["sittings"],
        "d_loss_last200": round(stats["d_loss_last200"], 4),
        "g_loss_last200": round(stats["g_loss_last200"], 4),
        "quality": {
            "samples": quality["samples"],
            "fid": quality["fid"],
            "inception_score": quality["inception_score"],
            "inception_score_sd": quality["inception_score_sd"],
            "largest_class_share": quality["largest_class_share"],
            "empty_classes": quality["empty_classes"],
            "covers_every_class_below_a_quarter": bool(quality["empty_classes"] == 0
                                                       and quality["largest_class_share"] <= 0.25),
            "judge": f"assets/{JUDGE_NAME}.json (test accuracy {judge_meta.get('test_accuracy', float('nan')):.4f}): "
                     "FID on its 128-d penultimate features, IS on its logits (torchmetrics); "
                     "not comparable with Inception-v3 numbers",
        },
        "class_histogram": hist,
        "chance": {"fid_real_vs_real": floor["fid_real_vs_real"], "inception_score_real": floor["inception_score_real"],
                   "class_histogram_real": floor["class_histogram_real"], "largest_class_share_uniform": 0.1,
                   "meaning": "what real test images score: one half against the other for FID, the whole "
                              "test set for IS; a GAN that matched the data would score these"},
        "curve": stats["curve"],
        "weights": weights.name,
    }
    if gan.attention:
        card["gamma"] = {"generator": round(G.attn.gamma.detach().item(), 4),
                         "discriminator": round(D.attn.gamma.detach().item(), 4)}
    card.update(DESCRIPTION)
    write_card(card, args.out / f"{name}.json")
    print(f"{name}: {stats['steps_run']} steps in {card['training_time_s']} s (weights from step {stats['best_step']}); "
          f"FID {quality['fid']:.2f} (real vs real {floor['fid_real_vs_real']:.2f}), IS {quality['inception_score']:.2f} "
          f"(real {floor['inception_score_real']:.2f}); largest class {quality['largest_class_share']:.1%}, "
          f"{quality['empty_classes']} empty")
    print(f"wrote {weights} and {args.out / f'{name}.json'}")
    return 0
