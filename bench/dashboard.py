"""The dashboard as a user gets it: its real server and a real Chromium on this same machine.

    python -m bench.dashboard                     # pace and estimates, three pairs, 256 px
    python -m bench.dashboard --only pace --steps 200
    python -m bench.dashboard --only estimates

pace: the same run (photo, painting, 256 px, default settings, `--steps` steps) made by the
command line (`python -m nst ... --quiet`, its own history's pace, stored as by default) and by
the dashboard with its page open in Chromium (steps/s read off the page's progress line between
the 10th step and the end, as a person watching it would time it). The two alternate `--repeat`
times; the medians are shown. The ratio is the dashboard's pace over the command line's. The
server's and the browser's CPU seconds during the run say where the rest went.

estimates: "Start takes about N s" as the page says it, against the wall time from the click on
Start to the page showing the run done: the default run and a blend of two paintings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.__main__ import table
from bench.common import SHARED
from nst.lab.sweep import device_name
from tests.e2e.harness import REAL_WEIGHTS, app_env, click, launch, open_app, served_app, wait_idle
from tests.e2e.journeys import set_steps, status_text, steps_done

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "nst" / "samples"
# (photo, painting): the paper's pair, and two the project's defaults were not tuned on
PAIRS = {
    "tubingen+starry_night": (SAMPLES / "tubingen.jpg", SAMPLES / "starry_night.jpg"),
    "golden_gate+the_scream": (
        SHARED / "images" / "golden_gate.jpg",
        SHARED / "images" / "the_scream.jpg",
    ),
    "cat+mosaic": (SAMPLES / "cat.jpg", SAMPLES / "mosaic.jpg"),
}
ESTIMATE_RE = re.compile(r"Start takes (?:about|a time budget of) ([\d.]+) (s|min)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that have ended."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def chromium_cpu() -> float:
    total = 0.0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if "chrom" in (d / "comm").read_text():
                    total += cpu_seconds(int(d.name))
            except OSError:
                continue
    return total


def cli_pace(photo: Path, painting: Path, size: int, steps: int) -> float:
    """Steps/s of the command line's run from its 10th step to its end (its own clock)."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "m.json"
        cmd = [sys.executable, "-m", "nst", str(photo), str(painting), "-o", f"{tmp}/out.png"]
        cmd += ["--size", str(size), "--steps", str(steps), "--quiet"]  # stored, as by default
        cmd += ["--metrics", str(metrics)]
        subprocess.run(cmd, check=True, env=app_env(), cwd=ROOT)
        history = json.loads(metrics.read_text())["history"]
    a, b = history[9], history[-1]
    return (b["step"] - a["step"]) / (b["seconds"] - a["seconds"])


def choose(page, uploader_index: int, path: Path) -> None:
    uploader = page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader']").nth(
        uploader_index
    )
    with page.expect_file_chooser() as chooser:
        uploader.locator("[data-testid='stBaseButton-secondary']").first.click()
    chooser.value.set_files(str(path))
    page.wait_for_timeout(300)
    wait_idle(page)


def use_pair(page, pair: str) -> None:
    if pair == "tubingen+starry_night":
        return  # the dashboard opens with it
    photo, painting = PAIRS[pair]
    choose(page, 0, photo)
    choose(page, 1, painting)


def wait_done(page, timeout: float) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stProgress]')]"
        ".some(p => / done/.test(p.innerText))",
        timeout=timeout * 1000,
    )


def dashboard_pace(browser, url: str, pair: str, size: int, steps: int) -> dict:
    """Steps/s of the dashboard's run as its open page shows it, and the CPU spent meanwhile."""
    from tests.e2e.harness import SERVER_PIDS

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    open_app(page, url)
    use_pair(page, pair)
    set_steps(page, steps)
    click(page, "Start")
    first = None
    while first is None:
        n = steps_done(page)
        if n >= 10:
            first = (time.perf_counter(), n)
        time.sleep(0.5)
    server, chrome = cpu_seconds(SERVER_PIDS[url]), chromium_cpu()
    last = first
    while True:
        text = status_text(page)
        n = steps_done(page)
        if n > last[1]:
            last = (time.perf_counter(), n)
        if " done" in text:
            break
        time.sleep(0.5)
    seconds = last[0] - first[0]
    out = {
        "pace": (last[1] - first[1]) / seconds,
        "server_cpu": (cpu_seconds(SERVER_PIDS[url]) - server) / seconds,
        "chromium_cpu": (chromium_cpu() - chrome) / seconds,
    }
    page.screenshot(path=str(ROOT / "artifacts" / f"bench_dashboard_{pair}.png"), full_page=True)
    page.context.close()
    return out


