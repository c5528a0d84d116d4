"""Corpus lab: per-head attention statistics over a whole data set, as a Ray job.

Thin page: widgets -> ui.corpus (data set, settings, Run/Stop, progress) -> ui.corpus_views
(results read from the job's Parquet files, never from the workers).
"""

from __future__ import annotations

import streamlit as st

from ui.corpus import dataset_input, job_settings, job_status, ray_settings, run_controls
from ui.corpus_views import pick_results, show_results
from ui.sidebar import device_badge
from ui.transformer import model_dir_input

st.title("Corpus lab")
st.caption(
    "Point a model at a data set and measure every head over all of it: entropy, share on the first token, "
    "mean distance, local share and the previous-token score, each with its 95% interval beside chance; "
    "the texts where a head is most and least typical; and a joint view of its queries and keys. "
    "The work runs on Ray: a local instance on this machine, or the cluster you name in the sidebar."
)
device_badge()
model_dir = model_dir_input()
address, workers = ray_settings()
texts = dataset_input() if model_dir is not None else None
current = None
if model_dir is None:
    st.info("Choose a model in the sidebar.")
elif texts is not None:
    spec, chosen = job_settings(model_dir, texts)
    current = run_controls(spec, chosen, address, workers)
    job_status(current)
st.divider()
folder = pick_results(current)
if folder is None:
    st.caption("No results yet. Finished jobs are kept in the results folder and load here instantly.")
    st.stop()
show_results(folder)
