"""The translation lab's views: the sentence form, the three translations, and one
function per tab. The page arranges them; every map comes from ui.translation's caches,
so moving a slider or picking a layer/head never reruns a model.
"""

from __future__ import annotations

import json
import re

import numpy as np
import streamlit as st

from ui.export import download, figure_config, matrix_csv, settings_json, stack_npz
from ui.share import copy_link, link_slot
from ui.translation import (MAX_WORDS, TITLES, ModelOutput, REFERENCES, alignment_rows, bleu_series, cut_words,
                            load_cards, load_translators, quality_rows, reference_trust_line, reference_view,
                            significance_lines, stopping_line, translate_all)
from ui.widgets import clamp_choice
from viz.attention import attention_heatmap, model_view_figure, model_view_image, token_bar_figure
from viz.translation import add_link_markers, bleu_length_figure, highlight_row, learning_curve_figure

SAMPLE = "In the beginning God created the heavens and the earth."
TABS = ["Alignment", "Step by step", "Test verse vs reference", "Quality and training", "Export"]
Outputs = dict[str, ModelOutput]


def translators_or_stop(folder: str) -> None:
    """Warn in the sidebar about each missing model; stop the page when none is trained."""
    translators, missing = load_translators(folder)
    for arch, why in missing.items():
        st.sidebar.warning(f"{TITLES[arch]}: {why}")
    if not translators:
        st.info("No translation model is trained yet. Build the corpus and train, e.g.:\n\n"
                "```\napt-get install -y sword-text-web sword-text-sparv\n"
                "python -m corpora.bible build\n"
                "python -m train translation --arch rnnsearch\n```")
        st.stop()


def verse_picker(verses: list[dict]) -> None:
    """Sidebar choice of a test verse; picking one copies its English into the text box."""
    def use_verse() -> None:
        i = st.session_state.get("tr_verse")
        if i is not None:
            st.session_state["tr_text"] = verses[i]["en"]

    picked = st.session_state.get("tr_verse")
    if verses and picked is not None and "tr_text" not in st.session_state:
        # a shared link names the verse but not its text (too long for an address): the text box
        # must hold the verse the sidebar shows, or the reference tab has no verse to score
        st.session_state["tr_text"] = verses[picked]["en"]
    if verses:
        st.sidebar.selectbox("Test verse (never seen in training)", range(len(verses)), index=None,
                             key="tr_verse", format_func=lambda i: f"{verses[i]['ref']}: {verses[i]['en'][:60]}",
                             placeholder="Pick a verse to see its reference alignment", on_change=use_verse)


def sentence_form() -> tuple[str, int]:
    """The English text (cut to MAX_WORDS) and the beam width (1: greedy); stops on empty text."""
    st.session_state.setdefault("tr_text", SAMPLE)  # a shared link may have set it already
    with st.form("tr_form", border=False):
        text = st.text_area("English sentence", height=90, key="tr_text",
                            help=f"Up to {MAX_WORDS} words are translated. Ctrl+Enter (⌘+Enter) translates.")
        a, b = st.columns([1, 2])
        decoding = a.radio("Decoding", ["Greedy", "Beam search"], horizontal=True, key="tr_decoding")
        width = b.slider("Beam width", 1, 10, 5, key="tr_beam", help="Used by beam search; width 1 is greedy.")
        st.form_submit_button("Translate", type="primary", icon=":material/translate:")
    if not text.strip():
        st.warning("The text is empty. Type an English sentence, then press Translate.")
        st.stop()
    text, n_cut = cut_words(text.strip())
    if n_cut:
        st.info(f"The text was cut to its first {MAX_WORDS} words ({n_cut:,} words were not translated): "
                "the models were trained on verses of at most 80 words.")
    return text, width if decoding == "Beam search" else 1


def translate_or_stop(folder: str, text: str, beam: int) -> Outputs:
    try:
        return translate_all(folder, text, beam)
    except (ValueError, RuntimeError) as exc:
        st.error(f"The models could not translate this text: {exc}")
        st.stop()


def show_translations(outputs: Outputs, cards: dict[str, dict], beam: int) -> None:
    """One bordered column per model: its translation, length and test BLEU."""
    for column, (arch, out) in zip(st.columns(len(outputs)), outputs.items()):
        with column.container(border=True):
            st.markdown(f"**{TITLES[arch]}**")
            st.text(out.text or "(empty translation)")  # st.text: model output is shown as text, never markup
            bleu = cards.get(arch, {}).get("metrics", {}).get("bleu")
            st.caption(f"{len(out.out_pieces) - 1} subwords · test BLEU {bleu:.1f}" if isinstance(bleu, (int, float))
                       else f"{len(out.out_pieces) - 1} subwords · no model card")
            if out.n_src_cut:
                st.caption(f"{out.n_src_cut} source subwords beyond the model's limit were cut.")
    st.caption(f"Decoding: {'greedy' if beam == 1 else f'beam search, width {beam}'}. Attention below is that "
               "of the chosen translation, read by one teacher-forced pass over it.")


