"""AppTest drives pages/photos.py: a sample, a query move, a bad upload path, a bad ViT folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "photos.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.run()
    return at


def _charts(at) -> list:
    return list(at.get("plotly_chart"))


def test_sample_runs_and_shows_every_chart(app):
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert app.selectbox(key="photos_source").value == "chelsea"
    # top-5, click chart, 3 click maps, 3 Captum maps, 2 agreement heatmaps, deletion curves
    assert len(_charts(app)) >= 11
    assert len(app.dataframe) == 1
    headers = [h.value for h in app.header]
    assert any("Captum" in h for h in headers) and any("faithful" in h for h in headers)
    assert any("No ViT/DeiT directory given" in i.value for i in app.info)


def test_moving_the_query_and_stage_reruns_cleanly(app):
    app.slider(key="photos_u").set_value(0.2).run()
    app.selectbox(key="photos_stage").set_value("stage6").run()
    assert not app.exception, app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "stage6" in captions
    assert len(_charts(app)) >= 11


def test_bad_vit_directory_is_a_message_not_a_traceback(app, tmp_path):
    app.text_input(key="photos_vit_dir").input(str(tmp_path / "missing")).run()
    assert not app.exception
    assert any("does not exist" in e.value for e in app.error)
    app.text_input(key="photos_vit_dir").input("").run()


def test_upload_choice_without_a_file_asks_for_one(app):
    app.selectbox(key="photos_source").set_value("Upload a file").run()
    assert not app.exception
    assert any("Upload an image" in i.value for i in app.info)
