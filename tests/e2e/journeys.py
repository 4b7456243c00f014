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
    raise AssertionError(f"run did not reach {at_least} steps (status: {status_text(page)!r})")


def output_image(page):
    return page.locator("[data-testid='stMain'] [data-testid='stImage']").first


def exceptions(page) -> int:
    return page.locator("[data-testid='stException']").count()


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
