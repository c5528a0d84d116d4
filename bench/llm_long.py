"""SmolLM2-135M over long contexts: the Transformer page's path against the bare forward
and against Hugging Face's eager ``output_attentions``, in one run.

For each length T (default 1024, 4096, 8192 tokens of seeded random ids), each case runs
in its own subprocess so its peak resident memory is its own. "peak" is the process's
ru_maxrss (model, libraries and the case: what the machine must hold); "work" is the peak
minus the RSS once the memory-mapped weights are resident (a short forward pages them in
first; before that, the first forward's paging of ~540 MB of weights counted as its work):
  bare       model(ids) on PyTorch SDPA, no capture: the floor
  first      the page's first view: forward with q/k capture + the head's pooled overview
             + one 128 x 128 tile at full resolution
  switch     after the capture, another head's overview + tile (what a head switch costs)
  eager      attn_implementation="eager", output_attentions=True (every layer x head x T x T),
             run only where its estimated memory fits; otherwise the estimate is printed
and the bytes of the plotly JSON the page sends for one view (overview image + tile).
Prints times, peaks and the ratios first/bare. Targets (issue 12): first view <= 1.5x
the bare forward in time and peak memory; a head switch at 4k <= 0.3 s on 2 CPU cores;
<= 3 MB per view.

    python bench/llm_long.py [--lengths 1024 4096 8192] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAYER, HEAD, OTHER_HEAD = 15, 0, 6


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(case: str, n: int, threads: int) -> dict:
    import torch

    from models.pretrained import llm_capture as lc
    from models.pretrained.llm_local import load_causal_lm, smollm2_gguf

    torch.set_num_threads(threads)
    loaded = load_causal_lm(smollm2_gguf())
    model = loaded.model
    ids = torch.randint(0, model.config.vocab_size, (1, n), generator=torch.Generator().manual_seed(0))
    # The weights are memory-mapped: the first forward pages all of them in (~540 MB for
    # SmolLM2 in float32), which would count as the first case's own memory. A short
    # forward first makes them resident, so "work" below is what the case itself needs.
    with torch.inference_mode():
        model(input_ids=ids[:, :8], use_cache=False, logits_to_keep=1)
    base = _rss_mb()
    out: dict = {"case": case, "tokens": n, "resident_mb": base}
    with torch.inference_mode():
        if case == "bare":
            model.set_attn_implementation("sdpa")
            t0 = time.perf_counter()
            model(input_ids=ids, use_cache=False, logits_to_keep=1)
            out["seconds"] = time.perf_counter() - t0
        elif case in ("first", "switch"):
            t0 = time.perf_counter()
            _, captured = lc.capture(model, ids, logits_to_keep=1)
            over = lc.head_overview(captured, LAYER, HEAD)
            tile = lc.head_map(captured, LAYER, HEAD, rows=slice(n - 128, n), cols=slice(n - 128, n))
            out["seconds"] = time.perf_counter() - t0
            if case == "switch":
                t0 = time.perf_counter()
                over = lc.head_overview(captured, LAYER, OTHER_HEAD)
                tile = lc.head_map(captured, LAYER, OTHER_HEAD, rows=slice(n - 128, n), cols=slice(n - 128, n))
                out["seconds"] = time.perf_counter() - t0
            from viz.attention import attention_heatmap
            from viz.llm import overview_figure

            pooled = over.numpy()
            fig = overview_figure(pooled, int(over.meta["block"]), n, 128, selected=(n - 128, n - 128))
            heat = attention_heatmap(tile.numpy(), [str(i) for i in range(128)], [str(i) for i in range(128)],
                                     query_start=n - 128, key_start=n - 128)
            out["view_bytes"] = len(fig.to_json()) + len(heat.to_json())
        elif case == "eager":
            cfg = model.config
            need = cfg.num_hidden_layers * cfg.num_attention_heads * n * n * 4
            have = lc.available_bytes(torch.device("cpu"))
            out["estimated_gib"] = need / 2**30
            if need * 2.5 > 0.8 * have:  # the weights, their softmax input and copies
                out["skipped"] = f"needs about {2.5 * need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB free"
                return out
            model.set_attn_implementation("eager")
            t0 = time.perf_counter()
            model(input_ids=ids, use_cache=False, logits_to_keep=1, output_attentions=True)
            out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _rss_mb()          # the whole process: model, libraries and the case
    out["work_mb"] = out["peak_mb"] - base  # what the case adds on top of the resident model
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8192])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--one", nargs=2, metavar=("CASE", "TOKENS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.threads)))
        return
    print(f"SmolLM2-135M-Instruct, {args.threads} threads; each case in its own process; peak = the process's "
          "ru_maxrss (model, libraries and the case); work = peak minus the RSS once the weights are resident")
    print(f"{'tokens':>7} {'case':<7} {'seconds':>8} {'peak MB':>8} {'work MB':>8}  notes")
    for n in args.lengths:
        rows = {}
        for case in ("bare", "first", "switch", "eager"):
            res = subprocess.run([sys.executable, __file__, "--one", case, str(n), "--threads", str(args.threads)],
                                 capture_output=True, text=True)
            if res.returncode:
                rows[case] = {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
            else:
                rows[case] = json.loads(res.stdout.strip().splitlines()[-1])
            r = rows[case]
            note = r.get("skipped") or r.get("error") or (f"view {r['view_bytes'] / 1e6:.2f} MB" if "view_bytes" in r else "")
            print(f"{n:>7} {case:<7} {r.get('seconds', float('nan')):>8.2f} {r.get('peak_mb', float('nan')):>8.0f} "
                  f"{r.get('work_mb', float('nan')):>8.0f}  {note}", flush=True)
        b, f = rows["bare"], rows["first"]
        if "seconds" in b and "seconds" in f:
            print(f"{n:>7} ratio   first/bare time {f['seconds'] / b['seconds']:.2f}x, peak memory "
                  f"{f['peak_mb'] / max(b['peak_mb'], 1):.2f}x (work {f['work_mb']:.0f} MB against "
                  f"{b['work_mb']:.0f} MB); head switch {rows['switch'].get('seconds', float('nan')):.2f} s",
                  flush=True)


if __name__ == "__main__":
    main()
