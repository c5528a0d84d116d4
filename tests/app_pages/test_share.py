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
    assert "tf_model_choice" not in at.query_params and "tf_layer" not in at.query_params
    at.run()
    assert at.query_params["tf_model_choice"] == "minilm" and at.query_params["tf_head"] == "2"


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
