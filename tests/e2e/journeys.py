"""What a person does in the dashboard, as functions over a Playwright page."""

from __future__ import annotations

import re
import time

from tests.e2e.harness import click, open_app, wait_idle

STEPS_RE = re.compile(r"(\d+)(?:/(\d+))? steps")


def status_text(page) -> str:
    loc = page.locator("[data-testid='stMain'] [data-testid='stProgress']")
    return loc.first.inner_text() if loc.count() else ""


def steps_done(page) -> int:
    m = STEPS_RE.search(status_text(page))
    return int(m.group(1)) if m else 0


def wait_steps(page, at_least: int, timeout: float = 90) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = steps_done(page)
        if n >= at_least:
            return n
        time.sleep(0.25)
    main = page.locator("[data-testid='stMain']").inner_text()[:400]
    raise AssertionError(
        f"run did not reach {at_least} steps (status: {status_text(page)!r}; the page: {main!r})"
    )


def output_image(page):
    return page.locator("[data-testid='stMain'] [data-testid='stImage']").first


def exceptions(page) -> int:
    return page.locator("[data-testid='stException']").count()


def sidebar_select(page, label: str, option: str, timeout: float = 60_000) -> None:
    """Choose `option` in the sidebar's select box labelled `label`.

    Waits for the box to be shown (a busy server can leave a new tab's sidebar half drawn for a
    while), opens the sidebar if it is collapsed, and when the box never shows, fails with what
    the sidebar did show and a screenshot under the temp folder."""
    sidebar = page.locator("[data-testid='stSidebar']")
    box = sidebar.locator("[data-testid='stSelectbox']").filter(has_text=label).first
    deadline = time.time() + timeout / 1000
    while not box.is_visible():
        if sidebar.get_attribute("aria-expanded") == "false":
            page.locator("[data-testid='stExpandSidebarButton']").click()
        if time.time() > deadline:
            shot = f"/tmp/nst-e2e-sidebar-{int(time.time())}.png"
            page.screenshot(path=shot, full_page=True)
            raise AssertionError(
                f"no visible {label!r} box in the sidebar after {timeout / 1000:.0f} s "
                f"(expanded: {sidebar.get_attribute('aria-expanded')}, "
                f"text: {sidebar.inner_text()[:300]!r}, screenshot: {shot})"
            )
        page.wait_for_timeout(250)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to end
    wait_idle(page)


def go_to(page, title: str, timeout: float = 120_000) -> None:
    """Open the page `title` from the sidebar's navigation and wait until it is the one shown
    (its title drawn, the rerun over): the old page can still look idle just after the click."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    heading = page.locator("[data-testid='stMain'] h1").filter(has_text=title).first
    heading.wait_for(timeout=timeout)
    wait_idle(page, timeout=timeout)


def set_steps(page, steps: int) -> None:
    box = page.get_by_label("Steps", exact=True)
    box.fill(str(steps))
    box.press("Enter")
    page.wait_for_timeout(300)  # let the rerun start before waiting for it to end
    wait_idle(page)
    assert box.input_value() == str(steps)


def start_run(page, url: str, steps: int | None = None) -> None:
    """Open the app and start a run; `steps` one that cannot end while a check looks at it."""
    open_app(page, url)
    if steps:
        set_steps(page, steps)
    click(page, "Start")
    wait_steps(page, 1)


def set_slider_value(page, label: str, key: str) -> None:
    """Move a sidebar slider with the keyboard (focus, then a key)."""
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    page.keyboard.press(key)
    wait_idle(page)
