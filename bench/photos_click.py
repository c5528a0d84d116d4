"""One click on the photos page, for a 1024 x 1024 upload on the CPU: time and memory.

After the first run (the backbone features of every stage are computed once and cached
per image, as the page does), a click computes three maps for one query position:
the parameter-free affinity and the DNL pairwise and unary terms. Compared in the
same run against the baseline that forms the full N x N matrices (N = h·w positions)
and reads the query's row from them.

Prints, per backbone stage: N, median time per click for both methods, their ratio,
and the peak extra memory of each (measured in a child process as the growth of its
peak resident set size, VmHWM, so it counts what torch really allocates). The baseline is
skipped where its matrices alone would not fit in ``--max-gib``.

    python bench/photos_click.py [--clicks 30] [--side 1024] [--max-gib 4]

Not part of the tests: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from analysis.affinity import StageCache, click_records, full_affinity, resolve_scale, stage_cache  # noqa: E402
from models.pretrained import efficientnet_lite as effnet  # noqa: E402

SCALE, GAIN = "auto", 5.0  # the page's defaults


def photo(side: int) -> np.ndarray:
    """chelsea.png from scikit-image's wheel, resized to side x side (an 'upload')."""
    from PIL import Image

    from ui.image_input import sample_images

    path = sample_images()["chelsea"]
    return np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR))


def click_rows(cache: StageCache, query) -> list[torch.Tensor]:
    """What the page does on a click (analysis.affinity.click_records on the cached stage)."""
    return [r.weights for r in click_records(cache, query, scale=SCALE, gain=GAIN)]


def click_full(feats: torch.Tensor, query) -> list[torch.Tensor]:
    """Baseline: the full N x N matrices, then the query's row of each."""
    c, h, w = feats.shape
    x = feats.reshape(c, h * w)
    s = resolve_scale(SCALE, c, x) * GAIN
    i = query[0] * w + query[1]
    mu = x.mean(dim=1, keepdim=True)
    xc = x - mu
    affinity = full_affinity(feats, s)                         # (N, N)
    pairwise = torch.softmax((xc.T @ xc) * s, dim=1)           # (N, N)
    unary = torch.softmax((mu.T @ x) * s, dim=1).expand(h * w, -1)  # (N, N) view, as one would
    return [affinity[i].reshape(h, w), pairwise[i].reshape(h, w), unary[i].reshape(h, w)]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_child(method: str, path: str, query, out) -> None:
    # VmHWM (peak RSS of this address space) rather than ru_maxrss: the latter is
    # inherited from the parent across fork/exec, so a big parent would hide the child's peak.
    feats = torch.load(path, weights_only=True)
    cache = stage_cache(feats)  # per image and stage, as the page caches it
    # Reset VmHWM to the current RSS (Linux >= 4.0), so the loading and caching
    # above do not mask the click's own peak.
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    before = _status_kib("VmRSS")
    rows = click_rows(cache, query) if method == "row" else click_full(feats, query)
    float(sum(r.sum() for r in rows))
    out.put((_status_kib("VmHWM") - before) * 1024)


def peak_bytes(method: str, path: str, query) -> int:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(method, path, query, q))
    p.start()
    value = q.get(timeout=600)
    p.join()
    return int(value)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--baseline-repeats", type=int, default=3)
    ap.add_argument("--max-gib", type=float, default=4.0, help="skip the baseline above this matrix size")
    ap.add_argument("--stages", default=",".join(effnet.STAGE_NAMES))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; "
          f"{args.side} x {args.side} photo, scale={SCALE} gain={GAIN}")

    model = effnet.load_efficientnet_lite0("cpu")
    img = photo(args.side)
    t0 = time.perf_counter()
    feats_all = effnet.stage_features(model, img, size=None)
    first = time.perf_counter() - t0
    print(f"first run (backbone features, all stages, cached by the page afterwards): {first:.2f} s\n")

    header = (f"{'stage':7} {'grid':>9} {'N':>7} {'C':>4} | {'row ms':>8} {'row MiB':>8} | "
              f"{'full ms':>9} {'full MiB':>9} | {'time x':>7} {'mem x':>7} | equal")
    print(header)
    print("-" * len(header))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"photos_click_{os.getpid()}.pt"
    for stage in args.stages.split(","):
        feats = feats_all[stage].contiguous()
        c, h, w = feats.shape
        n = h * w
        cache = stage_cache(feats)  # once per image and stage: the page caches this with the features
        queries = [(int(rng.integers(h)), int(rng.integers(w))) for _ in range(args.clicks)]
        it = iter(queries * 2)
        click_rows(cache, queries[0])  # warm-up
        t_row = median_time(lambda: click_rows(cache, next(it)), args.clicks)
        torch.save(feats, tmp)
        m_row = peak_bytes("row", str(tmp), queries[0])
        full_gib = 2 * n * n * 4 / 2**30  # affinity + pairwise matrices, float32
        if full_gib <= args.max_gib:
            q = queries[0]
            same = all(torch.allclose(a, b, atol=1e-6) for a, b in
                       zip(click_rows(cache, q), click_full(feats, q)))
            t_full = median_time(lambda: click_full(feats, q), args.baseline_repeats)
            m_full = peak_bytes("full", str(tmp), q)
            mem_ratio = f"{m_full / m_row:7.0f}" if m_row > 0 else f"{'n/a':>7}"
            print(f"{stage:7} {h:>4}x{w:<4} {n:>7} {c:>4} | {t_row * 1e3:8.2f} {m_row / 2**20:8.1f} | "
                  f"{t_full * 1e3:9.1f} {m_full / 2**20:9.1f} | {t_full / t_row:7.0f} {mem_ratio} | {same}")
        else:
            print(f"{stage:7} {h:>4}x{w:<4} {n:>7} {c:>4} | {t_row * 1e3:8.2f} {m_row / 2**20:8.1f} | "
                  f"skipped: the two N x N matrices need {full_gib:.0f} GiB")
    tmp.unlink(missing_ok=True)
    print("\nrow = one row per map (the page); full = N x N matrices, then the row. "
          "MiB = growth of the peak RSS (VmHWM) of a fresh process during its first click (features already loaded).")


if __name__ == "__main__":
    main()
