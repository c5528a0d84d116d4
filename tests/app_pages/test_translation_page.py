"""AppTest drives the translation page on tiny models trained in the test (real weights may be absent)."""

import json
import random
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from train.translation import main
from tests.app_pages.test_pages import _chart_keys

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app_pages" / "translation.py")
TIMEOUT = 120
EN = "in the beginning god created heavens and earth light was good water land".split()
ES = "en el principio dios creó cielos y tierra luz era buena agua tierra".split()


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """Three tiny models trained for a few steps, named as the page expects, plus test verses."""
    work = tmp_path_factory.mktemp("tr")
    rng = random.Random(1)
    lines = []
    for _ in range(100):
        idx = [rng.randrange(len(EN)) for _ in range(rng.randint(3, 9))]
        lines.append(" ".join(EN[i] for i in idx) + "\t" + " ".join(ES[i] for i in idx))
    tsv = work / "tiny.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assets = work / "assets"
    for arch in ("seq2seq", "rnnsearch", "transformer"):
        main(["--arch", arch, "--tsv", str(tsv), "--vocab", "40", "--emb", "16", "--hidden", "16", "--layers", "2",
              "--heads", "2", "--ff", "32", "--max-steps", "2", "--eval-every", "1", "--out", str(work / "out"),
              "--checkpoints", str(work / "ck")])
        assets.mkdir(exist_ok=True)
        shutil.copy(work / "out" / f"translation-{arch}-tiny.safetensors", assets / f"translation-{arch}.safetensors")
        shutil.copy(work / "out" / f"translation-{arch}-tiny.json", assets / f"translation-{arch}.json")
    verse = {"ref": "Test 1:1", "en": "in the beginning god created heavens",
             "es": "en el principio dios creó cielos", "links": [[0, 0], [2, 2], [3, 3], [4, 4], [5, 5]],
             "links_eflomal": [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]}
    (assets / "translation-test-verses.jsonl").write_text(json.dumps(verse) + "\n", encoding="utf-8")
    return assets


@pytest.fixture
def page(tiny_assets, monkeypatch):
    monkeypatch.setenv("TRANSLATION_ASSETS", str(tiny_assets))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def test_three_translations_and_every_tab_render(page):
    at = page
    assert at.title[0].value == "Translation lab"
    assert len(at.text) >= 3  # one translation per model, shown as text
    assert {"tr_rnn_map", "tr_tf_map", "tr_tf_overview"} <= _chart_keys(at.main)
    assert any("no alignment" in c.value for c in at.caption)
    for tab, keys in {"Step by step": {"tr_step_rnnsearch", "tr_step_transformer", "tr_step_map"},
                      "Quality and training": {"tr_bleu", "tr_curves"}, "Export": set()}.items():
        at.session_state["tr_tab"] = tab
        at.run()
        assert not at.exception, tab
        assert keys <= _chart_keys(at.main), tab
    at.session_state["tr_tab"] = "Step by step"
    at.run()
    at.slider(key="tr_step").set_value(2).run()
    assert not at.exception


def test_beam_search_and_layer_head_choice(page):
    at = page
    at.radio(key="tr_decoding").set_value("Beam search")
    at.slider(key="tr_beam").set_value(10)
    at.button[0].click().run()
    assert not at.exception
    assert any("beam search, width 10" in c.value for c in at.caption)
    at.selectbox(key="tr_layer_sel").set_value(1).run()
    at.selectbox(key="tr_head_sel").set_value(0).run()
    assert not at.exception
    assert "tr_tf_map" in _chart_keys(at.main)


def test_test_verse_shows_reference_alignment(page):
    at = page
    at.selectbox(key="tr_verse").set_value(0).run()
    assert at.text_area(key="tr_text").value == "in the beginning god created heavens"
    at.session_state["tr_tab"] = "Test verse vs reference"
    at.run()
    assert not at.exception
    assert {"tr_ref_rnnsearch", "tr_ref_transformer"} <= _chart_keys(at.main)
    assert any("Chance" in c.value for c in at.caption)
    # eflomal first; only the references this verse has are offered (no cleaned links here)
    assert at.radio(key="tr_reference").value == "links_eflomal"
    assert at.radio(key="tr_reference").options == ["eflomal (statistical aligner)", "Strong's numbers, as tagged"]
    assert any("6 Spanish words" in c.value for c in at.caption)
    at.radio(key="tr_reference").set_value("links").run()
    assert not at.exception and any("5 Spanish words" in c.value for c in at.caption)


