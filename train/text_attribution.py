"""Attention against attribution over held-out sentences, written into a card.

    python -m train text-attribution --model minilm  --sentences 200
    python -m train text-attribution --model smollm2 --sentences 200

Sentences: World English Bible verses of the corpus's test split (data/translation/
test.tsv, built by ``make corpus``), the first N of at most ``--max-words`` words, in
Bible order. For MiniLM the target is the cosine of a verse's mean-pooled embedding to
the next verse's; for SmolLM2 the log-probability of a verse's last token given the rest
(no chat template). Each verse goes through analysis/text_attribution.explain; the card
holds, per attribution method, Spearman's rho of raw attention (every head), the mean of
the last layer's heads and rollout, as mean and standard deviation over the verses, and
the deletion areas of each ranking beside random orders. Abnar & Zuidema (2020) report
rho 0.29 for raw attention and 0.71 for rollout against blank-out on their BERT task.

A long run (SmolLM2 with 64 integrated-gradients steps takes about an hour on two cores)
keeps every verse's explanation in checkpoints/text-attribution-MODEL.pt as it goes;
``--resume`` continues after the last verse kept, when the settings are the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from analysis import text_attribution as ta
from corpora.bible import DATA
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint
from train.options import add_run_options, start_run

MODELS = ("minilm", "smollm2")


def held_out_verses(n: int, max_words: int, texts: Path | None = None) -> list[str]:
    """The first n + 1 texts of at most max_words words: test-split verses, or the lines of
    ``texts`` (the first tab-separated column of each)."""
    path = texts or DATA / "test.tsv"
    if not path.exists():
        raise SystemExit(f"{path} is missing: " + ("give an existing file" if texts else
                                                   "build the corpus first with `make corpus`"))
    verses = [line.split("\t")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    verses = [v for v in verses if v and len(v.split()) <= max_words]
    if len(verses) < n + 1:
        raise SystemExit(f"only {len(verses)} test verses have at most {max_words} words; ask for fewer")
    return verses[:n + 1]  # one more: MiniLM's second text for the last verse


def _load(name: str, device):
    if name == "minilm":
        from models.pretrained.hf import default_model_dir, load_transformer

        loaded = load_transformer(default_model_dir(), device)
        return loaded.model, loaded.tokenizer, "all-MiniLM-L6-v2 (encoder, eager attention)"
    from models.pretrained.llm_local import load_causal_lm, smollm2_gguf

    loaded = load_causal_lm(smollm2_gguf(), device)
    return loaded.model, loaded.tokenizer, "SmolLM2-135M-Instruct (decoder, SDPA with q/k capture)"


def _target(name: str, model, tok, text: str, other: str) -> ta.TextTarget:
    special, baseline = ta.special_ids(tok), ta.baseline_id(tok)
    ids = tok(text, return_tensors="pt")["input_ids"][0]
    if name == "minilm":
        other_ids = tok(other, return_tensors="pt")["input_ids"][0]
        return ta.encoder_target(model, ids, other_ids, baseline, special)
    return ta.decoder_target(model, ids, len(ids) - 2, baseline, special)


def _mean_sd(values) -> dict:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": round(float(v.mean()), 4), "sd": round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4),
            "n": int(len(v))}


def summarise(explanations: list[ta.TextExplanation]) -> dict:
    out: dict = {"agreement": {}, "deletion_drop": {}, "deletion_curve_mean": {}}
    for method in ta.ATTRIBUTIONS:
        raw = np.stack([e.agreement[method]["raw"] for e in explanations])          # (N, L, H)
        grid = np.nanmean(raw, axis=0)
        best = np.unravel_index(np.nanargmax(grid), grid.shape)
        out["agreement"][method] = {
            "raw_per_head_mean": np.round(grid, 4).tolist(),
            "raw_all_heads": _mean_sd(np.nanmean(raw.reshape(len(raw), -1), axis=1)),
            "raw_best_head": {"layer": int(best[0]), "head": int(best[1]),
                              **_mean_sd(raw[:, best[0], best[1]])},
            "mean_of_heads_last_layer": _mean_sd([e.agreement[method]["mean"] for e in explanations]),
            "rollout": _mean_sd([e.agreement[method]["rollout"] for e in explanations]),
        }
    from scipy.stats import wilcoxon

    chance = np.array([ta.deletion_drop(e.chance) for e in explanations])
    for name in explanations[0].deletion:
        drops = np.array([ta.deletion_drop(e.deletion[name]) for e in explanations])
        # paired over the same verses: does this ranking make f fall more than random orders?
        ok = np.isfinite(drops) & np.isfinite(chance)
        try:
            p_value = float(f"{wilcoxon(drops[ok], chance[ok], alternative='greater').pvalue:.3g}")
        except ValueError:  # every difference 0, or too few verses
            p_value = None
        out["deletion_drop"][name] = {**_mean_sd(drops), "minus_chance": _mean_sd(drops - chance),
                                      "wilcoxon_p_greater_than_chance": p_value}
    out["deletion_drop"]["chance (random order)"] = _mean_sd(chance)
    # curves of different lengths (short verses) are compared on the drop f(x) - f after k
    k = min(len(e.chance) for e in explanations)
    for name in explanations[0].deletion:
        out["deletion_curve_mean"][name] = np.round(np.mean(
            [e.deletion[name][:k] - e.deletion[name][0] for e in explanations], axis=0), 4).tolist()
    out["deletion_curve_mean"]["chance (random order)"] = np.round(np.mean(
        [e.chance[:k] - e.chance[0] for e in explanations], axis=0), 4).tolist()
    out["ig_convergence_delta"] = {"median": round(float(np.median([e.ig_delta for e in explanations])), 6),
                                   "max": round(float(max(e.ig_delta for e in explanations)), 6)}
    return out


def zoo_fields(card: dict) -> dict:
    """What the home page's model zoo reads: page, architecture, source and a one-line quality."""
    a = card["agreement"]["blank_out"]
    g = card["agreement"]["integrated_gradients"]
    f = lambda s: "—" if s["mean"] is None else f"{s['mean']:+.2f}"  # noqa: E731
    return {"page": "Transformer (Attribution tab)", "architecture": card["model"], "trained_here": False,
            "source": "measured here on the pretrained model by the command in made_by",
            "quality": (f"Spearman over {card['sentences']} verses, vs blank-out: raw heads {f(a['raw_all_heads'])}, "
                        f"heads' mean {f(a['mean_of_heads_last_layer'])}, rollout {f(a['rollout'])}; vs integrated "
                        f"gradients: {f(g['raw_all_heads'])}, {f(g['mean_of_heads_last_layer'])}, {f(g['rollout'])} "
                        "(chance 0)")}


