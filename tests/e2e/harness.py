"""Start the real dashboard and drive it in Debian's Chromium (Playwright, no browser downloads).

Used by the browser tests and by `python -m tests.e2e.screenshots`, which makes the README's
pictures, so both see the same app.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_WEIGHTS = Path(
    os.environ.get(
        "NST_TEST_WEIGHTS", ROOT.parent / "shared" / "weights" / "vgg16_features_imagenet.pth"
    )
)
CHROMIUM = os.environ.get("NST_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# A closed tab's run stays in the server for a reload this long (10 min by default): short here,
# so that the memory of closed tabs is seen to come back.
LIVE_KEEP_SECONDS = 20

SERVER_PIDS: dict[str, int] = {}  # url -> pid of the streamlit process serving it


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env() -> dict[str, str]:
    """Real VGG-16 weights when present, else the untrained network by name; a fresh run store
    (NST_HOME), never the user's."""
    env = dict(os.environ)
    env["NST_HOME"] = tempfile.mkdtemp(prefix="nst-e2e-home-")
    env["NST_LIVE_KEEP_SECONDS"] = str(LIVE_KEEP_SECONDS)
    if REAL_WEIGHTS.is_file():
        env.update(NST_MODEL="vgg16", NST_WEIGHTS=str(REAL_WEIGHTS))
    else:
        env.update(NST_MODEL="vgg19", NST_WEIGHTS="random")
    env["NST_OFFLINE"] = "1"
    return env


@contextmanager
def served_app(port: int | None = None, env: dict | None = None, log_path: Path | None = None):
    """Run `streamlit run streamlit_app.py` on loopback; yields its URL once healthy."""
    port = port or free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env or app_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start (exit {proc.poll()})")
            time.sleep(0.3)
        SERVER_PIDS[url] = proc.pid
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the script has finished its run (fragments may still tick)."""
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout
    )


def open_app(page, url: str, timeout: float = 120_000) -> None:
    """Open the app and wait until its first script run has drawn the page: the Start button,
    the sidebar's photo box and thumbnails, and the run ended. (Before its first run the app
    reads as not running too, and a run draws its elements as it goes: a busy server, as in CI
    with a class's runs going, can take a while.)"""
    page.goto(url)
    page.get_by_role("button", name="Start").wait_for(timeout=timeout)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.locator("[data-testid='stSelectbox']").filter(has_text="Content photo").first.wait_for(
        state="visible", timeout=timeout
    )
    sidebar.locator("[data-testid='stImage']").first.wait_for(timeout=timeout)
    wait_idle(page, timeout)


def click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
