"""One real-browser test: the app in headless Chromium (Debian's), every page visited.

`make test` installs Debian's chromium; Playwright drives it through
``executable_path`` (no browser download). Screenshots land in
tests/e2e/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(1)> 😀 你好 שלום"

pytestmark = pytest.mark.browser

# Horizontal overflow in px. Streamlit scrolls inside its own containers, so the document
# itself never grows: a 3,000 px element in the main block reads 0 on
# document.documentElement.scrollWidth - innerWidth but 2,380 here (checked by hand).
OVERFLOW_JS = """() => Math.max(0, ...[...document.querySelectorAll(
    '[data-testid="stMain"], [data-testid="stAppViewContainer"], [data-testid="stMainBlockContainer"]')]
    .map(e => e.scrollWidth - e.clientWidth), document.documentElement.scrollWidth - window.innerWidth)"""


def _app_pages() -> list[str]:
    sys.path.insert(0, str(ROOT))
    import ast

    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES":
            return [Path(ast.literal_eval(entry.elts[0])).stem for entry in node.value.elts]
    raise AssertionError("app.py has no PAGES list")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS / "server.log", "w")  # kept beside the screenshots for a failed run
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("the Streamlit server did not start within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


def _wait_idle(page, timeout=240_000, quiet_ms=2_000):
    """Wait until the script has finished: no spinner or skeleton, and the page has
    stopped changing for quiet_ms (Streamlit streams elements while a script runs)."""
    busy = ('[data-testid="stSpinner"], [data-testid="stSkeleton"], '
            '[data-testid="stStatusWidget"]')
    waited, last, quiet = 0, None, 0
    while waited < timeout:
        state = page.evaluate(
            "(busy) => [document.querySelectorAll('*').length, document.body.innerText.length,"
            " document.querySelectorAll(busy).length]", busy)
        quiet = quiet + 250 if state == last and state[2] == 0 else 0
        if quiet >= quiet_ms:
            return
        last = state
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"the page was still busy after {timeout / 1000:.0f} s")


def _assert_no_error(page, name):
    assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: exception on page"


@pytest.mark.parametrize("width", [1600, 1000])
def test_every_page_in_a_real_browser(server, browser, width):
    """Every page at both widths: no error, no dialog, nothing wider than the window
    (a clipped control or an over-wide chart shows as horizontal overflow)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs = []
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(server, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Attention workbench").wait_for(timeout=90_000)
    _wait_idle(page)
    _assert_no_error(page, "home")
    page.screenshot(path=str(SHOTS / f"home-{width}.png"), full_page=True)

    overflow = {}
    for stem in _app_pages():
        page.goto(f"{server}/{stem}", wait_until="domcontentloaded")
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=120_000)
        _wait_idle(page)
        _assert_no_error(page, stem)
        page.screenshot(path=str(SHOTS / f"{stem}-{width}.png"), full_page=True)
        extra = page.evaluate(OVERFLOW_JS)
        if extra > 1:
            overflow[stem] = extra
    assert not overflow, f"pixels of horizontal overflow at {width} px: {overflow}"
    assert not dialogs


