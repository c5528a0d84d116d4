"""The induction-head phase change (Olsson et al. 2022), reproduced on a model trained here.

    python -m train induction --layers 2 --name induction-2l       # the model the page loads
    python -m train induction --layers 1 --name induction-1l       # the control (its card only)

Olsson et al. train small attention-only transformers and see, at one point early in
training, three things happen together: heads appear that attend from a token to the
token that followed its previous occurrence (induction heads), the training loss bends
(a bump), and in-context learning jumps (late tokens in a context become much easier to
predict than early ones). A one-layer model cannot form an induction head (it needs a
previous-token head in an earlier layer whose output the key of a later head reads:
K-composition), so a one-layer model is the control.

What is trained. A Llama-config decoder (so the page loads it like any other causal LM:
pre-norm RMSNorm, rotary positions) whose MLPs are zero and frozen: ``down_proj`` is
all zeros and no MLP weight is trained, so every block adds only its attention output to
the residual stream, an attention-only transformer as in the paper. Text: the World
English Bible's training chapters (corpora/bible.py's split by chapter), verses joined in
order, cut into sequences of ``--context`` tokens that each start with the start token;
a byte-level BPE tokenizer of ``--vocab`` pieces trained here on the same chapters.

The recipe, and why (each step measured here, on one core at about 4.6 steps a second):
    plain text, or text where half the sequences repeat a span of their own text (one span,
    or back-to-back blocks "s s"): no induction head after 2,000-2,500 steps; bigram
    statistics already predict repeated text, so copying earns little.
    repeated spans of random tokens inside text (50-75% of sequences): none after 2,500-4,750.
    90% of sequences made of blocks "s s" of random tokens (``repeat_blocks``), spans of
    8-24 tokens, 10% plain text: the previous-token head appears near step 2,000 and the
    induction heads with it, but they reach back only as far as the spans did (0.9 on a
    probe of 20 tokens per copy, below chance on the page's probe of 50, which needs a
    49-token reach). Emergence time grows with the distance to copy across, so
    ``--short-span`` keeps spans at 8-24 tokens for the first ``--short-steps`` steps and
    then widens them to ``--max-span`` 64; the heads then reach the page's probe.
So the phase change is read on a short probe (``induction_short``, 20 tokens per copy, a
distance every span length of the run covers), and the page's probe is recorded beside it;
the jump of the training loss when the spans widen is the data's doing (longer random
first copies), not Olsson et al.'s bump. Held-out measures use only natural text and the
random-token probes, never the training blocks.

Recorded at every probe (``--probe-every`` steps) into the card:
    loss        training loss, mean over the steps since the last probe
    icl         in-context learning score on held-out natural text: mean loss at token
                positions ICL_LATE minus at ICL_EARLY (negative: late tokens are easier)
    induction   every head's induction score on repeated random-token probes
                (analysis/head_roles.py, the Roles tab's measure), and its chance level
    previous    every head's previous-token score, same probes

The phase change is the first probe at which the best head's short-probe induction score
reaches half of its final value (``phase_change_step``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from analysis.head_roles import PROBE_SEEDS, PROBE_TOKENS as PROBE_N, chance, measure_roles
from train.cards import run_facts, write_card
from train.checkpoint import restore_checkpoint, save_checkpoint
from train.options import add_run_options, start_run
from train.sittings import Sittings, command_line

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ICL_EARLY = range(16, 32)      # token positions averaged for the early loss
ICL_LATE = range(224, 256)     # and for the late loss (the context must reach them)


def english_texts(cache: Path) -> dict[str, list[str]]:
    """{split: verses in Bible order} for train and dev, read once from the SWORD module."""
    if cache.is_file():
        return json.loads(cache.read_text(encoding="utf-8"))
    from corpora.bible import read_bible_pairs

    texts = {"train": [], "dev": []}
    for pair in read_bible_pairs(splits=("train", "dev")):
        if pair["en"].text:
            texts[pair["split"]].append(pair["en"].text)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(texts), encoding="utf-8")
    return texts


def train_tokenizer(texts: list[str], vocab: int):
    """A byte-level BPE of ``vocab`` pieces with a start, end and padding token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[BOS, EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)