def test_empty_long_and_hostile_input(page):
    at = page
    at.text_area(key="tr_text").input("   \n ")
    at.button[0].click().run()
    assert not at.exception and any("empty" in w.value for w in at.warning)
    hostile = "<script>alert(1)</script> <b>bold</b> zebra quokka " * 60  # 300 words, unseen words
    at.text_area(key="tr_text").input(hostile)
    at.button[0].click().run()
    assert not at.exception
    assert any("was cut" in i.value for i in at.info)
    assert not any("<script>" in m.value for m in at.markdown)  # never rendered as markup


def test_missing_weights_name_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSLATION_ASSETS", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("python -m train translation --arch rnnsearch" in w.value for w in at.sidebar.warning)
    assert any("No translation model" in i.value for i in at.info)


def test_quality_rows_put_an_old_greedy_only_bleu_in_the_greedy_column():
    from ui.translation import quality_rows

    old, new = quality_rows({"old": {"metrics": {"bleu": 8.7}},
                             "new": {"metrics": {"bleu": 21.0, "bleu_greedy": 19.5, "bleu_ci95": 0.8}}})
    assert (old["BLEU (beam)"], old["BLEU (greedy)"]) == (None, 8.7)
    assert (new["BLEU (beam)"], new["BLEU (greedy)"], new["± 95%"]) == (21.0, 19.5, 0.8)


def test_stopping_line_tells_a_step_cap_from_a_plateau():
    from ui.translation import quality_rows, stopping_line

    cards = {"rnnsearch": {"stopped_by": "plateau: dev BLEU gained < 0.3 over the last 3 evaluations"},
             "transformer": {"stopped_by": "step cap 2000"}, "seq2seq": {}}
    line = stopping_line(cards)
    assert "rnnsearch at its plateau" in line
    assert "transformer at a step cap 2000, before any plateau" in line
    assert "seq2seq: not recorded" in line
    assert [r["stopped by"] for r in quality_rows(cards)] == [
        "plateau: dev BLEU gained < 0.3 over the last 3 evaluations", "step cap 2000", "not recorded"]
    assert stopping_line({}) == ""


def test_paired_tests_and_stopping_say_when_budgets_differ_and_runs_restarted():
    from ui.translation import significance_lines, stopping_line

    test = {"system": "rnnsearch", "baseline": "seq2seq", "system_bleu": 19.0, "baseline_bleu": 5.8,
            "p_value": 0.001, "n_samples": 1000, "significant_gain": True}
    comparison = {"rnnsearch_vs_seq2seq_paired_bootstrap": test, "train_steps": {"rnnsearch": 5000, "seq2seq": 2000}}
    (line,) = significance_lines({"rnnsearch": {"comparison": comparison}})
    assert line.startswith("rnnsearch 19.00 vs seq2seq 5.80 BLEU: p = 0.0010 (1000 paired bootstrap resamples), "
                           "a significant gain at p < 0.05.")
    assert "Trained for 5,000 and 2,000 steps: unequal budgets" in line
    fewer = {**comparison, "train_steps": {"rnnsearch": 9000, "seq2seq": 10000}}
    assert significance_lines({"rnnsearch": {"comparison": fewer}})[0].endswith(
        "Trained for 9,000 and 10,000 steps: the better model had fewer, so its lead is not a bigger budget's.")
    worse = {**fewer, "rnnsearch_vs_seq2seq_paired_bootstrap": {**test, "system_bleu": 4.0, "significant_gain": False}}
    assert "Trained for 9,000 and 10,000 steps: unequal budgets" in significance_lines(
        {"rnnsearch": {"comparison": worse}})[0]
    tie = {**fewer, "rnnsearch_vs_seq2seq_paired_bootstrap": {**test, "system_bleu": 5.8, "significant_gain": False}}
    tie["train_steps"] = {"rnnsearch": 10000, "seq2seq": 9000}
    assert "Trained for 10,000 and 9,000 steps: unequal budgets" in significance_lines(
        {"rnnsearch": {"comparison": tie}})[0]
    equal = {**comparison, "train_steps": {"rnnsearch": 2000, "seq2seq": 2000}}
    assert "unequal" not in significance_lines({"rnnsearch": {"comparison": equal}})[0]
    cards = {"rnnsearch": {"stopped_by": "step cap 5000", "rewarms": [2000]}, "seq2seq": {"stopped_by": "step cap 2000"}}
    line = stopping_line(cards)
    assert "rnnsearch at a step cap 5000, before any plateau: its curve was still rising (continued from its " \
           "exported weights at step 2,000 with a fresh optimiser" in line
    assert line.count("continued") == 1