def test_transformer_page_hostile_text_and_model_view_click(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs = []
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server}/transformer", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Transformer attention").wait_for(timeout=120_000)
    _wait_idle(page)

    box = page.get_by_role("textbox", name="Text")
    box.fill(HOSTILE)
    box.press("Control+Enter")
    _wait_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    _assert_no_error(page, "transformer")
    # Token labels are drawn as text: the tick labels carry the literal '<script>'.
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert any("<script>" in t or "<" in t for t in ticks), ticks[:10]
    page.screenshot(path=str(SHOTS / "transformer-hostile.png"), full_page=True)

    page.get_by_role("tab", name="Model view").click()
    _wait_idle(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=30_000)
    # Click the marker of layer 2, head 5 (markers are drawn over each cell).
    markers = page.locator(".js-plotly-plot .scatterlayer .point")
    assert markers.count() == 6 * 12
    markers.nth(2 * 12 + 5).click(force=True)
    _wait_idle(page)
    page.screenshot(path=str(SHOTS / "transformer-model-view.png"), full_page=True)
    combos = page.locator('[data-testid="stSelectbox"] input[role="combobox"]')
    assert [combos.nth(i).input_value() for i in range(2)] == ["2", "5"]
    page.screenshot(path=str(SHOTS / "transformer-model-view.png"), full_page=True)

    # Tabs render lazily in a fragment: wait for each tab's own content to arrive.
    content = {
        "Head view": ".js-plotly-plot",
        "Rollout": ".js-plotly-plot",
        "Head statistics": '[data-testid="stDataFrame"]',
        "Export": '[data-testid="stDownloadButton"]',
    }
    for tab, selector in content.items():
        page.get_by_role("tab", name=tab).click()
        page.locator(f'[role="tabpanel"]:not([hidden]) {selector}').first.wait_for(timeout=60_000)
        _wait_idle(page)
        _assert_no_error(page, tab)
        page.screenshot(path=str(SHOTS / f"transformer-{tab.lower().replace(' ', '-')}.png"), full_page=True)
    # The export tab is open: a download carries the settings and the hostile text as data.
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="This head's map (CSV)").click()
    csv_text = Path(info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("# model_dir: ") and "# layer: 2" in csv_text and "# head: 5" in csv_text
    assert "<script>alert(1)</script>" in csv_text
    assert not dialogs, dialogs


def test_photos_click_moves_the_query(server, browser):
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{server}/photos", wait_until="domcontentloaded")
    caption = page.get_by_text(re.compile(r"query cell \(row \d+, col \d+\)"))
    caption.wait_for(timeout=240_000)
    _wait_idle(page)
    before = re.search(r"query cell \(row \d+, col \d+\)", caption.inner_text()).group(0)
    chart = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Click a pixel"))
    points = chart.locator(".scatterlayer .point")
    points.first.wait_for(state="attached", timeout=60_000)
    assert points.count() > 16
    points.nth(points.count() // 3 + 2).click(force=True)
    expect(caption).not_to_contain_text(before, timeout=120_000)
    _wait_idle(page)
    _assert_no_error(page, "photos after click")
    page.screenshot(path=str(SHOTS / "photos-click.png"), full_page=True)


def test_smollm2_long_prompt_click_to_zoom_and_head_grid(server, browser):
    """Issue 12: pick SmolLM2, paste a long document, click the overview to zoom, click a head."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.goto(f"{server}/transformer", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Transformer attention").wait_for(timeout=120_000)
    _wait_idle(page)
    page.get_by_text("SmolLM2-135M-Instruct (decoder LLM, 8k tokens)").click()
    box = page.get_by_role("textbox", name="Prompt")
    box.wait_for(timeout=240_000)  # the first use converts the GGUF once
    sentence = "In the beginning God created the heavens and the earth, and the earth was formless. "
    box.fill(sentence * 60 + HOSTILE)  # about 1,100 tokens
    box.press("Control+Enter")
    page.get_by_text(re.compile(r"all 1,\d{3} tokens")).wait_for(timeout=300_000)
    _wait_idle(page)
    _assert_no_error(page, "llm")
    page.screenshot(path=str(SHOTS / "transformer-llm-overview.png"), full_page=True)
    # The overview's click points: one per 128-token tile on or below the diagonal.
    points = page.locator(".js-plotly-plot").first.locator(".scatterlayer .point")
    n = points.count()
    assert n > 30
    points.nth(n - 1).click(force=True)  # the last tile on the diagonal
    _wait_idle(page)
    zoom = page.get_by_role("spinbutton", name="Zoom: first query")
    assert int(zoom.input_value()) >= 1024  # the control shows the tile the zoomed map shows
    assert page.get_by_text(re.compile(rf"Queries {int(zoom.input_value())}–")).count() == 1
    page.get_by_role("tab", name="Statistics", exact=True).click()
    page.locator('[role="tabpanel"]:not([hidden]) .js-plotly-plot').first.wait_for(timeout=240_000)
    _wait_idle(page)
    grid = page.locator('[role="tabpanel"]:not([hidden]) .js-plotly-plot .scatterlayer .point')
    assert grid.count() == 30 * 9
    grid.nth(18 * 9 + 6).click(force=True)  # layer 18, head 6
    _wait_idle(page)
    combos = page.locator('[data-testid="stSelectbox"] input[role="combobox"]')
    assert combos.nth(0).input_value() == "18" and combos.nth(1).input_value().startswith("6 ")
    _assert_no_error(page, "llm grid")
    page.screenshot(path=str(SHOTS / "transformer-llm-heads.png"), full_page=True)
