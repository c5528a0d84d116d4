"""Train one translation model to a dev-BLEU plateau, then evaluate and export it.

    python -m train translation --arch transformer              # until the plateau
    python -m train translation --arch rnnsearch --minutes 90   # one sitting of 90 minutes
    python -m train translation --arch rnnsearch --resume       # the next sitting
    python -m train translation --arch transformer --tsv my_pairs.tsv --out /tmp/x

Data: by default the Bible corpus built by ``python -m corpora.bible build``
(data/translation: train/dev/test TSV, sentencepiece models, Strong's alignments).
``--tsv FILE`` trains on any tab-separated file of (source, target) sentence pairs
instead: sentencepiece models are trained on it and the lines are split 90/5/5 by a
seeded shuffle (no reference alignment then).

Training is by steps, not by a clock: every ``--eval-every`` steps the dev loss and the
greedy dev BLEU are measured (the learning curve in the card), the best checkpoint is
kept, and training stops when dev BLEU gained less than 0.3 over the last three
evaluations, or at ``--max-steps``. ``--minutes`` only ends a sitting: the checkpoint
(model, optimiser, schedule, batch position and RNG states) lets ``--resume`` carry on,
and every sitting (command, steps from-to, device, minutes) is recorded. Checkpoints are
git-ignored and die with the checkout that wrote them, so ``--resume`` with no checkpoint
carries on from the exported weights and card of an earlier step-capped run instead (a warm
start, see ``warm_start``): its step, epoch and learning curve continue, its optimiser
moments and RNG states cannot, and the card's sitting says so. When training
has finished, the best checkpoint is evaluated on the test split and exported to
assets/translation-<arch>.safetensors (fp16) with its card; ``--resume`` on a finished
run re-evaluates and re-exports. Every number in the card is measured here.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from analysis.alignment import (
    AlignmentScore,
    diagonal_word_attention,
    pool_to_words,
    uniform_attention,
)
from analysis.translation_scores import score_translations
from corpora.bible import DATA
from models.translation.nets import ARCHS, BOS, EOS, PAD, NetConfig, beam_search, build_model, greedy
from models.translation.translator import MAX_SRC_TOKENS, Translator, card_path, save_translator, weights_path, word_index
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint
from train.options import add_run_options, start_run
from train.plateau import plateaued
from train.sittings import Sittings, command_line

MAX_TRAIN_PIECES = 120

# Sized to reach a dev-BLEU plateau in a few CPU hours per model (bench/translation_train.py
# measures each on this machine); higher dropout than the papers' 0.1 because the corpus
# is small (28k verse pairs).
DEFAULTS = {
    "seq2seq": dict(emb=256, hidden=512, layers=2, dropout=0.2, lr=1e-3),
    "rnnsearch": dict(emb=256, hidden=512, layers=1, dropout=0.2, lr=1e-3),
    "transformer": dict(emb=256, hidden=256, layers=3, heads=4, ff=1024, dropout=0.2, lr=1e-3),
}


def read_tsv(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            continue
        pairs.append((cols[0].strip(), cols[1].strip()))
    return pairs


def prepare_data(args) -> dict:
    """Pairs for train/dev/test, sentencepiece processors, and reference alignments if any."""
    import sentencepiece as spm

    if args.tsv:
        pairs = read_tsv(Path(args.tsv))
        if len(pairs) < 20:
            raise SystemExit(f"{args.tsv}: need at least 20 tab-separated sentence pairs, found {len(pairs)}")
        rng = random.Random(args.seed)
        rng.shuffle(pairs)
        n = len(pairs)
        n_test = n_dev = max(1, n // 20)
        split = {"test": pairs[:n_test], "dev": pairs[n_test:n_test + n_dev], "train": pairs[n_test + n_dev:]}
        work = args.checkpoints / f"spm-{Path(args.tsv).stem}"
        work.mkdir(parents=True, exist_ok=True)
        protos = {}
        for side, col in (("src", 0), ("tgt", 1)):
            txt = work / f"train.{side}.txt"
            txt.write_text("\n".join(p[col] for p in split["train"]) + "\n", encoding="utf-8")
            spm.SentencePieceTrainer.train(
                input=str(txt), model_prefix=str(work / f"spm.{side}"), vocab_size=args.vocab,
                model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                pad_id=0, unk_id=1, bos_id=2, eos_id=3, num_threads=2, minloglevel=2)
            protos[side] = (work / f"spm.{side}.model").read_bytes()
        data_desc = f"TSV {args.tsv}: {n} pairs, seeded 90/5/5 shuffle split (seed {args.seed})"
        align = []
    else:
        folder = Path(args.data)
        if not (folder / "train.tsv").exists():
            raise SystemExit(f"No corpus in {folder}. Build it first: "
                             "apt-get install -y sword-text-web sword-text-sparv && "
                             "python -m corpora.bible build")
        split = {s: read_tsv(folder / f"{s}.tsv") for s in ("train", "dev", "test")}
        protos = {"src": (folder / "spm.en.model").read_bytes(), "tgt": (folder / "spm.es.model").read_bytes()}
        info = json.loads((folder / "corpus.json").read_text())
        data_desc = (f"World English Bible -> Reina-Valera 1909 verse pairs (SWORD engWEB2015eb, spaRV1909eb); "
                     f"{info['split']}; train {len(split['train'])}, dev {len(split['dev'])}, "
                     f"test {len(split['test'])} verses; sentencepiece unigram {info['vocab']} per language "
                     "trained on the training split")
        align = load_references(folder)
    sp_src = spm.SentencePieceProcessor(model_proto=protos["src"])
    sp_tgt = spm.SentencePieceProcessor(model_proto=protos["tgt"])
    return {"split": split, "sp_src": sp_src, "sp_tgt": sp_tgt, "protos": protos, "desc": data_desc, "align": align}


def encode_pairs(pairs, sp_src, sp_tgt, max_pieces=MAX_TRAIN_PIECES):
    out = []
    for s, t in pairs:
        a, b = sp_src.encode(s), sp_tgt.encode(t)
        if 0 < len(a) <= max_pieces and 0 < len(b) <= max_pieces:
            out.append((a + [EOS], [BOS] + b + [EOS]))
    return out


def make_batches(encoded, max_tokens: int, rng: random.Random):
    """Length-sorted batches of about max_tokens (source + target) tokens, in random order."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), rng.random()))
    batches, cur, longest = [], [], 0
    for i in order:
        longest = max(longest, len(encoded[i][0]) + len(encoded[i][1]))
        if cur and longest * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, longest = [], len(encoded[i][0]) + len(encoded[i][1])
        cur.append(i)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def pad(seqs, device):
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [PAD] * (n - len(s)) for s in seqs], device=device)


