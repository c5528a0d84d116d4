"""The transformer page's views: the text form, the head pickers, and one function per
tab. All of them read the cached analysis (ui.transformer): changing a layer, head or
token never reruns the model.
"""

from __future__ import annotations

import streamlit as st

from analysis.head_stats import STAT_COLUMNS, head_statistics_table
from ui.attribution_views import show_encoder_attribution
from ui.clicks import selected_points
from ui.share import copy_link, link_slot
from ui.export import data_uri_bytes, download, figure_config, matrix_csv, settings_json, stack_npz
from ui.transformer import TextAnalysis, analyse_text, rollout_of, stats_of
from ui.widgets import chars_cut_notice, clamp_choice, computed_or_stop
from viz.attention import attention_heatmap, head_view_figure, layer_head_figure, model_view_figure, token_bar_figure

SAMPLE = "The animal didn't cross the street because it was too tired."
RECORD_TITLES = {
    "encoder.self": "Encoder self-attention",
    "decoder.self": "Decoder self-attention (causal)",
    "decoder.cross": "Cross-attention (decoder → encoder)",
}
TABS = ["Head map", "Model view", "Head view", "Rollout", "Head statistics", "Attribution", "Export"]


def text_form() -> str:
    """The text to analyse; stops the page when it is empty."""
    st.session_state.setdefault("tf_text_input", SAMPLE)  # a shared link may have set it already
    with st.form("tf_text_form", border=False):
        text = st.text_area("Text", height=110, key="tf_text_input",
                            help="Ctrl+Enter (⌘+Enter) runs the model.")
        st.form_submit_button("Analyse", type="primary", icon=":material/play_arrow:")
    if not text.strip():
        st.warning("The text is empty. Type or paste a sentence, then press Analyse.")
        st.stop()
    return text


def analyse_or_stop(model_dir: str, text: str) -> TextAnalysis:
    """The cached analysis of the text, with a notice for each cut; stops on a model error."""
    analysis = computed_or_stop("Running the model…", lambda: analyse_text(model_dir, text),
                                "The model could not read this text")
    chars_cut_notice(analysis.n_chars_cut)
    if analysis.n_tokens_cut:
        st.info(f"The text has {analysis.n_tokens_total:,} tokens but this model reads at most "
                f"{analysis.max_tokens}, so the last {analysis.n_tokens_cut:,} tokens were cut.")
    return analysis


def pick_record(analysis: TextAnalysis) -> str:
    """Which attention (encoder self, decoder self, cross) to show, when there are several."""
    names = list(analysis.views)
    if len(names) == 1:
        return names[0]
    return st.radio("Attention", names, horizontal=True, key="tf_record",
                    format_func=lambda n: RECORD_TITLES.get(n, n))


def _select_head(analysis: TextAnalysis, record_name: str, index: int) -> None:
    """Layer and head from a row-major (layer, head) index."""
    n_heads = analysis.views[record_name].weights.shape[1]
    st.session_state["tf_layer"], st.session_state["tf_head"] = divmod(int(index), n_heads)


def _head_from_model_view(analysis: TextAnalysis, record_name: str):
    def callback() -> None:
        points = [p for p in selected_points(st.session_state.get("tf_model_view")) if p.get("curve_number") == 1]
        if points:
            _select_head(analysis, record_name, points[0]["point_index"])
    return callback


def _head_from_table(analysis: TextAnalysis, record_name: str):
    def callback() -> None:
        state = st.session_state.get("tf_stats_table")
        rows = state.selection.rows if state else []
        if rows:
            _select_head(analysis, record_name, rows[0])
    return callback


def show_head_map_tab(view, layer: int, head: int, config: dict) -> None:
    average = st.toggle("Average over heads", key="tf_average")
    weights = view.weights[layer].mean(axis=0) if average else view.weights[layer, head]
    title = f"Layer {layer}, {'mean of heads' if average else f'head {head}'}"
    st.plotly_chart(attention_heatmap(weights, view.query_tokens, view.key_tokens, title),
                    config=config, key="tf_heatmap")