def token_stream(tokenizer, texts: list[str]) -> torch.Tensor:
    """All verses joined by spaces, as one id stream."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    space = tokenizer(" ", add_special_tokens=False)["input_ids"]
    out = []
    for verse in ids:
        out.extend(verse)
        out.extend(space)
    return torch.tensor(out, dtype=torch.long)


def natural_batch(stream: torch.Tensor, starts: torch.Tensor, context: int, bos: int) -> torch.Tensor:
    """(B, context) sequences: the start token then context - 1 tokens of text from each start."""
    body = torch.stack([stream[s:s + context - 1] for s in starts.tolist()])
    return torch.cat([torch.full((len(starts), 1), bos, dtype=torch.long), body], dim=1)


def repeat_spans(batch: torch.Tensor, share: float, generator: torch.Generator, vocab: int | None = None,
                 min_len: int = 8, max_len: int = 0, max_gap: int = -1) -> torch.Tensor:
    """In a share of the sequences, write a span twice: [a, a + m) is copied to [b, b + m),
    m in [min_len, max_len] (0: up to half the sequence), b - (a + m) in [0, max_gap]
    (-1: anywhere later), all drawn at random. The span is the sequence's own text, or,
    with ``vocab``, m tokens drawn uniformly from ids 3..vocab-1 (after the special tokens),
    which no bigram statistic predicts, so only copying lowers their loss."""
    out = batch.clone()
    B, T = batch.shape
    max_len = min(max_len or (T - 1) // 2, (T - 1) // 2)
    chosen = torch.rand(B, generator=generator) < share
    for row in torch.nonzero(chosen).flatten().tolist():
        m = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
        a = int(torch.randint(1, T - 2 * m + 1, (1,), generator=generator))
        last = T - m if max_gap < 0 else min(T - m, a + m + max_gap)
        b = int(torch.randint(a + m, last + 1, (1,), generator=generator))
        if vocab is not None:
            out[row, a:a + m] = torch.randint(3, vocab, (m,), generator=generator)
        out[row, b:b + m] = out[row, a:a + m]
    return out


def repeat_blocks(batch: torch.Tensor, share: float, generator: torch.Generator, vocab: int | None = None,
                  min_len: int = 8, max_len: int = 64) -> torch.Tensor:
    """In a share of the sequences, everything after the start token becomes back-to-back
    blocks "s s": a span s of m tokens written twice, m drawn per block uniformly in
    [min_len, max_len]. The spans are the sequence's own text read on in order, or, with ``vocab``,
    random tokens from ids 3..vocab-1. Half of such a sequence can only be predicted by
    copying, at distances from min_len to max_len."""
    out = batch.clone()
    B, T = batch.shape
    chosen = torch.rand(B, generator=generator) < share
    for row in torch.nonzero(chosen).flatten().tolist():
        pos, read = 1, 1          # text is read at half the rate it is written, so it never runs out
        while pos < T:
            m = int(torch.randint(min_len, max_len + 1, (1,), generator=generator))
            if vocab is not None:
                span = torch.randint(3, vocab, (m,), generator=generator)
            else:
                span, read = batch[row, read:read + m], read + m
            for _ in range(2):
                n = min(m, T - pos)
                out[row, pos:pos + n] = span[:n]
                pos += n
    return out


def build_model(vocab_size: int, layers: int, d_model: int, heads: int, context: int, ids: dict):
    """A Llama-config causal LM whose MLPs are zero and frozen: attention only."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=d_model, intermediate_size=1,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=context, rope_theta=10000.0, tie_word_embeddings=False,
                         attention_dropout=0.0, **ids)
    model = LlamaForCausalLM(config)
    for layer in model.model.layers:
        for p in layer.mlp.parameters():
            p.data.zero_()
            p.requires_grad_(False)
    return model