def cross_map(out: ModelOutput, layer, head) -> tuple[np.ndarray, str]:
    """The Transformer's cross-attention for a layer/head choice ("mean" averages), and its name."""
    stack = out.maps["decoder.cross"]
    if layer == "mean":
        return stack.mean((0, 1)), "mean of all layers and heads"
    if head == "mean":
        return stack[layer].mean(0), f"layer {layer}, mean of heads"
    return stack[layer, head], f"layer {layer}, head {head}"


def pick_layer_head(tf: ModelOutput | None) -> tuple[object, object]:
    """Layer and head pickers for the Transformer's cross-attention (None, None without it)."""
    if tf is None:
        return None, None
    n_layers, n_heads = tf.maps["decoder.cross"].shape[:2]
    for key, n in (("tr_layer_sel", n_layers), ("tr_head_sel", n_heads)):  # a link made for a bigger model
        if st.session_state.get(key, "mean") not in ("mean", *range(n)):
            st.session_state[key] = "mean"
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Transformer layer", ["mean", *range(n_layers)], key="tr_layer_sel",
                         format_func=lambda x: "mean of layers" if x == "mean" else f"layer {x}")
    head = c2.selectbox("Transformer head", ["mean", *range(n_heads)], key="tr_head_sel",
                        format_func=lambda x: "mean of heads" if x == "mean" else f"head {x}",
                        disabled=layer == "mean")
    return layer, head


def show_alignment_tab(outputs: Outputs, layer, head, config: dict) -> None:
    rnn, tf = outputs.get("rnnsearch"), outputs.get("transformer")
    left, right = st.columns(2)
    with left:
        if rnn is None:
            st.info("RNNsearch is not trained yet (see the sidebar).")
        else:
            # titles go above the chart: attention_heatmap puts the key labels on top
            st.markdown("**RNNsearch alignment** (rows: Spanish output, columns: English source)")
            st.plotly_chart(attention_heatmap(rnn.maps["rnnsearch.alignment"], rnn.out_pieces, rnn.src_pieces),
                            config=config, key="tr_rnn_map")
    with right:
        if tf is None:
            st.info("The Transformer is not trained yet (see the sidebar).")
        else:
            m, what = cross_map(tf, layer, head)
            st.markdown(f"**Transformer cross-attention**, {what}")
            st.plotly_chart(attention_heatmap(m, tf.out_pieces, tf.src_pieces), config=config, key="tr_tf_map")
    if "seq2seq" in outputs:
        st.caption("seq2seq has no alignment to show: the decoder sees the source only through the "
                   "encoder's final state.")
    if tf is not None:
        st.caption("Every layer (rows) × head (columns) of the cross-attention, each scaled to its own maximum.")
        st.plotly_chart(model_view_figure(model_view_image(tf.maps["decoder.cross"])), config=config,
                        key="tr_tf_overview")


def _show_step_of(arch: str, out: ModelOutput, step: int, layer, head, config: dict) -> None:
    """What one model has emitted up to ``step``, and the attention row it used for that word."""
    t = min(step, len(out.out_pieces) - 1)
    st.markdown(f"**{TITLES[arch]}**, step {t}: emitting `{out.out_pieces[t]}`")
    st.text("".join(out.out_pieces[: t + 1]).replace("▁", " ").strip())
    if arch == "seq2seq":
        st.caption("(no attention: one fixed-size vector for the whole source)")
        return
    if arch == "rnnsearch":
        row, what = out.maps["rnnsearch.alignment"][t], "alignment"
    else:
        m, what = cross_map(out, layer, head)
        row = m[t]
    st.plotly_chart(token_bar_figure(row, out.src_pieces, f"{arch}: {what} at step {t}", "attention"),
                    config=config, key=f"tr_step_{arch}")


def show_step_tab(outputs: Outputs, layer, head, config: dict) -> None:
    longest = max(len(o.out_pieces) for o in outputs.values())
    clamp_choice("tr_step", longest)
    step = st.slider("Decoding step", 0, longest - 1, key="tr_step",
                     help="Replays the decoding: the words emitted so far, and the attention used to "
                          "emit the next one.")
    for arch, out in outputs.items():
        _show_step_of(arch, out, step, layer, head, config)
    rnn = outputs.get("rnnsearch")
    if rnn is not None:
        t = min(step, len(rnn.out_pieces) - 1)
        st.markdown(f"**RNNsearch alignment**, step {t} outlined")
        fig = attention_heatmap(rnn.maps["rnnsearch.alignment"], rnn.out_pieces, rnn.src_pieces)
        st.plotly_chart(highlight_row(fig, t, len(rnn.src_pieces)), config=config, key="tr_step_map")


