"""Image lab, classifiers: ``python -m train spatial --arch <arch>``.

Trains one SpatialClassifier on Fashion-MNIST scenes (corpora.fashion), then measures
it on the test scenes and writes

    assets/spatial_<arch>.safetensors   weights (fp16)
    assets/spatial_<arch>.json          model card: data, split, parameters, seed,
                                        device, training time, test accuracy,
                                        pointing game, query independence (NL/DNL)

Seeded (init and batch order), tqdm progress, CUDA when present, resumable: a
checkpoint is written to checkpoints/ after every epoch and ``--resume`` continues
from it (training time adds up across runs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.classifiers import ARCHS, SpatialClassifier
from corpora.fashion import CANVAS, CLASSES, DATA_DIR, build_split
from analysis.localisation import affinity_mass, localisation_scores, pointing_hits, query_independence
from analysis.paired_tests import across_seeds, mcnemar
from models.cards import across_seeds_text
from models.spatial_cards import (FEATURE_ENERGY_MAP, PLATEAU_GAIN, against_baseline_text, attention_maps,
                                  localisation_text, plateau_seeds, query_independence_text)
from models.weights import read_card
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint, save_weights
from train.options import add_run_options, start_run
from train.sittings import Sittings, command_line



def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train spatial", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, help="which classifier to train (required unless --refresh-cards)")
    p.add_argument("--report", action="store_true",
                   help="print the cards' numbers (mean ± sd over their seeds, beside each chance level) as a table")
    p.add_argument("--refresh-cards", action="store_true",
                   help="only re-derive descriptive card fields and the CBAM check from existing cards")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=16, help="stem channels; stages use 2x and 4x")
    p.add_argument("--train-scenes", type=int, default=20000)
    p.add_argument("--val-scenes", type=int, default=1000,
                   help="train-split scenes after the training ones, scored after every epoch (the curve)")
    p.add_argument("--test-scenes", type=int, default=4000)
    p.add_argument("--probe-scenes", type=int, default=1000,
                   help="test scenes used for pointing game and query independence")
    add_run_options(p, "continue from checkpoints/<name>.pt", DATA_DIR, scene_seed=True)
    return p.parse_args(argv)


def batches(n: int, batch: int, rng: np.random.Generator | None = None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch):
        yield order[start : start + batch]


# oneDNN in torch 2.13.0+cpu corrupts memory (segfault or "double free") in the weight gradient
# of a channels-last 1x1 convolution with stride 2 and fewer than 8 input channels, on CPUs
# without AVX-512 (seen on AMD EPYC): a model with such a layer (--width below 8) trains in the
# default layout instead. Forward passes and wider layers are not affected.
CHANNELS_LAST_MIN_CHANNELS = 8


def memory_format_for(model: torch.nn.Module) -> torch.memory_format:
    """channels-last, unless the model has a strided 1x1 convolution narrower than oneDNN handles."""
    narrow = any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) and max(m.stride) > 1
                 and m.in_channels < CHANNELS_LAST_MIN_CHANNELS for m in model.modules())
    return torch.contiguous_format if narrow else torch.channels_last


def as_input(images: np.ndarray, device, memory_format=torch.channels_last) -> torch.Tensor:
    """uint8 (B, 64, 64) -> float (B, 1, 64, 64) in [0, 1] on ``device``, channels-last by default."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).float().div_(255.0)[:, None]
    return x.contiguous(memory_format=memory_format)