def _write(args, argv, device, described, explanations, elapsed):
    summary = summarise(explanations)
    card = {
        "name": f"text-attribution-{args.model}",
        "task": "attention against attribution on text (issue 13, item 3)",
        "model": described,
        "target": ("cos(mean embedding of a verse, mean embedding of the next verse)"
                                       if args.model == "minilm" else
                                       "log p(last token of the verse | the tokens before it), no chat template"),
        "data": (f"the first {len(explanations)} World English Bible verses of the test split with at most "
                 f"{args.max_words} words (data/translation/test.tsv, make corpus)" if not args.texts else
                 f"the first {len(explanations)} lines of {args.texts} with at most {args.max_words} words"),
        "sentences": len(explanations),
        "finished": len(explanations) == args.sentences,  # False: a partial card written by --save-every
        "methods": {
            "attributions": "Captum LayerIntegratedGradients over the input embeddings "
                            f"({args.ig_steps} steps, baseline: every non-special token replaced by the "
                            "baseline token), LayerGradientXActivation (input x gradient), and blank-out "
                            "(f(x) - f(x with one token replaced by the baseline token))",
            "attention": "the predicting query's row (MiniLM: mean over query rows, i.e. attention received) "
                         "per head, the mean of the last layer's heads, and rollout through every layer "
                         "(Abnar & Zuidema 2020, residual 0.5)",
            "agreement": "Spearman rho over the non-special positions, mean and sd over verses "
                         "(a constant ranking has no rho and is left out; n says how many remain)",
            "deletion": f"f after replacing the top-k tokens by the baseline token, k = 0..{args.steps}; "
                        "drop = mean over k = 1..K of f_0 - f_k (higher = the ranking finds what f depends on "
                        f"sooner); chance = the mean curve of {args.random_orders} random orders per verse; "
                        "minus_chance and a one-sided Wilcoxon signed-rank test pair each verse with its own "
                        "random orders",
        },
        "paper": {"abnar_zuidema_2020_spearman_vs_blank_out": {"raw_attention": 0.29, "rollout": 0.71},
                  "note": "their setting: BERT on a subject-verb agreement task; ours: the target above"},
        **summary,
        **run_facts(args, device, elapsed),
        "made_by": "python -m train text-attribution " + " ".join(argv),
    }
    card.update(zoo_fields(card))
    path = args.out / f"text-attribution-{args.model}.json"
    write_card(card, path)
    return summary, path


