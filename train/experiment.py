"""Arms × seeds on Ray: every trial is one of this package's training commands; then one
card per arm with each number's mean and standard deviation over the seeds.

    python -m train experiment spatial --arms baseline cbam_channel cbam_full --seeds 0 1 2 3 4 -- --epochs 5
    python -m train experiment captioning --arms full no_ds --seeds 0 1 2 -- --max-minutes 12
    python -m train experiment spatial --arms baseline --seeds 0 1 --address ray://head:10001
    python -m train experiment spatial --arms baseline cbam_full --seeds 0 1 2 3 4 --summarise-only

A trial runs ``python -m train LAB <arm flag> ARM --seed S --threads C --resume --out
RUNS/ARM/seed-S --checkpoints RUNS/ARM/seed-S/checkpoints`` and the options after ``--``, as
the child of a Ray task that holds C CPUs (``--cpus-per-trial``; GPUs with
``--gpus-per-trial``), so a 2-core machine trains two one-CPU trials at a time. Its output
goes to RUNS/ARM/seed-S/train.log and, once it exits cleanly, the runner writes trial.json
beside the card the lab wrote. Running the same command again skips finished trials; a
stopped one resumes from its own checkpoint (every lab's ``--resume``; a run with nothing to
resume starts fresh). A trial counts as finished only for the options it was trained with:
after ``-- --epochs 10``, a seed trained with ``--epochs 5`` is trained again (its old folder
is kept aside as seed-S.before-N), and a summary never mixes seeds trained differently.

The summary card of an arm, written to ``--out`` (assets/ by default) under the lab's own card
name: the lowest seed's card (its weights are copied beside it; the page reads that card as
before) plus ``seeds`` and ``across_seeds``, every number that every seed's card holds as
{"mean", "sd" (n - 1), "values" (in seed order)}, keyed by its dotted path in the card.

Trial records survive the machine: each finished trial's card (without weights) and its
trial.json go into ``--records`` (assets/experiments/LAB/ARM/seed-S.json by default, small
files meant to be committed), so a later sitting on a fresh machine, whose RUNS folder is
empty, skips those seeds and summarises them with the new ones. The record of the lowest
seed asked for also keeps that trial's weights (seed-S.safetensors), because the page shows
the lowest seed: its weights come from its trial folder, else from beside its record, else
from ``--out`` only when the card there summarises that very trial.

Where it runs: jobs/ray_cluster.py; a local instance of ``--num-cpus`` CPUs (default: the
machine's) unless ``--address`` or $RAY_ADDRESS names a cluster. Nothing else changes on a
cluster, except that RUNS and the data must sit on a filesystem every node sees.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jobs.ray_cluster import ROOT, RayStartError, connect, start_ray
from models.cards import numbers  # the dotted paths of across_seeds, read back by the pages

# How each lab names the variant it trains (labs without one take --arms with one name)
ARM_FLAGS = {"spatial": "--arch", "translation": "--arch", "captioning": "--variant", "induction": "--layers",
             "sagan": "--variant"}
TRIAL_FILE = "trial.json"
LOG_FILE = "train.log"
LOG_TAIL_LINES = 15


def runs_root(lab: str) -> Path:
    return ROOT / "results" / "experiments" / lab


def records_root(lab: str) -> Path:
    return ROOT / "assets" / "experiments" / lab


def record_path(records: Path, arm: str, seed: int) -> Path:
    return Path(records) / arm / f"seed-{seed}.json"


def trial_dir(runs: Path, arm: str, seed: int) -> Path:
    return Path(runs) / arm / f"seed-{seed}"


def trial_command(lab: str, arm: str, seed: int, folder: Path, cpus: float, extra: list[str]) -> list[str]:
    """The training command of one trial (the module's own flags come last so they cannot be
    overridden by accident from ``extra``)."""
    flag = ARM_FLAGS.get(lab)
    arm_args = [flag, arm] if flag else []
    return [sys.executable, "-m", "train", lab, *arm_args, *extra, "--seed", str(seed),
            "--threads", str(max(1, int(cpus))), "--resume", "--out", str(folder),
            "--checkpoints", str(folder / "checkpoints")]


def finished(folder: Path) -> dict | None:
    """trial.json of a trial that ended cleanly, else None."""
    try:
        return json.loads((Path(folder) / TRIAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def folder_holds(runs: Path, arm: str, seed: int, trial: dict) -> bool:
    """Whether RUNS' folder of (arm, seed) is this very trial (not one trained otherwise, nor none)."""
    return finished(trial_dir(runs, arm, seed)) == trial


