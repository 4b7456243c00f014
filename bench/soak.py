"""A class in front of one server: N simulated students for M minutes, on loopback only.

    python -m bench.soak --students 20 --minutes 10     # the issue's class
    python -m bench.soak --students 6 --minutes 3       # a shorter one

Each student is a browser context (Debian's Chromium through Playwright) on a dashboard served
with default settings and a fresh run store. In turn each student does one of: start a run, pause
and resume it, switch to another page and back, reload, or open the Gallery; every action's
answer time (click to the page's script idle again) is kept. At the end: answer times per kind
(median, 95th percentile, worst), evaluations done by all runs (from the run store), the server's
peak memory, and whether every stored run kept its image (nothing lost).
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path

from bench.__main__ import table
from nst.record.store import Store
from tests.e2e.harness import SERVER_PIDS, app_env, click, launch, open_app, served_app, wait_idle

PAGES = ("Style statistics", "Feature maps", "Gallery", "Compare")


def nav(page, name: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()
    wait_idle(page, timeout=120_000)


def student(browser, url: str, until: float, seed: int, times: dict, errors: list) -> None:
    rng = random.Random(seed)
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    page = ctx.new_page()
    try:
        open_app(page, url)
        while time.monotonic() < until:
            action = rng.choice(("start", "pause", "switch", "switch", "reload", "gallery"))
            t0 = time.monotonic()
            try:
                if action == "start":
                    button = page.get_by_role("button", name="Start", exact=True)
                    if button.is_disabled():
                        continue
                    button.click()
                elif action == "pause":
                    pause = page.get_by_role("button", name="Pause", exact=True)
                    if pause.is_disabled():
                        continue
                    pause.click()
                    wait_idle(page, timeout=120_000)
                    times.setdefault("pause", []).append(time.monotonic() - t0)
                    t0 = time.monotonic()
                    click(page, "Resume")
                    action = "resume"
                elif action == "switch":
                    nav(page, rng.choice(PAGES))
                    times.setdefault("switch", []).append(time.monotonic() - t0)
                    t0, action = time.monotonic(), "back"
                    nav(page, "Stylize")
                elif action == "reload":
                    page.reload()
                    page.get_by_role("button", name="Start").wait_for(timeout=120_000)
                elif action == "gallery":
                    nav(page, "Gallery")
                    t0, action = time.monotonic(), "back"
                    nav(page, "Stylize")
                wait_idle(page, timeout=120_000)
                times.setdefault(action, []).append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001 - a bench reports, it does not stop
                errors.append(f"{action}: {str(exc).splitlines()[0]}")
            time.sleep(rng.uniform(1.0, 4.0))  # a student looks before the next click
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.soak")
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    env = app_env()
    env.pop("NST_MAX_RUNS", None)
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    peak = [0.0]
    with served_app(env=env) as url:
        status = Path(f"/proc/{SERVER_PIDS[url]}/status")  # Linux: the server's resident memory
        until = time.monotonic() + args.minutes * 60
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
                time.sleep(1)

        threading.Thread(target=watch, daemon=True).start()
        t0 = time.monotonic()
        threads = []
        for i in range(args.students):
            # each student its own Playwright (the sync API is not shared between threads)
            def run(i=i) -> None:
                with sync_playwright() as q:
                    b = launch(q)
                    try:
                        student(b, url, until, i, times, errors)
                    finally:
                        b.close()

            threads.append(threading.Thread(target=run))
            threads[-1].start()
            time.sleep(0.5)
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        stop.set()
        store = Store(Path(env["NST_HOME"]))
        runs = store.list_runs(None)
        evals = sum(r.evals for r in runs)
        lost = [r.id for r in runs if r.evals and (r.thumbnail is None or not r.thumbnail.is_file())]
    rows = []
    for kind, ts in sorted(times.items()):
        ts = sorted(ts)
        p95 = ts[min(len(ts) - 1, int(0.95 * len(ts)))]
        rows.append([kind, len(ts), f"{statistics.median(ts):.2f}", f"{p95:.2f}", f"{ts[-1]:.2f}"])
    table(
        f"{args.students} students for {args.minutes:g} min, default settings",
        ["action", "count", "median s", "95th s", "worst s"],
        rows,
    )
    print(
        f"{len(runs)} runs stored, {evals} evaluations in {wall:.0f} s ({evals / wall:.2f}/s); "
        f"server peak memory {peak[0]:.0f} MB; runs with evaluations but no image: {lost or 'none'}; "
        f"{len(errors)} actions that failed" + (f" (first: {errors[0]})" if errors else "")
    )


if __name__ == "__main__":
    main()
