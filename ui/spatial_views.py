"""The image lab's views: the query picker, predictions and cards, and one function per
tab (Non-local and DNL, CBAM, Compare two, SAGAN). Everything reads ui.spatial's caches:
a new query cell computes one affinity row, never a forward pass.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st

from models.cards import across_seeds_text, numbers, paired_seed_values, seed_spread, seed_values
from models.spatial_cards import (FEATURE_ENERGY_MAP, PLATEAU_GAIN, against_baseline_text, attention_maps,
                                  localisation_text, query_independence_text)
from ui.widgets import keep_query, shared_query
from corpora.fashion import CLASSES
from ui.spatial import (ARCH_TITLES, GANS, GRID, NL_MODES, ModelInput, affinity_row, class_name, click_to_state,
                        load_card, load_sagan_card, load_sagan_or_reason, run_all, sagan_row, sagan_samples)
from viz.spatial import (cell_map_figure, channel_bars, class_histogram_figure, classifier_curve_figure,
                         clickable_image, gan_curve_figure, samples_image)

NO_BAR = {"displayModeBar": False}


def run_or_stop(archs: list[str], model_input: ModelInput) -> tuple[list[str], dict[str, dict]]:
    """Every model's result on the input; a damaged model is left out with a warning."""
    with st.spinner(f"Running the {len(archs)} classifiers on {model_input.source}…"):
        results, broken = run_all(archs, model_input.key, model_input.image)
    for arch, reason in broken.items():
        st.warning(f"{ARCH_TITLES[arch]} is left out: its weights could not be loaded ({reason}). "
                   "Retrain it with the command in its model card.")
    archs = [a for a in archs if a in results]
    if not archs:
        st.stop()
    return archs, results


def _short(name: str, limit: int = 36) -> str:
    """A long file name cut for a chart title (the caption under the drop zone has it whole)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def query_picker(model_input: ModelInput) -> tuple[int, int]:
    """The input with its clickable cells, and the row/column inputs a click fills in."""
    keys = ("q_row", "q_col")
    query = shared_query("q_query", keys, (8, 8))
    chart_key = "spatial_click"
    st.plotly_chart(
        clickable_image(model_input.image, GRID, box=model_input.box, query=query,
                        title=f"What the models see (64 × 64):\n{_short(model_input.source)}"),
        key=chart_key, on_select=click_to_state(chart_key, *keys, GRID, store="q_query"),
        selection_mode="points", config=NO_BAR)
    c1, c2 = st.columns(2)
    # short labels: two boxes side by side in a third of a 1000 px page must not wrap
    row = c1.number_input("Row (0–15)", 0, GRID[0] - 1, step=1, key="q_row", on_change=keep_query("q_query", keys))
    col = c2.number_input("Column (0–15)", 0, GRID[1] - 1, step=1, key="q_col", on_change=keep_query("q_query", keys))
    st.caption("Click a cell of the image (or set row and column) to choose the query pixel; "
               "the green box is the target's ground truth (test scenes only).")
    return int(row), int(col)


def card_metrics(arch: str) -> dict:
    """One row of the model-card table: accuracy, pointing game, query independence, time;
    each sign-aware score and query independence with its chance level, each number as
    mean ± sd when the card holds several seeds. Columns no card fills are left out."""
    card = load_card(arch) or {}
    pg = card.get("pointing_game", {}).get("accuracy", {})
    attention_pg = attention_maps(pg)
    best_pg = max(attention_pg, key=attention_pg.get) if attention_pg else None
    return {
        "model": ARCH_TITLES[arch],
        "test accuracy": across_seeds_text(card, "test_accuracy", card.get("test_accuracy")),
        "accuracy − baseline (same seeds)": against_baseline_text(card),
        "pointing game (best attention map)": best_pg and across_seeds_text(
            card, f"pointing_game.accuracy.{best_pg}", attention_pg[best_pg]),
        "pointing game (feature energy, no attention)": pg.get(FEATURE_ENERGY_MAP),
        "sign-aware pointing game (best map)": localisation_text(card, "pointing_game"),
        "energy in box (best map)": localisation_text(card, "energy_in_box"),
        "query independence": query_independence_text(card),
        f"last epoch's validation gain (plateau below {PLATEAU_GAIN})": across_seeds_text(
            card, "plateau.last_epoch_gain", card.get("plateau", {}).get("last_epoch_gain")),
        "training time (s)": card.get("training_time_s"),
    }


def show_predictions(model_input: ModelInput, archs: list[str], results: dict[str, dict]) -> None:
    truth = class_name(model_input.label) if model_input.label is not None else "unknown (upload)"
    st.markdown(f"**Ground truth:** {html.escape(truth)}")
    st.dataframe(pd.DataFrame([{"model": ARCH_TITLES[a], "prediction": class_name(int(results[a]["probs"].argmax())),
                                "confidence": float(results[a]["probs"].max())} for a in archs]), hide_index=True,
                 column_config={"confidence": st.column_config.NumberColumn(format="%.2f", width="small")})


def show_cards(archs: list[str]) -> None:
    st.markdown("**Model cards** (assets/spatial_*.json, written by the training command; "
                "pointing game and query independence are defined in each card)")
    table = pd.DataFrame([card_metrics(a) for a in archs]).dropna(axis=1, how="all")
    st.dataframe(table.astype(object).where(table.notna(), "—"), hide_index=True)
    curves = {ARCH_TITLES[a]: c["curve"]["points"] for a in archs
              if isinstance((c := load_card(a) or {}).get("curve"), dict) and c["curve"].get("points")}
    if curves:
        with st.expander("Learning curves (from the cards)"):
            st.plotly_chart(classifier_curve_figure(curves, len(CLASSES)), key="spatial_curves", config=NO_BAR)
            seeds = sorted({(load_card(a) or {}).get("seed") for a in archs} - {None})
            st.caption("One point per epoch for the seed whose weights the page shows "
                       f"(seed {', '.join(map(str, seeds))}); validation scenes are train-split scenes after the "
                       "training ones. The one-cycle schedule anneals the learning rate to zero by the last epoch.")


def maps_for(arch: str, model_input: ModelInput, result: dict, query: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every (h, w) map a model has for this input and query, by display name."""
    out: dict[str, np.ndarray] = {}
    if arch in NL_MODES:
        out["affinity of the query"] = affinity_row(arch, model_input.key, model_input.image, *query)["affinity"]
    elif arch == "dnl":
        rows = affinity_row(arch, model_input.key, model_input.image, *query)
        out["pairwise (whitened) of the query"] = rows["pairwise"]
        out["unary"] = rows["unary"]
        out["pairwise + unary"] = rows["combined"]
    for name, m in result["maps"].items():
        if m.ndim == 2 and not name.endswith(".unary"):  # DNL's unary is shown above already
            out[name] = m
    return out


