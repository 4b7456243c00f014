"""A browser journey on the Ray backend: the server runs with NST_RAY_ADDRESS=local (a Ray
instance of this machine started by the server, gone with it); a run computes in a Ray actor, the
page says where, a reload finds the same run still advancing, and Pause and Stop work."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import app_env, click, open_app, served_app, wait_idle
from tests.e2e.journeys import exceptions, set_steps, status_text, steps_done, wait_steps

NO_RAY = "the Ray extra is not installed (pip install -r requirements-ray.txt)"
pytest.importorskip("ray", reason=NO_RAY)


def test_a_run_on_the_ray_backend_advances_survives_a_reload_pauses_and_stops(browser, tmp_path):
    env = {**app_env(), "NST_HOME": str(tmp_path), "NST_RAY_ADDRESS": "local"}
    with served_app(env=env, log_path=ARTIFACTS / "streamlit_ray.log") as url:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_app(page, url)
        sidebar = page.locator("[data-testid='stSidebar']").inner_text()
        assert "Ray cluster at local" in sidebar
        set_steps(page, 5000)
        click(page, "Start")  # the server starts Ray, the actor loads the network: seconds
        n = wait_steps(page, 3, timeout=120)
        main = page.locator("[data-testid='stMain']")
        assert "Computing on a Ray actor on node" in main.inner_text()
        page.reload()
        page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
        after = wait_steps(page, n)
        wait_steps(page, after + 3)  # the same run, still advancing
        click(page, "Pause")
        page.wait_for_function("() => document.body.innerText.includes('paused')", timeout=20_000)
        wait_idle(page)
        paused_at = steps_done(page)
        page.wait_for_timeout(2000)
        assert steps_done(page) == paused_at, status_text(page)
        page.screenshot(path=str(ARTIFACTS / "ray_run.png"))
        click(page, "Stop")
        page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=20_000)
        assert exceptions(page) == 0
        page.context.close()
