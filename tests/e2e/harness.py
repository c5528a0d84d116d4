"""The app in a real browser, shared by the browser tests and bench/sessions.py: start the
server on the loopback address, launch Debian's Chromium, wait until a page has settled,
and watch every request a page makes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUSY = '[data-testid="stSpinner"], [data-testid="stSkeleton"], [data-testid="stStatusWidget"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(log_path: Path, startup_s: float = 90):
    """``streamlit run app.py`` on 127.0.0.1 (offline, no usage statistics); yields
    (url, process). Its output goes to ``log_path``, kept for a failed run."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + startup_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise AssertionError(f"the Streamlit server did not start within {startup_s:.0f} s "
                                             f"(log: {log_path})")
                    time.sleep(0.5)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def launch_chromium(playwright):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_idle(page, timeout=240_000, quiet_ms=2_000):
    """Wait until the script has finished and the page has stopped changing for quiet_ms.

    "Finished" is the frontend's own script state on the app root
    (``data-test-script-state``, what Streamlit's e2e tests read): the header's status
    widget is not drawn here, and a cached computation without a spinner leaves the page
    unchanged for seconds while the script still runs."""
    waited, last, quiet = 0, None, 0
    while waited < timeout:
        state = page.evaluate(
            "(busy) => [document.querySelectorAll('*').length, document.body.innerText.length,"
            " document.querySelectorAll(busy).length,"
            " document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState ?? 'absent']", BUSY)
        idle = state[2] == 0 and state[3] == "notRunning"
        quiet = quiet + 250 if state == last and idle else 0
        if quiet >= quiet_ms:
            return
        last = state
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"the page was still busy after {timeout / 1000:.0f} s")


def watch_requests(page, server: str) -> list[str]:
    """Every request (and WebSocket) the page makes to a host other than the app's own is
    appended to the returned list: fonts, CDNs, telemetry. data: and blob: URLs stay local."""
    own = urlsplit(server).netloc
    foreign: list[str] = []

    def record(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.netloc == own:
            return
        foreign.append(url)

    page.on("request", lambda request: record(request.url))
    page.on("websocket", lambda ws: record(ws.url))
    return foreign


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM, Linux) in MB; nan elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def smollm2_prompt(page, server: str, timeout: int = 300_000):
    """Open the Transformer page, pick SmolLM2 and return its prompt box (the first use
    converts the GGUF once, hence the long wait)."""
    page.goto(f"{server}/transformer", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Transformer attention").wait_for(timeout=120_000)
    wait_idle(page)
    page.get_by_text("SmolLM2-135M-Instruct (decoder LLM, 8k tokens)").click()
    box = page.get_by_role("textbox", name="Prompt")
    box.wait_for(timeout=timeout)
    return box