def position_losses(model, batch: torch.Tensor) -> torch.Tensor:
    """(T - 1,) mean next-token loss at each position over the batch."""
    logits = model(input_ids=batch, use_cache=False).logits[:, :-1]
    loss = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], reduction="none")
    return loss.mean(0)


@torch.no_grad()
def icl_score(model, dev: torch.Tensor) -> tuple[float, float]:
    """(late minus early loss, mean loss) on held-out natural sequences."""
    model.eval()
    losses = torch.stack([position_losses(model, dev[i:i + 16]) for i in range(0, len(dev), 16)]).mean(0)
    model.train()
    # position p's loss predicts token p + 1
    late = losses[[p - 1 for p in ICL_LATE]].mean()
    early = losses[[p - 1 for p in ICL_EARLY]].mean()
    return float(late - early), float(losses.mean())


SHORT_PROBE_N = 20             # a probe whose repeat distance every block length of the run covers


@torch.no_grad()
def head_scores(model, tokenizer) -> dict[str, list[list[float]]]:
    """Every head's induction and previous-token score on the page's probe (PROBE_N tokens
    per copy), and its induction score on a short probe (``induction_short``)."""
    model.eval()
    out = {}
    for n, roles in ((PROBE_N, {"induction": "induction", "previous": "previous"}),
                     (SHORT_PROBE_N, {"induction": "induction_short"})):
        scores, _ = measure_roles(model, len(tokenizer), tokenizer.bos_token_id, tokenizer.all_special_ids,
                                  n=n, seeds=PROBE_SEEDS)
        out.update({name: [[round(float(v), 4) for v in row] for row in scores[role]] for role, name in roles.items()})
    model.train()
    return out


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up to ``peak``, then a cosine to zero at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def best_head(scores: list[list[float]]) -> tuple[float, int, int]:
    """(score, layer, head) of the highest score in a layers x heads grid."""
    return max((v, layer, head) for layer, row in enumerate(scores) for head, v in enumerate(row))


def phase_change_step(history: list[dict], key: str = "induction", n: int = PROBE_N) -> int | None:
    """The first probed step at which the best ``key`` score (a probe of n tokens per copy)
    reaches half of its final value, when that final value is well above chance (else None:
    no phase change)."""
    final = best_head(history[-1][key])[0]
    if final < 10 * chance("induction", n):
        return None
    return next(h["step"] for h in history if best_head(h[key])[0] >= final / 2)


def induction_summary(history: list[dict]) -> dict:
    """The card's ``induction`` object: best head at initialisation and at the end, chance, the step."""
    init, final = best_head(history[0]["induction"]), best_head(history[-1]["induction"])
    short = "induction_short" in history[-1]
    return {"init": init[0], "init_head": [init[1], init[2]], "final": final[0], "final_head": [final[1], final[2]],
            "chance": round(chance("induction", PROBE_N), 4), "probe_tokens_per_copy": PROBE_N,
            # the circuit's formation, read on the short probe: the page's probe also needs the
            # heads to reach back PROBE_N - 1 tokens, which the block curriculum only asks later
            "phase_change_step": (phase_change_step(history, "induction_short", SHORT_PROBE_N) if short
                                  else phase_change_step(history)),
            "phase_change_step_page_probe": phase_change_step(history),
            "short_probe": {"tokens_per_copy": SHORT_PROBE_N, "chance": round(chance("induction", SHORT_PROBE_N), 4),
                            "init": best_head(history[0]["induction_short"])[0] if short else None,
                            "final": best_head(history[-1]["induction_short"])[0] if short else None},
            "previous_final": best_head(history[-1]["previous"])[0],
            "previous_chance": round(chance("previous", PROBE_N), 4)}