def show_maps(arch: str, model_input: ModelInput, result: dict, query: tuple[int, int], where: str,
              columns: int = 3, size: int = 250) -> None:
    """A model's channel gates as bars and each of its spatial maps over the input."""
    maps = maps_for(arch, model_input, result, query)
    gates = {n: m for n, m in result["maps"].items() if m.ndim == 1}
    for name, m in gates.items():
        st.plotly_chart(channel_bars(m, title=f"{ARCH_TITLES[arch]}: {name} gates", size=size),
                        key=f"gates_{where}_{arch}_{name}", config=NO_BAR)
    if not maps:
        st.info(f"{ARCH_TITLES[arch]} has no spatial map" + (" (channel gates above)." if gates else "."))
        return
    cols = st.columns(columns)
    for i, (name, m) in enumerate(maps.items()):
        with cols[i % columns]:
            q = query if m.shape == GRID and "query" in name else None
            st.plotly_chart(cell_map_figure(model_input.image, m, box=model_input.box, query=q,
                                           title=f"{ARCH_TITLES[arch]}: {name}", size=size),
                            key=f"map_{where}_{arch}_{name}", config=NO_BAR)


def query_independence_verdict(qi_rows: list[dict]) -> str | None:
    """DNL's whitened pairwise term against plain NL (embedded Gaussian, its fair reference),
    read against the seeds' spread and the random-weights level of each."""
    nl = {r["model"]: r for r in qi_rows if r["map"] == "nl.affinity"}
    dnl = next((r for r in qi_rows if r["map"] == "dnl.pairwise"), None)
    if not (nl and dnl):
        return None
    ref_name = ARCH_TITLES["nl_embedded"]
    if ref_name in nl:
        ref_row, ref_text = nl[ref_name], "plain NL with the same embedded-Gaussian pairwise function"
    else:
        ref_row = {"query independence": float(np.mean([r["query independence"] for r in nl.values()])),
                   "sd": None, "random weights": None}
        ref_text = "the mean of the plain NL variants"
    dnl_score, ref = float(dnl["query independence"]), float(ref_row["query independence"])
    spread = max([v for v in (dnl.get("sd"), ref_row.get("sd")) if v is not None], default=0.0)
    if spread and abs(dnl_score - ref) <= spread:
        verdict = (f"the gap ({dnl_score - ref:+.3f}) is within one seed-to-seed sd ({spread:.3f}): no claim "
                   "either way on this data")
    elif dnl_score < ref:
        verdict = ("whitening made the maps of different queries less alike, as Yin et al. report "
                   "(the part shared by all queries moves to the unary term)")
    else:
        verdict = "on this data whitening did not make the pairwise maps more query-specific"
    seeds = dnl.get("seeds", 1)
    chance = [f"{name} {r['random weights']:.3f}" for name, r in (("DNL", dnl), ("NL", ref_row))
              if r.get("random weights") is not None]
    others = ", ".join(f"{k} {r['query independence']:.3f}" for k, r in nl.items() if k != ref_name)
    return (f"DNL's whitened pairwise term has a query-independence of **{dnl_score:.3f}** against "
            f"**{ref:.3f}** for {ref_text}" + (f" (means of {seeds} seeds)" if seeds > 1 else "") + f", so {verdict}"
            + (f"; with random weights: {', '.join(chance)}" if chance else "")
            + (f" (other NL variants: {others})." if others else "."))


