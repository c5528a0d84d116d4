"""Eight browser sessions at once against one server: isolation, model loads, settle time, memory.

Starts the app on 127.0.0.1 (as tests/e2e does), then drives headless Chromium sessions
(Debian's /usr/bin/chromium through Playwright's ``executable_path``) through different
pages with different inputs: typed text (Transformer, Translation), uploads and clicks
(Photos, Image lab), a number box (Captioning). Three phases, each with its own inputs so
no phase reads another's cached results:

1. warm-up: one session per page, one after another, so every model is loaded (not timed);
2. alone: the N sessions one after another (the single-session reference);
3. together: the N sessions at once, each in its own browser.

Checked: every session sees its own results and none of the other sessions' text, upload
or scene (read from the page after all sessions are done, so late cross-talk counts too);
every model loaded once per process (the server logs one line per load, ui/loads.py); no
request left the app's own host. Printed: each step's settle time (action until the page
is idle) p50/p95 alone and together with their ratios, and the server's peak memory
(VmHWM). Bounded: at most 16 sessions, each step --step-timeout seconds, the phase of
sessions together --max-minutes.

    python bench/sessions.py [--sessions 8] [--step-timeout 300] [--max-minutes 20]

Not part of the tests (tests/e2e/test_browser.py runs three sessions for isolation only):
times depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import (app_server, launch_chromium, peak_rss_mb, wait_idle,  # noqa: E402
                               watch_requests)
from ui.loads import LOAD  # noqa: E402

QUIET_MS = 1_500  # wait_idle's quiet window, taken off every settle time
MAX_SESSIONS = 16
# Each appears whole in its tokenizer (MiniLM's WordPiece; the English SentencePiece of the
# translation models), so a session can find its own word among the map's token labels.
WORDS = ("apple river castle guitar window forest pencil rocket garden bottle candle mirror ladder basket "
         "blanket button carpet dragon engine hammer jacket lemon needle orange pillow rabbit tomato tunnel "
         "violin wallet").split()
BIBLE = ("light water earth king bread fire house sheep gold tree stone sea wine city river mountain son "
         "daughter servant priest temple field blood heart voice cloud silver garden night").split()
# what the page shows, and everything the page holds as text: body text, input values, chart text
PAGE_TEXT_JS = """() => [document.body.innerText,
    ...[...document.querySelectorAll('textarea, input')].map(e => e.value),
    ...[...document.querySelectorAll('.js-plotly-plot text')].map(t => t.textContent)].join('\\n')"""


@dataclass
class Session:
    kind: str                 # which scenario
    n: int                    # input index: picks this session's word, upload or scene
    marker: str = ""          # what only this session's page may show
    steps: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    offsite: list[str] = field(default_factory=list)
    foreign_markers: list[str] = field(default_factory=list)
    own_marker_seen: bool = False


def _settled(page, session: Session, name: str, t0: float, timeout_s: float) -> None:
    wait_idle(page, timeout=int(timeout_s * 1000), quiet_ms=QUIET_MS)
    session.steps.append((name, time.perf_counter() - t0 - QUIET_MS / 1000))
    assert page.locator('[data-testid="stException"]').count() == 0, f"{session.kind}: exception on the page"


def _goto(page, server: str, path: str, session: Session, timeout_s: float) -> None:
    t0 = time.perf_counter()
    page.goto(f"{server}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=timeout_s * 1000)
    _settled(page, session, f"{path}: open", t0, timeout_s)


def _submit_text(page, server, s: Session, path: str, box_name: str, text: str, chart_text: str,
                 timeout_s) -> None:
    """Open the page, type the text, Ctrl+Enter, and wait for the marker in a chart."""
    _goto(page, server, path, s, timeout_s)
    box = page.get_by_role("textbox", name=box_name)
    box.fill(text)
    t0 = time.perf_counter()
    box.press("Control+Enter")
    page.locator(chart_text, has_text=s.marker).first.wait_for(timeout=timeout_s * 1000)
    _settled(page, s, f"{path}: text", t0, timeout_s)


def transformer_text(page, server, s: Session, timeout_s) -> None:
    s.marker = WORDS[s.n % len(WORDS)]
    _submit_text(page, server, s, "transformer", "Text", f"The {s.marker} was left near the door of the old house.",
                 ".js-plotly-plot .xtick text", timeout_s)


def transformer_link(page, server, s: Session, timeout_s) -> None:
    """A shared link (issue 14, item 5) opened under load: text and head from the address."""
    s.marker = WORDS[s.n % len(WORDS)]
    query = urlencode({"tf_text_input": f"A {s.marker} in the link.", "tf_head": str(s.n % 12)})
    _goto(page, server, f"transformer?{query}", s, timeout_s)
    page.locator(".js-plotly-plot .xtick text", has_text=s.marker).first.wait_for(timeout=timeout_s * 1000)
    head = page.locator('[data-testid="stSelectbox"] input[role="combobox"]').nth(1).input_value()
    assert head == str(s.n % 12), f"the link asked for head {s.n % 12}, the page shows {head}"


def translation_text(page, server, s: Session, timeout_s) -> None:
    s.marker = BIBLE[s.n % len(BIBLE)]
    _submit_text(page, server, s, "translation", "English sentence", f"and the {s.marker} was good in his sight",
                 ".js-plotly-plot text", timeout_s)


def _upload_file(s: Session, folder: Path) -> Path:
    """A sample photo under this session's own name, its pixels made this session's own
    (a row of marked pixels), so no session reads another's cached results."""
    from PIL import Image

    from ui.image_input import sample_images

    samples = sample_images()
    names = sorted(samples)
    image = Image.open(samples[names[s.n % len(names)]]).convert("RGB")
    for x in range(s.n + 1):
        image.putpixel((x, 0), (255, 0, 255))
    path = folder / f"upload-{WORDS[s.n % len(WORDS)]}.png"
    image.save(path)
    return path


