"""Journeys of a class: a changed run reproduced from its command, and runs queued in turn."""

import os
import shlex
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from nst.record.export import read_png_changes
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import ROOT, app_env, click, open_app, served_app, wait_idle
from tests.e2e.journeys import exceptions, set_steps, start_run, status_text, steps_done, wait_steps


def test_a_run_changed_mid_way_is_reproduced_by_its_command(page, app_url, tmp_path):
    open_app(page, app_url)
    set_steps(page, 24)
    click(page, "Start")
    wait_steps(page, 3)
    click(page, "Pause")
    page.get_by_role("button", name="Resume").wait_for(state="visible")
    wait_idle(page)
    slider = page.get_by_role("slider", name="Style strength")
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.body.innerText.includes('Changed while paused: Style strength')",
        timeout=20_000,
    )
    wait_idle(page)
    click(page, "Resume")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stProgress]')].some("
        "p => p.innerText.includes('done'))",
        timeout=120_000,
    )
    wait_idle(page)
    page.get_by_role("button", name="Image (PNG + config)").wait_for()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Image (PNG + config)").click()
    mine = tmp_path / "dashboard.png"
    dl.value.save_as(mine)
    changes = read_png_changes(mine)
    assert len(changes) == 1 and set(changes[0][1]) == {"style_strength"}
    command = page.locator("[data-testid='stCode']").first.inner_text().strip()
    assert "--change" in command
    argv = shlex.split(command)[3:]
    out = tmp_path / "again.png"
    argv[argv.index("-o") + 1] = str(out)
    p = subprocess.run(
        [sys.executable, "-m", "nst", *argv, "--quiet"],
        cwd=ROOT,
        env=app_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    a = np.asarray(Image.open(mine).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    # The same picture: bf16 kernels round differently from one process to the next, and 24
    # L-BFGS steps carry that along: about one level of 255 on average (measured 1.1), nothing
    # visible. A run without the change would differ by far more (its β is 10^0.25 lower).
    diff = np.abs(a - b)
    assert a.shape == b.shape and diff.mean() < 3
    assert exceptions(page) == 0


def test_with_one_seat_a_second_run_waits_its_turn(browser):
    env = {**app_env(), "NST_MAX_RUNS": "1"}
    with served_app(env=env, log_path=ARTIFACTS / "streamlit_queue.log") as url:
        contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(2)]
        first, second = (c.new_page() for c in contexts)
        try:
            start_run(first, url, steps=5000)
            open_app(second, url)
            set_steps(second, 5000)
            click(second, "Start")
            second.wait_for_function(
                "() => document.body.innerText.includes('Waiting for a free seat: number 1')",
                timeout=90_000,
            )
            time.sleep(2)
            assert steps_done(second) == 0  # it waits: the seat is taken
            wait_steps(first, steps_done(first) + 1, timeout=30)  # the first goes on
            click(first, "Pause")
            wait_steps(second, 2, timeout=60)  # the freed seat goes to the second
            assert "Waiting" not in status_text(second)
            second.screenshot(path=str(ARTIFACTS / "queue_second.png"), full_page=True)
            assert exceptions(first) == 0 and exceptions(second) == 0
        finally:
            for c in contexts:
                c.close()
    assert os.environ.get("NST_MAX_RUNS") is None  # the test server's setting stayed its own
