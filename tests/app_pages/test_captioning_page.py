"""AppTest drives the captioning page with tiny untrained captioners (no trained weights needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import torch

import models.weights
from corpora.captions import END, MAX_LEN, VOCAB, WORD_ID
from corpora import fashion
from models.show_attend_tell import ShowAttendTell
from train.checkpoint import save_weights
from train.cards import write_card

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app_pages" / "captioning.py")
TIMEOUT = 120


def _write(folder: Path, variant: str, bleu: float, **extra) -> None:
    model = ShowAttendTell(variant, VOCAB, MAX_LEN)
    # An untrained model often says <end> first; pushing <end> down makes it write a full-length
    # caption, so the strip, the word slider and the large overlay are all exercised.
    with torch.no_grad():
        model.out.bias[WORD_ID[END]] = -20.0
    save_weights(model, folder / f"captioning_{variant}.safetensors")
    write_card({"name": f"captioning_{variant}", "task": "t", "architecture": "a", "source": "s",
                "made_by": f"python -m train captioning --variant {variant}",
                "metrics": {"bleu4": bleu, "exact_match": 0.1, "attention_correctness": 0.3},
                "test": {"attention_correctness_uniform_reference": 0.1,
                         "attention_correctness_definition": "share of mass in the box"},
                "training_time_s": 1.0, **extra}, folder / f"captioning_{variant}.json")


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cap_assets")
    curve = [{"epoch": e, "step": 5 * e, "train_loss": 3.0 / e, "train_nll_per_word": 1.0 / e, "val_bleu4": 0.1 * e,
              "val_attention_correctness": 0.1 * e, "val_uniform": 0.1} for e in (1, 2)]
    _write(folder, "full", 0.5, curve=curve)
    _write(folder, "no_ds", 0.4, across_seeds={"metrics.bleu4": {"mean": 0.42, "sd": 0.02, "values": [0.4, 0.44]}})
    return folder


def _app(folder, monkeypatch) -> AppTest:
    monkeypatch.setattr(models.weights, "ASSETS", folder)
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def _charts(at) -> int:
    stack, n = [at.main], 0
    while stack:
        node = stack.pop()
        if type(node).__name__ == "UnknownElement" and getattr(node, "type", "") == "plotly_chart":
            n += 1
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
    return n


def _ok(at) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.skipif(not fashion.dataset_available(),
                    reason="test scenes need Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
def test_test_scene_beam_word_slider_and_variant(tiny_assets, monkeypatch):
    at = _app(tiny_assets, monkeypatch).run()
    _ok(at)
    # The strip, the large word overlay, the two comparison strips and the full model's curve.
    assert _charts(at) == 5
    assert any("Reference" in m.value for m in at.markdown)
    at.radio(key="cap_decoding").set_value("Beam search").run()
    at.slider(key="cap_beam").set_value(4).run()
    _ok(at)
    at.slider(key="cap_word").set_value(2).run()
    _ok(at)
    assert any(m.value.startswith("**Word 2 of") for m in at.markdown)
    at.number_input(key="cap_index").set_value(7).run()
    _ok(at)
    table = at.dataframe[0].value
    assert list(table["BLEU-4 (test)"]) == ["0.500", "0.420 ± 0.020 (2 seeds)"]
    assert list(table["uniform map (chance)"]) == ["0.100", "0.100"]


def test_upload_of_a_sample_photo(tiny_assets, monkeypatch):
    at = _app(tiny_assets, monkeypatch).run()
    at.radio(key="cap_source").set_value("Sample photo").run()
    assert not at.exception, [e.message for e in at.exception]
    source = at.selectbox(key="cap_upload_source")
    if len(source.options) < 2:
        pytest.skip("scikit-image's bundled sample photos are not installed")
    source.set_value(source.options[1]).run()
    _ok(at)
    assert any(m.value.startswith("**Caption") for m in at.markdown)
    assert not any(m.value.startswith("**Reference") for m in at.markdown)


def test_missing_weights_name_the_training_command(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch).run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("python -m train captioning --variant full" in e.value for e in at.error)


def test_damaged_weights_are_a_message(tmp_path, monkeypatch):
    _write(tmp_path, "full", 0.5)
    (tmp_path / "captioning_full.safetensors").write_bytes(b"not a safetensors file")
    at = _app(tmp_path, monkeypatch)
    at.session_state["cap_source"] = "Sample photo"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if at.selectbox(key="cap_upload_source").value == "Upload a file":
        pytest.skip("no bundled sample photo to feed the damaged model")
    assert any("could not be loaded" in e.value for e in at.error)


def test_plateau_text_reads_the_card():
    from ui.captioning import plateau_text

    assert plateau_text({"hyperparameters": {"epochs_completed": 8.0}}) == "no plateau rule (fixed 8 epochs)"
    assert plateau_text({}) == "no plateau rule"
    card = {"seed": 0, "plateau": {"reached": True, "epochs": 14.0},
            "across_seeds": {"plateau.epochs": {"mean": 15.0, "sd": 1.0, "values": [14.0, 16.0, 15.0]}}}
    assert plateau_text(card) == "reached (seed 0); epochs per seed 14, 16, 15"
    assert plateau_text({"seed": 2, "plateau": {"reached": False, "epochs": 30.0}}) == \
        "not reached (seed 2): stopped by the cap; epochs per seed 30"


def test_penalty_effect_is_the_seed_by_seed_difference_of_the_two_cards():
    from scipy.stats import ttest_1samp

    from ui.captioning import penalty_effect

    def card(ac, bleu, seeds=(0, 1, 2)):
        return {"seeds": list(seeds), "hyperparameters": {"lambda_ds": 0.1}, "metrics": {"uniform": 0.13},
                "across_seeds": {"metrics.attention_correctness": {"values": ac}, "metrics.bleu4": {"values": bleu}}}

    full, no_ds = card([0.3, 0.5, 0.6], [0.6, 0.5, 0.7]), card([0.6, 0.6, 0.65], [0.62, 0.45, 0.7])
    # attention correctness: d = (-0.3, -0.1, -0.05), mean -0.15, sd (ddof 1) 0.1323; BLEU-4: d = (-0.02, 0.05, 0)
    p_ac = ttest_1samp([-0.3, -0.1, -0.05], 0.0).pvalue
    p_bleu = ttest_1samp([-0.02, 0.05, 0.0], 0.0).pvalue
    text = penalty_effect(full, no_ds)
    assert f"attention correctness -0.150 ± 0.132 (the full model higher on 0 of 3 seeds, paired t p = {p_ac:.2f})" in text
    assert f"BLEU-4 +0.010 ± 0.036 (the full model higher on 1 of 3 seeds, paired t p = {p_bleu:.2f})" in text
    assert "λ = 0.1" in text and "0.130" in text
    # one seed, or cards over different seeds, say nothing
    assert penalty_effect(card([0.3], [0.6], seeds=[0]), card([0.6], [0.6], seeds=[0])) is None
    assert penalty_effect(full, card([0.6, 0.6, 0.65], [0.62, 0.45, 0.7], seeds=(0, 1, 3))) is None
    assert penalty_effect({}, no_ds) is None
