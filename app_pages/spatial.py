"""Image lab: Non-local, Disentangled Non-local, CBAM and SAGAN side by side.

Thin page: widgets -> ui.spatial (cached models and inference) -> viz.spatial (figures).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from ui.sidebar import device_badge
from ui.spatial import (ARCH_TITLES, GRID, NL_MODES, affinity_row, available_archs,
                        class_name, click_to_state, load_card, load_sagan_card, load_sagan_or_reason,
                        run_all,
                        sagan_row, sagan_samples, scene_or_upload, test_scene, upload_to_input)
from viz.spatial import channel_bars, clickable_image, overlay_figure, samples_figure

st.title("Image lab: Non-local, DNL, CBAM, SAGAN")
device_badge()
st.caption(
    "Small classifiers trained on Fashion-MNIST scenes (one target item among clutter), one per "
    "attention design. Click a pixel to see where each non-local variant looks from there."
)

archs = available_archs()
if not archs:
    st.error("No trained classifiers in assets/. Train them with "
             "`python -m train spatial --arch <arch>` (see the model cards).")
    st.stop()

# ---------------------------------------------------------------- input
model_input = scene_or_upload("spatial", test_scene, upload_to_input, index_key="scene_index")
if model_input is None:
    st.stop()

img, box = model_input.image, model_input.box
results, broken = run_all(archs, model_input.key, img)
for arch, reason in broken.items():
    st.warning(f"{ARCH_TITLES[arch]} is left out: its weights could not be loaded ({reason}). "
               "Retrain it with the command in its model card.")
archs = [a for a in archs if a in results]
if not archs:
    st.stop()

# ---------------------------------------------------------------- query cell
st.session_state.setdefault("q_row", 8)
st.session_state.setdefault("q_col", 8)
left, right = st.columns([1, 1.4])
with left:
    title = f"What the models see (64 × 64): {model_input.source}"
    chart_key = "spatial_click"
    st.plotly_chart(
        clickable_image(img, GRID, box=box, query=(st.session_state.q_row, st.session_state.q_col),
                        title=title),
        key=chart_key, on_select=click_to_state(chart_key, "q_row", "q_col", GRID),
        selection_mode="points", config={"displayModeBar": False},
    )
    c1, c2 = st.columns(2)
    row = c1.number_input("Query row (0-15)", 0, GRID[0] - 1, step=1, key="q_row")
    col = c2.number_input("Query column (0-15)", 0, GRID[1] - 1, step=1, key="q_col")
    st.caption("Click a cell of the image (or set row and column) to choose the query pixel; "
               "the green box is the target's ground truth (test scenes only).")
with right:
    truth = class_name(model_input.label) if model_input.label is not None else "unknown (upload)"
    st.markdown(f"**Ground truth:** {html.escape(truth)}")
    predictions, metrics = [], []
    for a in archs:
        card = load_card(a) or {}
        probs = results[a]["probs"]
        pg = card.get("pointing_game", {}).get("accuracy", {})
        qi = card.get("query_independence", {}).get("score", {})
        attention_pg = {k: v for k, v in pg.items() if not k.startswith("feature_energy")}
        predictions.append({"model": ARCH_TITLES[a], "prediction": class_name(int(probs.argmax())),
                            "confidence": float(probs.max())})
        metrics.append({
            "model": ARCH_TITLES[a],
            "test accuracy": card.get("test_accuracy"),
            "pointing game (best attention map)": max(attention_pg.values()) if attention_pg else None,
            "pointing game (feature energy, no attention)": next(
                (v for k, v in pg.items() if k.startswith("feature_energy")), None),
            "query independence": next(iter(qi.values()), None),
            "training time (s)": card.get("training_time_s"),
        })
    st.dataframe(pd.DataFrame(predictions), hide_index=True)

st.markdown("**Model cards** (assets/spatial_*.json, written by the training command; "
            "pointing game and query independence are defined in each card)")
st.dataframe(pd.DataFrame(metrics), hide_index=True)

query = (int(row), int(col))


# ---------------------------------------------------------------- maps for one model
def maps_for(arch: str) -> dict[str, np.ndarray]:
    """Every (h, w) map a model has for this input and query, by display name."""
    out: dict[str, np.ndarray] = {}
    res = results[arch]
    if arch in NL_MODES:
        out["affinity of the query"] = affinity_row(arch, model_input.key, img, *query)["affinity"]
    elif arch == "dnl":
        rows_ = affinity_row(arch, model_input.key, img, *query)
        out["pairwise (whitened) of the query"] = rows_["pairwise"]
        out["unary"] = rows_["unary"]
        out["pairwise + unary"] = rows_["combined"]
    for name, m in res["maps"].items():
        if m.ndim == 2 and not name.endswith(".unary"):  # DNL's unary is shown above already
            out[name] = m
    return out


def show_maps(arch: str, where: str, columns: int = 3, size: int = 250) -> None:
    maps = maps_for(arch)
    gates = {n: m for n, m in results[arch]["maps"].items() if m.ndim == 1}
    for name, m in gates.items():
        st.plotly_chart(channel_bars(m, title=f"{ARCH_TITLES[arch]}: {name} gates", size=size),
                        key=f"gates_{where}_{arch}_{name}", config={"displayModeBar": False})
    if not maps:
        st.info(f"{ARCH_TITLES[arch]} has no spatial map" + (" (channel gates above)." if gates else "."))
        return
    cols = st.columns(columns)
    for i, (name, m) in enumerate(maps.items()):
        with cols[i % columns]:
            q = query if m.shape == GRID and "query" in name else None
            st.plotly_chart(overlay_figure(img, m, box=box, query=q, title=f"{ARCH_TITLES[arch]}: {name}",
                                           size=size),
                            key=f"map_{where}_{arch}_{name}", config={"displayModeBar": False})


# ---------------------------------------------------------------- sections
tab_nl, tab_cbam, tab_compare, tab_sagan = st.tabs(
    ["Non-local and DNL", "CBAM", "Compare two", "SAGAN"])

with tab_nl:
    nl_archs = [a for a in archs if a in NL_MODES]
    st.subheader(f"Affinity of query cell (row {query[0]}, col {query[1]})")
    if not nl_archs:
        st.info("No non-local classifier is trained yet.")
    else:
        cols = st.columns(min(len(nl_archs), 4))
        for i, a in enumerate(nl_archs):
            with cols[i % len(cols)]:
                m = maps_for(a)["affinity of the query"]
                st.plotly_chart(overlay_figure(img, m, box=box, query=query, title=ARCH_TITLES[a], size=230),
                                key=f"nl_{a}", config={"displayModeBar": False})
        st.caption("Gaussian and embedded Gaussian rows are softmax (sum to 1); dot product and "
                   "concatenation divide by N = 256 instead, so their scale differs and dot-product "
                   "weights can be negative.")
    if "dnl" in archs:
        st.subheader("Disentangled NL: pairwise, unary and combined for the same query")
        show_maps("dnl", "nl_tab")

    # Query independence: plain NL vs DNL's whitened pairwise term.
    qi_rows = []
    for a in nl_archs + (["dnl"] if "dnl" in archs else []):
        score = (load_card(a) or {}).get("query_independence", {}).get("score", {})
        for k, v in score.items():
            qi_rows.append({"model": ARCH_TITLES[a], "map": k, "query independence": v})
    if qi_rows:
        st.subheader("Query independence (1 = every query attends to the same places)")
        st.dataframe(pd.DataFrame(qi_rows), hide_index=True)
        nl_scores = {r["model"]: r["query independence"] for r in qi_rows if r["map"] == "nl.affinity"}
        dnl_scores = [r["query independence"] for r in qi_rows if r["map"] == "dnl.pairwise"]
        if nl_scores and dnl_scores:
            # DNL whitens the embedded-Gaussian pairwise term, so that variant is the fair reference.
            ref_name = ARCH_TITLES["nl_embedded"]
            ref = nl_scores.get(ref_name, float(np.mean(list(nl_scores.values()))))
            ref_text = ("plain NL with the same embedded-Gaussian pairwise function" if ref_name in nl_scores
                        else "the mean of the plain NL variants")
            dnl_score = float(dnl_scores[0])
            verdict = ("whitening made the maps of different queries less alike, as Yin et al. report "
                       "(the part shared by all queries moves to the unary term)"
                       if dnl_score < ref else
                       "on this data whitening did not make the pairwise maps more query-specific")
            others = ", ".join(f"{k} {v:.3f}" for k, v in nl_scores.items() if k != ref_name)
            st.markdown(
                f"DNL's whitened pairwise term has a query-independence of **{dnl_score:.3f}** against "
                f"**{ref:.3f}** for {ref_text}, so {verdict}"
                + (f" (other NL variants: {others})." if others else "."))

with tab_cbam:
    cbam_archs = [a for a in archs if a.startswith("cbam")]
    if not cbam_archs:
        st.info("No CBAM classifier is trained yet.")
    cols = st.columns(max(len(cbam_archs), 1))
    for i, a in enumerate(cbam_archs):
        with cols[i]:
            st.markdown(f"**{ARCH_TITLES[a]}**")
            for name, m in results[a]["maps"].items():
                if m.ndim == 1:
                    st.plotly_chart(channel_bars(m, title=f"{name} gates ({m.size} channels)"),
                                    key=f"bars_{a}_{name}", config={"displayModeBar": False})
            for name, m in results[a]["maps"].items():
                if m.ndim == 2:
                    st.plotly_chart(overlay_figure(img, m, box=box, title=f"{name} mask {m.shape[0]}×{m.shape[1]}",
                                                   size=260),
                                    key=f"mask_{a}_{name}", config={"displayModeBar": False})
    statement = next((load_card(a) or {}).get("acceptance_cbam_ordering", {}).get("statement")
                     for a in cbam_archs) if cbam_archs else None
    if statement:
        st.info(statement)

with tab_compare:
    c1, c2 = st.columns(2)
    first = c1.selectbox("Left", archs, index=archs.index("nl_embedded") if "nl_embedded" in archs else 0,
                         format_func=ARCH_TITLES.get, key="cmp_left")
    second = c2.selectbox("Right", archs, index=archs.index("dnl") if "dnl" in archs else len(archs) - 1,
                          format_func=ARCH_TITLES.get, key="cmp_right")
    for side, column, arch in (("left", c1, first), ("right", c2, second)):
        with column:
            card = load_card(arch) or {}
            probs = results[arch]["probs"]
            st.metric("Prediction", class_name(int(probs.argmax())), f"{probs.max():.0%} confidence",
                      delta_color="off")
            st.metric("Test accuracy (card)", f"{card.get('test_accuracy', float('nan')):.3f}")
            show_maps(arch, f"cmp_{side}", columns=1, size=300)

with tab_sagan:
    gan, why_not = load_sagan_or_reason()
    if gan is None:
        st.info(f"SAGAN is not shown: {why_not}")
    else:
        sagan_card = load_sagan_card() or {}
        s1, s2 = st.columns(2)
        seed = s1.number_input("Noise seed", 0, 10_000, 0, key="sagan_seed")
        n = 16
        sample = s2.number_input("Sample to inspect", 0, n - 1, 0, key="sagan_sample")
        samples = sagan_samples(int(seed), n)
        st.plotly_chart(samples_figure(samples, columns=8, title="Generated samples (28 × 28)"),
                        key="sagan_grid", config={"displayModeBar": False})
        st.session_state.setdefault("g_row", 7)
        st.session_state.setdefault("g_col", 7)
        g1, g2 = st.columns(2)
        with g1:
            key = "sagan_click"
            st.plotly_chart(
                clickable_image(samples[int(sample)], (14, 14),
                                query=(st.session_state.g_row, st.session_state.g_col),
                                title=f"Sample {int(sample)}: click a location", size=300),
                key=key, on_select=click_to_state(key, "g_row", "g_col", (14, 14)),
                selection_mode="points", config={"displayModeBar": False})
            r1, r2 = st.columns(2)
            grow = r1.number_input("Row (0-13)", 0, 13, step=1, key="g_row")
            gcol = r2.number_input("Column (0-13)", 0, 13, step=1, key="g_col")
        with g2:
            m = sagan_row(int(seed), n, int(sample), int(grow), int(gcol))
            st.plotly_chart(overlay_figure(samples[int(sample)], m, query=(int(grow), int(gcol)),
                                           title="Generator attention of that location (14 × 14)",
                                           size=300),
                            key="sagan_map", config={"displayModeBar": False})
        gamma = sagan_card.get("gamma", {})
        st.caption(
            f"The self-attention output is scaled by γ (initialised to 0): learned γ = "
            f"{gamma.get('generator', float('nan')):.3f} in the generator, "
            f"{gamma.get('discriminator', float('nan')):.3f} in the discriminator; "
            f"{sagan_card.get('hyperparameters', {}).get('steps', '?')} training steps in "
            f"{sagan_card.get('training_time_s', '?')} s.")
