import io
import json

import numpy as np

from ui.export import data_uri_bytes, matrix_csv, settings_json, stack_npz


def test_npz_roundtrip_without_pickle():
    w = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    blob = stack_npz({"weights": w, "tokens": ["a", "<b>", "c", "d"]}, {"layer": 1, "text": "héllo"})
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["weights"], w)
        assert list(npz["tokens"]) == ["a", "<b>", "c", "d"]
        settings = json.loads(str(npz["settings"]))
    assert settings["layer"] == 1 and settings["text"] == "héllo" and "exported_at" in settings


def test_csv_has_settings_header_and_matrix():
    w = np.array([[0.25, 0.75], [1.0, 0.0]])
    text = matrix_csv(w, ["x", "y,z"], ["k1", "k2"], {"model": "m", "layer": 0}).decode()
    lines = text.splitlines()
    assert lines[0] == '# model: "m"' and lines[1] == "# layer: 0"
    assert lines[2] == "query \\ key,0:k1,1:k2"
    assert lines[3] == "0:x,0.25,0.75"
    assert lines[4] == '"1:y,z",1,0'


def test_settings_json_and_data_uri():
    assert json.loads(settings_json({"a": 1}))["a"] == 1
    assert data_uri_bytes("data:image/png;base64,aGVsbG8=") == b"hello"