def show_model_view_tab(analysis: TextAnalysis, record_name: str, layer: int, head: int, config: dict) -> None:
    view = analysis.views[record_name]
    st.caption("Every layer (rows) × head (columns); each small map is scaled to its own "
               "maximum. Click a cell to inspect that head.")
    grid, enlarged = st.columns([1.1, 1])
    with grid:
        st.plotly_chart(model_view_figure(view.overview, selected=(layer, head)), config=config,
                        key="tf_model_view", on_select=_head_from_model_view(analysis, record_name),
                        selection_mode="points")
    with enlarged:
        st.plotly_chart(attention_heatmap(view.weights[layer, head], view.query_tokens, view.key_tokens,
                                          f"Layer {layer}, head {head}"), config=config, key="tf_model_view_enlarged")


def show_head_view_tab(view, layer: int, head: int, query: int, config: dict) -> None:
    n_heads, n_key = view.weights.shape[1], view.weights.shape[3]
    a, b, c = st.columns([3, 1, 1])
    heads = a.multiselect("Heads", range(n_heads), default=[head], key="tf_heads", format_func=lambda h: f"head {h}")
    top_k = b.slider("Lines per head", 1, 30, 8, key="tf_top_k")
    compact = c.toggle("Only linked tokens", value=n_key > 48, key="tf_compact",
                       help="List only the chosen token and the tokens it links to.")
    if not heads:
        st.info("Pick at least one head.")
        return
    fig = head_view_figure(view.weights[layer], view.key_tokens, query, list(heads), top_k=top_k,
                           min_weight=0.01, compact=compact)
    st.plotly_chart(fig, config=config, key="tf_head_view")


def show_rollout_tab(model_dir: str, text: str, record_name: str, view, layer: int, query: int,
                     config: dict) -> None:
    flows = rollout_of(model_dir, text, record_name)
    if flows is None:
        st.info("Rollout follows attention through a stack of self-attention layers; "
                "it does not apply to cross-attention.")
        return
    st.caption(f"Attention rollout (Abnar & Zuidema 2020) from the input up to layer {layer}: "
               "heads averaged, ½·A + ½·I per layer, multiplied through the layers.")
    flow = flows[layer]
    st.plotly_chart(token_bar_figure(flow[query], view.key_tokens, f"Rollout from token {query} through layer {layer}",
                                     "rollout"), config=config, key="tf_rollout_bar")
    st.plotly_chart(attention_heatmap(flow, view.query_tokens, view.key_tokens, f"Rollout through layer {layer}",
                                      value_name="rollout"), config=config, key="tf_rollout_map")


def show_stats_tab(model_dir: str, text: str, analysis: TextAnalysis, record_name: str, config: dict) -> None:
    stats = stats_of(model_dir, text, record_name)
    if stats is None:
        st.info("Head statistics are defined for self-attention.")
        return
    labels = {v: k for k, v in STAT_COLUMNS.items()}
    stat_label = st.selectbox("Statistic", list(labels), key="tf_stat")
    st.plotly_chart(layer_head_figure(stats[labels[stat_label]], stat_label, stat_label),
                    config=config, key="tf_stat_map")
    st.caption("Click a column header to sort; select a row to inspect that head. "
               "Statistics after Clark et al. 2019, averaged over query tokens.")
    st.dataframe(head_statistics_table(stats), hide_index=True, key="tf_stats_table",
                 on_select=_head_from_table(analysis, record_name), selection_mode="single-row",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in STAT_COLUMNS.values()})


