"""Captioning lab: ``python -m train captioning --variant {full,no_ds,no_beta}``.

Trains one Show-Attend-Tell captioner (models.show_attend_tell) on captioned
Fashion-MNIST scenes (corpora.captions), then measures it on the test split and writes

    assets/captioning_<variant>.safetensors   weights (fp16)
    assets/captioning_<variant>.json          model card: data, split, seed, device, time,
                                              metrics {bleu4, exact_match, attention_correctness}

Variants: full (beta gate + doubly stochastic term, lambda = --lam), no_ds (lambda = 0),
no_beta (beta fixed to 1). Seeded (init and batch order), tqdm, CUDA when present,
a wall-clock cap (--max-minutes, training time summed over resumed runs), resumable:
a checkpoint goes to checkpoints/ after every epoch and when the cap stops a run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analysis.localisation import cell_coverage
from corpora.captions import MAX_LEN, PAD, VOCAB, WORD_ID, build_captioned, decode
from corpora.fashion import DATA_DIR
from models.show_attend_tell import MODES, ShowAttendTell, caption_loss
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint, save_weights
from train.options import add_run_options, start_run
from train.plateau import plateaued
from train.sittings import Sittings, command_line

PLATEAU_WINDOW = 3      # epochs: the best of the last three ...
PLATEAU_GAIN = 0.005    # ... must beat the best before them by this much (BLEU-4 on a 0-1 scale)


ATTENTION_CORRECTNESS = (
    "For every noun token of every test caption, the decoder is fed the reference caption "
    "(teacher forcing) and alpha_t, the attention used to predict that noun, is compared with "
    "the box of the item the noun names: the share of alpha_t's mass inside the box (each 8x8-px "
    "grid cell spreads its weight evenly over its pixels). Averaged over all noun tokens. "
    "'uniform reference' is what an even spread over the grid would score (box area / canvas area).")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train captioning", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=MODES, default="full")
    # lambda = 1 (the paper's) swamps the caption loss on this 8x8 grid: its full model attended
    # almost uniformly (attention correctness 0.159, uniform 0.130). Chosen on the validation
    # split at 8 epochs, seed 0: lambda 0.1 -> 0.265 (uniform 0.128), lambda 0.01 -> 0.207.
    p.add_argument("--lam", type=float, default=0.1, help="weight of the doubly stochastic term (full, no_beta)")
    p.add_argument("--epochs", type=int, default=30,
                   help="cap on epochs: training stops earlier at the validation plateau (see plateau_reached)")
    p.add_argument("--max-minutes", type=float, default=6.0, help="wall-clock cap on training time")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--train-scenes", type=int, default=12000)
    p.add_argument("--val-scenes", type=int, default=500)
    p.add_argument("--test-scenes", type=int, default=1000)
    add_run_options(p, "continue from checkpoints/captioning_<variant>.pt", DATA_DIR, scene_seed=True)
    return p.parse_args(argv)


def as_input(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (B, 64, 64) -> float (B, 1, 64, 64) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0)[:, None]


def plateau_reached(curve: list[dict], window: int = PLATEAU_WINDOW, min_gain: float = PLATEAU_GAIN) -> bool:
    """The captioner's stopping rule (train.plateau): neither validation BLEU-4 nor validation
    attention correctness has gained ``min_gain`` over its best before the last ``window``
    epochs. Both must flatten: attention correctness keeps rising for epochs after BLEU-4
    levels off, and it is the score this lab is about."""
    return all(plateaued([p[key] for p in curve], window, min_gain)
               for key in ("val_bleu4", "val_attention_correctness"))


def fit(model, data, *, epochs, batch, lr, lam, seed, device, max_seconds=float("inf"),
        checkpoint: Path | None = None, resume: bool = False, progress: bool = True, val: dict | None = None,
        plateau_window: int = PLATEAU_WINDOW, plateau_gain: float = PLATEAU_GAIN,
        command: str = "train.captioning.fit") -> dict:
    """Train in place for at most ``epochs`` epochs. Batch order of epoch e is
    ``default_rng([seed, e])``, so a resumed run sees the same batches as an uninterrupted one
    (it skips the batches already done). With ``val``, every finished epoch adds a point to the
    learning curve (the epoch's mean training loss and NLL per word; BLEU-4, attention
    correctness and its uniform level on the validation scenes), kept in the checkpoint across
    resumed runs, and training stops early at the plateau (``plateau_reached``). Each sitting
    (``command``, steps from-to, device, minutes) is kept in the checkpoint and returned."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start_epoch, start_batch, elapsed, steps, curve = 0, 0, 0.0, 0, []
    sums = {"loss": 0.0, "nll": 0.0, "n": 0}        # this epoch's running means for the curve
    state = restore_checkpoint(checkpoint, device, model=model, opt=opt) if resume else None
    if state is not None:
        start_epoch, start_batch = int(state["epoch"]), int(state["batch"])
        elapsed, steps = float(state["elapsed"]), int(state["steps"])
        curve = list(state.get("curve", []))
        sums = dict(state.get("epoch_sums", sums))
        print(f"resumed from {checkpoint} at epoch {start_epoch} batch {start_batch} ({elapsed:.0f} s so far)")
    images, tokens = data["images"], data["tokens"]
    n = len(images)
    last = {"loss": float("nan"), "nll_per_word": float("nan")}
    stopped_by_cap = False
    at_plateau = val is not None and plateau_reached(curve, plateau_window, plateau_gain)
    epochs_done = start_epoch

    sittings = Sittings(state.get("sittings") if state else None, command, steps, device,
                        new=start_epoch < epochs and not at_plateau)

    def save(epoch, batch_index, last=False):
        save_checkpoint(checkpoint, {"model": model, "opt": opt}, epoch=epoch, batch=batch_index,
                        elapsed=elapsed, steps=steps, curve=curve, epoch_sums=sums,
                        sittings=sittings.end(steps) if last else sittings.at_checkpoint(steps))

    for epoch in range(start_epoch, epochs):
        if at_plateau:      # a resumed run that had already stopped at its plateau trains no more
            break
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(n)
        chunks = [order[s : s + batch] for s in range(0, n, batch)]
        first = start_batch if epoch == start_epoch else 0
        bar = tqdm(range(first, len(chunks)), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                   file=sys.stdout, mininterval=5.0)
        t0 = time.perf_counter()
        for b in bar:
            idx = chunks[b]
            x = as_input(images[idx], device)
            y = torch.from_numpy(tokens[idx]).to(device)
            logp, alphas, _betas, _grid = model.teacher_forced(x, y)
            loss, nll = caption_loss(logp, alphas, y, lam)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            steps += 1
            last = {"loss": float(loss.detach()), "nll_per_word": float(nll.detach())}
            sums = {"loss": sums["loss"] + last["loss"], "nll": sums["nll"] + last["nll_per_word"], "n": sums["n"] + 1}
            bar.set_postfix(loss=f"{last['loss']:.3f}", nll=f"{last['nll_per_word']:.3f}")
            if elapsed + time.perf_counter() - t0 >= max_seconds:
                elapsed += time.perf_counter() - t0
                stopped_by_cap = True
                save(epoch, b + 1, last=True)
                print(f"wall-clock cap reached after {elapsed:.0f} s ({steps} steps)")
                return {"elapsed_s": elapsed, "steps": steps, "stopped_by_cap": True, **last,
                        "epochs_completed": epoch + (b + 1) / len(chunks), "curve": curve, "at_plateau": False,
                        "sittings": sittings.end(steps)}
        elapsed += time.perf_counter() - t0
        if val is not None:
            scores = evaluate(model, val, device=device)
            model.train()
            batches_seen = max(sums["n"], 1)
            curve.append({"epoch": epoch + 1, "step": steps, "train_loss": sums["loss"] / batches_seen,
                          "train_nll_per_word": sums["nll"] / batches_seen, "val_bleu4": scores["bleu4"],
                          "val_attention_correctness": scores["attention_correctness"],
                          "val_uniform": scores["attention_correctness_uniform_reference"]})
            at_plateau = plateau_reached(curve, plateau_window, plateau_gain)
            if at_plateau:
                print(f"plateau after epoch {epoch + 1}: neither validation BLEU-4 nor attention correctness "
                      f"gained {plateau_gain} over the last {plateau_window} epochs")
        sums = {"loss": 0.0, "nll": 0.0, "n": 0}
        epochs_done = epoch + 1
        save(epoch + 1, 0, last=at_plateau or epoch + 1 == epochs)
    return {"elapsed_s": elapsed, "steps": steps, "stopped_by_cap": stopped_by_cap, **last,
            "epochs_completed": float(epochs_done), "curve": curve, "at_plateau": at_plateau,
            "sittings": sittings.end(steps)}


