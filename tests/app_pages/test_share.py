"""Shareable views: a link's query parameters set the view; bad ones are ignored; the
address follows the view."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_photos_link_sets_the_example_and_the_query_and_the_address_follows():
    from ui.image_input import sample_images

    if "coffee" not in sample_images():
        pytest.skip("scikit-image's sample photos are not installed")
    at = AppTest.from_file(str(ROOT / "app_pages" / "photos.py"), default_timeout=240)
    at.query_params["photos_source"] = "coffee"
    at.query_params["photos_query"] = "0.25,0.75"
    at.run()
    assert not at.exception
    assert at.selectbox(key="photos_source").value == "coffee"
    assert (at.slider(key="photos_u").value, at.slider(key="photos_v").value) == (0.25, 0.75)
    at.slider(key="photos_u").set_value(0.4).run()
    assert at.query_params["photos_query"] == "0.4,0.75"


def test_a_hand_edited_link_keeps_the_defaults():
    at = AppTest.from_file(str(ROOT / "app_pages" / "transformer.py"), default_timeout=120)
    at.query_params["tf_model_choice"] = "<script>"
    at.query_params["tf_layer"] = "-3"
    at.query_params["tf_head"] = "2"
    at.run()
    assert not at.exception
    assert at.sidebar.radio(key="tf_model_choice").value == "minilm"
    assert at.selectbox(key="tf_head").value == 2 and at.selectbox(key="tf_layer").value == 0
    # the bad values were dropped: the address now holds the view the page shows
    assert at.query_params["tf_model_choice"] == "minilm" and at.query_params["tf_layer"] == "0"
    assert at.query_params["tf_head"] == "2"


def test_parsers_refuse_out_of_range_values():
    from ui.share import int_in, one_of, pair_of

    with pytest.raises(ValueError):
        int_in(0, 5)("6")
    with pytest.raises(ValueError):
        one_of(["a"])("b")
    with pytest.raises(ValueError):
        pair_of(float, 0.0, 1.0)("0.5,1.5")
    with pytest.raises(ValueError):
        pair_of(int, 0, 15)("1")
    assert pair_of(int, 0, 15)("3,4") == (3, 4)


# ---- issue 14, item 5: text, token, variant and tab in the link; a fresh session opens the same view

from urllib.parse import parse_qsl, urlsplit  # noqa: E402

from corpora import fashion  # noqa: E402
from tests.app_pages.test_captioning_page import tiny_assets as cap_assets  # noqa: E402,F401
from tests.app_pages.test_spatial_page import tiny_assets as spatial_assets  # noqa: E402,F401
from tests.app_pages.test_translation_page import tiny_assets as tr_assets  # noqa: E402,F401
from tests.app_pages.test_pages import _chart_keys  # noqa: E402


def _link(at) -> str:
    """The link in the page's "Copy link" box: it equals the address the page wrote."""
    (code,) = [c.value for c in at.code if "?" in c.value]
    assert dict(parse_qsl(urlsplit(code).query)) == {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}
    return code


def _fresh(page: str, link: str) -> AppTest:
    """A new session (nothing in session state) opened on the link."""
    at = AppTest.from_file(str(ROOT / "app_pages" / page), default_timeout=240)
    for key, value in parse_qsl(urlsplit(link).query):
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _on_tiny_models(page: str, assets, monkeypatch) -> AppTest:
    import models.weights
    import streamlit as st

    monkeypatch.setattr(models.weights, "ASSETS", assets)
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "app_pages" / page), default_timeout=240).run()


def test_transformer_link_carries_text_token_head_and_tab():
    at = AppTest.from_file(str(ROOT / "app_pages" / "transformer.py"), default_timeout=240).run()
    text = "Shared links <b>keep</b> this sentence & its token."
    at.text_area(key="tf_text_input").input(text)
    at.button[0].click().run()
    at.selectbox(key="tf_head").set_value(4).run()
    at.selectbox(key="tf_query").set_value(3).run()
    at.session_state["tf_tab"] = "Rollout"
    at.run()
    assert not at.exception
    link = _link(at)
    assert link.startswith("/transformer?")

    again = _fresh("transformer.py", link)
    assert again.text_area(key="tf_text_input").value == text
    assert (again.selectbox(key="tf_head").value, again.selectbox(key="tf_query").value) == (4, 3)
    assert {"tf_rollout_bar", "tf_rollout_map"} <= _chart_keys(again.main)  # the Rollout tab is open
    assert _link(again) == link


