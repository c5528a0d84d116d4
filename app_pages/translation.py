"""Translation lab: seq2seq vs RNNsearch vs Transformer on the same English sentence."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from ui.export import download, figure_config, matrix_csv, settings_json, stack_npz
from ui.sidebar import device_badge
from ui.translation import (
    MAX_WORDS,
    TITLES,
    assets_dir,
    bleu_series,
    cut_words,
    load_cards,
    load_translators,
    reference_view,
    test_verses,
    translate_all,
)
from viz.attention import attention_heatmap, model_view_figure, model_view_image, token_bar_figure
from viz.translation import bleu_length_figure, highlight_row

SAMPLE = "In the beginning God created the heavens and the earth."
TABS = ["Alignment", "Step by step", "Test verse vs reference", "BLEU vs length", "Export"]

st.title("Translation lab")
st.caption(
    "English → Spanish, three models trained here on the same Bible verses: seq2seq squeezes the "
    "sentence into one vector (no attention), RNNsearch aligns softly (additive attention), the "
    "Transformer attends with many heads. Type a sentence and compare."
)
device_badge()
folder = assets_dir()
translators, missing = load_translators(folder)
for arch, why in missing.items():
    st.sidebar.warning(f"{TITLES[arch]}: {why}")
if not translators:
    st.info("No translation model is trained yet. Build the corpus and train, e.g.:\n\n"
            "```\napt-get install -y sword-text-web sword-text-sparv\n"
            "python -m corpora.bible build\n"
            "python -m train translation --arch rnnsearch\n```")
    st.stop()

verses = test_verses(folder)


def _use_verse() -> None:
    i = st.session_state.get("tr_verse")
    if i is not None:
        st.session_state["tr_text"] = verses[i]["en"]


with st.sidebar:
    if verses:
        st.selectbox("Test verse (never seen in training)", range(len(verses)), index=None, key="tr_verse",
                     format_func=lambda i: f"{verses[i]['ref']}: {verses[i]['en'][:60]}",
                     placeholder="Pick a verse to see its reference alignment", on_change=_use_verse)

with st.form("tr_form", border=False):
    text = st.text_area("English sentence", value=SAMPLE, height=90, key="tr_text",
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
beam = width if decoding == "Beam search" else 1
try:
    outputs = translate_all(folder, text, beam)
except (ValueError, RuntimeError) as exc:
    st.error(f"The models could not translate this text: {exc}")
    st.stop()

cards = load_cards(folder)
columns = st.columns(len(outputs))
for column, (arch, out) in zip(columns, outputs.items()):
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

verse = next((v for v in verses if v["en"] == text), None)


def _clamp(key: str, upper: int) -> None:
    if st.session_state.get(key, 0) >= upper:
        st.session_state[key] = 0


@st.fragment
def explore() -> None:
    fmt = st.segmented_control("Save figures as", ["PNG", "SVG"], default="PNG", key="tr_fig_format")
    config = figure_config("translation", fmt or "PNG")
    rnn, tf = outputs.get("rnnsearch"), outputs.get("transformer")
    layer = head = None
    if tf is not None:
        n_layers, n_heads = tf.maps["decoder.cross"].shape[:2]

    def cross_map(out, layer_choice, head_choice):
        stack = out.maps["decoder.cross"]
        if layer_choice == "mean":
            return stack.mean((0, 1)), "mean of all layers and heads"
        if head_choice == "mean":
            return stack[layer_choice].mean(0), f"layer {layer_choice}, mean of heads"
        return stack[layer_choice, head_choice], f"layer {layer_choice}, head {head_choice}"

    if tf is not None:
        c1, c2 = st.columns(2)
        layer = c1.selectbox("Transformer layer", ["mean", *range(n_layers)], key="tr_layer_sel",
                             format_func=lambda x: "mean of layers" if x == "mean" else f"layer {x}")
        head = c2.selectbox("Transformer head", ["mean", *range(n_heads)], key="tr_head_sel",
                            format_func=lambda x: "mean of heads" if x == "mean" else f"head {x}",
                            disabled=layer == "mean")

    # the tabs come after the layer/head pickers, which every tab reads
    tabs = st.tabs(TABS, key="tr_tab", on_change="rerun")
    align_tab, step_tab, ref_tab, bleu_tab, export_tab = tabs

    if align_tab.open:
        with align_tab:
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
                    st.plotly_chart(attention_heatmap(m, tf.out_pieces, tf.src_pieces),
                                    config=config, key="tr_tf_map")
            if "seq2seq" in outputs:
                st.caption("seq2seq has no alignment to show: the decoder sees the source only through the "
                           "encoder's final state.")
            if tf is not None:
                st.caption("Every layer (rows) × head (columns) of the cross-attention, each scaled to its own maximum.")
                st.plotly_chart(model_view_figure(model_view_image(tf.maps["decoder.cross"])), config=config,
                                key="tr_tf_overview")

    if step_tab.open:
        with step_tab:
            longest = max(len(o.out_pieces) for o in outputs.values())
            _clamp("tr_step", longest)
            step = st.slider("Decoding step", 0, longest - 1, key="tr_step",
                             help="Replays the decoding: the words emitted so far, and the attention used to "
                                  "emit the next one.")
            for arch, out in outputs.items():
                t = min(step, len(out.out_pieces) - 1)
                so_far = "".join(out.out_pieces[: t + 1]).replace("▁", " ").strip()
                st.markdown(f"**{TITLES[arch]}**, step {t}: emitting `{out.out_pieces[t]}`")
                st.text(so_far)
                if arch == "seq2seq":
                    st.caption("(no attention: one fixed-size vector for the whole source)")
                    continue
                if arch == "rnnsearch":
                    row, what = out.maps["rnnsearch.alignment"][t], "alignment"
                else:
                    m, what = cross_map(out, layer, head)
                    row = m[t]
                st.plotly_chart(token_bar_figure(row, out.src_pieces, f"{arch}: {what} at step {t}", "attention"),
                                config=config, key=f"tr_step_{arch}")
            if rnn is not None:
                t = min(step, len(rnn.out_pieces) - 1)
                st.markdown(f"**RNNsearch alignment**, step {t} outlined")
                fig = attention_heatmap(rnn.maps["rnnsearch.alignment"], rnn.out_pieces, rnn.src_pieces)
                st.plotly_chart(highlight_row(fig, t, len(rnn.src_pieces)), config=config, key="tr_step_map")

    if ref_tab.open:
        with ref_tab:
            if verse is None:
                st.info("Pick a test verse in the sidebar: its Strong's-number reference alignment (English and "
                        "Spanish words tied to the same Hebrew or Greek word) then appears beside the attention "
                        "each model pays while reading the reference Spanish.")
            else:
                view = reference_view(folder, json.dumps(verse, ensure_ascii=False))
                st.markdown(f"**{verse['ref']}** (test split: never seen in training)")
                st.text("Reference Spanish: " + verse["es"])
                cols = st.columns(1 + len(view.attention))
                with cols[0]:
                    st.markdown("**Reference** (Strong's numbers)")
                    st.plotly_chart(attention_heatmap(view.reference, view.es_words, view.en_words,
                                                      zmax=1.0, value_name="link"),
                                    config=config, key="tr_ref_map")
                for col, (arch, att) in zip(cols[1:], view.attention.items()):
                    with col:
                        s = view.scores.get(arch, {})
                        st.markdown(f"**{arch}** reading the reference" +
                                    (" (mean of layers and heads)" if arch == "transformer" else ""))
                        st.plotly_chart(attention_heatmap(att, view.es_words, view.en_words),
                                        config=config, key=f"tr_ref_{arch}")
                        if s.get("words"):
                            st.caption(f"mass on reference words {s['mass']:.2f} · argmax hits {s['hit']:.2f} · "
                                       f"AER {s['aer']:.2f}")
                u = view.scores.get("uniform")
                if u and u.get("words"):
                    st.caption(f"Chance (uniform attention) on this verse: mass {u['mass']:.2f}, hits {u['hit']:.2f}, "
                               f"AER {u['aer']:.2f}. Scores over {u['words']} tagged Spanish words.")

    if bleu_tab.open:
        with bleu_tab:
            if not cards:
                st.info("No model cards yet: training writes assets/translation-<arch>.json.")
            else:
                buckets, series, counts = bleu_series(cards)
                st.plotly_chart(bleu_length_figure(buckets, series, counts), config=config, key="tr_bleu")
                st.caption("Greedy decoding on test verses (chapters never seen in training), sacrebleu corpus "
                           "BLEU per source-length bucket; the analogue of Figure 2 of Bahdanau et al. 2015. "
                           "How each model was trained (and for how long) is in its card:")
                rows = [{"model": a, "test BLEU": c.get("metrics", {}).get("bleu"),
                         "training minutes": c.get("metrics", {}).get("train_minutes"),
                         "steps": c.get("metrics", {}).get("train_steps"),
                         "attention mass on reference": c.get("metrics", {}).get("align_mass"),
                         "chance mass": c.get("metrics", {}).get("align_uniform_mass"),
                         "made by": c.get("made_by")} for a, c in cards.items()]
                st.dataframe(rows, hide_index=True)

    if export_tab.open:
        with export_tab:
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
                def everything() -> bytes:
                    arrays = {}
                    for a, o in outputs.items():
                        arrays[f"{a}.src_tokens"] = np.array(o.src_pieces)
                        arrays[f"{a}.out_tokens"] = np.array(o.out_pieces)
                        for name, w in o.maps.items():
                            arrays[f"{a}.{name}"] = w
                    return stack_npz(arrays, settings)

                download("All attention of all models (NPZ)", everything, "translation-attention.npz",
                         "application/octet-stream", "tr_dl_npz")
                download("Settings (JSON)", lambda: settings_json(settings), "translation-settings.json",
                         "application/json", "tr_dl_settings")


explore()