def fit(model, images, labels, *, epochs, batch, lr, seed, device, checkpoint: Path | None = None,
        resume: bool = False, progress: bool = True, val: tuple[np.ndarray, np.ndarray] | None = None,
        command: str = "train.spatial.fit") -> dict:
    """Train in place; returns {"epochs_completed", "elapsed_s", "last_train_loss",
    "last_train_accuracy", "images_per_s", "curve", "sittings"}: one curve point per epoch (train
    loss and accuracy, and the accuracy on ``val`` = (images, labels) when given), and each
    sitting (``command``, steps from-to, device, minutes) kept in the checkpoint across resumes.

    Batch order of epoch e is ``default_rng([seed, e])``: a resumed run sees the same
    batches as an uninterrupted one.
    """
    # channels-last lets oneDNN's convolutions skip layout reorders: 1.2x (non-local) to
    # 1.6x (baseline) more images per second on one CPU thread (bench/spatial_training.py).
    layout = memory_format_for(model)
    model.to(device, memory_format=layout)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = -(-len(images) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.2)
    start_epoch, elapsed, curve, this_run_s = 0, 0.0, [], 0.0
    # the one-cycle schedule is laid out for these epochs: a checkpoint of another layout
    # (say 5 epochs, resumed with --epochs 10) would step past its end, so it is not resumed
    schedule = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "lr": lr}
    state = (restore_checkpoint(checkpoint, device, expect={"schedule": schedule}, model=model, opt=opt, sched=sched)
             if resume else None)
    if state is not None:
        start_epoch, elapsed = int(state["epoch"]), float(state["elapsed"])
        curve = list(state.get("curve", []))
        print(f"resumed from {checkpoint} after epoch {start_epoch} ({elapsed:.0f} s so far)")
    sittings = Sittings(state.get("sittings") if state else None, command, start_epoch * steps_per_epoch, device,
                        new=start_epoch < epochs)
    loss_avg = acc_avg = float("nan")
    for epoch in range(start_epoch, epochs):
        model.train()
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, epoch])
        bar = tqdm(list(batches(len(images), batch, rng)), desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=True, file=sys.stdout, mininterval=2.0)
        total = correct = 0
        loss_sum = 0.0
        for idx in bar:
            x = as_input(images[idx], device, layout)
            y = torch.from_numpy(labels[idx]).to(device)
            logits, _records = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += len(idx)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += loss.detach().item() * len(idx)
            bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        epoch_s = time.perf_counter() - t0
        this_run_s += epoch_s
        elapsed += epoch_s
        loss_avg, acc_avg = loss_sum / total, correct / total
        point = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch,
                 "train_loss": round(loss_avg, 4), "train_accuracy": round(acc_avg, 4)}
        if val is not None:
            point["val_accuracy"] = round(accuracy(model, *val, device=device), 4)
            model.train()
        curve.append(point)
        step = (epoch + 1) * steps_per_epoch
        save_checkpoint(checkpoint, {"model": model, "opt": opt, "sched": sched},
                        epoch=epoch + 1, elapsed=elapsed, curve=curve, schedule=schedule,
                        sittings=sittings.end(step) if epoch + 1 == epochs else sittings.at_checkpoint(step))
    return {"epochs_completed": epochs, "elapsed_s": elapsed,
            "last_train_loss": loss_avg, "last_train_accuracy": acc_avg,
            "images_per_s": len(images) * (epochs - start_epoch) / max(this_run_s, 1e-9),
            "curve": curve, "sittings": sittings.end(epochs * steps_per_epoch)}


def accuracy(model, images, labels, *, device, batch: int = 250) -> float:
    """Share of ``images`` whose arg-max class is the label (model left in eval mode): the
    test accuracy of ``evaluate`` with no probe scenes, so no attention map is scored."""
    return evaluate(model, images, labels, None, device=device, probe=0, batch=batch)["test_accuracy"]


