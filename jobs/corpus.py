"""Per-head attention statistics over a whole data set, as a Ray job.

    python -m jobs.corpus --model PATH|minilm|smollm2 --data FILE|web --out FOLDER \
        [--sample N] [--max-tokens 128] [--batch-size 16] [--workers N] [--address ray://…]

The texts are cut into batches of ``batch_size``. Ray actors (one per worker) each load the
model once (analysis/corpus_stats.py: any encoder or decoder, q/k captured from the fused
forward) and take batches; as each batch finishes, the driver writes its rows to Parquet in
the job's folder, one file per batch and table:

    job.json                  the settings, the data set's name and size, the batch count
    texts.parquet             the texts (text_id, ref, text)
    texts/batch-00000.parquet per text: tokens read, tokens in the whole text, why skipped, chance levels
    stats/batch-00000.parquet per (text, layer, head): entropy, sink, distance, local, previous
    qk/batch-00000.parquet    sampled positions: token, layer, head, query and key vectors (float16)
    status.json               running / done / failed (with the error), the driver's pid

A batch counts as finished once its stats file exists (written last, renamed into place),
so a job that was stopped (killed, Ctrl-C, a lost node) resumes where it stopped: run the
same command again and only unfinished batches are computed.

Where it runs: a local Ray instance started on demand (num_cpus from the machine, no
dashboard, every port on 127.0.0.1), or an existing cluster when ``--address`` or
``RAY_ADDRESS`` names one. Only the address and the resources per actor
(``--cpus-per-actor``, ``--gpus-per-actor``) change; the model path must exist on every
node (a shared filesystem), and this project's code travels as Ray's working_dir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import corpus_stats as cs
from corpora.texts import TextSet, TextsError, bundled_verses, read_file, sample
from jobs.ray_cluster import ROOT, RayStartError, connect, start_ray  # noqa: F401 (connect: tests, bench)

RESULTS_ENV = "WORKBENCH_RESULTS"
STATE_RUNNING, STATE_DONE, STATE_FAILED, STATE_STOPPED, STATE_NEW = "running", "done", "failed", "stopped", "new"


def results_root() -> Path:
    env = os.environ.get(RESULTS_ENV)
    return (Path(env) if env else ROOT / "results") / "corpus"


@dataclass(frozen=True)
class JobSpec:
    model: str                  # a folder or a .gguf file (checked by the caller)
    max_tokens: int = 128
    batch_size: int = 16
    seed: int = 0               # the sample of texts and of query/key positions
    local_window: int = cs.LOCAL_WINDOW


def job_id(spec: JobSpec, texts: TextSet) -> str:
    h = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode())
    for t in texts.texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\x1e")
    return h.hexdigest()[:16]


def prepare(spec: JobSpec, texts: TextSet, root: Path | None = None) -> Path:
    """The job's folder (named by the settings and the texts), with job.json and the texts;
    an existing folder for the same job is kept as it is, so the job resumes."""
    folder = (root or results_root()) / job_id(spec, texts)
    if (folder / "job.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"text_id": np.arange(len(texts.texts), dtype=np.int64), "ref": list(texts.refs),
                      "text": list(texts.texts)})
    _write(table, folder / "texts.parquet")
    n_batches = -(-len(texts.texts) // spec.batch_size)
    meta = {"spec": asdict(spec), "source": texts.source, "n_texts": len(texts.texts), "n_batches": n_batches,
            "skipped_lines": texts.skipped, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write_json(folder / "job.json", meta)
    return folder


def read_job(folder: Path) -> dict:
    return json.loads((folder / "job.json").read_text(encoding="utf-8"))


def spec_of(folder: Path) -> JobSpec:
    return JobSpec(**read_job(folder)["spec"])


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)        # a reader never sees half a file


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _batch_file(folder: Path, kind: str, b: int) -> Path:
    return folder / kind / f"batch-{b:05d}.parquet"


def finished_batches(folder: Path) -> set[int]:
    return {int(p.stem.split("-")[1]) for p in (folder / "stats").glob("batch-*.parquet")}


# --------------------------------------------------------------------------- one batch


def measure_batch(loaded, spec: JobSpec, qk_rate: float, ids: list[int], texts: list[str]) -> dict[str, pa.Table]:
    """Statistics of a batch of texts: {"texts", "stats", "qk"} tables, with ``qk_rate``
    query/key positions per text on average. A text that cannot be measured (fewer than 2
    tokens) is a row with its reason in "skipped"."""
    rows, stats, qk = [], [], []
    n_layers, n_heads = loaded.n_layers, loaded.n_heads
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    for text_id, text in zip(ids, texts):
        try:
            r = cs.measure_text(loaded, text, spec.max_tokens, cs.qk_positions(qk_rate, text_id), spec.seed,
                                spec.local_window)
        except ValueError as exc:
            rows.append({"text_id": text_id, "n_tokens": 0, "n_tokens_total": 0, "causal": False,
                         "skipped": f"too short: {exc}",
                         **{f"chance_{k}": np.nan for k in cs.STATISTICS}})
            continue
        rows.append({"text_id": text_id, "n_tokens": r.n_tokens, "n_tokens_total": r.n_tokens_total,
                     "causal": r.causal, "skipped": "", **{f"chance_{k}": v for k, v in r.chance.items()}})
        stats.append(pd.DataFrame({"text_id": text_id, "layer": layers.ravel(), "head": heads.ravel(),
                                   **{k: r.stats[k].ravel() for k in cs.STATISTICS}}))
        p = len(r.positions)
        if p:
            d = r.q.shape[-1]
            qk.append({"text_id": np.full(n_layers * n_heads * p, text_id),
                       "position": np.tile(r.positions, n_layers * n_heads),
                       "token": list(r.tokens) * (n_layers * n_heads),
                       "layer": np.repeat(layers.ravel(), p), "head": np.repeat(heads.ravel(), p),
                       "q": r.q.reshape(-1, d), "k": r.k.reshape(-1, d)})
    stat_frame = pd.concat(stats, ignore_index=True) if stats else pd.DataFrame(
        {"text_id": [], "layer": [], "head": [], **{k: [] for k in cs.STATISTICS}})
    return {"texts": pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False),
            "stats": pa.Table.from_pandas(stat_frame.astype({"text_id": "int64", "layer": "int16", "head": "int16"}),
                                          preserve_index=False),
            "qk": _qk_table(qk)}


def _qk_table(parts: list[dict]) -> pa.Table:
    if not parts:
        return pa.table({"text_id": pa.array([], pa.int64()), "position": pa.array([], pa.int32()),
                         "token": pa.array([], pa.string()), "layer": pa.array([], pa.int16()),
                         "head": pa.array([], pa.int16())})
    cat = {k: np.concatenate([p[k] for p in parts]) if k != "token" else sum((p[k] for p in parts), [])
           for k in parts[0]}
    d = cat["q"].shape[1]
    return pa.table({"text_id": pa.array(cat["text_id"], pa.int64()), "position": pa.array(cat["position"], pa.int32()),
                     "token": pa.array(cat["token"], pa.string()), "layer": pa.array(cat["layer"], pa.int16()),
                     "head": pa.array(cat["head"], pa.int16()),
                     "q": pa.FixedSizeListArray.from_arrays(pa.array(cat["q"].ravel()), d),
                     "k": pa.FixedSizeListArray.from_arrays(pa.array(cat["k"].ravel()), d)})


class CorpusWorker:
    """A Ray actor's body: loads the model once, then measures batch after batch."""

    def __init__(self, spec: JobSpec, n_texts: int, threads: int = 1):
        import torch

        torch.set_num_threads(max(1, threads))
        self.spec = spec
        self.loaded = cs.load_model(spec.model)
        self.qk_rate = cs.qk_rate(self.loaded, n_texts)

    def measure(self, b: int, ids: list[int], texts: list[str]) -> tuple[int, dict[str, pa.Table]]:
        return b, measure_batch(self.loaded, self.spec, self.qk_rate, ids, texts)