def query_independence_rows(archs: list[str]) -> list[dict]:
    """One row per affinity map: its query independence (mean over the card's seeds), the
    same score for the architecture's random initial weights (the chance level), and the
    seeds' sd."""
    rows = []
    for a in archs:
        card = load_card(a) or {}
        qi = card.get("query_independence", {})
        for name, value in qi.get("score", {}).items():
            spread = seed_spread(card, f"query_independence.score.{name}")
            seeds = len(spread.get("values", [])) or 1
            rows.append({"model": ARCH_TITLES[a], "map": name,
                         "query independence": float(spread.get("mean", value)),
                         "random weights": qi.get("chance", {}).get("random_weights", {}).get(name),
                         "sd": float(spread["sd"]) if seeds > 1 else None, "seeds": seeds})
    return rows


def show_query_independence(archs: list[str]) -> None:
    qi_rows = query_independence_rows(archs)
    if qi_rows:
        st.subheader("Query independence (1 = every query attends to the same places)")
        table = pd.DataFrame(qi_rows).dropna(axis=1, how="all")
        st.dataframe(table, hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if c not in ("model", "map", "seeds")})
        verdict = query_independence_verdict(qi_rows)
        if verdict:
            st.markdown(verdict)


def show_nonlocal_tab(archs, results, model_input: ModelInput, query: tuple[int, int]) -> None:
    nl_archs = [a for a in archs if a in NL_MODES]
    st.subheader(f"Affinity of query cell (row {query[0]}, col {query[1]})")
    if not nl_archs:
        st.info("No non-local classifier is trained yet.")
    else:
        cols = st.columns(min(len(nl_archs), 4))
        for i, a in enumerate(nl_archs):
            with cols[i % len(cols)]:
                m = maps_for(a, model_input, results[a], query)["affinity of the query"]
                st.plotly_chart(cell_map_figure(model_input.image, m, box=model_input.box, query=query,
                                               title=ARCH_TITLES[a], size=230), key=f"nl_{a}", config=NO_BAR)
        st.caption("Gaussian and embedded Gaussian rows are softmax (sum to 1); dot product and "
                   "concatenation divide by N = 256 instead, so their scale differs and dot-product "
                   "weights can be negative.")
    if "dnl" in archs:
        st.subheader("Disentangled NL: pairwise, unary and combined for the same query")
        show_maps("dnl", model_input, results["dnl"], query, "nl_tab")
    show_query_independence(nl_archs + (["dnl"] if "dnl" in archs else []))


def cbam_statement(card: dict) -> str | None:
    """CBAM's ordering claim as the card measured it: across seeds (python -m train experiment)
    when it holds them, else on the one seed."""
    return (card.get("comparison", {}).get("cbam_ordering", {}).get("statement")
            or card.get("acceptance_cbam_ordering", {}).get("statement"))


