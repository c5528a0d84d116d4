"""How good a GAN's samples are, judged by the project's own Fashion-MNIST item classifier
(models.classifiers.ItemClassifier, trained by ``python -m train item-classifier``).

No Inception network can be had offline here, so the two standard scores run on this
classifier through torchmetrics' custom-feature hooks:

    Fréchet distance   FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))
                       over the classifier's 128-d penultimate features
                       (torchmetrics FrechetInceptionDistance(feature=module))
    Inception Score    IS = exp( E_x KL( p(y|x) || p(y) ) ), 10 splits
                       over the classifier's softmax (torchmetrics InceptionScore(feature=module))

Both numbers are on this classifier's scale, not comparable with Inception-v3 values in
papers. Beside them: the floor that real images reach (two halves of the real test set
against each other for FID; the real test images' own IS), and the class histogram of the
samples as the classifier labels them (a GAN that covers the data has every class near
10 %; a collapsed one piles into a few).

    python -m train item-classifier     trains the judge: assets/fashion_items.{safetensors,json}
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from corpora.fashion import CLASSES, DATA_DIR, load_split
from models.classifiers import ItemClassifier
from models.weights import ASSETS, load_weights, read_card
from train.cards import run_facts, write_card
from train.options import add_run_options, start_run

JUDGE_NAME = "fashion_items"


def as_items(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1], the scale the GAN produces."""
    # a copy: the cached split is read-only
    return torch.from_numpy(np.array(images)).float().div_(127.5).sub_(1.0)[:, None]


class _Features(nn.Module):
    """The judge's penultimate layer as torchmetrics' FID extractor (it reads ``num_features``)."""

    def __init__(self, judge: ItemClassifier):
        super().__init__()
        self.judge = judge
        self.num_features = judge.num_features

    def forward(self, x):
        return self.judge.features(x)


class _Logits(nn.Module):
    def __init__(self, judge: ItemClassifier):
        super().__init__()
        self.judge = judge

    def forward(self, x):
        return self.judge(x)


def load_judge(assets=ASSETS) -> ItemClassifier:
    path = assets / f"{JUDGE_NAME}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train it with `python -m train item-classifier`")
    return load_weights(ItemClassifier(), path)


@torch.inference_mode()
def _in_batches(fn, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([fn(images[i:i + batch]) for i in range(0, len(images), batch)])


def class_histogram(labels: np.ndarray) -> list[int]:
    """Counts per class (10 of them, empty classes included)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(CLASSES)).tolist()


@torch.inference_mode()
def frechet_distance(judge: ItemClassifier, real: torch.Tensor, fake: torch.Tensor, batch: int = 1000) -> float:
    """torchmetrics' FID of ``fake`` against ``real`` (N, 1, 28, 28) in [-1, 1] on the judge's features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=_Features(judge.eval()), normalize=True, input_img_size=(1, 28, 28))
    for i in range(0, max(len(real), len(fake)), batch):  # a custom extractor gets the images unchanged
        if i < len(real):
            fid.update(real[i:i + batch], real=True)
        if i < len(fake):
            fid.update(fake[i:i + batch], real=False)
    return float(fid.compute())


def inception_score(judge: ItemClassifier, images: torch.Tensor, seed: int = 0, batch: int = 1000,
                    splits: int = 10) -> tuple[float, float]:
    """torchmetrics' Inception Score (mean, sd over ``splits``) of ``images`` on the judge's logits."""
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():  # its note that it keeps every feature: 10,000 x 10 numbers here
        warnings.simplefilter("ignore", UserWarning)
        score = InceptionScore(feature=_Logits(judge.eval()), normalize=False, splits=splits)
    for i in range(0, len(images), batch):
        score.update(images[i:i + batch])
    torch.manual_seed(seed)       # IS shuffles the samples into its splits with torch's RNG
    mean, sd = score.compute()
    return float(mean), float(sd)


def fid_and_is(judge: ItemClassifier, real: torch.Tensor, fake: torch.Tensor, seed: int = 0,
               batch: int = 1000, splits: int = 10) -> dict:
    """FID of ``fake`` against ``real`` and IS of ``fake``, both (N, 1, 28, 28) in [-1, 1]."""
    is_mean, is_sd = inception_score(judge, fake, seed, batch, splits)
    return {"fid": frechet_distance(judge, real, fake, batch), "inception_score": is_mean, "inception_score_sd": is_sd}


@torch.inference_mode()
def sample(generator, n: int, seed: int, batch: int = 500, device="cpu") -> torch.Tensor:
    generator.eval()
    gen = torch.Generator().manual_seed(seed)
    out = [generator(torch.randn(min(batch, n - i), generator.z_dim, generator=gen).to(device))[0].cpu()
           for i in range(0, n, batch)]
    return torch.cat(out).clamp_(-1, 1)


