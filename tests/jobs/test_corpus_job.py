"""The corpus job on a local Ray with one CPU: the same statistics as measuring each text
directly, and a stopped job resumes without repeating finished batches."""

import numpy as np
import pytest

from analysis import corpus_stats as cs
from corpora.texts import TextSet
from jobs import corpus as jc
from tests.tiny_models import tiny_bert

TEXTS = ["the cat sat on the mat .", "a dog ran", "hello world <script>alert(1)</script>", "el gato",
         "the dog sat on a cat , the cat ran", "mat", "a", "world hello the cat"]


@pytest.fixture(scope="module")
def ray_one_cpu():
    jc.connect(num_cpus=1)  # a local instance for this module; run_job then reuses it
    import ray

    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


def _texts(n=len(TEXTS)):
    return TextSet(tuple(TEXTS[:n]), tuple(f"t{i}" for i in range(n)), "test")


def test_ray_gives_the_statistics_of_each_text_measured_directly(ray_one_cpu, bert, tmp_path):
    spec = jc.JobSpec(str(bert), max_tokens=32, batch_size=3)
    folder = jc.prepare(spec, _texts(), tmp_path)
    result = jc.run_job(folder, workers=1)
    assert result["computed"] == result["total"] == 3 and jc.job_state(folder)["state"] == "done"
    assert ray_one_cpu.util.get_node_ip_address() == "127.0.0.1"  # the local instance stays on loopback
    texts, stats = jc.load_results(folder)
    assert list(texts["text_id"]) == list(range(len(TEXTS))) and set(texts["skipped"]) == {""}
    loaded = cs.load_model(str(bert))
    for text_id, text in enumerate(TEXTS):
        want = cs.measure_text(loaded, text, 32)
        rows = stats[stats["text_id"] == text_id].sort_values(["layer", "head"])
        for k in cs.STATISTICS:
            np.testing.assert_allclose(rows[k].to_numpy(), want.stats[k].ravel(), rtol=1e-5, atol=1e-6)
        assert texts.loc[text_id, "chance_entropy"] == pytest.approx(want.chance["entropy"])
    qk = jc.load_qk(folder, 1, 2)
    assert len(qk) and qk["q"].iloc[0].shape == (8,) and set(qk["text_id"]) == set(range(len(TEXTS)))


def test_a_stopped_job_resumes_without_repeating_finished_batches(ray_one_cpu, bert, tmp_path):
    folder = jc.prepare(jc.JobSpec(str(bert), max_tokens=16, batch_size=2), _texts(), tmp_path)
    first = jc.run_job(folder, workers=1, max_batches=2)       # stopped after two of four batches
    assert first["computed"] == 2 and jc.job_state(folder)["state"] == "stopped"
    kept = {p.name: p.stat().st_mtime_ns for p in (folder / "stats").glob("*.parquet")}
    assert len(kept) == 2
    # a stopped process can leave a half-written file behind: it is not a finished batch
    (folder / "stats" / "batch-00003.tmp").write_bytes(b"PAR1")
    again = jc.prepare(jc.JobSpec(str(bert), max_tokens=16, batch_size=2), _texts(), tmp_path)
    assert again == folder
    second = jc.run_job(folder, workers=1)
    assert second["computed"] == 2 and second["done"] == second["total"] == 4
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "stats").glob("*.parquet") if p.name in kept} == kept
    texts, stats = jc.load_results(folder)
    assert len(texts) == len(TEXTS) and len(stats) == len(TEXTS) * 2 * 4
    assert jc.run_job(folder, workers=1)["computed"] == 0


def test_cli_reads_a_file_and_says_what_is_wrong(tmp_path, capsys, bert):
    bad = tmp_path / "t.csv"
    bad.write_text("id,body\n1,x\n", encoding="utf-8")
    assert jc.main(["--model", str(bert), "--data", str(bad), "--out", str(tmp_path)]) == 2
    assert "no column 'text'" in capsys.readouterr().err
    assert jc.main(["--model", str(tmp_path / "missing"), "--data", "web", "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_when_ray_cannot_start_the_job_says_why(bert, tmp_path, monkeypatch):
    def refuse(*_, **__):
        raise ConnectionError("nothing listens at 10.0.0.1:6379")
    monkeypatch.setattr(jc, "connect", refuse)
    folder = jc.prepare(jc.JobSpec(str(bert)), _texts(2), tmp_path)
    with pytest.raises(jc.RayStartError):
        jc.run_job(folder, address="10.0.0.1:6379")
    state = jc.job_state(folder)
    assert state["state"] == "failed"
    assert state["error"] == ("Ray could not start the cluster at 10.0.0.1:6379: ConnectionError: "
                              "nothing listens at 10.0.0.1:6379")


def test_stop_ends_a_launched_job_and_it_reads_as_stopped(bert, tmp_path, monkeypatch):
    import subprocess
    import sys

    folder = jc.prepare(jc.JobSpec(str(bert)), _texts(2), tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    jc.write_status(folder, jc.STATE_RUNNING, pid=sleeper.pid)
    assert jc.job_state(folder)["state"] == "running"
    assert jc.stop(folder)
    assert sleeper.wait(timeout=30) != 0
    assert jc.job_state(folder)["state"] == "stopped"
