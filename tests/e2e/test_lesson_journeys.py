"""What a teacher's rehearsal of a lesson found, as browser journeys: a blend of two paintings
that crashed the Stylize page once the pace was measured again, a page frozen while its run goes
on, the Gallery and Compare keeping the sidebar's choices, a reload keeping a blend weight."""

from __future__ import annotations

import time

from tests.e2e.harness import click, open_app, wait_idle
from tests.e2e.journeys import (
    exceptions,
    set_steps,
    sidebar_select,
    status_text,
    steps_done,
    wait_steps,
)


def _sidebar(page):
    return page.locator("[data-testid='stSidebar']")


def _add_painting(page, name: str) -> None:
    _sidebar(page).locator("[data-testid='stMultiSelect']").first.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    wait_idle(page)


def _choose(page, label: str, option: str) -> None:
    sidebar_select(page, label, option)


def _slider_value(page, label: str) -> float:
    slider = _sidebar(page).locator("[data-testid='stSlider']").filter(has_text=label).first
    return float(slider.locator("[data-testid='stSliderThumbValue']").inner_text())


def _go(page, title: str) -> None:
    _sidebar(page).get_by_role("link", name=title).click()
    page.wait_for_timeout(300)
    wait_idle(page)


def test_a_two_painting_blend_measured_again_starts_and_ends(page, app_url):
    """The pace was measured again with the sidebar's config every ten minutes: with two
    paintings that raised and the page crashed, taking the stopped run's image, curves and
    Export with it. (The measurement with a blend's config is covered in AppTest.)"""
    open_app(page, app_url)
    _add_painting(page, "the_scream")
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("Start takes").wait_for(timeout=120_000)
    assert exceptions(page) == 0
    set_steps(page, 12)
    click(page, "Start")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stProgress]')]"
        ".some(p => / done/.test(p.innerText))",
        timeout=180_000,
    )
    wait_idle(page)
    assert exceptions(page) == 0
    assert main.get_by_text("style: the_scream").count() >= 1
    assert page.get_by_role("button", name="Start").is_enabled()


def test_a_frozen_page_keeps_its_run_going(page, app_url):
    """A page whose scripts are busy for 50 s (a starved laptop, a modal dialog) sends no ticks,
    but its connection stays: the run goes on and is not paused."""
    open_app(page, app_url)
    set_steps(page, 5000)
    click(page, "Start")
    before = wait_steps(page, 2)
    page.evaluate("() => { const t = Date.now(); while (Date.now() - t < 50000) {} }")
    page.wait_for_timeout(2500)  # a tick or two after the freeze
    text = status_text(page)
    assert "paused" not in text and "did not answer" not in page.inner_text("body")
    assert steps_done(page) > before + 3, text  # it optimized through the freeze
    click(page, "Stop")
    page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=20_000)


def test_gallery_then_compare_keep_the_sidebars_photo_painting_and_size(page, app_url):
    open_app(page, app_url)
    _choose(page, "Content photo", "cat")
    _add_painting(page, "mosaic")
    for title in ("Gallery", "Compare", "Stylize"):
        _go(page, title)
        assert exceptions(page) == 0, title
        photo = _sidebar(page).locator("[data-testid='stSelectbox']").filter(has_text="Content photo")
        paintings = _sidebar(page).locator("[data-testid='stMultiSelect']").first
        assert "cat" in photo.locator("input").first.input_value() + photo.inner_text(), title
        assert "mosaic" in paintings.inner_text() and "starry_night" in paintings.inner_text(), title


def test_a_reload_keeps_a_blend_weight(page, app_url):
    open_app(page, app_url)
    _add_painting(page, "the_scream")
    slider = page.get_by_role("slider", name="Blend: the_scream")
    slider.focus()
    for _ in range(10):  # 1.0 -> 0.5 in steps of 0.05
        page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(300)
    wait_idle(page)
    assert _slider_value(page, "Blend: the_scream") == 0.5
    set_steps(page, 5000)
    click(page, "Start")
    wait_steps(page, 1)
    page.reload()
    page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
    wait_idle(page)
    time.sleep(1.0)
    assert _slider_value(page, "Blend: the_scream") == 0.5
    assert _slider_value(page, "Blend: starry_night") == 1.0
    click(page, "Stop")