def _scores_caption(s: dict) -> str:
    return f"mass on reference words {s['mass']:.2f} · argmax hits {s['hit']:.2f} · AER {s['aer']:.2f}"


def show_reference_tab(folder: str, verse: dict | None, config: dict) -> None:
    """A test verse's reference alignment beside each model's attention on the reference,
    with the reference's links outlined on the attention; above it, the whole test split's
    scores against every reference beside chance, the diagonal and each reference's floor."""
    cards = load_cards(folder)
    rows = alignment_rows(cards)
    if rows:
        st.markdown("**Attention against reference alignments, whole test split** (from the cards; lower AER is better)")
        st.dataframe(rows, hide_index=True)
        st.caption("Teacher-forced attention on the reference Spanish, one argmax link per Spanish word "
                   "(Transformer: mean of all layers and heads; its best single head in the last column). "
                   + reference_trust_line(cards))
    if verse is None:
        st.info("Pick a test verse in the sidebar: a reference word alignment then appears beside the "
                "attention each model pays while reading the reference Spanish, its links outlined on the maps.")
        return
    choices = [k for k in REFERENCES if verse.get(k)]
    if st.session_state.get("tr_reference") not in choices:
        st.session_state["tr_reference"] = choices[0]
    reference = st.radio("Reference alignment", choices, format_func=REFERENCES.get, horizontal=True,
                         key="tr_reference")
    view = reference_view(folder, json.dumps(verse, ensure_ascii=False), reference)
    st.markdown(f"**{verse['ref']}** (test split: never seen in training)")
    st.text("Reference Spanish: " + verse["es"])
    if not view.attention:  # no model could read this verse: show the reference alone
        st.plotly_chart(attention_heatmap(view.reference, view.es_words, view.en_words, zmax=1.0, value_name="link"),
                        config=config, key="tr_ref_map")
    # one map under the other, each the full width: side by side, a 30-word verse left each map
    # about 50 px for its 30 source columns at 1000 px (the labels and colour bar take the rest)
    for arch, att in view.attention.items():
        st.markdown(f"**{arch}** reading the reference" +
                    (" (mean of layers and heads)" if arch == "transformer" else "") +
                    f"; {REFERENCES[reference]} links outlined")
        fig = add_link_markers(attention_heatmap(att, view.es_words, view.en_words), view.links,
                               REFERENCES[reference])
        st.plotly_chart(fig, config=config, key=f"tr_ref_{arch}")
        if view.scores.get(arch, {}).get("words"):
            st.caption(_scores_caption(view.scores[arch]))
    u = view.scores.get("uniform")
    if u and u.get("words"):
        st.caption(f"Chance (uniform attention) on this verse: mass {u['mass']:.2f}, hits {u['hit']:.2f}, "
                   f"AER {u['aer']:.2f}. Scores over the {u['words']} Spanish words with a reference link. "
                   "How far each reference can be trusted: docs/alignment_reference.md.")


def show_bleu_tab(cards: dict[str, dict], config: dict) -> None:
    if not cards:
        st.info("No model cards yet: training writes assets/translation-<arch>.json.")
        return
    histories = {a: c.get("dev_history") or [] for a, c in cards.items()}
    if any(h and "dev_bleu" in h[0] for h in histories.values()):
        st.markdown("**Learning curves** (from the cards)")
        st.plotly_chart(learning_curve_figure(histories, {a: c.get("best_step") for a, c in cards.items()},
                                              {a: c.get("rewarms") or [] for a, c in cards.items()}),
                        config=config, key="tr_curves")
        st.caption("Dev loss and greedy dev BLEU measured during training at fixed step intervals; the ringed "
                   "checkpoint, the best dev BLEU, is the one on this page. " + stopping_line(cards))
    buckets, series, counts, errors = bleu_series(cards)
    st.markdown("**Test BLEU by source length**")
    st.plotly_chart(bleu_length_figure(buckets, series, counts, errors), config=config, key="tr_bleu")
    decoding = next((c.get("decoding") for c in cards.values() if c.get("decoding")), "")
    intervals = any(v is not None for e in errors.values() for v in e)
    st.caption("Test verses (chapters never seen in training), sacrebleu corpus BLEU per source-length bucket"
               + (" with 95% bootstrap intervals" if intervals else "") +
               "; the analogue of Figure 2 of Bahdanau et al. 2015. " + decoding_sentence(decoding))
    st.dataframe(quality_rows(cards), hide_index=True)
    for line in significance_lines(cards):
        st.caption(line)