def _upload(page, s: Session, path: Path, label: str, timeout_s) -> None:
    t0 = time.perf_counter()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(path))
    page.get_by_text(path.name).first.wait_for(timeout=timeout_s * 1000)
    _settled(page, s, f"{label}: upload", t0, timeout_s)


def photos_upload(page, server, s: Session, timeout_s, folder: Path) -> None:
    path = _upload_file(s, folder)
    s.marker = path.name
    _goto(page, server, "photos", s, timeout_s)
    _upload(page, s, path, "photos", timeout_s)
    from playwright.sync_api import expect

    caption = page.get_by_text(re.compile(r"query cell \(row \d+, col \d+\)")).first
    before = re.search(r"query cell \(row \d+, col \d+\)", caption.inner_text()).group(0)
    points = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="Click a pixel")
                          ).locator(".scatterlayer .point")
    t0 = time.perf_counter()
    points.nth((points.count() // 5 + 3 * s.n) % points.count()).click(force=True)
    expect(caption).not_to_contain_text(before, timeout=timeout_s * 1000)
    _settled(page, s, "photos: click", t0, timeout_s)


def spatial_upload(page, server, s: Session, timeout_s, folder: Path) -> None:
    path = _upload_file(s, folder)
    s.marker = path.name
    _goto(page, server, "spatial", s, timeout_s)
    _upload(page, s, path, "spatial", timeout_s)
    points = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text="What the models see")
                          ).locator(".scatterlayer .point")
    row, col = divmod((37 + 11 * s.n) % 256, 16)
    t0 = time.perf_counter()
    points.nth(row * 16 + col).click(force=True)
    page.get_by_role("heading", name=re.compile(rf"query cell \(row {row}, col {col}\)")).wait_for(
        timeout=timeout_s * 1000)
    _settled(page, s, "spatial: click", t0, timeout_s)


def captioning_scene(page, server, s: Session, timeout_s) -> None:
    index = 100 + s.n
    s.marker = f"test scene {index}"
    _goto(page, server, "captioning", s, timeout_s)
    box = page.get_by_role("spinbutton", name="Test scene index")
    box.fill(str(index))
    t0 = time.perf_counter()
    box.press("Enter")
    page.locator(".js-plotly-plot text", has_text=s.marker).first.wait_for(timeout=timeout_s * 1000)
    _settled(page, s, "captioning: scene", t0, timeout_s)


SCENARIOS = {"transformer": transformer_text, "translation": translation_text, "spatial": spatial_upload,
             "captioning": captioning_scene, "photos": photos_upload, "link": transformer_link}
UPLOADS = {"photos", "spatial"}
# the mix for N sessions: the first N of these
MIX = ("transformer", "translation", "spatial", "captioning", "photos", "link", "spatial", "translation",
       "transformer", "captioning", "spatial", "translation", "transformer", "link", "captioning", "photos")


