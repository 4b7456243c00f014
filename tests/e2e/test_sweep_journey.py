"""A sweep in a real browser: set a two-value β sweep at a small size, Start, watch the grid fill
(the page polls the background worker on its own), and get the downloads."""

from __future__ import annotations

import time

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import open_app, wait_idle
from tests.e2e.journeys import exceptions, set_steps


def _fill(box, text: str, page) -> None:
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_idle(page)


def test_a_strength_sweep_fills_its_grid(page, app_url):
    open_app(page, app_url)
    set_steps(page, 3)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Sweep").click()
    page.get_by_role("heading", name="Sweep").wait_for(timeout=30_000)
    wait_idle(page)
    main = page.locator("[data-testid='stMain']")
    _fill(main.get_by_label("Values", exact=True).first, "2,5", page)
    main.locator("[data-testid='stSelectbox']").nth(1).click()
    page.get_by_role("option", name="size", exact=True).click()
    wait_idle(page)
    _fill(main.get_by_label("Values", exact=True).nth(1), "96", page)
    assert "2 cells" in main.inner_text()

    page.get_by_role("button", name="Start", exact=True).click()
    images = main.locator("[data-testid='stImage']")
    deadline = time.time() + 180
    while images.count() < 2 and time.time() < deadline:
        page.wait_for_timeout(500)
    assert images.count() == 2, main.inner_text()
    page.get_by_role("button", name="Download the results (CSV)").wait_for(timeout=60_000)
    wait_idle(page)
    text = main.inner_text()
    assert "2/2 cells" in text and "strength=2" in text and "strength=5" in text
    # the chart is drawn by the grid's last tick, which can land after the CSV button's run
    main.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=30_000)
    assert main.locator("[data-testid='stPlotlyChart']").count() == 1
    assert exceptions(page) == 0
    page.set_viewport_size({"width": 1400, "height": 1700})  # the whole grid in one picture
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "sweep_page.png"), full_page=True)