@torch.inference_mode()
def evaluate(model, images, labels, boxes, *, device, probe: int = 1000, batch: int = 250) -> dict:
    """Test accuracy (and each scene's correctness) on all scenes; on the first ``probe``:
    the pointing game of each map as it is, its sign-aware pointing game and energy in box
    beside their chance levels (analysis/localisation.py), and query independence."""
    # the layout fit trained in: converting parameters here, in inference mode, would make
    # them inference tensors that a later training step cannot use
    layout = memory_format_for(model)
    model.eval().to(device, memory_format=layout)
    correct = []
    maps: dict[str, list[np.ndarray]] = {}
    qi: dict[str, list[np.ndarray]] = {}

    def add(store, key, value):
        store.setdefault(key, []).append(value)

    for idx in batches(len(images), batch):
        x = as_input(images[idx], device, layout)
        logits, records = model(x)
        correct.append(logits.argmax(1).cpu().numpy() == labels[idx])
        keep = idx[idx < probe]
        if keep.size == 0:
            continue
        k = keep.size  # batches run in order, so the probe scenes are each batch's head
        # Reference with no attention at all: where stage-1 features are strongest.
        feats, _ = model.features(x[:k])
        add(maps, FEATURE_ENERGY_MAP, feats.pow(2).mean(1).cpu().numpy())  # (k, 16, 16)
        pair_mass = None
        unary = None
        for r in records:
            w = r.numpy()[:k]
            if r.kind == "spatial":
                add(maps, f"{r.name} (mask)", w)
            elif r.kind in ("affinity", "pairwise"):
                mass = affinity_mass(w, r.grid)                   # (k, h, w)
                add(maps, f"{r.name} (mass over queries)", mass)
                add(qi, r.name, query_independence(w))
                if r.kind == "pairwise":
                    pair_mass = mass
            elif r.kind == "unary":
                unary = w
                add(maps, f"{r.name} (unary map)", w)
        if pair_mass is not None and unary is not None:
            add(maps, "dnl.combined (pairwise mass + unary)", pair_mass + unary)
    correct = np.concatenate(correct)
    n_probe = int(min(probe, len(images)))
    joined = {k: np.concatenate(v) for k, v in maps.items()}
    return {
        "test_accuracy": float(correct.mean()),
        "test_correct": correct,
        "pointing_game": {k: float(pointing_hits(m, boxes[:n_probe], CANVAS).mean()) for k, m in joined.items()},
        "localisation": {k: localisation_scores(m, boxes[:n_probe], CANVAS) for k, m in joined.items()},
        "query_independence": {k: float(np.concatenate(v).mean()) for k, v in qi.items()},
        "probe_scenes": n_probe,
    }


@torch.inference_mode()
def query_independence_of(model, images, *, device, probe: int = 1000, batch: int = 250) -> dict[str, float]:
    """Query independence of each affinity record on the first ``probe`` scenes (for a model
    as initialised: the level that maps from random weights reach)."""
    model.eval().to(device)
    qi: dict[str, list[np.ndarray]] = {}
    for idx in batches(min(probe, len(images)), batch):
        _, records = model(as_input(images[idx], device))
        for r in records:
            if r.kind in ("affinity", "pairwise"):
                qi.setdefault(r.name, []).append(query_independence(r.numpy()))
    return {k: float(np.concatenate(v).mean()) for k, v in qi.items()}


def pack_bits(flags: np.ndarray) -> str:
    """A boolean vector as hex of its packed bits (a card holds every test scene's correctness)."""
    return np.packbits(np.asarray(flags, dtype=bool)).tobytes().hex()


def unpack_bits(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))[:n].astype(bool)


POINTING_DEFINITION = (
    "Share of probe test scenes where the peak cell of the map (its centre scaled to the "
    "64x64 canvas) lies inside the target's ground-truth box. For NL/DNL affinities the "
    "map is the mass each key receives averaged over all queries (mean_i A_ij). "
    "'feature_energy' is a reference with no attention: mean squared stage-1 activation.")
LOCALISATION_DEFINITION = (
    "Per map, on the probe test scenes: the pointing game and the energy in box (share of the "
    "map's mass inside the target's box) of the sign-aware map |m - mean(m)|, each beside its "
    "chance levels: a uniform map, a centre prior (Gaussian, sigma 16 px) and the same map scored "
    "against the previous scene's box (analysis/localisation.py).")