def _run_one(server: str, session: Session, timeout_s: float, folder: Path, start: threading.Barrier | None,
             done: threading.Barrier | None, width: int = 1400) -> None:
    """One session in its own browser (Playwright's sync API wants one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1100})
            session.offsite = watch_requests(page, server)
            if start is not None:
                start.wait()
            scenario = SCENARIOS[session.kind]
            try:
                if session.kind in UPLOADS:
                    scenario(page, server, session, timeout_s, folder)
                else:
                    scenario(page, server, session, timeout_s)
            except Exception as exc:  # reported per session; the others go on
                session.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            if done is not None:
                try:
                    done.wait()
                except threading.BrokenBarrierError:
                    pass
            text = page.evaluate(PAGE_TEXT_JS)
            session.own_marker_seen = bool(session.marker) and session.marker in text
            session.foreign_markers = [text]  # compared with the others' markers by the caller
        finally:
            browser.close()


def _check_markers(sessions: list[Session]) -> None:
    """Each session's page text against every other session's marker (whole words only)."""
    for s in sessions:
        text = s.foreign_markers[0] if s.foreign_markers else ""
        s.foreign_markers = [o.marker for o in sessions if o is not s and o.marker and o.marker != s.marker
                             and re.search(rf"(?<![\w-]){re.escape(o.marker)}(?![\w-])", text)]


def run_sessions(server: str, sessions: list[Session], timeout_s: float = 300, together: bool = True,
                 max_s: float = 1200) -> list[Session]:
    """Drive the sessions, all at once (``together``) or one after another; fills each in."""
    assert len(sessions) <= MAX_SESSIONS, f"at most {MAX_SESSIONS} sessions"
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        folder = Path(tmp)
        if together:
            start = threading.Barrier(len(sessions), timeout=180)
            done = threading.Barrier(len(sessions), timeout=max_s)
            threads = [threading.Thread(target=_run_one, args=(server, s, timeout_s, folder, start, done),
                                        daemon=True) for s in sessions]
            for t in threads:
                t.start()
            deadline = time.time() + max_s + 200
            for t, s in zip(threads, sessions):
                t.join(max(1.0, deadline - time.time()))
                if t.is_alive() and s.error is None:
                    s.error = f"still running after {max_s:.0f} s"
        else:
            for s in sessions:
                _run_one(server, s, timeout_s, folder, None, None)
    _check_markers(sessions)
    return sessions


def model_loads(log_path: Path) -> Counter:
    """How often each model load (the same function and arguments) appears in the server's log."""
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    return Counter(line.split(LOAD, 1)[1].strip() for line in lines if LOAD in line)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _report(name: str, sessions: list[Session]) -> list[float]:
    times = [t for s in sessions for _, t in s.steps]
    print(f"\n{name}: {len(sessions)} sessions, {len(times)} steps")
    for i, s in enumerate(sessions):
        verdict = "ok" if s.error is None and s.own_marker_seen and not s.foreign_markers and not s.offsite else "FAIL"
        steps = ", ".join(f"{k} {t:.1f} s" for k, t in s.steps)
        print(f"  {i}: {s.kind:<11} {s.marker!r:<24} {verdict}  {steps}")
        for problem in filter(None, [s.error, s.foreign_markers and f"sees other sessions': {s.foreign_markers}",
                                     not s.own_marker_seen and "does not see its own input",
                                     s.offsite and f"requests off the app's host: {s.offsite[:3]}"]):
            print(f"       {problem}")
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8, help=f"sessions at once (1-{MAX_SESSIONS})")
    ap.add_argument("--step-timeout", type=float, default=300, help="seconds one step may take")
    ap.add_argument("--max-minutes", type=float, default=20, help="bound on the phase of sessions together")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped bench stops its server too
    n = max(1, min(MAX_SESSIONS, args.sessions))
    kinds = MIX[:n]
    log = ROOT / "bench" / "results" / "sessions-server.log"
    with app_server(log) as (server, proc):
        print(f"server {server} (pid {proc.pid}), log {log.relative_to(ROOT)}")
        t0 = time.perf_counter()
        warm = run_sessions(server, [Session(k, 40 + i) for i, k in enumerate(dict.fromkeys(kinds))],
                            args.step_timeout, together=False)
        print(f"warm-up (every model loaded once): {time.perf_counter() - t0:.0f} s, "
              f"server peak memory so far {peak_rss_mb(proc.pid):,.0f} MB")
        _report("warm-up", warm)
        alone = run_sessions(server, [Session(k, i) for i, k in enumerate(kinds)], args.step_timeout, together=False)
        t_alone = _report("alone, one after another", alone)
        t1 = time.perf_counter()
        together = run_sessions(server, [Session(k, 20 + i) for i, k in enumerate(kinds)], args.step_timeout,
                                together=True, max_s=args.max_minutes * 60)
        wall = time.perf_counter() - t1
        t_together = _report(f"together, {n} at once ({wall:.0f} s wall)", together)
        peak = peak_rss_mb(proc.pid)
    loads = model_loads(log)
    p50a, p95a, p50t, p95t = (_pct(t_alone, 0.5), _pct(t_alone, 0.95), _pct(t_together, 0.5), _pct(t_together, 0.95))
    print(f"\nsettle time per step: alone p50 {p50a:.1f} s, p95 {p95a:.1f} s; {n} together p50 {p50t:.1f} s, "
          f"p95 {p95t:.1f} s; ratio p50 {p50t / p50a:.2f}x, p95 {p95t / p95a:.2f}x")
    print(f"server peak memory (VmHWM): {peak:,.0f} MB")
    print(f"model loads in this process: {sum(loads.values())} loads of {len(loads)} models, "
          f"most for one model: {max(loads.values(), default=0)}")
    for what, count in sorted(loads.items()):
        print(f"  {count} x {what}")
    everyone = warm + alone + together
    bad = [s for s in everyone if s.error or s.foreign_markers or not s.own_marker_seen or s.offsite]
    twice = {w: c for w, c in loads.items() if c > 1}
    print("isolation: " + ("every session saw its own results and nothing of the others'" if not bad else
                           f"{len(bad)} sessions failed (see above)"))
    print("models: " + ("each loaded once" if not twice else f"loaded more than once: {twice}"))
    return 0 if not bad and not twice else 1


if __name__ == "__main__":
    raise SystemExit(main())
