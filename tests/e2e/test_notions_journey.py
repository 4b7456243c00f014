"""A teacher shows what "style" means under each notion: chooses it in the sidebar, runs a few
steps, and opens the Style statistics page, which shows that notion's own statistic."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import click, open_app, wait_idle
from tests.e2e.journeys import exceptions, go_to, set_steps, wait_steps

SHOWS = {  # what the page draws for each notion, by a caption or a chart title it must contain
    "Gram matrix (Gatys)": "Entries are G/M",
    "Mean & covariance (W2)": "Wasserstein-2 distance between the two Gaussians",
    "Patches (CNNMRF)": "each replaced by the piece of",
}


@pytest.mark.parametrize("label", list(SHOWS))
def test_the_style_page_shows_the_runs_own_notion(page, app_url, label):
    open_app(page, app_url)
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']")
    box = box.filter(has_text="What style is").first
    box.locator("input").click()
    page.keyboard.type(label.split(" ")[0])  # the list filters as one types
    page.get_by_role("option", name=label, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)
    set_steps(page, 200)  # paused long before its end, however fast the machine
    click(page, "Start")
    wait_steps(page, 3, timeout=180)
    click(page, "Pause")
    go_to(page, "Style statistics")
    page.get_by_text(SHOWS[label]).first.wait_for(timeout=120_000)
    page.get_by_text("Showing this run").first.wait_for(timeout=30_000)
    assert exceptions(page) == 0
    name = label.split(" ")[0].lower()
    page.screenshot(path=str(ARTIFACTS / f"style_page_{name}.png"), full_page=True)
