"""Bytes a real browser receives per view of the Transformer page with SmolLM2 at long
prompts (issue 12, item 4: <= 3 MB per view).

Starts the app on 127.0.0.1, opens the Transformer page in Debian's headless Chromium
(Playwright, ``executable_path``), picks SmolLM2, pastes a prompt of about N tokens and
counts every byte that reaches the page: WebSocket frames from the server (Streamlit's
protobuf deltas, which carry the figures) and HTTP responses (media files), for

  first view   Ctrl+Enter until the head's overview and tile are drawn
  head switch  another head in the Head box
  layer switch another layer in the Layer box
  zoom         a click on the overview (a new 128 x 128 tile)

and the seconds each took to settle (the machine's load is printed beside them). For
comparison it prints what Hugging Face's eager ``output_attentions`` would hold for the
same prompt (layers x heads x T^2 float32), which is what a view built on it would have
to serialise.

    python bench/llm_browser.py [--tokens 1024 4096]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import app_server, launch_chromium, smollm2_prompt, wait_idle  # noqa: E402

SENTENCE = "In the beginning God created the heavens and the earth, and the earth was formless. "
TOKENS_PER_SENTENCE = 18  # SmolLM2's tokenizer on SENTENCE (checked: 60 copies = 1,080 tokens)


class Meter:
    """Bytes received by one page since the last reset."""

    def __init__(self, page):
        self.bytes = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("response", self._response)

    def _frame(self, payload) -> None:
        self.bytes += len(payload)

    def _response(self, response) -> None:
        if "/media/" in response.url:
            try:
                self.bytes += len(response.body())
            except Exception:  # noqa: BLE001 - a response that went away counts nothing
                pass

    def take(self) -> int:
        n, self.bytes = self.bytes, 0
        return n


def _timed(page, meter, action, done) -> tuple[float, int]:
    meter.take()
    t0 = time.perf_counter()
    action()
    done()
    wait_idle(page)
    return time.perf_counter() - t0 - 2.0, meter.take()  # wait_idle waits 2 s of quiet at the end


def _pick(page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option)  # the list is virtualised: filter it to the option, then take the first
    page.get_by_role("option", name=re.compile(rf"^{option}\b")).first.click()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, nargs="+", default=[1024, 4096])
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    with app_server(ROOT / "bench" / "results" / "llm_browser-server.log") as (url, _), sync_playwright() as pw:
        browser = launch_chromium(pw)
        print(f"SmolLM2-135M-Instruct on the Transformer page, headless Chromium; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start")
        print(f"{'tokens':>7} {'view':<13} {'seconds':>8} {'MB received':>12}   eager output_attentions")
        for n in args.tokens:
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            meter = Meter(page)
            box = smollm2_prompt(page, url)
            wait_idle(page)
            box.fill(SENTENCE * max(1, round(n / TOKENS_PER_SENTENCE)))
            shown = re.compile(r"all [\d,]+ tokens")
            rows = [("first view",) + _timed(
                page, meter, lambda: box.press("Control+Enter"),
                lambda: page.get_by_text(shown).first.wait_for(timeout=600_000))]
            title = page.get_by_text(shown).first.text_content()
            t = int(re.search(r"all ([\d,]+) tokens", title).group(1).replace(",", ""))
            layer = int(re.search(r"Layer (\d+),", title).group(1))
            # each switch waits for the overview's title to name the new head: a switch the
            # page did not take would otherwise count as 0 bytes
            rows.append(("head switch",) + _timed(
                page, meter, lambda: _pick(page, "Head", "3"),
                lambda: page.get_by_text(f"Layer {layer}, head 3: all").first.wait_for(timeout=300_000)))
            rows.append(("layer switch",) + _timed(
                page, meter, lambda: _pick(page, "Layer", "18"),
                lambda: page.get_by_text("Layer 18, head 3: all").first.wait_for(timeout=300_000)))
            points = page.locator(".js-plotly-plot").first.locator(".scatterlayer .point")
            rows.append(("zoom",) + _timed(page, meter, lambda: points.nth(points.count() // 2).click(force=True),
                                           lambda: None))
            eager = 30 * 9 * t * t * 4
            for i, (name, secs, got) in enumerate(rows):
                note = f"{eager / 1e6:,.0f} MB of weights ({eager / max(got, 1):,.0f}x)" if i == 0 else ""
                print(f"{t:>7} {name:<13} {secs:>8.2f} {got / 1e6:>12.2f}   {note}", flush=True)
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