RECIPE_WHY = (
    "Attention only (zero, frozen MLPs), as in Olsson et al.'s small models, so an induction head must come "
    "from two attention layers composing. Pre-norm RMSNorm and rotary positions (the Llama config), so the "
    "page loads the folder like any Llama. A 1,024-piece BPE and d_model 64 keep a step cheap on one CPU "
    "core; linear warm-up then a cosine. On World English Bible text alone, or with repeated spans of its "
    "own text or of random tokens in half of the sequences, no induction head formed within 2,000-4,750 "
    "steps here; 90% of sequences made of back-to-back repeated blocks of random tokens (10% plain text) "
    "did, near step 2,000, with spans of 8-24 tokens; the spans then widen to 64 so the heads reach the "
    "page's 50-token probe. See train/induction.py.")


def make_card(name, args, model, tokenizer, n_train_tokens, n_dev_sequences, history, sittings, facts, recipe):
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    last = history[-1]
    summary = induction_summary(history)
    return {
        "name": name,
        "task": "next-token prediction on World English Bible text; the induction-head phase change",
        "architecture": f"Llama-config decoder, attention only (MLPs zero and frozen): {args.layers} layers x "
                        f"{args.heads} heads, d_model {args.d_model}, rotary positions, pre-norm RMSNorm",
        "parameters": n_params,
        "context": args.context,
        "tokenizer": f"byte-level BPE, {len(tokenizer)} pieces, trained here on the training chapters",
        "data": {"text": "World English Bible (sword-text-web), training chapters (corpora/bible.py split)",
                 "train_tokens": n_train_tokens, "repeat_share": args.repeat,
                 "held_out": f"{n_dev_sequences} sequences of {args.context} tokens from the dev chapters"},
        "recipe": recipe,
        "why": RECIPE_WHY,
        "source": "trained here (train/induction.py)",
        "quality": (f"held-out loss {last['dev_loss']:.2f} nats, in-context learning {last['icl']:+.2f}; best "
                    f"induction head {summary['init']:.3f} at init -> {summary['final']:.3f} (chance "
                    f"{summary['chance']:.3f}, probe of {PROBE_N}); phase change at step {summary['phase_change_step']}"),
        "made_by": sittings[0]["command"],
        "sittings": sittings,
        **facts,
        "trained_here": True,
        "page": "Transformer (Roles tab)",
        "probe": {"tokens_per_copy": PROBE_N, "seeds": list(PROBE_SEEDS), "measure": "analysis/head_roles.py"},
        "icl_definition": f"mean held-out loss at token positions {ICL_LATE.start}-{ICL_LATE.stop - 1} minus at "
                          f"{ICL_EARLY.start}-{ICL_EARLY.stop - 1} (nats; negative: later tokens easier)",
        "held_out": {"dev_loss": last["dev_loss"], "icl": last["icl"]},
        "induction": summary,
        "induction_by_distance": induction_by_distance(model, tokenizer, args.context),
        "curves": history,
    }


