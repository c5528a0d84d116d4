"""AppTest drives the Transformer page with a decoder LLM typed into the model box: a tiny
random Llama with grouped-query attention and a 64-token context, saved in the test."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages.test_pages import PAGE, TIMEOUT, _chart_keys
from tests.tiny_models import tiny_llama


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_llama(tmp_path_factory.mktemp("llama") / "llama")


@pytest.fixture
def page(llama):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(llama)).run()
    assert not at.exception
    return at


def _text(at, words: int) -> None:
    at.text_area(key="llm_text").input(" ".join(["the cat sat on the mat ."] * words))
    at.button[0].click().run()
    assert not at.exception


def test_decoder_opens_the_long_context_views(page):
    at = page
    assert any("llama · decoder · 2 layers × 4 query heads sharing 2 key/value heads" in c.value
               for c in at.sidebar.caption)
    _text(at, 5)
    assert any("37 tokens (37 of prompt)" in c.value for c in at.caption)
    assert {"llm_overview", "llm_tile"} <= _chart_keys(at.main)
    # the head picker names the key/value head each query head reads (GQA)
    assert at.selectbox(key="llm_head").options[3] == "3 (reads key/value head 1)"
    for tab, keys in {"Received": {"llm_received"}, "Statistics": {"llm_grid"},
                      "Roles": {"llm_roles_grid", "llm_probe_map", "llm_roles_text"},
                      "All heads": {"llm_model_view"}}.items():
        at.session_state["llm_tab"] = tab
        at.run()
        assert not at.exception, tab
        assert keys <= _chart_keys(at.main), tab
        at.run()  # a rerun reads the caches: nothing may be replayed into a missing block
        assert not at.exception, tab
    at.session_state["llm_tab"] = "One token"
    at.run()
    assert not at.exception
    assert at.number_input(key="llm_query").value == 36  # the last token by default
    assert any("Token 36" in c.value for c in at.caption)


def test_a_prompt_longer_than_the_context_is_cut_with_a_notice(page):
    at = page
    _text(at, 40)  # 282 tokens (with [CLS] and [SEP]) into a 64-token model
    assert any("first 218 tokens were dropped" in i.value for i in at.info)
    assert any("64 tokens" in c.value for c in at.caption)
    at.text_area(key="llm_text").input("x" * 450_000)
    at.button[0].click().run()
    assert not at.exception and any("50,000 characters were not read" in i.value for i in at.info)


def test_the_zoom_controls_show_the_tile_the_map_shows(page):
    at = page
    _text(at, 5)
    at.session_state["llm_tile_row"] = 200  # beyond this text: clamped to the last tile
    at.run()
    assert not at.exception
    assert at.number_input(key="llm_tile_row").value == 0


def test_empty_prompt_and_continuation(page):
    at = page
    at.text_area(key="llm_text").input("  \n ")
    at.button[0].click().run()
    assert any("empty" in w.value for w in at.warning)
    at.text_area(key="llm_text").input("the cat sat")
    at.number_input(key="llm_new").set_value(3)
    at.button[0].click().run()
    assert not at.exception
    assert any("Continuation" in m.value for m in at.markdown)
    assert any("8 tokens (5 of prompt)" in c.value for c in at.caption)


def test_a_held_out_30_layer_gqa_model_over_2000_tokens(tmp_path):
    # SmolLM2's shape (30 layers, 9 query heads sharing 3 key/value heads), random weights,
    # a 4k context, typed into the model box like any folder: the page must read all of a
    # 2,000-token prompt (no 512-token cut) and switch layers and heads on the captured q, k.
    folder = tiny_llama(tmp_path / "held_out", context=4096, layers=30, heads=9, kv_heads=3)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(folder)).run()
    assert any("30 layers × 9 query heads sharing 3 key/value heads" in c.value for c in at.sidebar.caption)
    _text(at, 285)  # 7 words a sentence: 1,995 words and the special tokens
    assert not at.exception
    assert any("1,997 tokens (1,997 of prompt)" in c.value for c in at.caption), [c.value for c in at.caption]
    assert not at.info  # nothing was cut
    assert {"llm_overview", "llm_tile"} <= _chart_keys(at.main)
    at.selectbox(key="llm_layer").set_value(29).run()
    at.selectbox(key="llm_head").set_value(8).run()
    assert not at.exception
    assert at.selectbox(key="llm_head").options[8] == "8 (reads key/value head 2)"
    charts = [e for e in at.main.get("plotly_chart")]
    assert any("Layer 29, head 8: all 1,997 tokens" in e.proto.spec for e in charts)


def test_the_induction_model_trained_here_shows_how_its_heads_formed():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("induction").run()
    assert not at.exception
    assert any("2 layers × 4 query heads" in c.value for c in at.sidebar.caption)
    _text(at, 5)
    at.session_state["llm_tab"] = "Roles"
    at.run()
    assert not at.exception
    assert {"llm_roles_grid", "llm_probe_map", "llm_phase_change"} <= _chart_keys(at.main)
    import json
    from ui.transformer import INDUCTION_MODEL

    card = json.loads(INDUCTION_MODEL.with_suffix(".json").read_text())
    step, control = card["induction"]["phase_change_step"], card["control_1_layer"]["induction"]["final"]
    assert any(f"Phase change at step {step}:" in c.value and f"ends at {control:.3f}" in c.value
               for c in at.caption)
