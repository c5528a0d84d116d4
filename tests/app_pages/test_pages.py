"""AppTest drives the home and transformer pages as a user would."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui.transformer

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = str(ROOT / "app_pages" / "transformer.py")


def _chart_keys(element) -> set[str]:
    keys = set()
    stack = [element]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())
        key = getattr(node, "key", None)
        if key and type(node).__name__ == "UnknownElement":
            keys.add(key)
    return keys


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def test_home_lists_pages_and_model_zoo():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Attention workbench"
    zoo = at.dataframe[0].value
    assert "all-MiniLM-L6-v2" in set(zoo["Model"])
    assert any("Device" in m.value for m in at.sidebar.markdown)


def test_app_router_opens_transformer_page():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/transformer.py").run()
    assert not at.exception
    assert at.title[0].value == "Transformer attention"


def test_transformer_page_every_view_renders(page):
    at = page
    assert "tf_heatmap" in _chart_keys(at.main)
    expected = {
        "Model view": {"tf_model_view", "tf_model_view_enlarged"},
        "Head view": {"tf_head_view"},
        "Rollout": {"tf_rollout_bar", "tf_rollout_map"},
        "Head statistics": {"tf_stat_map"},
    }
    for tab, keys in expected.items():
        at.session_state["tf_tab"] = tab
        at.run()
        assert not at.exception, tab
        assert keys <= _chart_keys(at.main), tab
    at.session_state["tf_tab"] = "Head statistics"
    at.run()
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 6 * 12
    at.session_state["tf_tab"] = "Export"
    at.run()
    assert not at.exception


def test_layer_head_token_changes_never_rerun_the_model(monkeypatch):
    calls = []
    real = ui.transformer.run_transformer

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(ui.transformer, "run_transformer", counting)
    ui.transformer.analyse_text.clear()
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    assert len(calls) == 1
    at.selectbox(key="tf_layer").select(4).run()
    at.selectbox(key="tf_head").select(7).run()
    at.selectbox(key="tf_query").select(3).run()
    at.session_state["tf_tab"] = "Head view"
    at.run()
    at.session_state["tf_tab"] = "Rollout"
    at.run()
    assert not at.exception
    assert len(calls) == 1
    at.text_area(key="tf_text_input").input("A different sentence entirely.")
    at.button[0].click().run()
    assert len(calls) == 2


def test_empty_text_gives_a_message():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.text_area(key="tf_text_input").input("  \n\t ")
    at.button[0].click().run()
    assert not at.exception
    assert any("empty" in w.value for w in at.warning)


def test_long_hostile_text_is_cut_with_a_notice():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    text = ("<script>alert(1)</script> <img src=x onerror=alert(1)> 😀 你好 שלום " * 200)[:10_000]
    at.text_area(key="tf_text_input").input(text)
    at.button[0].click().run()
    assert not at.exception
    assert any("were cut" in i.value for i in at.info)
    # The token picker shows the raw token text (as text, not markup)
    options = at.selectbox(key="tf_query").options
    assert len(options) == 512 and any("<" in o for o in options)


def test_bad_model_directory_gives_a_message(tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    assert any("Type the path" in i.value for i in at.sidebar.info)
    at.sidebar.text_input(key="tf_model_dir").input(str(tmp_path / "missing")).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.sidebar.error)
    at.sidebar.text_input(key="tf_model_dir").input(str(tmp_path)).run()
    assert any("config.json" in e.value for e in at.sidebar.error)


def test_encoder_decoder_model_shows_all_three_attentions(tmp_path):
    from tests.tiny_models import tiny_bart

    folder = tiny_bart(tmp_path / "bart")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(folder)).run()
    assert not at.exception
    radio = at.radio(key="tf_record")
    assert radio.options == [
        "Encoder self-attention", "Decoder self-attention (causal)", "Cross-attention (decoder → encoder)"]
    radio.set_value("decoder.cross").run()
    assert not at.exception
    at.session_state["tf_tab"] = "Rollout"
    at.run()
    assert any("does not apply to cross-attention" in i.value for i in at.info)
    at.session_state["tf_tab"] = "Head statistics"
    at.run()
    assert any("self-attention" in i.value for i in at.info)


def test_a_bad_gguf_in_the_model_box_is_a_message(tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(tmp_path / "missing.gguf")).run()
    assert not at.exception and any("is not a file" in e.value for e in at.sidebar.error)
    (tmp_path / "fake.gguf").write_bytes(b"GGML" + b"\0" * 64)
    at.sidebar.text_input(key="tf_model_dir").input(str(tmp_path / "fake.gguf")).run()
    assert not at.exception and any("not a GGUF file" in e.value for e in at.sidebar.error)