def show_cbam_tab(archs, results, model_input: ModelInput) -> None:
    cbam_archs = [a for a in archs if a.startswith("cbam")]
    if not cbam_archs:
        st.info("No CBAM classifier is trained yet.")
    for col, a in zip(st.columns(max(len(cbam_archs), 1)), cbam_archs):
        with col:
            st.markdown(f"**{ARCH_TITLES[a]}**")
            maps = results[a]["maps"]
            for name, m in ((n, m) for n, m in maps.items() if m.ndim == 1):
                st.plotly_chart(channel_bars(m, title=f"{name} gates ({m.size} channels)"),
                                key=f"bars_{a}_{name}", config=NO_BAR)
            for name, m in ((n, m) for n, m in maps.items() if m.ndim == 2):
                st.plotly_chart(cell_map_figure(model_input.image, m, box=model_input.box,
                                               title=f"{name} mask {m.shape[0]}×{m.shape[1]}", size=260),
                                key=f"mask_{a}_{name}", config=NO_BAR)
    statement = next((cbam_statement(load_card(a) or {}) for a in cbam_archs), None) if cbam_archs else None
    if statement:
        st.info(statement)


def show_compare_tab(archs, results, model_input: ModelInput, query: tuple[int, int]) -> None:
    for key in ("cmp_left", "cmp_right"):  # a linked variant that failed to load here
        if key in st.session_state and st.session_state[key] not in archs:
            del st.session_state[key]
    c1, c2 = st.columns(2)
    first = c1.selectbox("Left", archs, index=archs.index("nl_embedded") if "nl_embedded" in archs else 0,
                         format_func=ARCH_TITLES.get, key="cmp_left")
    second = c2.selectbox("Right", archs, index=archs.index("dnl") if "dnl" in archs else len(archs) - 1,
                          format_func=ARCH_TITLES.get, key="cmp_right")
    for side, column, arch in (("left", c1, first), ("right", c2, second)):
        with column:
            probs = results[arch]["probs"]
            st.metric("Prediction", class_name(int(probs.argmax())), f"{probs.max():.0%} confidence",
                      delta_color="off")
            card = load_card(arch) or {}
            st.metric("Test accuracy (card)", across_seeds_text(card, "test_accuracy", card.get("test_accuracy")) or "—")
            show_maps(arch, model_input, results[arch], query, f"cmp_{side}", columns=1, size=300)


def _sagan_caption(card: dict) -> str:
    """γ of the shown generator and which run it comes from: the page shows one seed's weights
    (the lowest), so its steps and time are that seed's, not the table's means."""
    gamma = card.get("gamma", {})
    steps = card.get("steps_run", card.get("hyperparameters", {}).get("steps"))
    source = f"seed {card['seed']}" if card.get("seed") is not None else "the trained run"
    weights = f", weights from step {card['weights_from_step']:,}" if card.get("weights_from_step") else ""
    minutes = (f" in {card['training_time_s'] / 60:.0f} min on {card.get('device', 'this machine')}"
               if isinstance(card.get("training_time_s"), (int, float)) else "")
    run = f"{steps:,} training steps" if isinstance(steps, int) else "training steps unknown"
    return (f"The self-attention output is scaled by γ (initialised to 0): learned γ = "
            f"{gamma.get('generator', float('nan')):.3f} in the generator, "
            f"{gamma.get('discriminator', float('nan')):.3f} in the discriminator. Shown: {source}, "
            f"{run}{minutes}{weights}.")


GAN_SCORES = (("FID ↓", "fid"), ("Inception Score ↑", "inception_score"),
              ("largest class share", "largest_class_share"))
# whole numbers read seed by seed: a mean of stopping steps or of empty classes hides which seed did what
GAN_COUNTS = (("empty classes (each seed)", "quality.empty_classes"), ("steps (each seed)", "steps_run"))


def each_seed_text(card: dict, path: str) -> str:
    """A whole number of a card seed by seed ("6,500 / 8,000 / 7,500"), else its one value, else "—"."""
    values = seed_values(card, path)
    if values is None:
        one = numbers(card).get(path)
        values = [] if one is None else [one]
    return " / ".join(f"{int(v):,}" for v in values) or "—"


def real_floor(cards: dict[str, dict]) -> dict:
    """The real-image levels (FID real vs real, IS and class histogram of the test images)
    that the GAN cards copy from their judge's card; {} when none holds them."""
    return next((c["chance"] for c in cards.values() if isinstance(c.get("chance"), dict)), {})