def _rounded(tree):
    return {k: _rounded(v) for k, v in tree.items()} if isinstance(tree, dict) else round(float(tree), 4)


CURVE_DEFINITION = (
    "One point per epoch: mean training loss and accuracy over the epoch's batches, and the accuracy "
    "on the validation scenes (train-split scenes val_scenes after the training ones) after it.")

def plateau(curve: list[dict]) -> dict:
    """Whether validation accuracy stopped rising: the last epoch gains less than half a point
    over the best epoch before it. The one-cycle schedule anneals the rate to ~0 at the end, so
    a flat end is partly the schedule's doing; the curve shows how early accuracy flattened."""
    vals = [p["val_accuracy"] for p in curve if "val_accuracy" in p]
    if len(vals) < 2:
        return {"reached": None, "rule": "needs two validation points"}
    gain = vals[-1] - max(vals[:-1])
    return {"reached": bool(gain < PLATEAU_GAIN), "last_epoch_gain": round(gain, 4),
            "rule": f"validation accuracy of the last epoch less than {PLATEAU_GAIN} above the best epoch before it"}


QI_DEFINITION = (
    "Mean cosine similarity between the attention maps (affinity rows) of two different "
    "query positions, averaged over all pairs i != k of the 256 positions and over the probe "
    "scenes: 1 = every query attends to the same places (query-independent), 0 = unrelated "
    "maps. Rows of nl_dot can be negative, so its score can go below 0.")


ARCH_TEXT = {
    "baseline": "no attention",
    "nl_gaussian": "Non-local block, Gaussian pairwise (Wang et al. 2018) after stage 1 (16x16)",
    "nl_embedded": "Non-local block, embedded Gaussian pairwise (Wang et al. 2018) after stage 1 (16x16)",
    "nl_dot": "Non-local block, dot-product pairwise, 1/N (Wang et al. 2018) after stage 1 (16x16)",
    "nl_concat": "Non-local block, concatenation pairwise, 1/N (Wang et al. 2018) after stage 1 (16x16)",
    "dnl": "Disentangled Non-local block (Yin et al. 2020) after stage 1 (16x16)",
    "cbam_channel": "CBAM channel attention only (Woo et al. 2018) in both residual blocks",
    "cbam_full": "CBAM channel + spatial attention (Woo et al. 2018) in both residual blocks",
}


def describe(card: dict) -> dict:
    """Fields the home page's model zoo reads (name, task, architecture, source, page,
    metrics); descriptive only: every number is copied from the card the run wrote."""
    arch = card["arch"]
    best_pg = attention_maps(card.get("pointing_game", {}).get("accuracy", {}))
    metrics = {"test accuracy": card.get("test_accuracy")}
    if best_pg:
        metrics["pointing game (best map)"] = max(best_pg.values())
    qi = card.get("query_independence", {}).get("score", {})
    if qi:
        metrics["query independence"] = next(iter(qi.values()))
    return {
        "task": "Fashion-MNIST scene classification (10 classes, 64x64, target among clutter)",
        "architecture": f"small ResNet (stem, 2 residual stages, {card.get('parameters')} parameters); "
                        + ARCH_TEXT[arch],
        "source": "trained here: " + card.get("command", "python -m train spatial"),
        "page": "Image lab",
        "trained_here": True,
        "metrics": metrics,
    }