def decoding_sentence(decoding: str) -> str:
    """The card's decoding note in words a reader of the chart needs (it names metric keys)."""
    width = re.search(r"beam search of width (\d+)", decoding)
    return (f"Decoded by beam search of width {width.group(1)} (length-normalised log-probability); "
            "the table gives greedy decoding's BLEU too." if width else "")


def all_attention_npz(outputs: Outputs, settings: dict) -> bytes:
    """Every model's tokens and attention records in one NPZ, with the settings."""
    arrays = {}
    for a, o in outputs.items():
        arrays[f"{a}.src_tokens"] = np.array(o.src_pieces)
        arrays[f"{a}.out_tokens"] = np.array(o.out_pieces)
        for name, w in o.maps.items():
            arrays[f"{a}.{name}"] = w
    return stack_npz(arrays, settings)


def show_export_tab(outputs: Outputs, text: str, beam: int, layer, head) -> None:
    rnn, tf = outputs.get("rnnsearch"), outputs.get("transformer")
    settings = {"text": text, "decoding": "greedy" if beam == 1 else f"beam {beam}",
                "translations": {a: o.text for a, o in outputs.items()},
                "transformer_layer": layer, "transformer_head": head}
    x, y = st.columns(2)
    with x:
        if rnn is not None:
            download("RNNsearch alignment (CSV)",
                     lambda: matrix_csv(rnn.maps["rnnsearch.alignment"], rnn.out_pieces, rnn.src_pieces,
                                        {**settings, "model": "rnnsearch"}),
                     "rnnsearch-alignment.csv", "text/csv", "tr_dl_rnn_csv")
        if tf is not None:
            m, what = cross_map(tf, layer, head)
            download("Transformer cross-attention shown (CSV)",
                     lambda: matrix_csv(m, tf.out_pieces, tf.src_pieces,
                                        {**settings, "model": "transformer", "map": what}),
                     "transformer-cross.csv", "text/csv", "tr_dl_tf_csv")
    with y:
        download("All attention of all models (NPZ)", lambda: all_attention_npz(outputs, settings),
                 "translation-attention.npz", "application/octet-stream", "tr_dl_npz")
        download("Settings (JSON)", lambda: settings_json(settings), "translation-settings.json",
                 "application/json", "tr_dl_settings")


@st.fragment
def explore(folder: str, outputs: Outputs, text: str, beam: int, verse: dict | None) -> None:
    """Everything below the translations: reruns alone, reading the cached outputs."""
    link = link_slot()
    fmt = st.segmented_control("Save figures as", ["PNG", "SVG"], default="PNG", key="tr_fig_format")
    config = figure_config("translation", fmt or "PNG")
    layer, head = pick_layer_head(outputs.get("transformer"))
    # the tabs come after the layer/head pickers, which every tab reads
    align_tab, step_tab, ref_tab, bleu_tab, export_tab = st.tabs(TABS, key="tr_tab", on_change="rerun")
    if align_tab.open:
        with align_tab:
            show_alignment_tab(outputs, layer, head, config)
    if step_tab.open:
        with step_tab:
            show_step_tab(outputs, layer, head, config)
    if ref_tab.open:
        with ref_tab:
            show_reference_tab(folder, verse, config)
    if bleu_tab.open:
        with bleu_tab:
            show_bleu_tab(load_cards(folder), config)
    if export_tab.open:
        with export_tab:
            show_export_tab(outputs, text, beam, layer, head)
    copy_link("translation", link)  # last: the clamped step and the open tab are in it


def share_translation_view(n_verses: int) -> None:
    """The sentence (when short enough for a link), the decoding, the test verse, the
    Transformer's layer and head, the step, the reference and the open tab travel in the
    page's address."""
    from ui.share import Field, int_in, int_or, one_of, shareable, text_field

    shareable("translation", [text_field("tr_text"), Field("tr_decoding", one_of(["Greedy", "Beam search"])),
                              Field("tr_beam", int_in(1, 10)), Field("tr_verse", int_in(0, max(0, n_verses - 1))),
                              Field("tr_layer_sel", int_or("mean", 0, 63)), Field("tr_head_sel", int_or("mean", 0, 63)),
                              Field("tr_step", int_in(0, 10_000)), Field("tr_reference", one_of(REFERENCES)),
                              Field("tr_tab", one_of(TABS))])
