"""The weights committed in assets/ load as they are into the networks of today's layout
(strict: every parameter name must match) and give the records the pages read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from corpora.captions import MAX_LEN, VOCAB
from models.classifiers import ARCHS, SpatialClassifier
from models.gan import SAGAN
from models.show_attend_tell import ShowAttendTell
from models.translation.nets import ARCHS as TRANSLATION_ARCHS
from models.translation.translator import Translator
from models.weights import load_weights

ASSETS = Path(__file__).resolve().parents[2] / "assets"  # the committed folder, whatever WORKBENCH_ASSETS says


@pytest.mark.parametrize("arch", ARCHS)
def test_spatial_weights_load(arch):
    model = load_weights(SpatialClassifier(arch), ASSETS / f"spatial_{arch}.safetensors")
    with torch.inference_mode():
        logits, records = model(torch.rand(1, 1, 64, 64))
    assert logits.shape == (1, 10) and (len(records) > 0) == (arch != "baseline")


def test_sagan_weights_load():
    hp = json.loads((ASSETS / "sagan.json").read_text())["hyperparameters"]
    gan = load_weights(SAGAN(z_dim=hp["z_dim"], width=hp["width"]), ASSETS / "sagan.safetensors")
    with torch.inference_mode():
        images, (record,) = gan.generator(torch.randn(2, hp["z_dim"]))
    assert images.shape == (2, 1, 28, 28) and record.grid == (14, 14)


def test_gan_cards_hold_three_seeds_a_full_histogram_and_the_real_floor():
    for name, attention in (("sagan", True), ("gan_no_attention", False)):
        card = json.loads((ASSETS / f"{name}.json").read_text())
        hp = card["hyperparameters"]
        gan = load_weights(SAGAN(z_dim=hp["z_dim"], width=hp["width"], attention=attention),
                           ASSETS / f"{name}.safetensors")
        assert len(card["seeds"]) == 3 and len(card["class_histogram"]) == 10
        assert sum(card["class_histogram"]) == card["quality"]["samples"] == 10000
        assert card["chance"]["fid_real_vs_real"] < card["quality"]["fid"]
        with torch.inference_mode():
            images, records = gan.generator(torch.randn(2, hp["z_dim"]))
        assert images.shape == (2, 1, 28, 28) and len(records) == int(attention)


@pytest.mark.parametrize("variant", ["full", "no_ds"])
def test_captioning_weights_load(variant):
    model = load_weights(ShowAttendTell(variant, VOCAB, MAX_LEN), ASSETS / f"captioning_{variant}.safetensors")
    out = model.greedy(torch.rand(1, 1, 64, 64))
    assert len(out.records) == len(out.words)


@pytest.mark.parametrize("arch", TRANSLATION_ARCHS)
def test_translation_weights_load(arch):
    result = Translator.load(ASSETS / f"translation-{arch}.safetensors").translate("In the beginning God created")
    assert result.text and (len(result.records) > 0) == (arch != "seq2seq")


def test_the_induction_model_scores_what_its_card_says():
    from analysis.head_roles import measure_roles
    from models.pretrained.llm_local import load_causal_lm

    card = json.loads((ASSETS / "induction-2l.json").read_text())
    loaded = load_causal_lm(ASSETS / "induction-2l", device=torch.device("cpu"))
    tok = loaded.tokenizer
    scores, _ = measure_roles(loaded.model, len(tok), tok.bos_token_id, tok.all_special_ids)
    layer, head = card["induction"]["final_head"]
    assert float(scores["induction"][layer, head]) == pytest.approx(card["induction"]["final"], abs=2e-3)
    assert card["induction"]["final"] >= 0.5 > 0.05 > card["induction"]["init"]
    assert card["control_1_layer"]["induction"]["final"] < 0.1