def report(out_dir: Path) -> str:
    """The image lab's cards as a markdown table: test accuracy, the paired difference to the
    baseline, the best map's sign-aware pointing game and energy in box beside their chance
    levels, query independence beside random weights, and how many seeds met the plateau rule.
    The cells are the page's (models.spatial_cards), so the two cannot disagree."""
    rows = ["| arch | seeds | test accuracy | minus baseline (paired by seed) | sign-aware pointing game "
            "[best map] | energy in box [best map] | query independence | "
            f"plateau (last-epoch gain < {PLATEAU_GAIN}) |", "|" + "---|" * 8]
    lines = []
    for arch in ARCHS:
        card = read_card(out_dir / f"spatial_{arch}.json")
        if not card:
            continue
        seeds = card.get("seeds") or [card.get("seed")]
        cells = [across_seeds_text(card, "test_accuracy", card.get("test_accuracy")), against_baseline_text(card),
                 localisation_text(card, "pointing_game", with_name=True),
                 localisation_text(card, "energy_in_box", with_name=True), query_independence_text(card)]
        met, of = plateau_seeds(card)
        rows.append(f"| {arch} | {len(seeds)} | " + " | ".join(c or "—" for c in cells) + f" | {met} of {of} seeds |")
        statement = card.get("comparison", {}).get("cbam_ordering", {}).get("statement")
        if statement and statement not in lines:
            lines.append(statement)
    return "\n".join(rows + [""] + lines)


def refresh_cards(out_dir: Path) -> None:
    """Re-derive the descriptive fields and the CBAM check of existing cards (no retraining)."""
    for path in sorted(out_dir.glob("spatial_*.json")):
        card = read_card(path)
        if card and card.get("arch") in ARCH_TEXT:
            write_card({**card, **describe(card)}, path)
            print(f"refreshed {path}")
    text = acceptance(out_dir)
    if text:
        print(text)


def acceptance(out_dir: Path) -> str | None:
    """Write the CBAM check (full >= channel-only >= baseline) into the three cards."""
    names = {a: out_dir / f"spatial_{a}.json" for a in ("baseline", "cbam_channel", "cbam_full")}
    cards = {a: read_card(p) for a, p in names.items()}
    if any(c is None for c in cards.values()):
        return None
    acc = {a: float(c["test_accuracy"]) for a, c in cards.items()}
    n = int(cards["baseline"]["data"]["test_scenes"])
    se = float(np.sqrt(0.25 / n))  # worst-case binomial standard error of one accuracy
    holds = acc["cbam_full"] >= acc["cbam_channel"] >= acc["baseline"]
    text = (f"CBAM channel+spatial {acc['cbam_full']:.4f}, channel-only {acc['cbam_channel']:.4f}, "
            f"baseline {acc['baseline']:.4f} test accuracy on {n} scenes: the ordering "
            f"full >= channel-only >= baseline {'HOLDS' if holds else 'does NOT hold'} on this data "
            f"(one accuracy's standard error is about {se:.4f}, so gaps below ~{2 * se:.3f} are noise).")
    for a, c in cards.items():
        c["acceptance_cbam_ordering"] = {"holds": holds, "accuracies": acc, "statement": text}
        write_card(c, names[a])
    return text


