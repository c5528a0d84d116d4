"""AppTest drives app_pages/photos.py: a sample, a query move, a bad upload path, a bad ViT folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "app_pages" / "photos.py")


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


def test_an_upload_in_one_step_keeps_the_query_the_sliders_show(app):
    """Issue 14: the drop zone is visible at once; after an upload the sliders still show
    the query the maps use (they once read x 0.00, y 0.00 while the maps used the centre)."""
    import io
    import re

    from PIL import Image

    from ui.photos import query_cell

    app.slider(key="photos_u").set_value(0.2)
    app.slider(key="photos_v").set_value(0.7)
    app.run()
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (30, 120, 200)).save(buf, format="PNG")
    app.get("file_uploader")[0].set_value(("mine.png", buf.getvalue(), "image/png"))
    app.run()
    assert not app.exception, app.exception
    u, v = app.slider(key="photos_u").value, app.slider(key="photos_v").value
    assert (u, v) == (0.2, 0.7)
    caption = next(c.value for c in app.caption if "query cell" in c.value)
    h, w = map(int, re.search(r"(\d+) x (\d+) positions", caption).groups())
    row, col = map(int, re.search(r"query cell \(row (\d+), col (\d+)\)", caption).groups())
    assert (row, col) == query_cell((u, v), (h, w))
    assert app.selectbox(key="photos_source").disabled
    app.get("file_uploader")[0].set_value(("broken.jpg", b"\xff\xd8 truncated", "image/jpeg"))
    app.run()
    assert not app.exception and app.error
    app.get("file_uploader")[0].clear()
    app.run()
    assert not app.exception and not app.selectbox(key="photos_source").disabled


def test_point_query_reads_list_or_dict_customdata_and_ignores_junk():
    from ui.photos import _point_query

    assert _point_query({"customdata": [0.25, 0.75], "x": 1, "y": 2}) == (0.25, 0.75)
    assert _point_query({"customdata": {"0": 0.5, "1": 0.1}}) == (0.5, 0.1)
    assert _point_query({"x": 3.0, "y": 4.0}) is None
    assert _point_query({"customdata": ["a", None]}) is None
    assert _point_query({"customdata": [2.0, 0.5]}) is None  # outside the image
    assert _point_query("not a point") is None


def test_working_image_caps_the_longest_side():
    import numpy as np
    from PIL import Image

    from ui.image_input import DecodedImage
    from ui.photos import WORKING_SIDE, feature_input_shape, working_image

    big = DecodedImage(Image.fromarray(np.zeros((1500, 3000, 3), np.uint8)))
    arr, note = working_image(big)
    assert arr.shape == (512, 1024, 3) and "3000 x 1500" in note
    small = DecodedImage(Image.fromarray(np.zeros((300, 451, 3), np.uint8)))
    arr, note = working_image(small)
    assert arr.shape == (300, 451, 3) and note is None
    assert max(feature_input_shape((300, 451), 448)) == 448
    assert all(s % 32 == 0 for s in feature_input_shape((300, 451), 448))
    assert WORKING_SIDE == 1024


def test_tiny_vit_directory_shows_heads_and_rollout(app, tmp_path):
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(0)
    folder = tmp_path / "tiny-vit"
    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       image_size=32, patch_size=8)).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    app.selectbox(key="photos_source").set_value("chelsea").run()  # an earlier test chose upload
    before = len(_charts(app))
    app.text_input(key="photos_vit_dir").input(str(folder)).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert len(_charts(app)) == before + 2  # the head mosaic and the rollout overlay
    assert any("prefix token" in c.value for c in app.caption)
    app.text_input(key="photos_vit_dir").input("").run()
