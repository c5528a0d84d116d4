"""The Transformer page's views of a decoder LLM over a long prompt: the prompt form,
the layer and head pickers (one source of truth in session state), and one function
per tab. Every map comes from ui.llm's caches; a click or a switch recomputes one head.
"""

from __future__ import annotations

import streamlit as st

from models.pretrained import llm_capture as lc
from ui.attribution_views import show_decoder_attribution
from ui.clicks import pair_from
from ui.export import figure_config
from ui.share import copy_link, link_slot
from analysis.head_roles import ROLES, chance
from ui.llm import (LOCAL_WINDOW, MAX_NEW_TOKENS, PROBE_SEEDS, TILE, LLMRun, load_lm_or_explain,
                    MODEL_VIEW_TOKENS, model_view_of, overview_of, received_of, roles_of, row_of, run_llm,
                    statistics_of, tile_of, training_card)
from ui.widgets import chars_cut_notice, clamp_choice, computed_or_stop
from viz.attention import attention_heatmap, model_view_figure, token_bar_figure
from viz.llm import layer_head_grid, overview_figure, phase_change_figure, shaded_tokens_html

SAMPLE = ("Paste a long document here: a chapter, a contract, a code file. The model reads up to its own "
          "context length (8,192 tokens for SmolLM2), and every head's map is computed from the queries and "
          "keys of one fused forward pass, so even thousands of tokens stay responsive.")
# short names, so that all seven fit on one line at 1000 px
TABS = ["Overview", "One token", "Received", "Statistics", "Roles", "All heads", "Attribution"]
STAT_TITLES = {"entropy": "Entropy (nats)", "sink": "Share on the first token (sink)",
               "distance": "Mean distance (tokens)", "local": f"Share within {LOCAL_WINDOW} tokens"}


def llm_prompt_form(has_chat_template: bool) -> tuple[str, bool, int]:
    with st.form("llm_form", border=False):
        text = st.text_area("Prompt", value=SAMPLE, height=160, key="llm_text",
                            help="Any length up to the model's context; Ctrl+Enter (⌘+Enter) runs it.")
        a, b = st.columns(2)
        chat = a.checkbox("Wrap in the chat template", value=has_chat_template, key="llm_chat",
                          disabled=not has_chat_template,
                          help="As a user turn, the way the model was tuned to read prompts."
                          if has_chat_template else "This tokenizer has no chat template.")
        n_new = b.number_input("Continue with new tokens (greedy)", 0, MAX_NEW_TOKENS, 0, key="llm_new",
                               help="The generated tokens join the views.")
        st.form_submit_button("Analyse", type="primary", icon=":material/play_arrow:")
    if not text.strip():
        st.warning("The prompt is empty. Type or paste some text, then press Analyse.")
        st.stop()
    return text, bool(chat and has_chat_template), int(n_new)


def run_or_stop(path: str, text: str, chat: bool, n_new: int) -> LLMRun:
    run = computed_or_stop("Running the model once over the whole prompt…", lambda: run_llm(path, text, chat, n_new),
                           "The model could not read this prompt")
    chars_cut_notice(run.n_chars_cut)
    if run.n_prompt_cut:
        st.info(f"The prompt was {run.n_prompt + run.n_prompt_cut:,} tokens, more than the model reads; "
                f"its first {run.n_prompt_cut:,} tokens were dropped.")
    if run.n_tokens > run.n_prompt:
        st.markdown(f"**Continuation** ({run.n_tokens - run.n_prompt} new tokens, greedy; they join the views):")
        st.text(run.continuation or "(only special tokens)")
    st.caption(f"{run.n_tokens:,} tokens ({run.n_prompt:,} of prompt) · captured queries and keys: "
               f"{run.captured.nbytes() / 2**20:,.1f} MB for {run.captured.n_layers} layers")
    return run


_tile_from_click = pair_from("llm_overview", ("llm_tile_row", "llm_tile_col"))


def _head_from(chart_key: str):
    return pair_from(chart_key, ("llm_layer", "llm_head"))