def compare_arms(cards_by_arm: dict[str, dict[int, dict]]) -> dict[str, dict]:
    """For ``python -m train experiment spatial``: every arm against the baseline on the same
    test scenes, seed by seed (McNemar's exact test on each scene's correctness) and across
    seeds (paired by seed), and CBAM's ordering claim (channel + spatial >= channel only >=
    baseline) seed by seed. {arm: {"against_baseline": ..., "cbam_ordering": ...}}."""
    out: dict[str, dict] = {arm: {} for arm in cards_by_arm}
    base = cards_by_arm.get("baseline")

    def acc(card):
        return float(card["test_accuracy"])

    def correct(card):
        tc = card.get("test_correct")
        return unpack_bits(tc["bits"], int(tc["scenes"])) if tc else None

    for arm, cards in cards_by_arm.items():
        if base is None or arm == "baseline":
            continue
        seeds = sorted(set(cards) & set(base))
        if not seeds:
            continue
        per_seed = {}
        for s in seeds:
            a, b = correct(cards[s]), correct(base[s])
            if a is not None and b is not None and a.shape == b.shape:
                per_seed[str(s)] = mcnemar(a, b)
        out[arm]["against_baseline"] = {
            "seeds": seeds, "mcnemar_per_seed": per_seed,
            "across_seeds": across_seeds([acc(cards[s]) for s in seeds], [acc(base[s]) for s in seeds]),
            "definition": "A = this arm, B = the baseline of the same seed, on the same test scenes: McNemar's "
                          "exact test per seed (only_a: scenes only this arm classifies right), and the accuracy "
                          "differences across seeds with a paired t-test (analysis/paired_tests.py)"}
    trio = ("baseline", "cbam_channel", "cbam_full")
    if all(a in cards_by_arm for a in trio):
        seeds = sorted(set.intersection(*(set(cards_by_arm[a]) for a in trio)))
        holds = {str(s): acc(cards_by_arm["cbam_full"][s]) >= acc(cards_by_arm["cbam_channel"][s])
                 >= acc(cards_by_arm["baseline"][s]) for s in seeds}
        means = {a: float(np.mean([acc(cards_by_arm[a][s]) for s in seeds])) for a in trio}
        # One seed has no spread: its sd is None and the statement says "1 seed", never "± 0".
        sds = {a: float(np.std([acc(cards_by_arm[a][s]) for s in seeds], ddof=1)) if len(seeds) > 1 else None
               for a in trio}
        n = sum(holds.values())

        def mean_sd(a: str) -> str:
            return f"{means[a]:.4f}" + (f" ± {sds[a]:.4f}" if sds[a] is not None else "")

        over = "over the seeds" if len(seeds) > 1 else "on the one seed"
        statement = (f"CBAM's ordering (channel + spatial >= channel only >= no attention, by test accuracy) holds "
                     f"on {n} of {len(seeds)} seed{'s' if len(seeds) != 1 else ''}; accuracy {over}: full "
                     f"{mean_sd('cbam_full')}, channel only {mean_sd('cbam_channel')}, baseline {mean_sd('baseline')}.")
        for a in trio:
            out[a]["cbam_ordering"] = {"holds_per_seed": holds, "holds_on": n, "seeds": seeds,
                                       "mean": means, "sd": sds, "statement": statement}
    return {a: v for a, v in out.items() if v}