try:  # loaded here, not in the forked child, where loading a library could deadlock
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not Linux: a stopped experiment may leave its training processes running
    _LIBC = None
PR_SET_PDEATHSIG, SIGTERM = 1, 15
ARM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a folder name: no paths, no dot files


def _child_setup(niceness: int) -> None:
    # Linux: the training process gets SIGTERM when its Ray worker dies (a stopped experiment)
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, SIGTERM)
    # Ray runs its workers 15 steps nicer than the driver; a trial is the experiment's real
    # work, so it goes back to the driver's priority where it may (raising priority needs root)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError:
        pass


def record_weights_path(records: Path, arm: str, seed: int) -> Path:
    """Where a record keeps its trial's weights (only the page's seed, the lowest one asked for)."""
    return record_path(records, arm, seed).with_suffix(".safetensors")


def write_record(records: Path, runs: Path, arm: str, seed: int, result: dict, keep_weights: bool = False) -> Path:
    """The finished trial's trial.json and card, in one small file that outlives RUNS; with
    ``keep_weights``, the weights its card names beside it, so that a summary on a fresh
    machine can still show this seed's model on the page."""
    folder = trial_dir(runs, arm, seed)
    card = json.loads((folder / result["card"]).read_text(encoding="utf-8"))
    path = record_path(records, arm, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"trial": result, "card": card}, indent=1), encoding="utf-8")
    tmp.replace(path)
    if keep_weights:
        keep_record_weights(records, runs, arm, seed, card)
    return path


def keep_record_weights(records: Path, runs: Path, arm: str, seed: int, card: dict) -> Path | None:
    """Copy the weights file the card names from the trial folder beside the record (once)."""
    if not card.get("weights"):
        return None
    weights, target = trial_dir(runs, arm, seed) / str(card["weights"]), record_weights_path(records, arm, seed)
    if not weights.is_file():
        return None
    if not target.is_file():
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(weights, tmp)
        tmp.replace(target)
    return target


def trial_options(trial: dict) -> list[str] | None:
    """The options after ``--`` that a trial was trained with: trial.json's ``options``, or,
    for a trial recorded before it kept them, the words of its command between the arm and
    ``--seed`` (trial_command puts them there). None when neither says."""
    if isinstance(trial.get("options"), list):
        return [str(o) for o in trial["options"]]
    words = shlex.split(str(trial.get("command", "")))
    lab = trial.get("lab")
    if lab not in words or "--seed" not in words:
        return None
    words = words[words.index(lab) + 1:words.index("--seed")]
    flag = ARM_FLAGS.get(lab)
    return words[2:] if flag and words[:2] == [flag, str(trial.get("arm"))] else words