def test_alignment_rows_put_each_score_beside_chance_diagonal_and_floor():
    from ui.translation import alignment_rows, reference_trust_line

    metrics = {"align_eflomal_verses": 1661, "align_eflomal_model_aer": 0.55371, "align_eflomal_model_precision": 0.453,
               "align_eflomal_model_recall": 0.44, "align_eflomal_uniform_aer": 0.9567,
               "align_eflomal_diagonal_aer": 0.6866, "align_eflomal_oracle_aer": 0.0148,
               "align_eflomal_best_head": "L1H1", "align_eflomal_best_head_aer": 0.5012}
    quality = {"hand_check": {"verses": 30, "raw": {"precision": 0.2158}, "clean": {"precision": 0.9289}},
               "eflomal_vs_strongs_clean": {"all": {"verses": 1545, "precision": 0.345, "recall": 0.841, "aer": 0.51}}}
    cards = {"seq2seq": {"metrics": {"bleu": 5.0}},
             "transformer": {"metrics": metrics, "best_head_by_aer": {"eflomal": "L1H1"}, "reference_quality": quality}}
    (row,) = alignment_rows(cards)  # seq2seq has no attention; only eflomal is in the metrics
    assert row == {"model": "transformer", "reference": "eflomal (statistical aligner)", "verses": 1661,
                   "AER": 0.554, "precision": 0.453, "recall": 0.44, "AER, uniform (chance)": 0.957,
                   "AER, diagonal": 0.687, "AER floor (oracle)": 0.015, "best head (AER)": "L1H1 (0.501)"}
    line = reference_trust_line(cards)
    assert line.startswith("On 30 test verses checked by hand, 21.6% of the tagged Strong's links are right, "
                           "92.9% of the cleaned Strong's links are right.")
    assert "on the 1,545 verses the cleaning keeps: precision 0.34, recall 0.84, AER 0.51" in line
    assert reference_trust_line({"seq2seq": {}}) == ""


def test_a_link_naming_only_a_verse_puts_that_verse_in_the_text_box(tiny_assets, monkeypatch):
    monkeypatch.setenv("TRANSLATION_ASSETS", str(tiny_assets))
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params["tr_verse"] = "0"
    at.query_params["tr_tab"] = "Test verse vs reference"
    at.run()
    assert not at.exception
    assert at.text_area(key="tr_text").value == "in the beginning god created heavens"
    assert any("Test 1:1" in m.value for m in at.markdown)  # the reference tab scores that verse


def test_the_bleu_chart_caption_names_the_decoding_not_the_card_keys():
    from ui.translation_views import decoding_sentence

    card_note = ("metrics.bleu, chrf and bleu_len_* use beam search of width 5 (length-normalised log-probability); "
                 "*_greedy the same with greedy decoding")
    assert decoding_sentence(card_note) == ("Decoded by beam search of width 5 (length-normalised log-probability); "
                                            "the table gives greedy decoding's BLEU too.")
    assert decoding_sentence("") == ""