def main(argv) -> int:
    args = parse_args(argv)
    if args.report:
        print(report(args.out))
        return 0
    if args.refresh_cards:
        refresh_cards(args.out)
        return 0
    if args.arch is None:
        print("--arch is required (one of " + ", ".join(ARCHS) + ")", file=sys.stderr)
        return 2
    name = f"spatial_{args.arch}"
    device = start_run(args, name)

    t0 = time.perf_counter()
    cache = args.checkpoints / "scenes"
    # Validation scenes follow the training scenes in the train split: new compositions
    # (other clutter, places and scales) of Fashion-MNIST train items, never the test images.
    pool = build_split("train", args.train_scenes + args.val_scenes, args.scene_seed, args.data_dir, cache)
    train = {k: v[: args.train_scenes] for k, v in pool.items()}
    val = (pool["images"][args.train_scenes:], pool["labels"][args.train_scenes:])
    test = build_split("test", args.test_scenes, args.scene_seed, args.data_dir, cache)
    print(f"scenes ready in {time.perf_counter() - t0:.1f} s "
          f"({args.train_scenes} train, {args.val_scenes} validation, {args.test_scenes} test)")

    model = SpatialClassifier(args.arch, width=args.width)
    qi_init = query_independence_of(model, test["images"], device=device, probe=args.probe_scenes)
    stats = fit(model, train["images"], train["labels"], epochs=args.epochs, batch=args.batch,
                lr=args.lr, seed=args.seed, device=device,
                checkpoint=args.checkpoints / f"{name}.pt", resume=args.resume,
                val=val if args.val_scenes else None, command=command_line("python -m train spatial", argv))
    t_eval = time.perf_counter()
    metrics = evaluate(model, test["images"], test["labels"], test["boxes"], device=device,
                       probe=args.probe_scenes)
    eval_s = time.perf_counter() - t_eval

    weights_path = args.out / f"{name}.safetensors"
    save_weights(model, weights_path)
    card = {
        "name": name,
        "lab": "spatial",
        "arch": args.arch,
        "command": "python -m train spatial " + " ".join(argv),
        "data": {
            "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)",
            "path": str(args.data_dir),
            "scenes": "64x64 canvas, one whole target item (scale 0.75-1.3 of 28 px) at a random "
                      "place among 3-6 crops (8-14 px) of items of other classes; label = target class",
            "train_scenes": args.train_scenes,
            "val_scenes": args.val_scenes,
            "test_scenes": args.test_scenes,
            "split": "train scenes 0..n-1 from Fashion-MNIST train images, test scenes 0..n-1 from "
                     "Fashion-MNIST test images; scene i = default_rng([scene_seed, split, i])",
            "scene_seed": args.scene_seed,
            "classes": list(CLASSES),
        },
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "hyperparameters": {"epochs": args.epochs, "batch": args.batch, "lr": args.lr,
                            "optimizer": "AdamW, weight decay 5e-4, one-cycle schedule",
                            "width": args.width},
        **run_facts(args, device, stats["elapsed_s"]),
        "evaluation_time_s": round(eval_s, 1),
        "last_epoch_train_accuracy": round(stats["last_train_accuracy"], 4),
        "images_per_s": round(stats["images_per_s"], 1),
        "curve": {"definition": CURVE_DEFINITION, "points": stats["curve"]},
        "plateau": plateau(stats["curve"]),
        "sittings": stats["sittings"],
        "test_accuracy": round(metrics["test_accuracy"], 4),
        "test_correct": {"definition": "each test scene's correctness (scene 0 first) as the hex of its packed "
                                       "bits (numpy.packbits); train.spatial.unpack_bits reads it",
                         "scenes": int(len(metrics["test_correct"])), "bits": pack_bits(metrics["test_correct"])},
        "localisation": {"definition": LOCALISATION_DEFINITION, "probe_scenes": metrics["probe_scenes"],
                         "scores": {k: _rounded(v) for k, v in metrics["localisation"].items()}},
        "pointing_game": {"definition": POINTING_DEFINITION,
                          "probe_scenes": metrics["probe_scenes"],
                          "accuracy": {k: round(v, 4) for k, v in metrics["pointing_game"].items()}},
        "weights": weights_path.name,
    }
    if metrics["query_independence"]:
        card["query_independence"] = {"definition": QI_DEFINITION,
                                      "probe_scenes": metrics["probe_scenes"],
                                      "score": {k: round(v, 4) for k, v in metrics["query_independence"].items()},
                                      "chance": {"random_weights": {k: round(v, 4) for k, v in qi_init.items()},
                                                 "definition": "the same score for the same architecture as "
                                                               "initialised with this seed, before training"}}
    card.update(describe(card))
    card_path = args.out / f"{name}.json"
    write_card(card, card_path)
    print(f"{name}: test accuracy {card['test_accuracy']:.4f}; training {card['training_time_s']} s")
    for k, v in card["pointing_game"]["accuracy"].items():
        print(f"  pointing game {k}: {v:.4f}")
    for k, v in card["localisation"]["scores"].items():
        pg, en = v["pointing_game"], v["energy_in_box"]
        print(f"  sign-aware {k}: pointing {pg['map']:.4f} (uniform {pg['chance']['uniform']:.4f}, centre "
              f"{pg['chance']['centre_prior']:.4f}, shuffled {pg['chance']['shuffled_box']:.4f}); energy in box "
              f"{en['map']:.4f} (uniform {en['chance']['uniform']:.4f})")
    qi = card.get("query_independence", {})
    for k, v in qi.get("score", {}).items():
        print(f"  query independence {k}: {v:.4f} (random weights {qi['chance']['random_weights'].get(k, float('nan')):.4f})")
    print(f"wrote {weights_path} and {card_path}")
    text = acceptance(args.out)
    if text:
        print(text)
    return 0