def _batches(folder: Path, spec: JobSpec):
    frame = pq.read_table(folder / "texts.parquet").to_pandas()
    for b in range(0, len(frame), spec.batch_size):
        part = frame.iloc[b:b + spec.batch_size]
        yield b // spec.batch_size, part["text_id"].tolist(), part["text"].tolist()


def _save_batch(folder: Path, b: int, tables: dict[str, pa.Table]) -> None:
    for kind in ("qk", "texts", "stats"):        # stats last: it marks the batch finished
        _write(tables[kind], _batch_file(folder, kind, b))


# --------------------------------------------------------------------------- status


def write_status(folder: Path, state: str, **extra) -> None:
    _write_json(folder / "status.json", {"state": state, "pid": os.getpid(), "updated": time.time(), **extra})


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def job_state(folder: Path) -> dict:
    """{"state", "done", "total", "error"}: running only while the driver process lives;
    a driver that died without finishing counts as stopped (run again to resume)."""
    meta = read_job(folder)
    done, total = len(finished_batches(folder)), meta["n_batches"]
    try:
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {"state": STATE_NEW}
    state = status.get("state", STATE_NEW)
    if done >= total:
        state = STATE_DONE
    elif state == STATE_RUNNING and not _alive(status.get("pid")):
        state = STATE_STOPPED
    elif state == STATE_DONE:      # files removed by hand
        state = STATE_STOPPED
    return {"state": state, "done": done, "total": total, "error": status.get("error", ""),
            "workers": status.get("workers"), "address": status.get("address", "")}