def said_estimate(page) -> float:
    text = page.locator("[data-testid='stMain']").inner_text()
    m = ESTIMATE_RE.search(text)
    if not m:
        raise RuntimeError(f"no estimate on the page: {text[:300]!r}")
    return float(m.group(1)) * (60 if m.group(2) == "min" else 1)


def add_painting(page, name: str) -> None:
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    box.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    wait_idle(page)


def estimate_check(browser, url: str, what: str) -> dict:
    """The estimate under Start against the wall time from the click to the run's end."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    open_app(page, url)
    if what == "blend":
        add_painting(page, "the_scream")
    said = said_estimate(page)
    t0 = time.perf_counter()
    click(page, "Start")
    wait_done(page, timeout=20 * said + 120)
    real = time.perf_counter() - t0
    final = status_text(page)
    page.context.close()
    return {"said": said, "real": real, "status": final}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.dashboard")
    ap.add_argument("--only", choices=["pace", "estimates"], default=None)
    ap.add_argument("--pairs", default=",".join(PAIRS), help="pairs for the pace, by name")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=2, help="alternate the two this many times")
    args = ap.parse_args()
    if not REAL_WEIGHTS.is_file():
        sys.exit(f"bench.dashboard: needs real weights at {REAL_WEIGHTS}")
    (ROOT / "artifacts").mkdir(exist_ok=True)
    from playwright.sync_api import sync_playwright

    print(
        f"# The dashboard with Chromium on the same machine ({device_name(torch.device('cpu'))}, "
        "VGG-16)\n"
    )
    with served_app() as url, sync_playwright() as p:
        browser = launch(p)
        if args.only in (None, "estimates"):
            rows = []
            for what in ("default", "blend", "default"):
                r = estimate_check(browser, url, what)
                rows.append(
                    [what, f"{r['said']:.0f} s", f"{r['real']:.0f} s", f"{r['real'] / r['said']:.2f}"]
                )
                print(f"  {what}: said {r['said']:.0f} s, took {r['real']:.1f} s", flush=True)
            table(
                "Start says, against the click to done",
                ["run (256 px, 80 steps)", "Start says", "took", "took / said"],
                rows,
            )
        if args.only in (None, "pace"):
            rows = []
            for pair in args.pairs.split(","):
                photo, painting = PAIRS[pair]
                clis, dashes = [], []
                for _ in range(args.repeat):  # alternated: the machine's drift hits both
                    clis.append(cli_pace(photo, painting, args.size, args.steps))
                    dashes.append(dashboard_pace(browser, url, pair, args.size, args.steps))
                cli = statistics.median(clis)
                dash = {k: statistics.median(d[k] for d in dashes) for k in dashes[0]}
                rows.append(
                    [
                        pair,
                        f"{cli:.2f}",
                        f"{dash['pace']:.2f}",
                        f"{dash['pace'] / cli:.2f}x",
                        f"{dash['server_cpu']:.2f}",
                        f"{dash['chromium_cpu']:.2f}",
                    ]
                )
                each = ", ".join(f"{c:.2f}/{d['pace']:.2f}" for c, d in zip(clis, dashes, strict=True))
                print(f"  {pair}: command line/dashboard steps/s {each}", flush=True)
            table(
                "The dashboard's pace against the command line's",
                [
                    f"pair ({args.size} px, {args.steps} steps)",
                    "command line steps/s",
                    "dashboard steps/s",
                    "dashboard / command line",
                    "server CPU (cores)",
                    "Chromium CPU (cores)",
                ],
                rows,
            )
        browser.close()


if __name__ == "__main__":
    main()
