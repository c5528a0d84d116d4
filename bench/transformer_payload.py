"""Model view of all-MiniLM-L6-v2: our page against BertViz, same input, same run.

For 32, 128 and 512 tokens it measures
  - server time to build the model view (forward pass included for both), and the
    bytes the browser receives for it: our figure JSON (one server-rendered PNG of
    every layer x head plus 72 click markers) against BertViz's
    model_view(..., html_action="return") HTML;
  - the full-resolution map of the one head being inspected (sent only for it);
  - a layer/head switch: the figures rebuilt from the cached analysis.
and prints the ratios. Run: `make bench` (installs BertViz first).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import plotly.io as pio  # noqa: E402
import torch  # noqa: E402

from analysis.head_stats import head_statistics  # noqa: E402
from analysis.rollout import rollout  # noqa: E402
from models.pretrained.hf import default_model_dir, load_transformer, run_transformer  # noqa: E402
from viz.attention import attention_heatmap, model_view_figure, model_view_image  # noqa: E402

TEXT = ("The animal didn't cross the street because it was too tired, and the river bank "
        "was closed after the storm. ") * 80


def _json_bytes(fig) -> int:
    # what st.plotly_chart serialises for the browser
    return len(pio.to_json(fig, validate=False).encode("utf-8"))


def ours(loaded, n_tokens: int) -> dict:
    t0 = time.perf_counter()
    run = run_transformer(loaded, TEXT, max_tokens=n_tokens)
    weights = run.records[0].numpy()
    overview = model_view_image(weights)
    fig = model_view_figure(overview, selected=(0, 0))
    view_bytes = _json_bytes(fig)
    build = time.perf_counter() - t0
    # what the rollout and statistics tabs add the first time they open
    t2 = time.perf_counter()
    head_statistics(weights, run.special)
    rollout(weights)
    extras = time.perf_counter() - t2
    # a layer/head switch: everything comes from the cached analysis
    switches = []
    for layer, head in ((3, 7), (5, 11), (1, 2)):
        t1 = time.perf_counter()
        heat = attention_heatmap(weights[layer, head], run.tokens, run.tokens, f"L{layer} H{head}")
        heat_bytes = _json_bytes(heat)
        _json_bytes(model_view_figure(overview, selected=(layer, head)))
        switches.append(time.perf_counter() - t1)
    return dict(tokens=len(run.tokens), seconds=build, bytes=view_bytes, map_bytes=heat_bytes,
                switch=max(switches), extras=extras)


def bertviz(loaded, n_tokens: int) -> dict:
    from bertviz import model_view

    t0 = time.perf_counter()
    tok = loaded.tokenizer
    enc = tok(TEXT, truncation=True, max_length=n_tokens, return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model(**enc, output_attentions=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][0])
    html = model_view(out.attentions, tokens, html_action="return")
    data = html.data if hasattr(html, "data") else str(html)
    seconds = time.perf_counter() - t0
    return dict(tokens=len(tokens), seconds=seconds, bytes=len(data.encode("utf-8")))


def main() -> None:
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    loaded = load_transformer(default_model_dir(), device=torch.device("cpu"))
    ours(loaded, 32)  # warm-up: imports, first PNG encode
    print(f"{'tokens':>6} | {'ours s':>7} {'ours KB':>9} {'map KB':>8} {'switch s':>8} | "
          f"{'BertViz s':>9} {'BertViz MB':>10} | {'bytes ratio':>11} {'time ratio':>10}")
    rows = []
    for n in (32, 128, 512):
        a, b = ours(loaded, n), bertviz(loaded, n)
        assert a["tokens"] == b["tokens"] == n, (a["tokens"], b["tokens"], n)
        rows.append((n, a, b))
        print(f"{n:>6} | {a['seconds']:>7.2f} {a['bytes'] / 1e3:>9.1f} {a['map_bytes'] / 1e3:>8.1f} "
              f"{a['switch']:>8.3f} | {b['seconds']:>9.2f} {b['bytes'] / 1e6:>10.1f} | "
              f"{b['bytes'] / a['bytes']:>10.0f}x {b['seconds'] / a['seconds']:>9.1f}x", flush=True)
    n, a, b = rows[-1]
    print()
    print(f"At {n} tokens: model view bytes = 1/{b['bytes'] / a['bytes']:.0f} of BertViz "
          f"(target <= 1/100); with the inspected full-resolution map added = "
          f"1/{b['bytes'] / (a['bytes'] + a['map_bytes']):.0f}; server time = "
          f"1/{b['seconds'] / a['seconds']:.1f} of BertViz (target <= 1/20); "
          f"layer/head switch = {a['switch']:.3f} s (target <= 0.1 s); rollout + head statistics, "
          f"computed once when their tabs first open: {a['extras']:.2f} s.")


if __name__ == "__main__":
    main()
