"""Transformer attention: one head, every head, BertViz-style lines, rollout, statistics."""

from __future__ import annotations

import streamlit as st

from analysis.head_stats import STAT_COLUMNS, head_statistics_table
from ui.export import data_uri_bytes, download, figure_config, matrix_csv, settings_json, stack_npz
from ui.sidebar import device_badge
from ui.transformer import analyse_text, load_or_explain, model_dir_input, rollout_of, stats_of
from viz.attention import (
    attention_heatmap,
    head_view_figure,
    layer_head_figure,
    model_view_figure,
    token_bar_figure,
)

SAMPLE = "The animal didn't cross the street because it was too tired."
RECORD_TITLES = {
    "encoder.self": "Encoder self-attention",
    "decoder.self": "Decoder self-attention (causal)",
    "decoder.cross": "Cross-attention (decoder → encoder)",
}
TABS = ["Head map", "Model view", "Head view", "Rollout", "Head statistics", "Export"]

st.title("Transformer attention")
st.caption(
    "Type or paste text and see what every head of a transformer attends to. "
    "Weights are softmax(QKᵀ/√d) per head, read from the model's eager attention path."
)
device_badge()
model_dir = model_dir_input()
if model_dir is None:
    st.stop()
loaded = load_or_explain(model_dir)
if loaded is None:
    st.stop()
st.sidebar.caption(
    f"{loaded.model_type} · {loaded.architecture} · {loaded.n_layers} layers × "
    f"{loaded.n_heads} heads · reads up to {loaded.max_tokens} tokens"
)

with st.form("tf_text_form", border=False):
    text = st.text_area("Text", value=SAMPLE, height=110, key="tf_text_input",
                        help="Ctrl+Enter (⌘+Enter) runs the model.")
    st.form_submit_button("Analyse", type="primary", icon=":material/play_arrow:")

if not text.strip():
    st.warning("The text is empty. Type or paste a sentence, then press Analyse.")
    st.stop()
try:
    with st.spinner("Running the model…"):
        analysis = analyse_text(model_dir, text)
except (ValueError, RuntimeError) as exc:
    st.error(f"The model could not read this text: {exc}")
    st.stop()

if analysis.n_chars_cut:
    st.info(f"The text was cut: the last {analysis.n_chars_cut:,} characters were not read.")
if analysis.n_tokens_cut:
    st.info(
        f"The text has {analysis.n_tokens_total:,} tokens but this model reads at most "
        f"{analysis.max_tokens}, so the last {analysis.n_tokens_cut:,} tokens were cut."
    )

names = list(analysis.views)
record_name = names[0]
if len(names) > 1:
    record_name = st.radio("Attention", names, horizontal=True, key="tf_record",
                           format_func=lambda n: RECORD_TITLES.get(n, n))


def _pick_head_from_model_view() -> None:
    state = st.session_state.get("tf_model_view")
    points = state.selection.points if state else []
    points = [p for p in points if p.get("curve_number") == 1]
    if points:
        n_heads = analysis.views[st.session_state.get("tf_record", names[0])].weights.shape[1]
        index = int(points[0]["point_index"])
        st.session_state["tf_layer"], st.session_state["tf_head"] = divmod(index, n_heads)


def _pick_head_from_table() -> None:
    state = st.session_state.get("tf_stats_table")
    rows = state.selection.rows if state else []
    if rows:
        view = analysis.views[st.session_state.get("tf_record", names[0])]
        n_heads = view.weights.shape[1]
        st.session_state["tf_layer"], st.session_state["tf_head"] = divmod(int(rows[0]), n_heads)


def _clamp(key: str, upper: int) -> None:
    # A shorter text or a smaller model may leave an old choice out of range.
    if st.session_state.get(key, 0) >= upper:
        st.session_state[key] = 0


