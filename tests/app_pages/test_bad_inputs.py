"""Issue 14, item 1: every box a user types into, fed what a new user might type. Each ends
in a message that says what to do, never a traceback, and the box keeps what was typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from corpora import fashion
from tests.app_pages.test_spatial_page import tiny_assets as spatial_assets  # noqa: F401
from tests.app_pages.test_translation_page import tiny_assets as tr_assets  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "app_pages"
HUGE = ("lorem ipsum dolor sit amet " * 8000)[:200_000]  # a 200,000-character paste


def _messages(at, *where) -> str:
    parts = [e.value for block in (where or (at,)) for kind in ("error", "warning", "info")
             for e in getattr(block, kind)]
    return " | ".join(parts)


@pytest.fixture(scope="module")
def transformer():
    return AppTest.from_file(str(PAGES / "transformer.py"), default_timeout=300).run()


@pytest.mark.parametrize("text, says", [("", "The text is empty"), ("  \n\t ", "The text is empty"),
                                        (HUGE, "tokens were cut")])
def test_transformer_text_box(transformer, text, says):
    at = transformer
    at.text_area(key="tf_text_input").input(text)
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert says in _messages(at)
    assert at.text_area(key="tf_text_input").value == text  # nothing typed is lost


@pytest.mark.parametrize("typed, says", [
    (HUGE, "not a usable path (200,000 characters)"), ("/x" * 2500, "not a usable path"),
    ("/etc/hostname", "is a file, not a directory"), ("/tmp/a\x00b", "with a NUL character"),
    ("/nowhere/model", "does not exist"), ("/etc/hostname.gguf", "gguf"),
])
def test_transformer_model_box(transformer, typed, says):
    at = transformer
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(typed).run()
    assert not at.exception, [e.message for e in at.exception]
    assert says.lower() in _messages(at, at.sidebar).lower()
    assert at.sidebar.text_input(key="tf_model_dir").value == typed
    at.sidebar.radio(key="tf_model_choice").set_value("minilm").run()  # back to the shipped model
    assert not at.exception and at.text_area(key="tf_text_input").value is not None


@pytest.mark.parametrize("text, says", [("  \n ", "The text is empty"), (HUGE, "was cut to its first 80 words")])
def test_translation_text_box(tr_assets, monkeypatch, text, says):  # noqa: F811
    monkeypatch.setenv("TRANSLATION_ASSETS", str(tr_assets))
    at = AppTest.from_file(str(PAGES / "translation.py"), default_timeout=300).run()
    at.text_area(key="tr_text").input(text)
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert says in _messages(at)
    assert at.text_area(key="tr_text").value == text


@pytest.mark.parametrize("typed, says", [(HUGE, "not a usable path"), ("/etc/hostname", "is a file, not a directory"),
                                         ("   ", "No ViT/DeiT directory")])
def test_photos_vit_box(typed, says):
    at = AppTest.from_file(str(PAGES / "photos.py"), default_timeout=300).run()
    at.text_input(key="photos_vit_dir").input(typed).run()
    assert not at.exception, [e.message for e in at.exception]
    assert says.lower() in _messages(at).lower()


@pytest.mark.skipif(not fashion.dataset_available(), reason="test scenes need Debian's dataset-fashion-mnist")
def test_number_boxes_out_of_range_fall_back_to_their_default(spatial_assets, monkeypatch):  # noqa: F811
    import models.weights
    import streamlit as st

    monkeypatch.setattr(models.weights, "ASSETS", spatial_assets)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGES / "spatial.py"), default_timeout=300).run()
    at.number_input(key="scene_index").set_value(10_000).run()  # the box allows 0-9999
    at.number_input(key="q_row").set_value(-1).run()            # and 0-15
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="scene_index").value == 0 and at.number_input(key="q_row").value == 0