def show_export_tab(model_dir: str, text: str, record_name: str, view, layer: int, head: int,
                    settings: dict, fmt: str) -> None:
    stem = f"{record_name}-L{layer}-H{head}"
    tokens = {"query_tokens": list(view.query_tokens), "key_tokens": list(view.key_tokens)}
    st.caption("Each file records the model, attention, layer, head, token and text beside the weights. "
               f"Figures: use the camera icon on a chart (currently saves {fmt}).")
    one = view.weights[layer, head]
    x, y = st.columns(2)
    with x:
        download("This head's map (CSV)", lambda: matrix_csv(one, view.query_tokens, view.key_tokens, settings),
                 f"{stem}.csv", "text/csv", "tf_dl_csv")
        download("This head's map (NPZ)", lambda: stack_npz({"weights": one, **tokens}, settings),
                 f"{stem}.npz", "application/octet-stream", "tf_dl_npz_one")
        download("All layers and heads (NPZ)",
                 lambda: stack_npz({"weights": view.weights, **tokens}, {**settings, "axes": list(view.record.axes)}),
                 f"{record_name}-all.npz", "application/octet-stream", "tf_dl_npz_all")
    with y:
        download("Model view (PNG)", lambda: data_uri_bytes(view.overview.source),
                 f"{record_name}-model-view.png", "image/png", "tf_dl_png")
        if view.is_square_self:
            download("Head statistics (CSV)",
                     lambda: head_statistics_table(stats_of(model_dir, text, record_name)).to_csv(index=False).encode(),
                     f"{record_name}-head-stats.csv", "text/csv", "tf_dl_stats")
        download("Settings (JSON)", lambda: settings_json(settings), f"{stem}-settings.json",
                 "application/json", "tf_dl_settings")


@st.fragment
def explore(model_dir: str, model_type: str, text: str, analysis: TextAnalysis, record_name: str) -> None:
    """Everything below the text: reruns alone, reading the cached analysis."""
    view = analysis.views[record_name]
    n_layers, n_heads, n_query, _ = view.weights.shape
    for key, upper in (("tf_layer", n_layers), ("tf_head", n_heads), ("tf_query", n_query)):
        clamp_choice(key, upper)
    link = link_slot()
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1.2])
    layer = c1.selectbox("Layer", range(n_layers), key="tf_layer")
    head = c2.selectbox("Head", range(n_heads), key="tf_head")
    query = c3.selectbox("Token", range(n_query), key="tf_query", format_func=lambda i: f"{i}: {view.query_tokens[i]}",
                         help="The token whose attention the head view and rollout follow.")
    fmt = c4.segmented_control("Save figures as", ["PNG", "SVG"], default="PNG", key="tf_fig_format",
                               help="Plotly's camera icon on each chart saves it in this format.") or "PNG"
    config = figure_config(f"{record_name}-L{layer}-H{head}", fmt)
    settings = {"model_dir": model_dir, "model_type": model_type, "attention": record_name, "layer": layer,
                "head": head, "query_position": query, "query_token": view.query_tokens[query],
                "n_tokens": len(analysis.tokens), "tokens_cut": analysis.n_tokens_cut, "text": text}

    head_map, model_view, head_view, rollout_tab, stats_tab, attribution_tab, export_tab = st.tabs(
        TABS, key="tf_tab", on_change="rerun")
    if head_map.open:
        with head_map:
            show_head_map_tab(view, layer, head, config)
    if model_view.open:
        with model_view:
            show_model_view_tab(analysis, record_name, layer, head, config)
    if head_view.open:
        with head_view:
            show_head_view_tab(view, layer, head, query, config)
    if rollout_tab.open:
        with rollout_tab:
            show_rollout_tab(model_dir, text, record_name, view, layer, query, config)
    if stats_tab.open:
        with stats_tab:
            show_stats_tab(model_dir, text, analysis, record_name, config)
    if attribution_tab.open:
        with attribution_tab:
            if record_name == "encoder.self" and len(analysis.views) == 1:
                show_encoder_attribution(model_dir, text, layer, head, config)
            else:
                st.info("Attribution is measured for encoder-only models here (and for decoder LLMs, which "
                        "open in the long-context views); this model writes a target of its own.")
    if export_tab.open:
        with export_tab:
            show_export_tab(model_dir, text, record_name, view, layer, head, settings, fmt)
    copy_link("transformer", link)  # last: the clamped pickers and the open tab are in it
