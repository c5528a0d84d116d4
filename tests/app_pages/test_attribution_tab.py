"""The Transformer page's Attribution tab, driven with AppTest: MiniLM (encoder, cosine to
a second sentence) and a tiny random Llama typed into the model box (next-token target)."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis import text_attribution as ta
from tests.app_pages.test_pages import PAGE, TIMEOUT, _chart_keys
from tests.tiny_models import tiny_llama

CHARTS = {"grid", "attr", "head", "deletion"}


def test_minilm_attribution_tab_draws_agreement_and_deletion():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.session_state["tf_tab"] = "Attribution"
    at.run()
    assert not at.exception
    assert {f"tf_attr_{c}" for c in CHARTS} <= _chart_keys(at.main)
    # the card over held-out verses (assets/text-attribution-minilm.json) is shown beside it
    table = at.dataframe[0].value
    assert list(table["attribution"]) == ["Integrated gradients", "Input × gradient", "Blank-out (erasure)"]
    assert any("Over 200 held-out verses" in m.value for m in at.markdown)
    labels = [m.label for m in at.metric]
    assert "ρ, rollout" in labels and "ρ, heads' mean" in labels
    # the metric shows the grid's value for the chosen head
    at.selectbox(key="tf_layer").select(3).run()
    at.selectbox(key="tf_head").select(5).run()
    assert any(m.label == "ρ, layer 3 head 5" for m in at.metric)
    at.segmented_control(key="tf_attr_method").set_value("blank_out").run()
    assert not at.exception
    at.text_input(key="tf_attr_other").input("   ").run()
    assert any("second sentence is empty" in w.value for w in at.warning)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_llama(tmp_path_factory.mktemp("attr") / "llama")


def test_decoder_attribution_tab_predicts_the_chosen_next_token(llama):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(llama)).run()
    at.text_area(key="llm_text").input("the cat sat on the mat . a dog ran")
    at.button[0].click().run()
    at.session_state["llm_tab"] = "Attribution"
    at.run()
    assert not at.exception
    assert {f"llm_attr_{c}" for c in CHARTS} <= _chart_keys(at.main)
    position = at.number_input(key="llm_attr_position")
    assert position.value == position.max  # predicts the last token by default
    position.set_value(4).run()
    assert not at.exception
    assert not at.dataframe  # the SmolLM2 card is not shown for another model
    assert any("tokens 0..4)" in c.value for c in at.caption)


def test_explanations_are_cached_per_input(llama, monkeypatch):
    from ui import attribution_views as av

    calls = []
    real = ta.explain
    monkeypatch.setattr(av.ta, "explain", lambda *a, **k: calls.append(1) or real(*a, **k))
    av.decoder_explanation.clear()
    ids = (2, 5, 6, 7, 8, 5, 9)
    first = av.decoder_explanation(str(llama), ids, 4)
    again = av.decoder_explanation(str(llama), ids, 4)
    assert first is again and len(calls) == 1
    assert np.all(first.attributable == [False, True, True, True, True])  # [CLS] (id 2) is special
    av.decoder_explanation(str(llama), ids, 5)
    assert len(calls) == 2


def test_default_position_predicts_the_last_token_of_text():
    from ui.attribution_views import MAX_CONTEXT, default_position

    assert default_position((5, 6, 7, 8), end_of_turn=None) == 2          # predicts token 3
    # "<s> a b c </s> \n <s> assistant \n": predict c, the token before the last </s>
    assert default_position((1, 10, 11, 12, 2, 9, 1, 13, 9), end_of_turn=2) == 2
    assert default_position(tuple(range(3, 500)), end_of_turn=None) == MAX_CONTEXT - 2