def decode_test(model, pairs, sp_src, device, beam: int, batch: int = 48, max_len: int = 200) -> list[list[int]]:
    """Token ids for every source of ``pairs``: batched greedy (beam 1) or beam search."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    out: list[list[int]] = [[] for _ in pairs]
    step = batch if beam == 1 else 1
    for k in tqdm(range(0, len(order), step), desc=f"test, {'greedy' if beam == 1 else f'beam {beam}'}",
                  leave=False, unit="batch" if beam == 1 else "verse"):
        idx = order[k:k + step]
        src = pad([sp_src.encode(pairs[i][0])[:MAX_SRC_TOKENS] + [EOS] for i in idx], device)
        limit = min(max_len, 2 * src.shape[1] + 10)
        ids = greedy(model, src, limit) if beam == 1 else [beam_search(model, src, beam, limit)]
        for i, row in zip(idx, ids):
            out[i] = row
    return out


def evaluate_test(model, data, device, out_dir: Path, tag: str, beam: int, limit=None):
    """Greedy and beam-``beam`` translations of the test split, scored with sacrebleu
    (analysis/translation_scores.py); the hypotheses go to
    <out>/translation-<tag>.test.<greedy|beamN>.txt so significance tests can pair them."""
    pairs = data["split"]["test"]
    if limit and limit < len(pairs):  # evenly spaced, so every part of the Bible is in the sample
        pairs = [pairs[int(i * len(pairs) / limit)] for i in range(limit)]
    refs, src_words = [p[1] for p in pairs], [len(p[0].split()) for p in pairs]
    result, hyps = {}, {}
    for name, width in (("greedy", 1), (f"beam{beam}", beam)):
        hyps[name] = [data["sp_tgt"].decode(ids) for ids in decode_test(model, pairs, data["sp_src"], device, width)]
        (out_dir / f"translation-{tag}.test.{name}.txt").write_text(
            "\n".join(h.replace("\n", " ") for h in hyps[name]) + "\n", encoding="utf-8")
        result[name] = score_translations(hyps[name], refs, src_words)
    shown = hyps[f"beam{beam}"]
    examples = [{"en": pairs[i][0], "reference": refs[i], "output": shown[i]}
                for i in range(0, len(pairs), max(1, len(pairs) // 5))][:5]
    return result, examples


REFERENCES = {  # name -> file written by corpora/bible.py (the ones present are scored)
    "strongs": "test.align.jsonl",               # Strong's-number links as tagged
    "strongs_clean": "test.align.clean.jsonl",   # tagged content words on both sides only
    "eflomal": "test.align.eflomal.jsonl",       # eflomal, both directions, symmetrised
}
SCORES = ("mass", "hit", "precision", "recall", "aer")


def load_references(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for name, file in REFERENCES.items():
        path = folder / file
        if path.is_file():
            out[name] = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    return out


@torch.inference_mode()
def evaluate_alignment(translator: Translator, references: dict[str, list[dict]], limit: int = 0) -> dict:
    """Teacher-forced attention on the reference Spanish of test verses against each
    reference alignment: the model (RNNsearch's alignment; the Transformer's cross-attention
    averaged over layers and heads, and per layer and head), beside chance (uniform), the
    diagonal baseline and the oracle that follows the reference (the reference's own floor
    under one argmax link per word). Keys: align_<reference>_<model|uniform|diagonal|oracle>_<score>."""
    from analysis.alignment import oracle_attention

    if translator.arch == "seq2seq" or not references:
        return {}
    out: dict = {}
    per_head: dict = {}
    for ref_name, items in references.items():
        scores = {who: AlignmentScore() for who in ("model", "uniform", "diagonal", "oracle")}
        heads = layer_mean = None
        used = 0
        for item in (items[:limit] if limit else items):
            if not item["links"]:
                continue
            src_ids, _ = translator.source_ids(item["en"])
            out_ids = translator.sp_tgt.encode(item["es"])
            t = translator.forced(src_ids, out_ids)
            sw, tw = word_index(t.src_pieces), word_index(t.out_pieces)
            if sw.max() + 1 != len(item["en"].split()) or tw.max() + 1 != len(item["es"].split()):
                continue  # sentencepiece and whitespace disagree on word count: skip rather than misalign
            used += 1
            links = item["links"]
            rows = slice(0, len(t.out_pieces) - 1)  # drop the </s> row: it has no reference word
            if translator.arch == "rnnsearch":
                att = t.records[0].numpy()[rows]
            else:
                cross = next(r for r in t.records if r.name == "decoder.cross").numpy()[:, :, rows]  # (L, H, T, S)
                if heads is None:
                    heads = [[AlignmentScore() for _ in range(cross.shape[1])] for _ in range(cross.shape[0])]
                    layer_mean = [AlignmentScore() for _ in range(cross.shape[0])]
                for l in range(cross.shape[0]):
                    for h in range(cross.shape[1]):
                        heads[l][h].add(pool_to_words(cross[l, h], tw[rows], sw), links)
                    layer_mean[l].add(pool_to_words(cross[l].mean(0), tw[rows], sw), links)
                att = cross.mean((0, 1))
            word_att = pool_to_words(att, tw[rows], sw)
            scores["model"].add(word_att, links)
            scores["uniform"].add(pool_to_words(uniform_attention(att.shape), tw[rows], sw), links, expected=True)
            scores["diagonal"].add(diagonal_word_attention(*word_att.shape), links)
            scores["oracle"].add(oracle_attention(links, *word_att.shape), links)
        out[f"align_{ref_name}_verses"] = used
        for who, score in scores.items():
            result = score.result()
            out.update({f"align_{ref_name}_{who}_{k}": result.get(k) for k in SCORES})
        out[f"align_{ref_name}_words"] = scores["model"].result()["words"]
        if heads is not None:
            table = {f"L{l}H{h}": heads[l][h].result() for l in range(len(heads)) for h in range(len(heads[0]))}
            table.update({f"L{l}mean": s.result() for l, s in enumerate(layer_mean)})
            per_head[ref_name] = {k: {m: round(v[m], 4) for m in SCORES if v.get(m) is not None}
                                  for k, v in table.items()}
            best = min((k for k in table if "mean" not in k), key=lambda k: table[k]["aer"])
            out[f"align_{ref_name}_best_head"] = best
            out[f"align_{ref_name}_best_head_aer"] = table[best]["aer"]
    if "strongs" in references:  # the names the page and translation-compare read
        for who, prefix in (("model", "align"), ("uniform", "align_uniform"), ("diagonal", "align_diagonal")):
            for k in ("mass", "hit", "aer"):
                out[f"{prefix}_{k}"] = out[f"align_strongs_{who}_{k}"]
    if per_head:
        out["per_head"] = per_head
    return out


def lr_factor(step: int, warmup: int, rewarm_from: int | None = None) -> float:
    """Linear warm-up, then inverse square-root decay (Vaswani et al. 2017, eq. 3, scaled to
    peak at the given learning rate). After a warm start at step ``rewarm_from`` the rate
    ramps up again over REWARM_STEPS: Adam's moments start from zero there, and its first
    updates would otherwise move every weight by the full rate at once."""
    factor = min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5)
    if rewarm_from is not None and step >= rewarm_from:
        factor *= min(1.0, (step - rewarm_from + 1) / REWARM_STEPS)
    return factor


REWARM_STEPS = 200


def batches_before(train, max_tokens: int, seed: int, epoch: int) -> int:
    """Steps in epochs 0..epoch-1 (each epoch's batches are fixed by the seed)."""
    return sum(len(make_batches(train, max_tokens, random.Random(seed * 1000 + e))) for e in range(epoch))


def warm_start(out_dir: Path, tag: str, cfg: NetConfig, protos: dict, model: nn.Module, device) -> dict | None:
    """The exported weights and card of an earlier run of this model, loaded into ``model``:
    the counters to continue from (step and epoch of the exported checkpoint, its learning
    curve and sittings), or None when there is nothing to continue (no card, a plateau
    already reached, another configuration, or other sentencepiece models: continuing with
    another vocabulary would scramble every embedding)."""
    from safetensors.torch import load_file

    wpath, cpath = weights_path(tag, out_dir), card_path(tag, out_dir)
    if not (wpath.is_file() and cpath.is_file()):
        return None
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
        tensors = load_file(str(wpath))
    except (OSError, ValueError) as err:
        print(f"{wpath}: cannot be read ({err}); starting fresh")
        return None
    reason = None
    if card.get("config") != cfg.to_dict():
        reason = "another model configuration"
    elif not str(card.get("stopped_by", "")).startswith("step cap") or not card.get("dev_history"):
        reason = f"its run ended by {card.get('stopped_by') or 'an older trainer'}, not by a step cap"
    elif (tensors["spm.src"].numpy().tobytes() != protos["src"]
          or tensors["spm.tgt"].numpy().tobytes() != protos["tgt"]):
        reason = "other sentencepiece models than data/ holds"
    if reason:
        print(f"not continuing from {wpath}: {reason}; starting fresh")
        return None
    del tensors["spm.src"], tensors["spm.tgt"]
    model.load_state_dict({k: v.to(device, torch.float32) if v.is_floating_point() else v.to(device)
                           for k, v in tensors.items()})
    step = int(card["best_step"])
    best = next(h for h in card["dev_history"] if h["step"] == step)
    return {"step": step, "epoch": int(best["epoch"]), "history": [h for h in card["dev_history"] if h["step"] <= step],
            "runs": card.get("runs") or [], "from": wpath.name, "elapsed": float(card.get("training_time_s") or 0.0),
            "rewarms": list(card.get("rewarms") or [])}


def dev_bleu(model, dev_pairs, sp_src, sp_tgt, device, batch: int = 64) -> float:
    """Greedy corpus BLEU on a fixed set of dev verses (model selection and the plateau)."""
    import sacrebleu

    order = sorted(range(len(dev_pairs)), key=lambda i: len(dev_pairs[i][0]))
    hyps = [""] * len(dev_pairs)
    for k in range(0, len(order), batch):
        idx = order[k:k + batch]
        src = pad([sp_src.encode(dev_pairs[i][0])[:MAX_TRAIN_PIECES] + [EOS] for i in idx], device)
        for i, ids in zip(idx, greedy(model, src, min(200, 2 * src.shape[1] + 10))):
            hyps[i] = sp_tgt.decode(ids)
    model.train()
    return sacrebleu.corpus_bleu(hyps, [[t for _, t in dev_pairs]]).score


def main(argv=None) -> None:
    prog = "python -m train translation"  # goes into the card's made_by
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog=prog, description="Train to a dev-BLEU plateau, then evaluate and export. "
                                "Run again with --resume to continue a stopped run or to re-export a finished one.")
    p.add_argument("--arch", choices=ARCHS, required=True)
    p.add_argument("--data", default=str(DATA), help="folder built by corpora.bible")
    p.add_argument("--tsv", help="train on this TSV of (source, target) pairs instead")
    p.add_argument("--vocab", type=int, default=4000, help="sentencepiece vocabulary (with --tsv)")
    p.add_argument("--max-steps", type=int, default=100_000, help="cap on training steps if no plateau comes first")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="stop this sitting after N minutes of training and checkpoint (0: no limit); "
                        "continue later with --resume")
    p.add_argument("--eval-every", type=int, default=1500, help="steps between dev evaluations")
    p.add_argument("--dev-verses", type=int, default=400, help="dev verses scored by greedy BLEU at each evaluation")
    p.add_argument("--patience-gain", type=float, default=0.3,
                   help="plateau: dev BLEU gained less than this over the last three evaluations")
    p.add_argument("--max-tokens", type=int, default=4000, help="tokens per batch (source + target)")
    p.add_argument("--warmup", type=int, default=1000, help="warm-up steps")
    p.add_argument("--lr", type=float, help="peak learning rate (default per architecture)")
    p.add_argument("--dropout", type=float)
    p.add_argument("--test-limit", type=int, default=0, help="score only N evenly spaced test pairs (0: all)")
    p.add_argument("--align-limit", type=int, default=0, help="score attention on the first N test verses (0: all)")
    p.add_argument("--beam", type=int, default=5, help="beam width of the test evaluation (greedy is also scored)")
    # One intra-op thread by default: two runs side by side use the 2 cores better than one
    # run on 2 threads (2 threads gave 1.5x the steps per second of 1, not 2x, on the old defaults).
    add_run_options(p, "continue from checkpoints/translation-<arch>.pt", seed=1, threads=1)
    for k in ("emb", "hidden", "layers", "heads", "ff"):
        p.add_argument(f"--{k}", type=int)
    args = p.parse_args(argv)

    device = start_run(args, f"translation-{args.arch}")
    data = prepare_data(args)
    hp = dict(DEFAULTS[args.arch])
    for k in ("emb", "hidden", "layers", "heads", "ff", "dropout", "lr"):
        if getattr(args, k) is not None:
            hp[k] = getattr(args, k)
    lr = hp.pop("lr")
    cfg = NetConfig(args.arch, data["sp_src"].get_piece_size(), data["sp_tgt"].get_piece_size(), **hp)
    model = build_model(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    warmup = args.warmup
    rewarms: list[int] = []  # steps at which a warm start re-initialised the optimiser; the schedule
    # re-warms from the last of them, so it reads the list at every step

    def schedule(s: int) -> float:
        return lr_factor(s, warmup, rewarms[-1] if rewarms else None)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    train = encode_pairs(data["split"]["train"], data["sp_src"], data["sp_tgt"])
    dev = encode_pairs(data["split"]["dev"][:300], data["sp_src"], data["sp_tgt"])
    dev_pairs = data["split"]["dev"]
    if args.dev_verses < len(dev_pairs):  # evenly spaced over the Bible, fixed across sittings
        dev_pairs = [dev_pairs[int(i * len(dev_pairs) / args.dev_verses)] for i in range(args.dev_verses)]

    tag = args.arch if not args.tsv else f"{args.arch}-{Path(args.tsv).stem}"
    ckpt = args.checkpoints / f"translation-{tag}.pt"
    best_ckpt = args.checkpoints / f"translation-{tag}.best.pt"
    step, epoch, elapsed, history, b_pos, earlier, finished = 0, 0, 0.0, [], 0, [], ""
    sitting_start = time.time()
    stateful = {"model": model, "opt": opt, "sched": sched}
    state = (restore_checkpoint(ckpt, device, expect={"config": cfg.to_dict()}, **stateful)
             if args.resume else None)
    warm = None
    if state is not None:
        step, epoch, elapsed = state["step"], state["epoch"], state["elapsed"]
        b_pos = state.get("batch_in_epoch", 0)
        history = list(state.get("history", []))
        earlier = state.get("runs", [])
        finished = state.get("finished", "")
        rewarms[:] = state.get("rewarms", [])
        if finished.startswith("step cap") and step < args.max_steps:
            finished = ""  # a higher cap given: train on
        print(f"resumed {ckpt} at step {step}, {elapsed / 60:.1f} min trained" +
              (f"; training had finished ({finished}): evaluating and exporting" if finished else ""))
    elif args.resume and (warm := warm_start(args.out, tag, cfg, data["protos"], model, device)) is not None:
        step, epoch, history, earlier = warm["step"], warm["epoch"], warm["history"], warm["runs"]
        elapsed = warm["elapsed"]  # the card's training time, as a checkpoint would hold it
        b_pos = step - batches_before(train, args.max_tokens, args.seed, epoch)
        rewarms[:] = warm["rewarms"] + [step]
        for g in opt.param_groups:  # the schedule continues at the exported step
            g["initial_lr"] = lr
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule, last_epoch=step - 1)
        stateful["sched"] = sched
        if step >= args.max_steps:
            finished = f"step cap {args.max_steps}"
        print(f"no checkpoint at {ckpt}: continuing from {args.out / warm['from']} at step {step} "
              f"(epoch {epoch}, batch {b_pos}); optimiser moments start from zero, learning rate "
              f"re-warmed over {REWARM_STEPS} steps")

    # each invocation that trains is a sitting of its own, so a card says when a model was trained
    # in several; one resumed only to evaluate a finished run adds none
    sittings = Sittings(earlier, command_line(prog, argv), step, device, new=not finished)
    if warm is not None and not finished:
        sittings.records[-1]["start"] = (f"warm start from {warm['from']} (step {step}): its checkpoint was not "
                                         "in this checkout; optimiser moments and RNG states re-initialised, "
                                         f"learning rate re-warmed over {REWARM_STEPS} steps")

    def checkpoint():
        save_checkpoint(ckpt, stateful, step=step, epoch=epoch, elapsed=elapsed, batch_in_epoch=b_pos,
                        config=cfg.to_dict(), history=history, runs=sittings.at_checkpoint(step), finished=finished,
                        rewarms=rewarms)

    @torch.inference_mode()
    def dev_loss():
        model.eval()
        tot, n = 0.0, 0
        for k in range(0, len(dev), 32):
            chunk = dev[k:k + 32]
            src, tgt = pad([c[0] for c in chunk], device), pad([c[1] for c in chunk], device)
            logits, _ = model(src, tgt[:, :-1], need_weights=False)
            l = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1),
                                            ignore_index=PAD, reduction="sum")
            tot += float(l)
            n += int((tgt[:, 1:] != PAD).sum())
        model.train()
        return tot / max(1, n)

    bar = tqdm(desc=f"train {args.arch}", unit="step", initial=step, disable=bool(finished))
    last_save = time.time()
    window_loss, window_tokens, window_s = 0.0, 0, 0.0
    while not finished:
        rng = random.Random(args.seed * 1000 + epoch)  # same batches per epoch on resume
        batches = make_batches(train, args.max_tokens, rng)
        model.train()
        for b_i, batch in enumerate(batches):
            if b_i < b_pos:  # resumed mid-epoch: these batches were already trained on
                continue
            t0 = time.time()
            src = pad([train[i][0] for i in batch], device)
            tgt = pad([train[i][1] for i in batch], device)
            logits, _ = model(src, tgt[:, :-1], need_weights=False)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            b_pos = b_i + 1
            dt = time.time() - t0
            elapsed += dt
            loss_value = float(loss.detach())
            window_loss += loss_value
            window_tokens += int((src != PAD).sum() + (tgt[:, 1:] != PAD).sum())
            window_s += dt
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", ep=epoch, tok_s=f"{window_tokens / max(window_s, 1e-9):.0f}")
            if step % args.eval_every == 0:
                history.append({"step": step, "epoch": epoch, "train_loss": window_loss / args.eval_every,
                                "dev_loss": dev_loss(), "dev_bleu": dev_bleu(model, dev_pairs, data["sp_src"],
                                                                             data["sp_tgt"], device),
                                "minutes": elapsed / 60, "tokens_per_s": window_tokens / max(window_s, 1e-9),
                                "lr": sched.get_last_lr()[0]})
                window_loss, window_tokens, window_s = 0.0, 0, 0.0
                bleus = [h["dev_bleu"] for h in history]
                if bleus[-1] == max(bleus):
                    save_checkpoint(best_ckpt, {"model": model}, step=step, dev_bleu=bleus[-1], config=cfg.to_dict())
                tqdm.write(f"step {step}: dev loss {history[-1]['dev_loss']:.3f}, dev BLEU {bleus[-1]:.2f} "
                           f"(best {max(bleus):.2f}), {history[-1]['tokens_per_s']:.0f} tokens/s")
                if plateaued(bleus, min_gain=args.patience_gain):
                    finished = f"plateau: dev BLEU gained < {args.patience_gain} over the last 3 evaluations"
                elif step >= args.max_steps:
                    finished = f"step cap {args.max_steps}"
                checkpoint()
                last_save = time.time()
            elif time.time() - last_save > 600:
                checkpoint()
                last_save = time.time()
            if not finished and step >= args.max_steps:
                finished = f"step cap {args.max_steps}"
            if finished or (args.minutes and time.time() - sitting_start >= args.minutes * 60):
                break
        else:
            epoch += 1
            b_pos = 0
            continue
        break
    bar.close()
    runs = sittings.end(step)
    checkpoint()
    if not finished:
        print(f"stopped at step {step} after this sitting's {args.minutes:g} minutes; "
              f"continue with: {prog} --arch {args.arch} --resume")
        return
    best = restore_checkpoint(best_ckpt, device, model=model) if best_ckpt.exists() else None
    best_step = best["step"] if best else step
    final_dev = dev_loss()

    out_dir = args.out
    wpath = weights_path(tag, out_dir)
    save_translator(model, cfg, data["protos"]["src"], data["protos"]["tgt"], wpath)
    model.eval()
    t0 = time.time()
    # the exported fp16 weights are what the page runs: score those, not the fp32 ones
    translator = Translator.load(wpath, device)
    scores, examples = evaluate_test(translator.model, data, device, out_dir, tag, args.beam,
                                     limit=args.test_limit or None)
    bleu = {**scores[f"beam{args.beam}"], **{f"{k}_greedy": v for k, v in scores["greedy"].items()
                                              if k.startswith(("bleu", "chrf")) and "signature" not in k}}
    align = evaluate_alignment(translator, data["align"], args.align_limit)
    eval_s = time.time() - t0
    n_params = sum(p.numel() for p in model.parameters())
    arch_text = {
        "seq2seq": f"LSTM encoder-decoder (Sutskever et al. 2014), {cfg.layers} layers, hidden {cfg.hidden}, "
                   f"embeddings {cfg.emb}, reversed source, no attention",
        "rnnsearch": f"RNNsearch (Bahdanau et al. 2015): bidirectional GRU encoder {cfg.hidden // 2}x2, GRU decoder "
                     f"{cfg.hidden}, additive attention {cfg.hidden}, embeddings {cfg.emb}",
        "transformer": f"Transformer (Vaswani et al. 2017), pre-norm, {cfg.layers}+{cfg.layers} layers, "
                       f"{cfg.heads} heads, d_model {cfg.emb}, d_ff {cfg.ff}",
    }[args.arch]
    metrics = {**{k: (round(v, 4) if isinstance(v, float) else v) for k, v in bleu.items()},
               **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in align.items()
                  if not isinstance(v, (dict, list))},
               "dev_loss": round(final_dev, 4), "train_steps": step, "epochs_completed": epoch,
               "train_minutes": round(elapsed / 60, 2), "eval_minutes": round(eval_s / 60, 2)}
    card = {
        "name": f"translation-{tag}",
        "task": "English -> Spanish translation (Bible verses)" if not args.tsv else f"translation on {args.tsv}",
        "architecture": arch_text,
        "source": "trained here from scratch by the command in made_by",
        "trained_here": True,
        "page": "Translation",
        "made_by": command_line(prog, argv),
        "parameters": n_params,
        "config": cfg.to_dict(),
        "data": data["desc"],
        **run_facts(args, device, elapsed),
        "training": (f"{step} steps ({epoch} full epochs) of Adam, peak lr {lr}, {warmup} warm-up steps then "
                     f"inverse square-root decay, label smoothing 0.1, dropout {cfg.dropout}, batches of "
                     f"~{args.max_tokens} tokens from length buckets, seed {args.seed}; dev loss and greedy dev BLEU "
                     f"({len(dev_pairs)} dev verses) every {args.eval_every} steps; stopped by {finished}; "
                     f"the exported weights are the best dev-BLEU checkpoint, step {best_step}"
                     + (f"; warm-started from exported weights (optimiser state lost with an earlier checkout) "
                        f"at step{'s' if len(rewarms) > 1 else ''} {', '.join(map(str, rewarms))}" if rewarms else "")),
        "rewarms": rewarms,
        "best_step": best_step,
        "stopped_by": finished,  # "plateau: ..." or "step cap N": the page says which, per model
        "weights": f"{wpath.name} (fp16; scores below are of these fp16 weights)",
        "decoding": (f"metrics.bleu, chrf and bleu_len_* use beam search of width {args.beam} (length-normalised "
                     "log-probability); *_greedy the same with greedy decoding; sacrebleu corpus scores on detokenised "
                     "output with the signatures in bleu_signature and chrf_signature; buckets by source length in "
                     "words, *_ci95 = half-width of sacrebleu's 95% bootstrap interval (1000 resamples); test "
                     f"hypotheses in translation-{tag}.test.greedy.txt and .test.beam{args.beam}.txt"),
        "alignment_scoring": ("teacher-forced attention on the reference Spanish of every test verse against each "
                              "reference alignment (strongs: Strong's-number links as tagged; strongs_clean: tagged "
                              "content words only; eflomal: statistical aligner, symmetrised; see "
                              "docs/alignment_reference.md and analysis/alignment.py). "
                              "align_<reference>_model_* = this model (Transformer: mean of all layers and heads; "
                              "per_head has every head), _uniform_* = chance, _diagonal_* = position baseline, "
                              "_oracle_* = the reference followed exactly (its floor under one argmax link per word). "
                              "align_mass/hit/aer and align_uniform_*/align_diagonal_* repeat the strongs numbers")
        if align else "not applicable (seq2seq has no attention) or no reference alignment",
        "metrics": metrics,
        "per_head": align.get("per_head"),
        "best_head_by_aer": {ref: align[f"align_{ref}_best_head"] for ref in REFERENCES
                             if f"align_{ref}_best_head" in align} or None,
        "dev_history": history,
        "runs": runs,
        "examples": examples,
    }
    cpath = card_path(tag, out_dir)
    write_card(card, cpath)
    print(json.dumps(metrics, indent=2))
    print(f"wrote {wpath} and {cpath}")


if __name__ == "__main__":
    main()
