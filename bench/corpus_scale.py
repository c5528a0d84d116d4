"""The corpus job on Ray with 1 and 2 workers against a plain single-process loop, on the
same texts: texts per second and the ratios (not part of make test).

    python bench/corpus_scale.py [--model minilm] [--texts 400] [--max-tokens 128]

Each Ray run starts a fresh local instance (its start-up is timed apart); the job's time
then includes starting the actors, each loading the model once, and writing every batch's
Parquet files. The loop's model load is timed apart from its compute; the ratios compare
the loop's load + compute with the job's time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import corpus_stats as cs  # noqa: E402
from corpora.texts import bundled_verses, sample  # noqa: E402
from jobs import corpus as jc  # noqa: E402


def plain_loop(spec: jc.JobSpec, texts) -> tuple[float, float]:
    """(load seconds, compute seconds) in this process, batch by batch as the actors do."""
    import torch

    torch.set_num_threads(1)  # as one Ray actor with one CPU
    t0 = time.perf_counter()
    loaded = cs.load_model(spec.model)
    rate = cs.qk_rate(loaded, len(texts.texts))
    t1 = time.perf_counter()
    for b in range(0, len(texts.texts), spec.batch_size):
        ids = list(range(b, min(b + spec.batch_size, len(texts.texts))))
        jc.measure_batch(loaded, spec, rate, ids, [texts.texts[i] for i in ids])
    return t1 - t0, time.perf_counter() - t1


def ray_run(spec: jc.JobSpec, texts, workers: int, root: Path) -> dict:
    import ray

    folder = jc.prepare(spec, texts, root / f"w{workers}")
    t0 = time.perf_counter()
    jc.connect(num_cpus=workers)
    start = time.perf_counter() - t0
    stamps = []
    t1 = time.perf_counter()
    result = jc.run_job(folder, workers=workers, progress=lambda done, total: stamps.append(time.perf_counter()))
    job = time.perf_counter() - t1
    ray.shutdown()
    # steady state: from the first finished batch to the last (actor start-up and model load excluded)
    later = len(texts.texts) - spec.batch_size
    steady = later / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")
    return {**result, "start": start, "job": job, "first": stamps[0] - t1 if stamps else float("nan"),
            "steady": steady}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    texts = sample(bundled_verses(), args.texts, seed=0)
    spec = jc.JobSpec(jc._resolve_model(args.model), args.max_tokens, args.batch_size)
    root = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    try:
        load, loop = plain_loop(spec, texts)
        n = len(texts.texts)
        print(f"{n} WEB verses, {'/'.join(Path(spec.model).parts[-2:])}, up to {args.max_tokens} tokens, batches of {args.batch_size}")
        print(f"plain loop (1 thread):   load {load:5.1f} s, compute {loop:6.1f} s -> {n / loop:6.1f} texts/s")
        runs = {w: ray_run(spec, texts, w, root) for w in (1, 2)}
        for w, r in runs.items():
            print(f"Ray, {w} worker{'s' if w > 1 else ' '}:         Ray start {r['start']:4.1f} s, job {r['job']:6.1f} s "
                  f"-> {n / r['job']:6.1f} texts/s; first batch after {r['first']:4.1f} s (actors start, model "
                  f"loads), then {r['steady']:6.1f} texts/s")
        print(f"whole job ratios: Ray 2 workers / 1 worker = {runs[1]['job'] / runs[2]['job']:.2f}x; "
              f"Ray 1 worker / plain loop (load + compute) = {(load + loop) / runs[1]['job']:.2f}x; "
              f"Ray 2 workers / plain loop = {(load + loop) / runs[2]['job']:.2f}x")
        print(f"steady-state ratios: Ray 2 workers / 1 worker = {runs[2]['steady'] / runs[1]['steady']:.2f}x; "
              f"Ray 1 worker / plain loop = {runs[1]['steady'] / (n / loop):.2f}x; "
              f"Ray 2 workers / plain loop = {runs[2]['steady'] / (n / loop):.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