def finished_trial(runs: Path, records: Path | None, arm: str, seed: int,
                   options: list[str] | None = None) -> tuple[dict, dict] | None:
    """(trial.json, card) of a finished trial: from its folder in RUNS, else from its record.
    With ``options``, only a trial trained with exactly those options counts."""
    def wanted(trial):
        return options is None or trial_options(trial) == list(options)

    folder = trial_dir(runs, arm, seed)
    trial = finished(folder)
    if trial is not None and wanted(trial):
        try:
            return trial, json.loads((folder / trial["card"]).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            pass
    if records is None:
        return None
    try:
        saved = json.loads(record_path(records, arm, seed).read_text(encoding="utf-8"))
        if not wanted(saved["trial"]):
            return None
        return saved["trial"], saved["card"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def set_aside_other_options(runs: Path, lab: str, arm: str, seed: int, options: list[str]) -> Path | None:
    """A trial folder trained with other options would be resumed from its checkpoint by the
    new trial (a 5-epoch schedule continued as a 10-epoch one): move it to seed-S.before-N,
    which keeps it, and return where it went. A stopped trial's options are read from the
    last command in its log."""
    folder = trial_dir(runs, arm, seed)
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    trial = finished(folder)
    if trial is None:
        log = folder / LOG_FILE
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
        last = next((line[2:] for line in reversed(lines) if line.startswith("$ ")), "")
        trial = {"lab": lab, "arm": arm, "command": last}
    if trial_options(trial) == list(options):
        return None
    n = 1
    while folder.with_name(f"{folder.name}.before-{n}").exists():
        n += 1
    aside = folder.with_name(f"{folder.name}.before-{n}")
    folder.rename(aside)
    return aside


def cards_in(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.json") if p.name != TRIAL_FILE)


def run_trial(lab: str, arm: str, seed: int, folder: str, cpus: float, extra: list[str], niceness: int) -> dict:
    """One trial, in a Ray task: the training command as a child process. Returns what
    trial.json holds (written only when the command succeeded), with ``returncode`` and,
    for a failure, the last lines of its log."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = trial_command(lab, arm, seed, folder, cpus, extra)
    started = time.time()
    with open(folder / LOG_FILE, "ab") as log:
        log.write(f"\n$ {shlex.join(cmd)}\n".encode())
        log.flush()
        code = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               preexec_fn=lambda: _child_setup(niceness))
    result = {"lab": lab, "arm": arm, "seed": seed, "command": "python " + shlex.join(cmd[1:]), "options": list(extra),
              "returncode": code, "seconds": round(time.time() - started, 1)}
    cards = cards_in(folder)
    if code == 0 and len(cards) == 1:
        result["card"] = cards[0].name
        (folder / TRIAL_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
    else:
        lines = (folder / LOG_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
        why = (f"exit code {code}" if code else
               f"it wrote {len(cards)} cards ({', '.join(p.name for p in cards) or 'none'}), not one")
        result["error"] = why + "; the log ends:\n" + "\n".join(lines[-LOG_TAIL_LINES:])
    return result


def across_seeds(cards: list[dict]) -> dict[str, dict]:
    """{path: {"mean", "sd", "values"}} for every number that every card holds."""
    per_card = [numbers(c) for c in cards]
    shared = [k for k in per_card[0] if all(k in n for n in per_card[1:])]
    out = {}
    for key in shared:
        values = [n[key] for n in per_card]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        out[key] = {"mean": mean, "sd": sd, "values": values}
    return out


def record_finished(records: Path, runs: Path, arm: str, trials: dict, weights_seed: int) -> None:
    """Record every trial finished in RUNS that has no record yet, and keep the page seed's
    weights beside its record when they are missing there (records written by an older runner)."""
    for s, found in trials.items():
        if found is None or not folder_holds(runs, arm, s, found[0]):
            continue
        if not record_path(records, arm, s).is_file():
            write_record(records, runs, arm, s, found[0], keep_weights=s == weights_seed)
        elif s == weights_seed:
            keep_record_weights(records, runs, arm, s, found[1])


def page_weights(runs: Path, records: Path | None, arm: str, trials: dict, earlier_card: Path):
    """(seed, [(source file, name in out)]): the weights that stand for the arm on the page, of the
    lowest seed that has them: in its trial folder, else beside its record, else those an
    earlier summary of that very trial (same command, same training time) put in out."""
    for s in sorted(trials):
        here = folder_holds(runs, arm, s, trials[s][0])    # a folder trained otherwise does not count
        files = sorted(trial_dir(runs, arm, s).glob("*.safetensors")) if here else []
        if files:
            return s, [(f, f.name) for f in files]
    for s in sorted(trials) if records is not None else ():
        kept, card = record_weights_path(records, arm, s), trials[s][1]
        if kept.is_file() and card.get("weights"):
            return s, [(kept, card["weights"])]
    earlier = json.loads(earlier_card.read_text(encoding="utf-8")) if earlier_card.is_file() else {}
    s = (earlier.get("experiment") or {}).get("weights_from_seed")
    same_trial = s in trials and all(earlier.get(k) == trials[s][1].get(k) for k in ("command", "training_time_s"))
    if not same_trial or not (earlier_card.parent / str(earlier.get("weights", ""))).is_file():
        raise ValueError(f"{arm}: no trial folder or record holds weights, and {earlier_card} is not the summary "
                         f"of a trial among seeds {sorted(trials)}; rerun one seed here to make them")
    return s, []


def summarise(runs: Path, arm: str, seeds: list[int], out: Path, made_by: str | None = None,
              records: Path | None = None, options: list[str] | None = None) -> Path:
    """Write the arm's summary card (and the page's weights) into ``out``; with ``options``,
    from trials trained with exactly those options."""
    trials = {s: finished_trial(runs, records, arm, s, options) for s in sorted(seeds)}
    if records is not None:  # trials finished by an earlier runner, or stopped before it recorded them
        record_finished(records, runs, arm, trials, min(seeds))
    missing = [s for s, t in trials.items() if t is None]
    if missing:
        trained = "" if options is None else f" with options {shlex.join(options) or '(none)'}"
        raise ValueError(f"{arm}: seeds {missing} have not finished{trained}; run the experiment (without "
                         "--summarise-only) to train them")
    names = {t["card"] for t, _ in trials.values()}
    if len(names) != 1:
        raise ValueError(f"{arm}: the seeds wrote different cards {sorted(names)}")
    name = names.pop()
    out = Path(out)
    weights_seed, weights = page_weights(runs, records, arm, trials, out / name)
    cards = [card for _, card in trials.values()]
    card = dict(trials[weights_seed][1])
    card["seeds"] = sorted(trials)
    card["across_seeds"] = across_seeds(cards)
    card["experiment"] = {"made_by": made_by, "weights_from_seed": weights_seed,
                          "trials": [trials[s][0]["command"] for s in sorted(trials)],
                          "trial_seconds": [trials[s][0]["seconds"] for s in sorted(trials)]}
    out.mkdir(parents=True, exist_ok=True)
    for source, target in weights:
        shutil.copyfile(source, out / target)
    path = out / name
    path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    return path


def run_experiment(lab: str, arms: list[str], seeds: list[int], runs: Path, extra: list[str],
                   address: str | None = None, num_cpus: int | None = None, cpus_per_trial: float = 1.0,
                   gpus_per_trial: float = 0.0, progress=None, records: Path | None = None) -> list[dict]:
    """Every unfinished (arm, seed) trial on Ray; returns the results of the trials run now.
    Each finished one is recorded in ``records`` as soon as it ends."""
    todo = [(a, s) for a in arms for s in seeds if finished_trial(runs, records, a, s, list(extra)) is None]
    if not todo:
        return []
    for a, s in todo:
        aside = set_aside_other_options(runs, lab, a, s, list(extra))
        if aside is not None:
            print(f"{a} seed {s}: its folder was trained with other options; kept as {aside}", flush=True)
    started = start_ray(connect, address, num_cpus)
    import ray

    try:
        task = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)(run_trial)
        niceness = os.getpriority(os.PRIO_PROCESS, 0)   # the driver's, for every trial
        pending = {task.remote(lab, a, s, str(trial_dir(runs, a, s)), cpus_per_trial, list(extra), niceness): (a, s)
                   for a, s in todo}
        results = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            arm, seed = pending.pop(ready[0])
            results.append(ray.get(ready[0]))
            if records is not None and "error" not in results[-1]:
                write_record(records, runs, arm, seed, results[-1], keep_weights=seed == min(seeds))
            if progress is not None:
                progress(results[-1], len(results), len(todo))
        return results
    finally:
        if started:
            ray.shutdown()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m train experiment", description=__doc__.split("\n\n")[0],
                                epilog="options after -- go to every trial's training command")
    p.add_argument("lab", help="a lab of python -m train (spatial, captioning, sagan, translation, induction)")
    p.add_argument("--arms", nargs="+", required=True, help="the variants compared (the lab's --arch / --variant)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--runs", type=Path, help="trial folders (default results/experiments/LAB)")
    p.add_argument("--out", type=Path, default=ROOT / "assets", help="where the summary cards and weights go")
    p.add_argument("--records", type=Path, help="finished trials' cards, kept across machines "
                   "(default assets/experiments/LAB)")
    p.add_argument("--address", help="an existing Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local instance (default: the machine's)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0)
    p.add_argument("--gpus-per-trial", type=float, default=0.0)
    p.add_argument("--summarise-only", action="store_true", help="write the cards from finished trials only")
    args = p.parse_args(own)
    from train.__main__ import LABS

    if args.lab not in LABS or args.lab == "experiment":
        p.error(f"unknown lab {args.lab!r}: one of {', '.join(k for k in LABS if k != 'experiment')}")
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.arms)) != len(args.arms):
        p.error("each arm and each seed once")
    bad = [a for a in args.arms if not ARM_NAME.match(a)]
    if bad:
        p.error(f"arm names become folder names: {bad} must be letters, digits, '_', '.' or '-'")
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        p.error("--cpus-per-trial must be positive and --gpus-per-trial not negative")
    # absolute: the trials run from the project's root, whatever folder this command ran in
    runs = (args.runs or runs_root(args.lab)).resolve()
    args.out = args.out.resolve()
    records = (args.records or records_root(args.lab)).resolve()
    failed = []
    if not args.summarise_only:
        from tqdm import tqdm

        n_todo = sum(finished_trial(runs, records, a, s, extra) is None for a in args.arms for s in args.seeds)
        print(f"{args.lab}: {len(args.arms)} arms x {len(args.seeds)} seeds, {n_todo} trials to run "
              f"({len(args.arms) * len(args.seeds) - n_todo} finished before) in {runs}", flush=True)
        bar = tqdm(total=n_todo, unit="trial")

        def progress(result, done, total):
            bar.update(1)
            state = "done" if "error" not in result else "FAILED"
            bar.write(f"{result['arm']} seed {result['seed']}: {state} in {result['seconds']:.0f} s")

        try:
            results = run_experiment(args.lab, args.arms, args.seeds, runs, extra, args.address, args.num_cpus,
                                     args.cpus_per_trial, args.gpus_per_trial, progress, records)
        except RayStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            bar.close()
        failed = [r for r in results if "error" in r]
        for r in failed:
            print(f"\n{r['arm']} seed {r['seed']} failed ({trial_dir(runs, r['arm'], r['seed']) / LOG_FILE}): "
                  f"{r['error']}", file=sys.stderr)
    written = {}
    for arm in args.arms:
        try:
            written[arm] = summarise(runs, arm, args.seeds, args.out, "python -m train experiment " + " ".join(argv),
                                     records, extra)
        except ValueError as exc:
            print(f"not summarised: {exc}", file=sys.stderr)
            failed.append({"arm": arm})
            continue
        print(f"wrote {written[arm]}")
    compare(args.lab, runs, args.seeds, written, records, extra)
    return 1 if failed else 0


def compare(lab: str, runs: Path, seeds: list[int], written: dict[str, Path], records: Path | None = None,
            options: list[str] | None = None) -> None:
    """The lab's own comparison of its arms (``compare_arms`` of its module, if it has one:
    e.g. paired tests against the baseline), written into each summary card as ``comparison``."""
    import importlib

    from train.__main__ import LABS

    hook = getattr(importlib.import_module(LABS[lab]), "compare_arms", None)
    if hook is None or not written:
        return
    cards = {arm: {s: finished_trial(runs, records, arm, s, options)[1] for s in seeds} for arm in written}
    statements = set()
    for arm, result in hook(cards).items():
        card = json.loads(written[arm].read_text(encoding="utf-8"))
        card["comparison"] = result
        written[arm].write_text(json.dumps(card, indent=1), encoding="utf-8")
        statements |= {part["statement"] for part in result.values() if isinstance(part, dict) and "statement" in part}
    for line in sorted(statements):
        print(line)