def gan_score_rows(cards: dict[str, dict]) -> list[dict]:
    """One row per GAN (mean ± sd over its seeds when the card has several) and one for
    real test images, the floor each score is read against."""
    rows = []
    for name, card in cards.items():
        quality = card.get("quality") if isinstance(card.get("quality"), dict) else {}
        # text, as the floor row's "—" is: one column of mixed types fails Arrow's conversion
        row = {"model": GANS.get(name, name), "seeds": str(len(card.get("seeds", [card.get("seed")])))}
        for label, key in GAN_SCORES:
            row[label] = across_seeds_text(card, f"quality.{key}", quality.get(key)) or "—"
        for label, path in GAN_COUNTS:
            row[label] = each_seed_text(card, path)
        rows.append(row)
    chance = real_floor(cards)
    if chance:
        rows.append({"model": "real test images (floor)", "seeds": "—",
                     "FID ↓": f"{chance.get('fid_real_vs_real', float('nan')):.3f} (half vs half)",
                     "Inception Score ↑": f"{chance.get('inception_score_real', float('nan')):.3f}",
                     "largest class share": "0.100", GAN_COUNTS[0][0]: "0", GAN_COUNTS[1][0]: "—"})
    return rows


def gan_comparison(cards: dict[str, dict]) -> str | None:
    """Zhang et al.'s claim read seed by seed: SAGAN minus the GAN without attention for FID
    and IS (analysis.paired_tests.across_seeds), and on how many seeds each GAN covers every
    class with none above a quarter. None unless both cards hold the same seeds (two or more)."""
    from analysis.paired_tests import seed_difference_text

    keys = ("fid", "inception_score", "largest_class_share", "empty_classes")
    pairs = paired_seed_values(cards.get("sagan") or {}, cards.get("gan_no_attention") or {},
                               [f"quality.{k}" for k in keys])
    if pairs is None:
        return None
    per_seed = {k: pairs[f"quality.{k}"] for k in keys}

    def covering(side):
        shares, empty = per_seed["largest_class_share"][side], per_seed["empty_classes"][side]
        return sum(s <= 0.25 and e == 0 for s, e in zip(shares, empty))

    seeds = len(per_seed["fid"][0])
    fid = seed_difference_text(*per_seed["fid"], "FID", "SAGAN", "lower", digits=2)
    inception = seed_difference_text(*per_seed["inception_score"], "Inception Score", "SAGAN", "higher", digits=2)
    return (f"SAGAN minus the same GAN without attention, seed by seed: {fid}; {inception}. Every class present "
            f"and none above 25 %: SAGAN on {covering(0)} of {seeds} seeds, without attention on {covering(1)}. "
            "Zhang et al. report that the attention layer lowers FID and raises IS (their table 1). "
            f"{claim_verdict(per_seed['fid'], per_seed['inception_score'])}")


def claim_verdict(fid: tuple[list, list], inception: tuple[list, list], alpha: float = 0.05) -> str:
    """Whether these seeds bear out each half of the claim: a part holds only when the paired
    difference goes the reported way with paired t p < alpha."""
    from analysis.paired_tests import across_seeds

    def holds(a, b, sign):
        d = across_seeds(a, b)
        p = d["t_test_p_value"]
        return sign * d["mean_difference"] > 0 and p is not None and p < alpha

    parts = {"lower FID": holds(*fid, -1), "higher IS": holds(*inception, +1)}
    shown = [name for name, ok in parts.items() if ok]
    if len(shown) == len(parts):
        return f"Here both parts hold (p < {alpha:g})."
    if not shown:
        return f"Here neither part is shown at p < {alpha:g}: the claim does not reproduce on these seeds."
    missing = [name for name in parts if name not in shown]
    return f"Here only the {shown[0]} part holds at p < {alpha:g}; the {missing[0]} part does not."


