"""Streamlit glue for the Corpus lab: the data set, the job's settings, Run and Stop (a
second Run while a job runs asks first), and the progress poll.

The job runs as its own process (``python -m jobs.corpus --job FOLDER``) on Ray; the page
only reads the files it writes (status.json, one Parquet file per finished batch), so it
stays usable while the job runs, and a finished job's results load from disk on return.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import streamlit as st

from corpora.texts import MAX_BYTES, TextSet, TextsError, bundled_verses, read_texts, sample
from jobs import corpus as jc

DATASETS = {"web": "World English Bible verses (bundled, 3,000)", "upload": "Your file (.txt, .csv or .jsonl)"}
POLL_SECONDS = 2.0


@st.cache_resource(show_spinner=False)
def _verses() -> TextSet:
    return bundled_verses()


@st.cache_resource(show_spinner=False, max_entries=4)
def _uploaded(name: str, data: bytes, column: str) -> TextSet:
    return read_texts(name, data, column)


def dataset_input() -> TextSet | None:
    """The bundled verses or an uploaded file, read and checked; None after saying why not."""
    choice = st.radio("Data set", list(DATASETS), format_func=DATASETS.get, key="corpus_data", horizontal=True)
    try:
        if choice == "web":
            return _verses()
        up = st.file_uploader("One text per line (.txt), or a text column (.csv, .jsonl)", type=["txt", "csv", "jsonl"],
                              key="corpus_upload", max_upload_size=MAX_BYTES // 2**20)
        column = st.text_input("Text column (.csv, .jsonl)", value="text", key="corpus_column")
        if up is None:
            st.info("Upload a file of texts, or pick the bundled verses.")
            return None
        texts = _uploaded(up.name, up.getvalue(), column)
    except TextsError as exc:
        st.error(str(exc))
        return None
    if texts.n_skipped:  # plain text: the reasons may quote a typed column name
        st.text("Skipped lines: " + ", ".join(f"{n:,} {why}" for why, n in texts.skipped.items()))
    return texts


def job_settings(model_dir: str, texts: TextSet) -> tuple[jc.JobSpec, TextSet]:
    """Sample size and maximum length; the job's spec and its texts."""
    if st.session_state.get("corpus_n", 0) > len(texts.texts):   # a smaller file than before
        st.session_state["corpus_n"] = len(texts.texts)
    a, b = st.columns(2)
    n = a.number_input("Texts (a seeded sample)", 1, len(texts.texts), min(2000, len(texts.texts)), key="corpus_n")
    max_tokens = b.number_input("Tokens per text at most", 4, 8192, 128, step=32, key="corpus_max_tokens",
                                help="Longer texts are cut (counted in the Texts tab); the model's own limit applies too.")
    return jc.JobSpec(model_dir, int(max_tokens)), sample(texts, int(n), seed=0)


def ray_settings() -> tuple[str, int]:
    """Where the job runs: a typed cluster address (or $RAY_ADDRESS), else a local Ray."""
    with st.sidebar.expander("Ray", expanded=False):
        address = st.text_input("Cluster address (empty: a local Ray on this machine)",
                                value=os.environ.get("RAY_ADDRESS", ""), key="corpus_address",
                                placeholder="ray://head:10001 or auto")
        workers = st.number_input("Workers (0: one per CPU)", 0, 1024, 0, key="corpus_workers")
    return address.strip(), int(workers)


def _running_jobs() -> list[Path]:
    return [f for f in jc.list_jobs() if jc.job_state(f)["state"] == jc.STATE_RUNNING]


def _start(folder: Path, address: str, workers: int) -> None:
    jc.launch(folder, address or None, workers or None)
    st.session_state["corpus_confirm"] = None
    st.session_state["corpus_job"] = str(folder)


def run_controls(spec: jc.JobSpec, texts: TextSet, address: str, workers: int) -> Path | None:
    """Run (and Stop); returns the folder of the job these settings name, if it exists."""
    if importlib.util.find_spec("ray") is None:
        st.error("Ray is not installed in this environment, so no job can start: pip install ray==2.60.0 "
                 "(or make venv). Earlier results can still be read.")
        return _existing(spec, texts)
    run, stop = st.columns([1, 1])
    if run.button("Run", type="primary", key="corpus_run"):
        folder = jc.prepare(spec, texts)
        state = jc.job_state(folder)["state"]
        others = [f for f in _running_jobs() if f != folder]
        if state == jc.STATE_RUNNING:
            st.info("This job is already running; its progress is below.")
        elif state == jc.STATE_DONE:
            st.info("This job has finished already: its results are below.")
        elif others:
            st.session_state["corpus_confirm"] = str(folder)
        else:
            _start(folder, address, workers)
    pending = st.session_state.get("corpus_confirm")
    if pending:
        st.warning(f"{len(_running_jobs())} job(s) are running already. Start another one beside them? "
                   "They share this machine's CPUs.")
        yes, no = st.columns(2)
        if yes.button("Start another job", key="corpus_confirm_yes"):
            _start(Path(pending), address, workers)
        if no.button("Cancel", key="corpus_confirm_no"):
            st.session_state["corpus_confirm"] = None
            st.rerun()
    folder = _existing(spec, texts)
    if folder is not None and jc.job_state(folder)["state"] == jc.STATE_RUNNING:
        if stop.button("Stop", key="corpus_stop", help="Finished batches are kept; Run again resumes."):
            jc.stop(folder)
    return folder


def _existing(spec: jc.JobSpec, texts: TextSet) -> Path | None:
    folder = jc.results_root() / jc.job_id(spec, texts)
    return folder if (folder / "job.json").is_file() else None


@st.fragment(run_every=POLL_SECONDS)
def _poll(folder: str) -> None:
    state = jc.job_state(Path(folder))
    st.progress(state["done"] / max(1, state["total"]),
                text=f"Running on {state['workers'] or '…'} Ray worker(s): {state['done']:,} of "
                     f"{state['total']:,} batches finished")
    if state["state"] != jc.STATE_RUNNING:
        st.rerun(scope="app")       # finished, stopped or failed: the whole page shows it


def job_status(folder: Path | None) -> None:
    """The job's progress while it runs (polled; the rest of the page stays usable), else
    how it ended."""
    if folder is None:
        st.caption("No results for these settings yet: press Run.")
        return
    state = jc.job_state(folder)
    if state["state"] == jc.STATE_RUNNING:
        _poll(str(folder))
    elif state["state"] == jc.STATE_FAILED:
        st.error(f"The job failed: {state['error'] or 'no reason given'}. Its log: {folder / 'job.log'}")
    elif state["state"] in (jc.STATE_STOPPED, jc.STATE_NEW) and state["done"] < state["total"]:
        st.info(f"Stopped after {state['done']:,} of {state['total']:,} batches; press Run to resume "
                "(finished batches are not computed again).")
