"""Translation training and decoding speed: the project's fast paths against the plain
ones, same model, same batches, same run.

Training (tokens and steps per second, forward + backward + Adam on real corpus batches
of --max-tokens tokens from length buckets):
  - Transformer: fused attention, no records (``need_weights=False``) against the plain
    path that materialises and stacks every attention map;
  - RNNsearch and seq2seq for reference (RNNsearch's decoder is one step at a time: batching
    its readout over all target positions measured 0.97x, no gain, so it was not kept).
Decoding (greedy on 48 dev verses): the Transformer with cached keys and values against
re-running the decoder over the whole prefix at every step.

    python bench/translation_train.py [--threads 2] [--steps 20]

Needs the corpus (make corpus). Prints medians and the ratios fast/plain.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from corpora.bible import DATA  # noqa: E402
from models.translation.nets import PAD, NetConfig, Transformer, build_model, greedy  # noqa: E402
from train.translation import DEFAULTS, encode_pairs, make_batches, pad, prepare_data  # noqa: E402


def transformer_recompute_step(model: Transformer, state, last):
    """Decoding without a cache: the whole prefix through the decoder at every step."""
    prefix = torch.cat([state["prefix"], last.unsqueeze(1)], 1) if "prefix" in state else last.unsqueeze(1)
    logits, _ = model.decode(state, prefix, need_weights=False)
    return torch.log_softmax(logits[:, -1], -1), {**state, "prefix": prefix}


def train_speed(model, forwards: dict, batches, train, steps):
    """Median tokens/s and steps/s of each forward, alternating on the same batches so
    that machine noise falls on all of them alike."""
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    model.train()
    times = {name: [] for name in forwards}
    tokens = []
    for i, batch in enumerate(batches[:steps + 2]):
        src = pad([train[j][0] for j in batch], "cpu")
        tgt = pad([train[j][1] for j in batch], "cpu")
        for name, forward in forwards.items():
            t0 = time.perf_counter()
            logits, _ = forward(src, tgt[:, :-1])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 2:  # warm-up steps excluded
                times[name].append(time.perf_counter() - t0)
        if i >= 2:
            tokens.append(int((src != PAD).sum() + (tgt[:, 1:] != PAD).sum()))
    # medians: one slow step (a long batch, the allocator) must not decide the result
    return {name: (statistics.median(n / dt for n, dt in zip(tokens, t)), 1 / statistics.median(t))
            for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--max-tokens", type=int, default=4000)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = prepare_data(argparse.Namespace(tsv=None, data=str(DATA), seed=1))
    train = encode_pairs(data["split"]["train"], data["sp_src"], data["sp_tgt"])
    batches = make_batches(train, args.max_tokens, random.Random(0))
    print(f"{args.threads} threads, batches of ~{args.max_tokens} tokens, {args.steps} timed steps each")
    print(f"{'model':<12} {'path':<34} {'tokens/s':>9} {'steps/s':>8}")
    for arch, plain_name in (("transformer", "plain attention + records"), ("rnnsearch", None), ("seq2seq", None)):
        hp = dict(DEFAULTS[arch])
        hp.pop("lr")
        torch.manual_seed(0)
        model = build_model(NetConfig(arch, 4000, 4000, **hp))
        forwards = {"fast (as trained)": lambda s, t: model(s, t, need_weights=False)}
        if plain_name:
            forwards[plain_name] = lambda s, t: model(s, t, need_weights=True)
        speeds = train_speed(model, forwards, batches, train, args.steps)
        fast = speeds["fast (as trained)"]
        for name, (tok, steps) in speeds.items():
            ratio = "" if name.startswith("fast") else f"   fast/plain {fast[0] / tok:.2f}x"
            print(f"{arch:<12} {name:<34} {tok:>9.0f} {steps:>8.2f}{ratio}")

    hp = dict(DEFAULTS["transformer"])
    hp.pop("lr")
    torch.manual_seed(0)
    model = build_model(NetConfig("transformer", 4000, 4000, **hp)).eval()
    dev = data["split"]["dev"][:48]
    src = pad([data["sp_src"].encode(en)[:120] + [3] for en, _ in dev], "cpu")
    timings, cached_step = {}, Transformer.step
    for name, step in (("cached", cached_step), ("recompute", transformer_recompute_step)):
        Transformer.step = step
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = greedy(model, src, 80)
            runs.append(time.perf_counter() - t0)
        timings[name] = (statistics.median(runs), sum(len(o) for o in out))
    Transformer.step = cached_step
    c, r = timings["cached"][0], timings["recompute"][0]
    print(f"greedy decoding of 48 dev verses (up to 80 tokens, untrained model): cached {c:.2f} s, "
          f"re-running the prefix {r:.2f} s, speed-up {r / c:.2f}x")


if __name__ == "__main__":
    main()