def show_gan_scores(cards: dict[str, dict]) -> None:
    if not any(isinstance(c.get("quality"), dict) for c in cards.values()):
        st.caption("No sample-quality numbers in these cards yet: retrain with `python -m train sagan`.")
        return
    st.dataframe(gan_score_rows(cards), hide_index=True, width="stretch")
    judge = next((c["quality"].get("judge") for c in cards.values() if isinstance(c.get("quality"), dict)), "")
    st.caption("Scores of 10,000 samples against the 10,000 real test images, judged by the project's own item "
               f"classifier, {judge}. A GAN that covers the data has every class near 10 % and none "
               "above 25 %.")
    comparison = gan_comparison(cards)
    if comparison:
        st.markdown(comparison)
    histograms = {GANS.get(n, n): c["class_histogram"] for n, c in cards.items() if c.get("class_histogram")}
    chance = real_floor(cards)
    if chance.get("class_histogram_real"):
        histograms["real test images"] = chance["class_histogram_real"]
    # one under the other: three small plots beside a bar chart are unreadable on a narrow screen
    shown = sorted({c["seed"] for c in cards.values() if c.get("class_histogram") and c.get("seed") is not None})
    of_seed = f" (seed {', '.join(map(str, shown))}, whose weights are shown)" if shown else ""
    st.plotly_chart(class_histogram_figure(histograms, CLASSES, f"Samples per class, as the judge labels them{of_seed}"),
                    key="gan_hist", config=NO_BAR)
    curves = {GANS.get(n, n): c["curve"] for n, c in cards.items() if c.get("curve")}
    if curves:
        st.plotly_chart(gan_curve_figure(curves, chance.get("fid_real_vs_real")), key="gan_curve", config=NO_BAR)
        per_point = {c.get("hyperparameters", {}).get("eval_samples") for c in cards.values() if c.get("curve")}
        st.caption(f"Over training, on {', '.join(f'{n:,}' for n in sorted(per_point - {None})) or 'some'} samples "
                   "per point against as many test images (so above the 10,000-sample numbers in the table), for "
                   "the seed whose weights are shown; each run keeps the weights of its lowest FID.")


def show_sagan_tab(n: int = 16) -> None:
    """Both GANs' numbers and samples, and the generator's attention of a clicked location."""
    cards = {name: card for name in GANS if (card := load_sagan_card(name))}
    show_gan_scores(cards)
    gan, why_not = load_sagan_or_reason()
    if gan is None:
        st.info(f"SAGAN is not shown: {why_not}")
        return
    s1, s2 = st.columns(2)
    seed = int(s1.number_input("Noise seed", 0, 10_000, 0, key="sagan_seed"))
    sample = int(s2.number_input("Sample to inspect", 0, n - 1, 0, key="sagan_sample"))
    samples = sagan_samples(seed, n)
    plain, plain_why = load_sagan_or_reason("gan_no_attention")
    left, right = st.columns(2)
    left.markdown(f"**{GANS['sagan']}: samples**")
    left.image(samples_image(samples, columns=4), width="stretch")
    right.markdown(f"**{GANS['gan_no_attention']}: samples**")
    if plain is None:
        right.info(f"The GAN without attention is not shown: {plain_why}")
    else:
        right.image(samples_image(sagan_samples(seed, n, "gan_no_attention"), columns=4), width="stretch")
    st.session_state.setdefault("g_row", 7)
    st.session_state.setdefault("g_col", 7)
    g1, g2 = st.columns(2)
    with g1:
        st.plotly_chart(clickable_image(samples[sample], (14, 14), query=(st.session_state.g_row, st.session_state.g_col),
                                        title=f"SAGAN sample {sample}: click a location", size=300),
                        key="sagan_click", on_select=click_to_state("sagan_click", "g_row", "g_col", (14, 14)),
                        selection_mode="points", config=NO_BAR)
        r1, r2 = st.columns(2)
        row = int(r1.number_input("Row (0-13)", 0, 13, step=1, key="g_row"))
        col = int(r2.number_input("Column (0-13)", 0, 13, step=1, key="g_col"))
    with g2:
        st.plotly_chart(cell_map_figure(samples[sample], sagan_row(seed, n, sample, row, col), query=(row, col),
                                       title="Generator attention of that location (14 × 14)", size=300),
                        key="sagan_map", config=NO_BAR)
    st.caption(_sagan_caption(cards.get("sagan") or {}))


def share_spatial_view(archs: list[str]) -> None:
    """The input (test scene or sample photo), the query cell and the two compared
    variants travel in the page's address."""
    from ui.share import Field, one_of, pair_of, shareable, show_pair
    from ui.spatial import scene_fields

    shareable("spatial", [*scene_fields("spatial", index_key="scene_index"),
                          Field("q_query", pair_of(int, 0, GRID[0] - 1), show_pair),
                          Field("cmp_left", one_of(archs)), Field("cmp_right", one_of(archs))])
