"""Export what is on screen: weights as NPZ or CSV, with the settings beside them.

Files are built only when a download button is clicked (Streamlit calls the
``data`` callable then), so a 75 MB NPZ costs nothing on an ordinary rerun.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime, timezone
from typing import Callable, Mapping

import numpy as np
import streamlit as st


def settings_json(settings: Mapping[str, object]) -> str:
    stamped = {"exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **settings}
    return json.dumps(stamped, ensure_ascii=False, indent=2, default=str)


def matrix_csv(weights: np.ndarray, query_labels, key_labels, settings: Mapping[str, object]) -> bytes:
    """A (query, key) map as CSV: settings as leading '#' lines, tokens as header and first column."""
    w = np.asarray(weights)
    if w.ndim != 2:
        raise ValueError(f"CSV export takes one 2-D map, got shape {w.shape}")
    out = io.StringIO()
    for key, value in settings.items():
        out.write(f"# {key}: {json.dumps(value, ensure_ascii=False, default=str)}\n")
    writer = csv.writer(out)
    writer.writerow(["query \\ key"] + [f"{i}:{t}" for i, t in enumerate(key_labels)])
    for i, (label, row) in enumerate(zip(query_labels, w)):
        writer.writerow([f"{i}:{label}"] + [f"{v:.6g}" for v in row])
    return out.getvalue().encode("utf-8")


def stack_npz(arrays: Mapping[str, np.ndarray], settings: Mapping[str, object]) -> bytes:
    """Named arrays plus a 'settings' JSON string, compressed; loads with allow_pickle=False."""
    buffer = io.BytesIO()
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload["settings"] = np.array(settings_json(settings))
    np.savez_compressed(buffer, **payload)
    return buffer.getvalue()


def data_uri_bytes(uri: str) -> bytes:
    """The bytes of a base64 data URI such as the model-view PNG."""
    head, _, body = uri.partition(",")
    if ";base64" not in head:
        raise ValueError("not a base64 data URI")
    return base64.b64decode(body)


def download(label: str, build: Callable[[], bytes | str], file_name: str, mime: str, key: str) -> None:
    st.download_button(label, data=build, file_name=file_name, mime=mime, key=key,
                       on_click="ignore", icon=":material/download:")


def figure_config(file_stem: str, fmt: str) -> dict:
    """Plotly's camera button saves the figure as the user chose (PNG or SVG)."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt.lower(), "filename": file_stem, "scale": 2},
    }