def show_overview_tab(key: tuple, run: LLMRun, layer: int, head: int, config: dict) -> None:
    t = run.n_tokens
    pooled, block = overview_of(*key, layer, head)
    for name in ("llm_tile_row", "llm_tile_col"):  # keep the tile inside this text
        st.session_state[name] = min(max(0, int(st.session_state.get(name, 0)) // TILE * TILE), (t - 1) // TILE * TILE)
    over, zoom = st.columns([1, 1])
    with over:
        st.plotly_chart(overview_figure(pooled, block, t, TILE, f"Layer {layer}, head {head}: all {t:,} tokens",
                                        selected=(st.session_state["llm_tile_row"], st.session_state["llm_tile_col"])),
                        config=config, key="llm_overview", on_select=_tile_from_click, selection_mode="points")
        st.caption(("Each pixel is the largest weight in a block of "
                    f"{block} × {block} tokens, so peaks survive the pooling; " if block > 1 else
                    "Every query × key at full resolution; ") +
                   "colour ∝ √weight, saturating at the 99th percentile (so a sink does not darken the "
                   "rest). Click a square to zoom into it.")
    with zoom:
        a, b = st.columns(2)
        a.number_input("Zoom: first query", 0, (t - 1) // TILE * TILE, step=TILE, key="llm_tile_row")
        b.number_input("Zoom: first key", 0, (t - 1) // TILE * TILE, step=TILE, key="llm_tile_col")
        tile = tile_of(*key, layer, head, st.session_state["llm_tile_row"], st.session_state["llm_tile_col"])
        (r0, r1), (c0, c1) = tile.meta["rows"], tile.meta["cols"]
        st.plotly_chart(attention_heatmap(tile.numpy(), tile.query_labels, tile.key_labels,
                                          f"Queries {r0}–{r1 - 1} × keys {c0}–{c1 - 1}, full resolution",
                                          query_start=r0, key_start=c0), config=config, key="llm_tile")


def show_row_tab(key: tuple, run: LLMRun, layer: int, head: int) -> None:
    t = run.n_tokens
    clamp_choice("llm_query", t, default=t - 1)
    query = st.number_input("Token (position)", 0, t - 1, key="llm_query",
                            help="Which tokens does this token read? Default: the last one.")
    row = row_of(*key, layer, head, int(query))
    skip = st.toggle("Shade relative to the strongest key after the first token", value=query > 0 and row[0] > 0.5,
                     key="llm_skip_first", help="A sink on the first token can take most of the weight and "
                     "wash out the shading of every other token.")
    st.caption(f"Token {query} ({run.tokens[query]!r}) in layer {layer}, head {head}: shading ∝ weight; the first "
               f"token takes {row[0]:.3f}; the five strongest keys are numbered; hover a token for its weight.")
    st.html(shaded_tokens_html(run.tokens[:query + 1], row[:query + 1], int(query), skip_first=skip))


def show_received_tab(key: tuple, run: LLMRun, layer: int, config: dict) -> None:
    received = received_of(*key, layer)                               # (heads, T)
    mean = received.mean(0)
    st.plotly_chart(token_bar_figure(mean, [f"{j}: {s}" for j, s in enumerate(run.tokens)],
                                     f"Layer {layer}: attention each token receives, mean of heads and queries",
                                     "received"), config=config, key="llm_received")
    top = sorted(range(run.n_tokens), key=lambda j: -mean[j])[:10]
    st.dataframe([{"position": j, "token": run.tokens[j], "received (mean of heads)": round(float(mean[j]), 4),
                   "strongest head": int(received[:, j].argmax())} for j in top], hide_index=True)
    st.caption(f"Chance: 1/(i+1) per key for query i; a key that every query reads evenly would receive "
               f"{1 / run.n_tokens:.5f}. A first token far above that is an attention sink.")


def show_grid_tab(key: tuple, run: LLMRun, layer: int, head: int, config: dict) -> None:
    bar = st.empty()

    def progress(fraction: float) -> None:
        bar.progress(fraction, text=f"Measuring every head at full length: layer {round(fraction * run.captured.n_layers)}"
                                    f" of {run.captured.n_layers}…")

    stats = statistics_of(*key, progress=progress)
    bar.empty()
    chance = lc.uniform_baseline(run.n_tokens, LOCAL_WINDOW)
    name = st.selectbox("Statistic", list(STAT_TITLES), format_func=STAT_TITLES.get, key="llm_stat")
    st.plotly_chart(layer_head_grid(stats[name], STAT_TITLES[name], name, selected=(layer, head),
                                    chance=chance[name]), config=config, key="llm_grid",
                    on_select=_head_from("llm_grid"), selection_mode="points")
    st.caption(f"Every head over all {run.n_tokens:,} query tokens, computed in row chunks from the captured "
               "queries and keys; the title gives the value uniform causal attention would score. "
               "Click a head to inspect it.")


def show_roles_tab(key: tuple, run: LLMRun, layer: int, head: int, config: dict) -> None:
    path = key[0]
    roles = roles_of(path)
    if roles is None:
        st.info("This model's vocabulary or context is too small for a probe of repeated random tokens.")
        return
    scores, probe, n = roles
    role = st.selectbox("Role", list(ROLES), key="llm_role", format_func=lambda r: f"{r}: {ROLES[r]}")
    values = scores[role]
    st.plotly_chart(layer_head_grid(values, f"{role.capitalize()} score", role, selected=(layer, head),
                                    chance=chance(role, n)), config=config, key="llm_roles_grid",
                    on_select=_head_from("llm_roles_grid"), selection_mode="points")
    order = values.reshape(-1).argsort()[::-1][:3]
    heads = values.shape[1]
    st.caption(f"Probe: a start token, then {n} random tokens, then the same {n} again (Olsson et al. 2022); "
               f"mean over {len(PROBE_SEEDS)} seeded probes, computed once per model. Strongest: " +
               ", ".join(f"layer {i // heads} head {i % heads} ({values.reshape(-1)[i]:.2f})" for i in order) +
               f"; uniform causal attention would score {chance(role, n):.3f}. Click a head to inspect it.")
    on_probe, on_text = st.columns(2)
    with on_probe:
        rec = lc.head_map(probe, layer, head)
        st.plotly_chart(attention_heatmap(rec.numpy(), rec.query_labels, rec.key_labels,
                                          f"Layer {layer}, head {head} on the probe (second copy from {n + 1})"),
                        config=config, key="llm_probe_map")
    with on_text:
        pooled, block = overview_of(*key, layer, head)
        st.plotly_chart(overview_figure(pooled, block, run.n_tokens, TILE,
                                        f"The same head on your {run.n_tokens:,} tokens"),
                        config=config, key="llm_roles_text")
        st.caption("Zoom into your text in the Overview tab.")
    card = training_card(path)
    if card is not None:
        show_phase_change(card, config)


def show_phase_change(card: dict, config: dict) -> None:
    """How this model's heads formed: the card's curves, the phase change marked."""
    ind = card["induction"]
    control = card.get("control_1_layer") or {}
    step = ind.get("phase_change_step")
    st.subheader("How these heads formed in training")
    probe_n = ind.get("probe_tokens_per_copy", 50)
    short_n = (ind.get("short_probe") or {}).get("tokens_per_copy", 20)
    st.plotly_chart(phase_change_figure(card["curves"], control.get("curves"), step, ind["chance"], probe_n, short_n),
                    config=config, key="llm_phase_change")
    ctl = control.get("induction")
    recipe = card.get("recipe", {})
    st.caption(
        f"From the card {card['name']}.json (`{card['made_by']}`), probed every {card['curves'][1]['step']} steps: "
        f"training and held-out loss; in-context learning, {card['icl_definition']}; the best head's induction "
        f"score on the probe above ({probe_n} tokens per copy) and on a short probe ({short_n}). Best head {ind['init']:.3f} at initialisation, {ind['final']:.3f} "
        f"at the end (layer {ind['final_head'][0]} head {ind['final_head'][1]}; chance {ind['chance']:.3f}). " +
        (f"Phase change at step {step}: the first probe where the short-probe score reached half its final value. "
         if step is not None else "No phase change: the best head never rose well above chance. ") +
        (f"Training data: {recipe['repeat']:.0%} of sequences are back-to-back repeated blocks of random tokens, "
         f"the rest World English Bible text; the blocks widen from {recipe['min_span']}-{recipe['short_span']} "
         f"to {recipe['min_span']}-{recipe['max_span']} tokens at step {recipe['short_steps']}, which is when the "
         "training loss jumps and the heads start to reach the longer probe. "
         if recipe.get("layout") == "blocks" and recipe.get("short_span") else "") +
        (f"The one-layer control, same recipe, ends at {ctl['final']:.3f}: one layer cannot compose a "
         "previous-token head with an induction head." if ctl else
         "The one-layer control's card is missing."))


def show_model_view_tab(key: tuple, run: LLMRun, layer: int, head: int, config: dict) -> None:
    if run.n_tokens > MODEL_VIEW_TOKENS:
        st.info(f"Every layer × head at once is drawn for prompts of up to {MODEL_VIEW_TOKENS} tokens; this one "
                f"has {run.n_tokens:,}. The head overview and the grids above cover any length.")
        return
    st.caption("Every layer (rows) × head (columns); each small map is scaled to its own maximum. "
               "Click a cell to inspect that head.")
    st.plotly_chart(model_view_figure(model_view_of(*key), selected=(layer, head)), config=config,
                    key="llm_model_view", on_select=_head_from("llm_model_view"), selection_mode="points")


@st.fragment
def llm_explore(path: str, text: str, chat: bool, n_new: int, run: LLMRun) -> None:
    """Everything below the prompt; reruns alone, reading the caches."""
    key = (path, text, chat, n_new)
    captured = run.captured
    clamp_choice("llm_layer", captured.n_layers, default=captured.n_layers // 2)
    clamp_choice("llm_head", captured.n_heads)
    link = link_slot()
    a, b = st.columns(2)
    layer = a.selectbox("Layer", range(captured.n_layers), key="llm_layer")
    head = b.selectbox("Head", range(captured.n_heads), key="llm_head",
                       format_func=lambda h: f"{h} (reads key/value head {captured.layers[0].kv_head(h)})")
    config = figure_config(f"llm-L{layer}-H{head}", "PNG")
    views = (lambda: show_overview_tab(key, run, layer, head, config), lambda: show_row_tab(key, run, layer, head),
             lambda: show_received_tab(key, run, layer, config), lambda: show_grid_tab(key, run, layer, head, config),
             lambda: show_roles_tab(key, run, layer, head, config),
             lambda: show_model_view_tab(key, run, layer, head, config),
             lambda: show_decoder_attribution(path, run.ids, run.tokens, layer, head, config))
    for tab, view in zip(st.tabs(TABS, key="llm_tab", on_change="rerun"), views):
        if tab.open:  # only the open tab computes anything
            with tab:
                view()
    copy_link("transformer", link)  # last: the clamped pickers and the open tab are in it


def llm_page(path: str) -> None:
    """The Transformer page for a decoder-only LLM: load, prompt, one captured run, views."""
    loaded = load_lm_or_explain(path)
    if loaded is None:
        st.stop()
    st.sidebar.caption(f"{loaded.model_type} · decoder · {loaded.n_layers} layers × {loaded.n_heads} query heads "
                       f"sharing {loaded.n_kv_heads} key/value heads · reads up to "
                       f"{loaded.context_length or 'an unknown number of':,} tokens")
    text, chat, n_new = llm_prompt_form(loaded.has_chat_template)
    run = run_or_stop(path, text, chat, n_new)
    llm_explore(path, text, chat, n_new, run)