@st.fragment
def explore() -> None:
    """Everything below the text: reruns alone, reading the cached analysis."""
    view = analysis.views[record_name]
    n_layers, n_heads, n_query, n_key = view.weights.shape
    for key, upper in (("tf_layer", n_layers), ("tf_head", n_heads), ("tf_query", n_query)):
        _clamp(key, upper)
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1.2])
    layer = c1.selectbox("Layer", range(n_layers), key="tf_layer")
    head = c2.selectbox("Head", range(n_heads), key="tf_head")
    query = c3.selectbox("Token", range(n_query), key="tf_query",
                         format_func=lambda i: f"{i}: {view.query_tokens[i]}",
                         help="The token whose attention the head view and rollout follow.")
    fmt = c4.segmented_control("Save figures as", ["PNG", "SVG"], default="PNG", key="tf_fig_format",
                               help="Plotly's camera icon on each chart saves it in this format.")
    stem = f"{record_name}-L{layer}-H{head}"
    config = figure_config(stem, fmt or "PNG")
    settings = {
        "model_dir": model_dir,
        "model_type": loaded.model_type,
        "attention": record_name,
        "layer": layer,
        "head": head,
        "query_position": query,
        "query_token": view.query_tokens[query],
        "n_tokens": len(analysis.tokens),
        "tokens_cut": analysis.n_tokens_cut,
        "text": text,
    }

    tabs = st.tabs(TABS, key="tf_tab", on_change="rerun")
    head_map, model_view, head_view, rollout_tab, stats_tab, export_tab = tabs

    if head_map.open:
        with head_map:
            average = st.toggle("Average over heads", key="tf_average")
            weights = view.weights[layer].mean(axis=0) if average else view.weights[layer, head]
            title = f"Layer {layer}, {'mean of heads' if average else f'head {head}'}"
            st.plotly_chart(attention_heatmap(weights, view.query_tokens, view.key_tokens, title),
                            config=config, key="tf_heatmap")

    if model_view.open:
        with model_view:
            st.caption("Every layer (rows) × head (columns); each small map is scaled to its own "
                       "maximum. Click a cell to inspect that head.")
            grid, enlarged = st.columns([1.1, 1])
            with grid:
                fig = model_view_figure(view.overview, selected=(layer, head))
                st.plotly_chart(fig, config=config, key="tf_model_view",
                                on_select=_pick_head_from_model_view, selection_mode="points")
            with enlarged:
                st.plotly_chart(attention_heatmap(view.weights[layer, head], view.query_tokens,
                                                  view.key_tokens, f"Layer {layer}, head {head}"),
                                config=config, key="tf_model_view_enlarged")

    if head_view.open:
        with head_view:
            a, b, c = st.columns([3, 1, 1])
            heads = a.multiselect("Heads", range(n_heads), default=[head], key="tf_heads",
                                  format_func=lambda h: f"head {h}")
            top_k = b.slider("Lines per head", 1, 30, 8, key="tf_top_k")
            compact = c.toggle("Only linked tokens", value=n_key > 48, key="tf_compact",
                               help="List only the chosen token and the tokens it links to.")
            if not heads:
                st.info("Pick at least one head.")
            else:
                fig = head_view_figure(view.weights[layer], view.key_tokens, query, list(heads),
                                       top_k=top_k, min_weight=0.01, compact=compact)
                st.plotly_chart(fig, config=config, key="tf_head_view")

    if rollout_tab.open:
        with rollout_tab:
            flows = rollout_of(model_dir, text, record_name)
            if flows is None:
                st.info("Rollout follows attention through a stack of self-attention layers; "
                        "it does not apply to cross-attention.")
            else:
                st.caption(f"Attention rollout (Abnar & Zuidema 2020) from the input up to layer {layer}: "
                           "heads averaged, ½·A + ½·I per layer, multiplied through the layers.")
                flow = flows[layer]
                st.plotly_chart(token_bar_figure(flow[query], view.key_tokens,
                                                 f"Rollout from token {query} through layer {layer}",
                                                 "rollout"), config=config, key="tf_rollout_bar")
                st.plotly_chart(attention_heatmap(flow, view.query_tokens, view.key_tokens,
                                                  f"Rollout through layer {layer}", value_name="rollout"),
                                config=config, key="tf_rollout_map")

    if stats_tab.open:
        with stats_tab:
            stats = stats_of(model_dir, text, record_name)
            if stats is None:
                st.info("Head statistics are defined for self-attention.")
            else:
                labels = {v: k for k, v in STAT_COLUMNS.items()}
                stat_label = st.selectbox("Statistic", list(labels), key="tf_stat")
                st.plotly_chart(layer_head_figure(stats[labels[stat_label]], stat_label, stat_label),
                                config=config, key="tf_stat_map")
                st.caption("Click a column header to sort; select a row to inspect that head. "
                           "Statistics after Clark et al. 2019, averaged over query tokens.")
                table = head_statistics_table(stats)
                st.dataframe(table, hide_index=True, key="tf_stats_table", on_select=_pick_head_from_table,
                             selection_mode="single-row",
                             column_config={c: st.column_config.NumberColumn(format="%.3f")
                                            for c in STAT_COLUMNS.values()})

    if export_tab.open:
        with export_tab:
            st.caption("Each file records the model, attention, layer, head, token and text beside the weights. "
                       f"Figures: use the camera icon on a chart (currently saves {fmt or 'PNG'}).")
            one = view.weights[layer, head]
            x, y = st.columns(2)
            with x:
                download("This head's map (CSV)",
                         lambda: matrix_csv(one, view.query_tokens, view.key_tokens, settings),
                         f"{stem}.csv", "text/csv", "tf_dl_csv")
                download("This head's map (NPZ)",
                         lambda: stack_npz({"weights": one, "query_tokens": list(view.query_tokens),
                                            "key_tokens": list(view.key_tokens)}, settings),
                         f"{stem}.npz", "application/octet-stream", "tf_dl_npz_one")
                download("All layers and heads (NPZ)",
                         lambda: stack_npz({"weights": view.weights, "query_tokens": list(view.query_tokens),
                                            "key_tokens": list(view.key_tokens)},
                                           {**settings, "axes": list(view.record.axes)}),
                         f"{record_name}-all.npz", "application/octet-stream", "tf_dl_npz_all")
            with y:
                download("Model view (PNG)", lambda: data_uri_bytes(view.overview.source),
                         f"{record_name}-model-view.png", "image/png", "tf_dl_png")
                if view.is_square_self:
                    download("Head statistics (CSV)",
                             lambda: head_statistics_table(
                                 stats_of(model_dir, text, record_name)).to_csv(index=False).encode(),
                             f"{record_name}-head-stats.csv", "text/csv", "tf_dl_stats")
                download("Settings (JSON)", lambda: settings_json(settings), f"{stem}-settings.json",
                         "application/json", "tf_dl_settings")


explore()
