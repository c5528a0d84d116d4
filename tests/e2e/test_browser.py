"""One real-browser test: the app in headless Chromium (Debian's), every page visited.

`make test` installs Debian's chromium; Playwright drives it through
``executable_path`` (no browser download). Screenshots land in
tests/e2e/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, app_server, launch_chromium, smollm2_prompt, wait_idle as _wait_idle, watch_requests

SHOTS = Path(__file__).resolve().parent / "screenshots"
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


@pytest.fixture(scope="module")
def server():
    with app_server(SHOTS / "server.log") as (url, _):  # the log stays beside the screenshots
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _new_page(browser, server, width, height):
    """A page whose requests are watched: ``offsite`` collects any to another host."""
    page = browser.new_page(viewport={"width": width, "height": height})
    return page, watch_requests(page, server)


def _assert_offline(offsite, name):
    assert not offsite, f"{name}: requests to hosts other than the app's own: {sorted(set(offsite))[:10]}"


def _assert_no_error(page, name):
    assert page.locator('[data-testid="stException"]').count() == 0, f"{name}: exception on page"


@pytest.mark.parametrize("width", [1600, 1000])
def test_every_page_in_a_real_browser(server, browser, width):
    """Every page at both widths: no error, no dialog, nothing wider than the window
    (a clipped control or an over-wide chart shows as horizontal overflow)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs = []
    page, offsite = _new_page(browser, server, width, 1000)
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
    _assert_offline(offsite, f"every page at {width} px")


def test_transformer_page_hostile_text_and_model_view_click(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs = []
    page, offsite = _new_page(browser, server, 1400, 1100)
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
    _assert_offline(offsite, "transformer")


def test_photos_click_moves_the_query(server, browser):
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page, offsite = _new_page(browser, server, 1400, 1200)
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
    _assert_offline(offsite, "photos")


def test_smollm2_long_prompt_click_to_zoom_and_head_grid(server, browser):
    """Issue 12: pick SmolLM2, paste a long document, click the overview to zoom, click a head."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, offsite = _new_page(browser, server, 1600, 1400)
    box = smollm2_prompt(page, server, timeout=240_000)
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
    _assert_offline(offsite, "llm")


def test_three_sessions_at_once_see_only_their_own_results(server):
    """Issue 14, item 6: three browsers at once, two typing different texts on the
    Transformer page and one uploading to the image lab and clicking a cell; each page
    ends with its own input and results and nothing of the others' (bench/sessions.py
    runs eight and measures them)."""
    from bench.sessions import Session, run_sessions

    sessions = run_sessions(server, [Session("transformer", 0), Session("transformer", 1), Session("spatial", 2)],
                            timeout_s=80, together=True, max_s=85)
    for s in sessions:
        assert s.error is None, (s.kind, s.error)
        assert s.own_marker_seen, f"{s.kind} {s.marker!r}: its own input is not on its page"
        assert not s.foreign_markers, f"{s.kind} {s.marker!r} shows other sessions' inputs: {s.foreign_markers}"
        assert not s.offsite, s.offsite


def test_a_second_click_while_the_model_runs_does_not_run_it_twice(server, browser):
    """Issue 14, item 8: Analyse pressed again while the forward pass runs shows the same
    status line and reads the cached result; the server logs one forward pass (ui/loads.py)."""
    from ui.loads import COMPUTE

    page, offsite = _new_page(browser, server, 1400, 1000)
    page.goto(f"{server}/transformer", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Transformer attention").wait_for(timeout=120_000)
    _wait_idle(page)
    page.get_by_role("textbox", name="Text").fill("A second click on the violin must not run the model twice.")
    button = page.get_by_role("button", name="Analyse")
    button.click()
    button.click()  # at once, while the first run is busy
    page.get_by_role("textbox", name="Text").press("Control+Enter")  # and the shortcut, a third time
    page.locator(".js-plotly-plot .xtick text", has_text="violin").first.wait_for(timeout=120_000)
    _wait_idle(page)
    _assert_no_error(page, "transformer after three clicks")
    log = (SHOTS / "server.log").read_text(encoding="utf-8", errors="replace")
    runs = [line for line in log.splitlines() if COMPUTE in line and "analyse_text" in line and "violin" in line]
    assert len(runs) == 1, runs
    _assert_offline(offsite, "transformer, three clicks")


def test_copy_link_opens_the_same_view_in_a_fresh_browser(server, browser):
    """Issue 14, item 5: a click in a fragment (the model view) moves the address too; the
    Copy link box holds that address; a new browser context opened on it shows the same
    text, layer and head."""
    from urllib.parse import parse_qs, urlsplit

    page, offsite = _new_page(browser, server, 1400, 1100)
    page.goto(f"{server}/transformer", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Transformer attention").wait_for(timeout=120_000)
    _wait_idle(page)
    text = "Links keep the weasel & its <b>token</b>."
    box = page.get_by_role("textbox", name="Text")
    box.fill(text)
    box.press("Control+Enter")
    page.locator(".js-plotly-plot .xtick text", has_text="weasel").first.wait_for(timeout=120_000)
    page.get_by_role("tab", name="Model view").click()
    _wait_idle(page)
    page.locator(".js-plotly-plot .scatterlayer .point").nth(3 * 12 + 7).click(force=True)  # layer 3, head 7
    _wait_idle(page)
    address = parse_qs(urlsplit(page.url).query)
    assert address["tf_layer"] == ["3"] and address["tf_head"] == ["7"] and address["tf_text_input"] == [text]
    page.get_by_role("button", name="Copy link").click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]').first
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    assert urlsplit(link).netloc == urlsplit(server).netloc and parse_qs(urlsplit(link).query) == address
    page.screenshot(path=str(SHOTS / "transformer-copy-link.png"))

    fresh = browser.new_context(viewport={"width": 1000, "height": 1000})  # no cookies, no session
    other = fresh.new_page()
    elsewhere = watch_requests(other, server)
    other.goto(link, wait_until="domcontentloaded")
    # the Model view tab is open: its enlarged map is titled with the layer and head
    other.locator(".js-plotly-plot .gtitle", has_text="Layer 3, head 7").first.wait_for(timeout=120_000)
    _wait_idle(other)
    assert other.get_by_role("textbox", name="Text").input_value() == text
    combos = other.locator('[data-testid="stSelectbox"] input[role="combobox"]')
    assert [combos.nth(i).input_value() for i in range(2)] == ["3", "7"]
    assert other.get_by_role("tab", name="Model view").get_attribute("aria-selected") == "true"
    other.screenshot(path=str(SHOTS / "transformer-from-link-1000.png"), full_page=True)
    fresh.close()
    _assert_offline(offsite + elsewhere, "copy link")