@torch.inference_mode()
def evaluate(model, data, *, device, batch: int = 250) -> dict:
    """BLEU-4 (sacrebleu, one reference), exact match and attention correctness on ``data``."""
    import sacrebleu

    model.eval().to(device)
    hyps, refs, masses, uniform, betas = [], [], [], [], []
    images, tokens, noun_boxes = data["images"], data["tokens"], data["noun_boxes"]
    for s in range(0, len(images), batch):
        x = as_input(images[s : s + batch], device)
        y = torch.from_numpy(tokens[s : s + batch]).to(device)
        for row_gen, row_ref in zip(model.greedy_tokens(x).cpu().numpy(), tokens[s : s + batch]):
            hyps.append(" ".join(decode(row_gen)))
            refs.append(" ".join(decode(row_ref)))
        _logp, alphas, beta, grid = model.teacher_forced(x, y)
        alphas = alphas.float().cpu().numpy().reshape(alphas.shape[0], alphas.shape[1], *grid)
        valid = (tokens[s : s + batch] != WORD_ID[PAD])
        betas.append(beta.float().cpu().numpy()[valid])
        for i, t in zip(*np.nonzero(noun_boxes[s : s + batch, :, 0] >= 0)):
            box = noun_boxes[s + i, t]
            cov = cell_coverage(box, grid)
            masses.append(float((alphas[i, t] * cov).sum()))
            uniform.append(float(cov.mean()))
    bleu = sacrebleu.corpus_bleu(hyps, [refs])
    return {
        "bleu4": bleu.score / 100.0,
        "bleu_signature": str(bleu),
        "exact_match": float(np.mean([h == r for h, r in zip(hyps, refs)])),
        "attention_correctness": float(np.mean(masses)),
        "attention_correctness_uniform_reference": float(np.mean(uniform)),
        "noun_tokens": len(masses),
        "mean_beta": float(np.concatenate(betas).mean()),
        "examples": [{"reference": r, "generated": h} for h, r in list(zip(hyps, refs))[:5]],
    }


