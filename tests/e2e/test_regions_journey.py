"""A teacher paints two regions over the photo, one in the painting's style and one kept, starts
the run, and the output differs between them: the styled side moved, the kept side is the photo."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from nst.samples import PHOTOS
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import click, open_app, wait_idle
from tests.e2e.journeys import exceptions, go_to, set_steps, status_text, wait_steps


def paint(page, left: float, right: float) -> None:
    """Strokes across the canvas from `left` to `right` (fractions of its width), top to bottom."""
    box = page.locator("canvas").last.bounding_box()
    for y in range(8, int(box["height"]) - 4, 18):
        page.mouse.move(box["x"] + left * box["width"], box["y"] + y)
        page.mouse.down()
        page.mouse.move(box["x"] + right * box["width"], box["y"] + y, steps=6)
        page.mouse.up()
    page.wait_for_timeout(800)
    wait_idle(page)


def _choice(page, label: str) -> str:
    """The value shown by the select box labelled exactly `label`."""
    boxes = page.locator("[data-testid='stSelectbox']")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        lines = [t.strip() for t in box.inner_text().split("\n") if t.strip()]
        if lines and lines[0] == label:
            shown = box.locator("input").first
            return (shown.input_value() if shown.count() else "") or lines[-1]
    raise AssertionError(f"no select box labelled {label!r}")


def choose(page, label: str, option: str) -> None:
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True))
    box = box.first
    box.locator("input").click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def test_two_painted_regions_style_one_side_and_keep_the_other(page, app_url):
    open_app(page, app_url)
    page.get_by_text("Regions: a style per part of the photo").click()
    wait_idle(page)
    page.locator("canvas").last.wait_for(timeout=30_000)
    paint(page, 0.03, 0.42)  # region 1, the brush's first colour: the left side
    choose(page, "Brush", "Region 2")
    paint(page, 0.58, 0.97)  # region 2: the right side
    page.get_by_text("Region 2's style strength").wait_for(timeout=30_000)
    choose(page, "Region 2", "keep the photo")
    page.screenshot(path=str(ARTIFACTS / "regions_painted.png"), full_page=True)
    # another page and back: the strokes and each region's choice are still there
    go_to(page, "Feature maps")
    go_to(page, "Stylize")
    page.get_by_text("Region 2's style strength").wait_for(timeout=30_000)
    assert _choice(page, "Region 2") == "keep the photo"
    set_steps(page, 10)
    click(page, "Start")
    wait_steps(page, 10, timeout=300)
    page.wait_for_timeout(2500)  # the image is drawn every 2 s
    assert exceptions(page) == 0, status_text(page)
    out = page.locator("[data-testid='stMain'] [data-testid='stImage']").filter(has_text="output after")
    shot = Image.open(io.BytesIO(out.first.locator("img").screenshot())).convert("RGB")
    page.screenshot(path=str(ARTIFACTS / "regions_result.png"), full_page=True)
    photo = Image.open(PHOTOS["tubingen"]).convert("RGB").resize(shot.size, Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(shot, np.float32) - np.asarray(photo, np.float32)).mean(-1)
    w = diff.shape[1]
    styled, kept = diff[:, : int(0.35 * w)].mean(), diff[:, int(0.65 * w) :].mean()
    # the page shows the run's 8-bit image; the photo here is resampled otherwise (a few levels)
    assert styled > 2 * kept and kept < 12, (styled, kept)
    # a reload finds the run and its regions: shown over the photo, kept for a next run
    page.reload()
    page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
    wait_idle(page)
    page.get_by_text("Region 2's style strength").wait_for(timeout=60_000)  # drawn again
    assert _choice(page, "Region 2") == "keep the photo"
    assert exceptions(page) == 0
    page.screenshot(path=str(ARTIFACTS / "regions_after_reload.png"), full_page=True)
    # the Layer lab by region: the gradient maps of region 1's style terms alone
    go_to(page, "Layer lab")
    box = page.locator("[data-testid='stMain'] [data-testid='stSelectbox']").filter(
        has=page.get_by_text("Region", exact=True)
    )
    box.first.locator("input").click()
    page.keyboard.type("region 1")
    page.get_by_role("option").filter(has_text="region 1").first.click()
    page.wait_for_timeout(300)
    wait_idle(page, timeout=120_000)
    page.wait_for_function(  # the maps' caption names the region
        '() => document.body.innerText.includes("\'s style terms (and the content term) sends")',
        timeout=60_000,
    )
    assert exceptions(page) == 0
    page.screenshot(path=str(ARTIFACTS / "regions_layer_lab.png"), full_page=True)