def test_a_text_too_long_for_a_link_stays_out_of_it():
    from ui.share import MAX_TEXT

    at = AppTest.from_file(str(ROOT / "app_pages" / "transformer.py"), default_timeout=240).run()
    at.text_area(key="tf_text_input").input("word " * (MAX_TEXT // 5 + 10))
    at.button[0].click().run()
    assert not at.exception
    assert "tf_text_input" not in at.query_params and "tf_text_input" not in _link(at)
    assert any(f"longer than {MAX_TEXT} characters" in c.value for c in at.caption)
    # a hand-made link with a too-long or blank text keeps the page's own sample
    for bad in ("x" * (MAX_TEXT + 1), "   "):
        fresh = _fresh("transformer.py", "/transformer?" + __import__("urllib.parse").parse.urlencode(
            {"tf_text_input": bad}))
        assert fresh.text_area(key="tf_text_input").value.startswith("The animal")


def test_translation_link_carries_text_decoding_layer_head_step_and_tab(tr_assets, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TRANSLATION_ASSETS", str(tr_assets))
    at = AppTest.from_file(str(ROOT / "app_pages" / "translation.py"), default_timeout=240).run()
    at.text_area(key="tr_text").input("god created light and water")
    at.radio(key="tr_decoding").set_value("Beam search")
    at.slider(key="tr_beam").set_value(3)
    at.button[0].click().run()
    at.selectbox(key="tr_layer_sel").set_value(1).run()
    at.selectbox(key="tr_head_sel").set_value(0).run()
    at.session_state["tr_tab"] = "Step by step"
    at.run()
    at.slider(key="tr_step").set_value(2).run()
    assert not at.exception
    link = _link(at)

    again = _fresh("translation.py", link)
    assert again.text_area(key="tr_text").value == "god created light and water"
    assert (again.radio(key="tr_decoding").value, again.slider(key="tr_beam").value) == ("Beam search", 3)
    assert (again.selectbox(key="tr_layer_sel").value, again.selectbox(key="tr_head_sel").value) == (1, 0)
    assert again.slider(key="tr_step").value == 2
    assert "tr_step_map" in _chart_keys(again.main)
    assert any("beam search, width 3" in c.value for c in again.caption)
    # a link made for a bigger model: the layer falls back to the mean, the page still draws
    worse = _fresh("translation.py", link.replace("tr_layer_sel=1", "tr_layer_sel=40"))
    assert worse.selectbox(key="tr_layer_sel").value == "mean"


@pytest.mark.skipif(not fashion.dataset_available(), reason="test scenes need Debian's dataset-fashion-mnist")
def test_captioning_link_carries_scene_decoding_word_and_variant(cap_assets, monkeypatch):  # noqa: F811
    at = _on_tiny_models("captioning.py", cap_assets, monkeypatch)
    at.number_input(key="cap_index").set_value(7).run()
    at.radio(key="cap_decoding").set_value("Beam search").run()
    at.slider(key="cap_beam").set_value(2).run()
    at.slider(key="cap_word").set_value(3).run()
    assert not at.exception
    link = _link(at)

    again = _fresh("captioning.py", link)
    assert again.number_input(key="cap_index").value == 7
    assert (again.radio(key="cap_decoding").value, again.slider(key="cap_beam").value) == ("Beam search", 2)
    assert again.slider(key="cap_word").value == 3
    assert any(m.value.startswith("**Word 3 of") for m in again.markdown)
    assert again.selectbox(key="cap_variant").value == "no_ds"
    # a word no caption can reach is dropped from the link: the slider starts at the first word
    beyond = _fresh("captioning.py", link.replace("cap_word=3", "cap_word=30"))
    assert beyond.slider(key="cap_word").value == 1


@pytest.mark.skipif(not fashion.dataset_available(), reason="test scenes need Debian's dataset-fashion-mnist")
def test_image_lab_link_carries_the_compared_variants(spatial_assets, monkeypatch):  # noqa: F811
    at = _on_tiny_models("spatial.py", spatial_assets, monkeypatch)
    at.number_input(key="scene_index").set_value(12).run()
    at.selectbox(key="cmp_left").set_value("nl_dot").run()
    at.selectbox(key="cmp_right").set_value("cbam_full").run()
    at.number_input(key="q_row").set_value(2).run()
    link = _link(at)

    again = _fresh("spatial.py", link)
    assert again.number_input(key="scene_index").value == 12
    assert (again.selectbox(key="cmp_left").value, again.selectbox(key="cmp_right").value) == ("nl_dot", "cbam_full")
    assert again.number_input(key="q_row").value == 2
    assert _link(again) == link