@torch.no_grad()
def induction_by_distance(model, tokenizer, context: int) -> list[dict]:
    """The final model's best induction head on probes of n tokens per copy: the head must
    reach back n - 1 tokens, so this shows how far the copying reaches."""
    model.eval()
    rows = []
    for n in (10, 20, 30, 40, 50, 64, 100, (context - 1) // 2):
        if n > (context - 1) // 2 or any(r["tokens_per_copy"] == n for r in rows):
            continue
        scores, _ = measure_roles(model, len(tokenizer), tokenizer.bos_token_id, tokenizer.all_special_ids,
                                  n=n, seeds=PROBE_SEEDS)
        best = best_head([[float(v) for v in row] for row in scores["induction"]])
        rows.append({"tokens_per_copy": n, "best": round(best[0], 4), "head": [best[1], best[2]],
                     "chance": round(chance("induction", n), 4)})
    model.train()
    return rows


def control_summary(path: Path) -> dict:
    """The one-layer control's numbers and curves, read from its own card."""
    if not path.is_file():
        return {"missing": f"{path.name} not found: run python -m train induction --layers 1 first"}
    card = json.loads(path.read_text(encoding="utf-8"))
    return {"card": path.name, "made_by": card["made_by"], "induction": card["induction"],
            "induction_by_distance": card.get("induction_by_distance"), "held_out": card["held_out"],
            "curves": [{k: h[k] for k in ("step", "loss", "dev_loss", "icl")} |
                       {"best_induction": best_head(h["induction"])[0],
                        "best_induction_short": best_head(h["induction_short"])[0] if "induction_short" in h else None}
                       for h in card["curves"]]}


def export(model, tokenizer, folder: Path) -> None:
    """A Hugging Face folder the page loads like any other causal LM (float32 safetensors: the
    weights the card was measured on, 0.7 MB)."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train induction", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser, "continue from checkpoints/NAME.pt", threads=2)
    parser.add_argument("--name", default=None, help="folder and card name (default induction-<L>l)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (0: none)")
    parser.add_argument("--beta2", type=float, default=0.98, help="AdamW's second-moment decay")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--repeat", type=float, default=0.9, help="share of sequences with repeats")
    parser.add_argument("--repeat-kind", choices=("text", "random"), default="random",
                        help="what the repeated span holds: the sequence's own text, or random tokens")
    parser.add_argument("--layout", choices=("span", "blocks"), default="blocks",
                        help="one repeated span per sequence, or back-to-back blocks 's s' (repeat_blocks)")
    parser.add_argument("--min-span", type=int, default=8, help="shortest repeated block span")
    parser.add_argument("--short-span", type=int, default=24,
                        help="longest block span for the first --short-steps steps (0: --max-span throughout)")
    parser.add_argument("--short-steps", type=int, default=3000)
    parser.add_argument("--max-span", type=int, default=64, help="longest repeated span (0: half the context)")
    parser.add_argument("--max-gap", type=int, default=-1,
                        help="most tokens between a span and its repeat (-1: anywhere later)")
    parser.add_argument("--probe-every", type=int, default=250)
    parser.add_argument("--stop-at", type=int, default=0,
                        help="end this sitting at step N (checkpointed; --resume continues); 0: at --steps")
    parser.add_argument("--no-export", action="store_true", help="write the card only, not the model folder")
    args = parser.parse_args(argv)
    if args.context < ICL_LATE.stop:
        parser.error(f"--context must be at least {ICL_LATE.stop} to measure in-context learning")
    name = args.name or f"induction-{args.layers}l"
    device = start_run(args, f"induction {name}")
    t0 = time.time()
    texts = english_texts(args.checkpoints / "induction-texts.json")
    tokenizer = train_tokenizer(texts["train"], args.vocab)
    train_ids = token_stream(tokenizer, texts["train"])
    dev_ids = token_stream(tokenizer, texts["dev"])
    print(f"tokenizer {len(tokenizer)} pieces; {len(train_ids):,} training tokens, {len(dev_ids):,} dev; "
          f"{time.time() - t0:.0f} s")
    bos = tokenizer.bos_token_id
    n_dev = min(256, (len(dev_ids) - 1) // (args.context - 1))
    dev = natural_batch(dev_ids, torch.arange(n_dev) * (args.context - 1), args.context, bos).to(device)
    model = build_model(len(tokenizer), args.layers, args.d_model, args.heads, args.context,
                        dict(bos_token_id=bos, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, args.beta2), weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    recipe = {k: getattr(args, k) for k in ("layers", "d_model", "heads", "context", "vocab", "batch", "lr",
                                             "warmup", "clip", "beta2", "steps", "repeat", "repeat_kind", "layout",
                                             "min_span", "max_span", "short_span", "short_steps", "max_gap", "seed")}
    ckpt = args.checkpoints / f"{name}.pt"
    history, earlier, step, trained_s = [], [], 0, 0.0
    state = restore_checkpoint(ckpt, device, expect={"recipe": recipe}, model=model, opt=opt) if args.resume else None
    if state is not None:
        step, trained_s = state["step"], state["trained_s"]
        history, earlier = list(state["history"]), state["sittings"]
        gen.set_state(state["generator"])
        print(f"resumed {ckpt} at step {step}")
    sittings = Sittings(earlier, command_line("python -m train induction", argv or sys.argv[1:]), step, device)

    def probe(window_loss: float | None) -> None:
        icl, dev_loss = icl_score(model, dev)
        scores = head_scores(model, tokenizer)
        history.append({"step": step, "loss": None if window_loss is None else round(window_loss, 4),
                        "dev_loss": round(dev_loss, 4), "icl": round(icl, 4), **scores})
        best = best_head(scores["induction"])
        print(f"step {step}: loss {window_loss if window_loss is None else round(window_loss, 3)} "
              f"dev {dev_loss:.3f} icl {icl:+.3f} best induction {best[0]:.3f} (layer {best[1]} head {best[2]}), "
              f"previous {best_head(scores['previous'])[0]:.3f} "
              f"{time.time() - t0:.0f} s", flush=True)

    if not history:
        probe(None)
    bar = tqdm(total=args.steps, initial=step, desc=f"train {name}", unit="step", mininterval=5)
    window, tic = [], time.time()
    stop_at = min(args.stop_at or args.steps, args.steps)
    while step < stop_at:
        starts = torch.randint(0, len(train_ids) - args.context, (args.batch,), generator=gen)
        batch = natural_batch(train_ids, starts, args.context, bos)
        vocab = len(tokenizer) if args.repeat_kind == "random" else None
        if args.layout == "blocks":
            longest = args.short_span if args.short_span and step < args.short_steps else args.max_span or 64
            batch = repeat_blocks(batch, args.repeat, gen, vocab, min_len=args.min_span, max_len=longest)
        else:
            batch = repeat_spans(batch, args.repeat, gen, vocab, max_len=args.max_span, max_gap=args.max_gap)
        batch = batch.to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        loss = position_losses(model, batch).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(trainable, args.clip)
        opt.step()
        step += 1
        window.append(float(loss.detach()))
        bar.update(1)
        if step % args.probe_every == 0 or step == args.steps:
            trained_s += time.time() - tic
            probe(sum(window) / len(window))
            window = []
            save_checkpoint(ckpt, {"model": model, "opt": opt}, step=step, trained_s=trained_s, recipe=recipe,
                            history=history, sittings=sittings.at_checkpoint(step), generator=gen.get_state())
            tic = time.time()
    bar.close()
    if step < args.steps:
        # the sitting ends here, so its steps since the last probe are kept, not trained again
        trained_s += time.time() - tic
        save_checkpoint(ckpt, {"model": model, "opt": opt}, step=step, trained_s=trained_s, recipe=recipe,
                        history=history, sittings=sittings.end(step), generator=gen.get_state())
        print(f"stopped at step {step} of {args.steps}; python -m train induction ... --resume continues")
        return 0
    card = make_card(name, args, model, tokenizer, len(train_ids), len(dev), history, sittings.end(step),
                     run_facts(args, device, trained_s), recipe)
    if args.layers > 1:
        control = args.out / "induction-1l.json"
        card["control_1_layer"] = control_summary(control)
    if not args.no_export:
        export(model.cpu(), tokenizer, args.out / name)
        print(f"wrote {args.out / name}/")
    write_card(card, args.out / f"{name}.json")
    print(f"wrote {args.out / name}.json: best induction {card['induction']['init']:.3f} -> "
          f"{card['induction']['final']:.3f}, phase change at step {card['induction']['phase_change_step']}")
    return 0