# --------------------------------------------------------------------------- Ray


def run_job(folder: Path, address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
            cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0, max_batches: int | None = None,
            progress=None) -> dict:
    """Compute every unfinished batch of the prepared job in ``folder`` on Ray.
    ``max_batches`` stops after that many (a stop, for tests); ``progress(done, total)`` after
    each batch. Returns {"computed": batches computed now, "done", "total", "seconds"}."""
    folder = Path(folder)
    meta, spec = read_job(folder), spec_of(folder)
    finished = finished_batches(folder)
    todo = [b for b in _batches(folder, spec) if b[0] not in finished][:max_batches]
    start = time.perf_counter()
    write_status(folder, STATE_RUNNING)
    started = False
    try:
        started = start_ray(connect, address, num_cpus)
        import ray  # after connect(): a local start sets how ray picks its address before the import

        resources = ray.cluster_resources()
        per = gpus_per_actor if gpus_per_actor else cpus_per_actor
        have = resources.get("GPU" if gpus_per_actor else "CPU", 1.0)
        n = max(1, min(workers or int(have // per) or 1, len(todo) or 1))
        write_status(folder, STATE_RUNNING, workers=n, address=address or os.environ.get("RAY_ADDRESS", "local"))
        actor = ray.remote(num_cpus=cpus_per_actor, num_gpus=gpus_per_actor)(CorpusWorker)
        pool = [actor.remote(spec, meta["n_texts"], max(1, int(cpus_per_actor))) for _ in range(n)]
        pending, queue, computed = {}, list(todo), 0
        for a in pool:
            if queue:
                b, ids, texts = queue.pop(0)
                pending[a.measure.remote(b, ids, texts)] = a
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            a = pending.pop(ready[0])
            b, tables = ray.get(ready[0])
            _save_batch(folder, b, tables)
            computed += 1
            if queue:
                nb, ids, texts = queue.pop(0)
                pending[a.measure.remote(nb, ids, texts)] = a
            if progress is not None:
                progress(len(finished) + computed, meta["n_batches"])
        state = STATE_DONE if len(finished_batches(folder)) >= meta["n_batches"] else STATE_STOPPED
        write_status(folder, state, workers=n, seconds=time.perf_counter() - start)
        return {"computed": computed, "done": len(finished) + computed, "total": meta["n_batches"],
                "seconds": time.perf_counter() - start, "workers": n}
    except BaseException as exc:
        stopped = isinstance(exc, KeyboardInterrupt)
        write_status(folder, STATE_STOPPED if stopped else STATE_FAILED, error="" if stopped else _reason(exc))
        raise
    finally:
        if started:
            import ray

            ray.shutdown()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RayStartError):
        return str(exc)[:2000]
    text = str(exc).strip().splitlines()
    cause = getattr(exc, "cause", None)           # a RayTaskError wraps the actor's own error
    if cause is not None and str(cause).strip():
        text = str(cause).strip().splitlines()
    return f"{type(cause or exc).__name__}: {text[-1] if text else ''}"[:2000]


def launch(folder: Path, address: str | None = None, workers: int | None = None) -> int:
    """Start the job as its own process (the Corpus page does this and reads the files it
    writes); returns the pid. Its output goes to job.log in the folder."""
    cmd = [sys.executable, "-m", "jobs.corpus", "--job", str(folder)]
    if address:
        cmd += ["--address", address]
    if workers:
        cmd += ["--workers", str(workers)]
    log = open(folder / "job.log", "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    log.close()
    write_status(folder, STATE_RUNNING, pid=proc.pid, launched=True)
    return proc.pid


def stop(folder: Path) -> bool:
    """Stop a job started by ``launch`` (its whole process group: the driver and its local Ray)."""
    try:
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
        pid = int(status["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)       # launched here: its own process group
    except OSError:
        try:
            os.kill(pid, signal.SIGTERM)     # started from a shell: the driver alone
        except OSError:
            return False
    write_status(folder, STATE_STOPPED, pid=pid)
    return True


# --------------------------------------------------------------------------- results


def load_results(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(texts, stats): per text (with its ref, text, tokens, skip reason, chance levels) and
    per (text, layer, head), over the finished batches."""
    texts = pq.read_table(folder / "texts.parquet").to_pandas()
    parts = sorted((folder / "texts").glob("batch-*.parquet"))
    done = finished_batches(folder)
    keep = [p for p in parts if int(p.stem.split("-")[1]) in done]
    per_text = pd.concat([pd.read_parquet(p) for p in keep], ignore_index=True) if keep else pd.DataFrame(
        {"text_id": pd.Series([], dtype="int64")})
    stats_parts = [pd.read_parquet(_batch_file(folder, "stats", b)) for b in sorted(done)]
    stats = pd.concat(stats_parts, ignore_index=True) if stats_parts else pd.DataFrame(
        {"text_id": [], "layer": [], "head": [], **{k: [] for k in cs.STATISTICS}})
    return texts.merge(per_text, on="text_id", how="inner"), stats


def load_qk(folder: Path, layer: int, head: int) -> pd.DataFrame:
    """The sampled queries and keys of one head: text_id, position, token, q (n, d), k (n, d)."""
    import pyarrow.dataset as ds

    files = [str(_batch_file(folder, "qk", b)) for b in sorted(finished_batches(folder))
             if _batch_file(folder, "qk", b).is_file()]
    if not files:
        return pd.DataFrame()
    data = ds.dataset(files, format="parquet")
    if "q" not in data.schema.names:
        return pd.DataFrame()
    table = data.to_table(filter=(ds.field("layer") == layer) & (ds.field("head") == head))
    frame = table.select(["text_id", "position", "token"]).to_pandas()
    for name in ("q", "k"):
        col = table.column(name).combine_chunks()
        width = col.type.list_size
        frame[name] = list(col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)) if len(col) else []
    return frame


def list_jobs(root: Path | None = None) -> list[Path]:
    """Every job folder under the results root, newest first."""
    root = root or results_root()
    found = [p.parent for p in root.glob("*/job.json")]
    return sorted(found, key=lambda p: (p / "job.json").stat().st_mtime, reverse=True)


# --------------------------------------------------------------------------- command line


def _resolve_model(name: str) -> str:
    from models.pretrained.hf import check_model_dir, default_model_dir
    from models.pretrained.llm_local import checked_gguf, smollm2_gguf

    if name == "minilm":
        return str(default_model_dir())
    if name == "smollm2":
        return str(smollm2_gguf())
    return str(checked_gguf(name) if name.lower().endswith(".gguf") else check_model_dir(name))


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # a stop from the page (SIGTERM) ends like Ctrl-C: status "stopped"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="minilm, smollm2, a Hugging Face folder or a .gguf file")
    parser.add_argument("--data", help="web (the bundled verses) or a .txt/.csv/.jsonl file")
    parser.add_argument("--column", default="text", help="the text column of a .csv/.jsonl file")
    parser.add_argument("--out", type=Path, help=f"results folder (default {results_root()}); each job is a folder in it")
    parser.add_argument("--job", type=Path, help="run (or resume) a prepared job folder instead")
    parser.add_argument("--sample", type=int, default=0, help="at most this many texts, drawn with --seed")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    parser.add_argument("--workers", type=int, help="actors (default: CPUs / --cpus-per-actor)")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--gpus-per-actor", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.job is None:
        if not args.model or not args.data:
            parser.error("give --model and --data (or --job FOLDER)")
        try:
            texts = bundled_verses() if args.data == "web" else read_file(args.data, args.column)
            model = _resolve_model(args.model)
        except (TextsError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.sample:
            texts = sample(texts, args.sample, args.seed)
        spec = JobSpec(model, args.max_tokens, args.batch_size, args.seed)
        folder = prepare(spec, texts, args.out)
    else:
        folder = args.job
    meta = read_job(folder)
    print(f"{folder}: {meta['n_texts']} texts in {meta['n_batches']} batches; "
          f"{len(finished_batches(folder))} already finished", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    result = run_job(folder, args.address, args.workers, cpus_per_actor=args.cpus_per_actor,
                     gpus_per_actor=args.gpus_per_actor,
                     progress=lambda d, t: print(f"batch {d}/{t}", flush=True))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