def _to_tensors(value):
    """numpy arrays as tensors, recursively: a checkpoint loads with weights_only=True."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: _to_tensors(v) for k, v in value.items()}
    return value


def _to_arrays(value):
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _to_arrays(v) for k, v in value.items()}
    return value


def _kept(explanations: list) -> list[dict]:
    return [_to_tensors(vars(e).copy()) for e in explanations]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m train text-attribution", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, required=True)
    p.add_argument("--sentences", type=int, default=200)
    p.add_argument("--max-words", type=int, default=25, help="longest verse used")
    p.add_argument("--texts", type=Path, help="held-out texts, one per line (default: the test verses)")
    p.add_argument("--steps", type=int, default=8, help="tokens removed in the deletion curves")
    p.add_argument("--ig-steps", type=int, default=16, help="integrated-gradients steps")
    p.add_argument("--random-orders", type=int, default=4, help="random deletion orders per verse (chance)")
    p.add_argument("--save-every", type=int, default=0,
                   help="write the card every N verses (its 'sentences' says how many it holds)")
    add_run_options(p, "continue after the last verse kept in checkpoints/text-attribution-MODEL.pt", seed=0)
    args = p.parse_args(argv)
    device = start_run(args, f"text-attribution-{args.model}")
    verses = held_out_verses(args.sentences, args.max_words, args.texts)
    model, tok, described = _load(args.model, device)
    settings = {k: str(v) for k, v in vars(args).items()
                if k in ("model", "max_words", "texts", "steps", "ig_steps", "random_orders", "seed")}
    ckpt = args.checkpoints / f"text-attribution-{args.model}.pt"
    explanations, done_s = [], 0.0
    state = restore_checkpoint(ckpt, "cpu", expect={"settings": settings}) if args.resume else None
    if state is not None:
        explanations = [ta.TextExplanation(**_to_arrays(k)) for k in state["explanations"]]
        done_s = state["elapsed"]
        print(f"resumed {ckpt}: {len(explanations)} verses already explained")
    t0 = time.time() - done_s
    for i in tqdm(range(len(explanations), args.sentences), desc=f"explain {args.model}", unit="verse",
                  initial=len(explanations), total=args.sentences):
        target = _target(args.model, model, tok, verses[i], verses[i + 1])
        maps = ta.attention_maps(model, target.ids)
        explanations.append(ta.explain(target, maps, steps=args.steps, n_steps=args.ig_steps,
                                       n_random=args.random_orders, seed=args.seed + i))
        save_checkpoint(ckpt, {}, settings=settings, elapsed=time.time() - t0, explanations=_kept(explanations))
        if args.save_every and (i + 1) % args.save_every == 0 and i + 1 < args.sentences:
            _write(args, argv, device, described, explanations, time.time() - t0)  # a partial card, honestly counted
    elapsed = time.time() - t0
    summary, path = _write(args, argv, device, described, explanations, elapsed)
    print(json.dumps({m: {k: summary["agreement"][m][k] for k in ("raw_all_heads", "mean_of_heads_last_layer",
                                                                  "rollout")} for m in ta.ATTRIBUTIONS}, indent=1))
    print(json.dumps(summary["deletion_drop"], indent=1))
    print(f"wrote {path} ({elapsed / 60:.1f} min)")
    return 0