VARIANT_TEXT = {
    "full": "soft attention with the gating scalar beta and the doubly stochastic regulariser",
    "no_ds": "soft attention with beta, trained without the doubly stochastic regulariser (lambda = 0)",
    "no_beta": "soft attention without beta (beta = 1), with the doubly stochastic regulariser",
}


def main(argv) -> int:
    args = parse_args(argv)
    name = f"captioning_{args.variant}"
    device = start_run(args, name)
    lam = 0.0 if args.variant == "no_ds" else args.lam
    print(f"{name}: lambda {lam}")

    t0 = time.perf_counter()
    cache = args.checkpoints / "scenes"
    train = build_captioned("train", args.train_scenes, args.scene_seed, args.data_dir, cache)
    val = build_captioned("val", args.val_scenes, args.scene_seed, args.data_dir, cache)
    test = build_captioned("test", args.test_scenes, args.scene_seed, args.data_dir, cache)
    print(f"scenes ready in {time.perf_counter() - t0:.1f} s "
          f"({args.train_scenes} train, {args.val_scenes} val, {args.test_scenes} test)")

    model = ShowAttendTell(args.variant, VOCAB, MAX_LEN)
    stats = fit(model, train, epochs=args.epochs, batch=args.batch, lr=args.lr, lam=lam, seed=args.seed,
                device=device, max_seconds=args.max_minutes * 60, checkpoint=args.checkpoints / f"{name}.pt",
                resume=args.resume, val=val, command=command_line("python -m train captioning", argv))
    t_eval = time.perf_counter()
    val_metrics = evaluate(model, val, device=device)
    metrics = evaluate(model, test, device=device)
    eval_s = time.perf_counter() - t_eval

    weights_path = args.out / f"{name}.safetensors"
    save_weights(model, weights_path)
    n_params = int(sum(p.numel() for p in model.parameters()))
    card = {
        "name": name,
        "task": "image captioning of Fashion-MNIST scenes (2-3 items, layout captions, 64x64)",
        "architecture": f"Show, Attend and Tell (Xu et al. 2015): 4-conv CNN encoder to an 8x8x64 grid, "
                        f"LSTM decoder (128 units), additive attention; {VARIANT_TEXT[args.variant]}",
        "source": "trained here: python -m train captioning " + " ".join(argv),
        "trained_here": True,
        "page": "Captioning",
        "made_by": "python -m train captioning " + " ".join(argv),
        "lab": "captioning",
        "variant": args.variant,
        "parameters": n_params,
        "hyperparameters": {"lambda_ds": lam, "epochs_requested": args.epochs,
                            "epochs_completed": round(stats["epochs_completed"], 2), "steps": stats["steps"],
                            "batch": args.batch, "lr": args.lr, "optimizer": "Adam, gradient norm clipped at 5",
                            "max_minutes": args.max_minutes, "stopped_by_cap": stats["stopped_by_cap"]},
        "data": {
            "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)",
            "path": str(args.data_dir),
            "scenes": "64x64 canvas, 2 or 3 whole items of distinct classes (scale 0.75-1.3 of 28 px) among "
                      "2-4 clutter crops of other classes; caption from the box centres (corpora/captions.py)",
            "train_scenes": args.train_scenes, "val_scenes": args.val_scenes, "test_scenes": args.test_scenes,
            "split": "scene i of split s = default_rng([scene_seed, code(s), i, 5]); train (code 0) and val "
                     "(code 2) from Fashion-MNIST train images, test (code 1) from its test images",
            "scene_seed": args.scene_seed,
            "vocabulary": list(VOCAB),
        },
        **run_facts(args, device, stats["elapsed_s"]),
        "evaluation_time_s": round(eval_s, 1),
        "last_batch_loss": round(stats["loss"], 4),
        "metrics": {"bleu4": round(metrics["bleu4"], 4), "exact_match": round(metrics["exact_match"], 4),
                    "attention_correctness": round(metrics["attention_correctness"], 4),
                    "uniform": round(metrics["attention_correctness_uniform_reference"], 4)},
        "curve": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in point.items()}
                  for point in stats["curve"]],
        "sittings": stats["sittings"],
        "plateau": {"reached": bool(stats["at_plateau"]), "epochs": round(stats["epochs_completed"], 2),
                    "rule": f"stopped when, for validation BLEU-4 and for validation attention correctness "
                            f"both, the best of the last {PLATEAU_WINDOW} epochs beats the best before them by "
                            f"less than {PLATEAU_GAIN} (cap: {args.epochs} epochs); weights of the last epoch"},
        "test": {"decoding": "greedy", "scenes": args.test_scenes, "bleu_signature": metrics["bleu_signature"],
                 "noun_tokens": metrics["noun_tokens"],
                 "attention_correctness_uniform_reference": round(metrics["attention_correctness_uniform_reference"], 4),
                 "mean_beta_teacher_forced": round(metrics["mean_beta"], 4),
                 "attention_correctness_definition": ATTENTION_CORRECTNESS,
                 "examples": metrics["examples"]},
        "val": {"bleu4": round(val_metrics["bleu4"], 4), "exact_match": round(val_metrics["exact_match"], 4),
                "attention_correctness": round(val_metrics["attention_correctness"], 4),
                "uniform": round(val_metrics["attention_correctness_uniform_reference"], 4)},
        "weights": weights_path.name,
    }
    card_path = args.out / f"{name}.json"
    write_card(card, card_path)
    m = card["metrics"]
    print(f"{name} test ({args.test_scenes} scenes, greedy): BLEU-4 {m['bleu4']:.4f}, exact match "
          f"{m['exact_match']:.4f}, attention correctness {m['attention_correctness']:.4f} (uniform reference "
          f"{card['test']['attention_correctness_uniform_reference']:.4f}), mean beta {card['test']['mean_beta_teacher_forced']:.3f}; "
          f"training {card['training_time_s']} s")
    print(f"wrote {weights_path} and {card_path}")
    return 0
