"""AppTest drives the Corpus lab on a tiny corpus: a tiny random BERT typed into the model
box, six bundled verses, Run, the progress, then every view from the job's Parquet files;
and uploads that must end in a message, never a traceback."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages.test_pages import ROOT, TIMEOUT, _chart_keys
from tests.tiny_models import tiny_bert

PAGE = str(ROOT / "app_pages" / "corpus.py")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


@pytest.fixture
def page(bert, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RESULTS", str(tmp_path / "results"))  # the job's process inherits it
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="tf_model_choice").set_value("path").run()
    at.sidebar.text_input(key="tf_model_dir").input(str(bert)).run()
    assert not at.exception
    return at


def _wait(at, seconds=240):
    """Rerun until the job has ended (the page polls by itself in a browser)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if not any("batches finished" in getattr(p, "text", "") for p in at.get("progress")):
            return
        time.sleep(1)
    raise AssertionError("the job did not end")


def test_run_a_tiny_corpus_and_every_view(page):
    at = page
    at.number_input(key="corpus_n").set_value(6)
    at.number_input(key="corpus_max_tokens").set_value(16)
    at.button(key="corpus_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.get("progress") or at.tabs  # running (or already done on a fast machine)
    _wait(at)
    assert not at.error, [e.value for e in at.error]
    assert {"corpus_grid", "corpus_distribution", "corpus_map"} <= _chart_keys(at.main)
    at.selectbox(key="corpus_stat").set_value("previous").run()
    assert not at.exception
    at.selectbox(key="corpus_head").set_value(3).run()
    assert not at.exception and "corpus_map" in _chart_keys(at.main)
    for tab, keys in {"Queries and keys": {"corpus_embedding"}, "Texts": set(), "Download": set()}.items():
        at.session_state["corpus_tab"] = tab
        at.run()
        assert not at.exception, tab
        assert keys <= _chart_keys(at.main), tab
        if tab == "Texts":
            assert any("**6** texts measured of **6**" in m.value for m in at.markdown)
        if tab == "Download":
            assert len(at.get("download_button")) == 3
    at.session_state["corpus_tab"] = "Queries and keys"
    at.run()
    at.radio(key="corpus_colour").set_value("token").run()
    assert not at.exception and "corpus_embedding" in _chart_keys(at.main)
    # the same settings again: the finished job is found, not started again
    at.button(key="corpus_run").click().run()
    assert any("finished already" in i.value for i in at.info)


def test_bad_uploads_end_in_messages(page):
    at = page
    at.radio(key="corpus_data").set_value("upload").run()
    cases = [("empty.txt", b"", "is empty"), ("blank.txt", b"\n\n  \n", "only blank lines"),
             ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
             ("table.csv", b"id,body\n1,x\n", "no column 'text'"),
             ("long.txt", b"q" * 200_000, "no usable texts")]
    for name, data, says in cases:
        at.get("file_uploader")[0].set_value((name, data, "text/plain"))
        at.run()
        assert not at.exception, name
        assert any(says in e.value for e in at.error), (name, [e.value for e in at.error])
    at.get("file_uploader")[0].set_value(("mine.txt", b"<b>bold</b> cat\n\nthe mat\n", "text/plain"))
    at.run()
    assert not at.exception and not at.error
    assert any("1 blank" in t.value for t in at.text)
    assert at.number_input(key="corpus_n").value == 2


def test_a_failed_job_says_why_and_a_second_run_asks_first(page, tmp_path):
    import os

    from corpora.texts import bundled_verses, sample
    from jobs import corpus as jc

    at = page
    at.number_input(key="corpus_n").set_value(3).run()
    spec = jc.JobSpec(str(at.session_state["tf_model_dir"]).strip(), 128)
    folder = jc.prepare(spec, sample(bundled_verses(), 3, seed=0))
    jc.write_status(folder, jc.STATE_FAILED, error="Ray could not start a local instance: OSError: no space")
    at.run()
    assert any("Ray could not start a local instance: OSError: no space" in e.value for e in at.error)
    # another job "runs" (this process stands in for its driver): Run asks before starting this one
    other = jc.prepare(spec, sample(bundled_verses(), 2, seed=0))
    jc.write_status(other, jc.STATE_RUNNING, pid=os.getpid())
    at.button(key="corpus_run").click().run()
    assert not at.exception
    assert any("1 job(s) are running already" in w.value for w in at.warning)
    at.button(key="corpus_confirm_no").click().run()
    assert not at.warning and jc.job_state(folder)["state"] == "failed"