def sample_quality(generator, judge: ItemClassifier, real: torch.Tensor, n: int, seed: int = 0, device="cpu") -> dict:
    """Class histogram, FID and IS of ``n`` samples against the ``real`` test images."""
    fake = sample(generator, n, seed, device=device)
    labels = _in_batches(judge, fake).argmax(1).numpy()
    hist = class_histogram(labels)
    return {"samples": n, "class_histogram": hist, "largest_class_share": max(hist) / n,
            "empty_classes": int(sum(h == 0 for h in hist)), **fid_and_is(judge, real, fake, seed)}


def real_floor(judge: ItemClassifier, real: torch.Tensor, seed: int = 0) -> dict:
    """What real images score: FID of one half of the test set against the other, the IS
    of the test set, and its class histogram (1,000 per class)."""
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    half = len(real) // 2
    a, b = real[order[:half]], real[order[half:2 * half]]
    return {"fid_real_vs_real": frechet_distance(judge, a, b), "fid_halves": [half, half],
            "inception_score_real": inception_score(judge, real, seed)[0],
            "class_histogram_real": class_histogram(_in_batches(judge, real).argmax(1).numpy())}


# --- training the judge --------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m train item-classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--floor-only", action="store_true",
                   help="only (re)compute the real-vs-real floor into the existing card")
    add_run_options(p, "(no checkpoint: a few minutes of training)", DATA_DIR)
    return p.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    device = start_run(args, "item-classifier")
    train_x, train_y = load_split("train", args.data_dir)
    test_x, test_y = load_split("test", args.data_dir)
    if args.floor_only:
        card = judge_card(args.out)
        if card is None:
            print(f"no card at {args.out / JUDGE_NAME}.json: train the judge first", file=sys.stderr)
            return 1
        card["real_floor"] = real_floor(load_judge(args.out), as_items(test_x))
        write_card(card, args.out / f"{JUDGE_NAME}.json")
        print(f"real floor: {card['real_floor']}")
        return 0
    x, y = as_items(train_x), torch.from_numpy(train_y)
    model = ItemClassifier().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * -(-len(x) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    t0 = time.perf_counter()
    curve = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        bar = tqdm(range(0, len(x), args.batch), desc=f"epoch {epoch + 1}/{args.epochs}", file=sys.stdout,
                   mininterval=2.0)
        for i in bar:
            idx = order[i:i + args.batch]
            # Small shifts so the judge does not depend on the exact centring of real items
            xb = torch.roll(x[idx], shifts=tuple(np.random.randint(-2, 3, size=2)), dims=(2, 3))
            loss = F.cross_entropy(model(xb.to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.inference_mode():
            pred = _in_batches(model, as_items(test_x).to(device)).argmax(1).cpu().numpy()
        curve.append({"epoch": epoch + 1, "test_accuracy": float((pred == test_y).mean())})
        print(f"epoch {epoch + 1}: test accuracy {curve[-1]['test_accuracy']:.4f}")
    elapsed = time.perf_counter() - t0
    from train.checkpoint import save_weights

    model.cpu()
    weights = args.out / f"{JUDGE_NAME}.safetensors"
    save_weights(model, weights)
    per_class = [float((pred[test_y == c] == c).mean()) for c in range(len(CLASSES))]
    card = {
        "name": JUDGE_NAME,
        "lab": "spatial",
        "task": "classify single 28x28 Fashion-MNIST items; the judge of the GANs' samples "
                "(class histogram, FID and IS features)",
        "command": "python -m train item-classifier " + " ".join(argv),
        "source": "trained here: python -m train item-classifier " + " ".join(argv),
        "trained_here": True,
        "page": "Image lab",
        "data": {"dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)", "train": len(x),
                 "test": len(test_x), "augmentation": "random shifts of up to 2 pixels"},
        "architecture": "conv32-pool-conv64-pool-fc128-fc10 with batch norm",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "hyperparameters": {"epochs": args.epochs, "batch": args.batch, "lr": args.lr,
                            "optimizer": "AdamW, one-cycle"},
        **run_facts(args, device, elapsed),
        "test_accuracy": curve[-1]["test_accuracy"],
        "test_accuracy_per_class": dict(zip(CLASSES, per_class)),
        "chance": {"test_accuracy": 0.1},
        "curve": curve,
        # the GAN cards' floor, once per judge (10,000 test images twice through it)
        "real_floor": real_floor(model, as_items(test_x)),
        "weights": weights.name,
    }
    write_card(card, args.out / f"{JUDGE_NAME}.json")
    print(f"wrote {weights}; test accuracy {card['test_accuracy']:.4f} (chance 0.1)")
    return 0


def judge_card(assets=ASSETS) -> dict | None:
    return read_card(assets / f"{JUDGE_NAME}.json")
