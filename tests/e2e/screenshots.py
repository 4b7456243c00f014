"""Make the README's screenshots with the same harness as the browser tests.

    python -m tests.e2e.screenshots [OUT_DIR]      (default: docs/screenshots)

Uses the real VGG-16 from ../shared/weights when present (else the untrained network).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.harness import ROOT, click, launch, open_app, served_app, wait_idle
from tests.e2e.journeys import set_slider_value, wait_steps


def goto(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_idle(page)
    time.sleep(1.0)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with served_app(log_path=out / "streamlit.log") as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        t0 = time.time()
        open_app(page, url)
        page.screenshot(path=str(out / "1_empty.png"))
        click(page, "Start")
        wait_steps(page, 1)
        print(f"first frame {time.time() - t0:.1f} s after opening")
        wait_steps(page, 25)
        page.screenshot(path=str(out / "2_running.png"), full_page=True)
        click(page, "Pause")
        time.sleep(1.5)
        set_slider_value(page, "Style strength", "ArrowRight")
        time.sleep(0.5)
        page.screenshot(path=str(out / "3_paused_changed.png"), full_page=True)
        click(page, "Resume")
        # The paused page already shows the downloads: wait for the run itself to end.
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stProgress]')].some("
            "p => p.innerText.includes('· done'))",
            timeout=180_000,
        )
        wait_idle(page)
        export = page.get_by_role("button", name="Image (PNG + config)")
        export.wait_for(timeout=30_000)
        export.scroll_into_view_if_needed()  # the main column scrolls inside the page
        time.sleep(1)
        page.screenshot(path=str(out / "4_finished_export.png"), full_page=True)
        page.mouse.wheel(0, -5000)
        for title, name in (
            ("Feature maps", "5_features"),
            ("Style statistics", "6_style"),
            ("Compare", "8_compare"),
        ):
            goto(page, title)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        goto(page, "Layer lab")
        page.get_by_role("tab", name="Reconstructions").click()
        for n in (0, 1):
            page.get_by_role("button", name="Compute").nth(n).click()
            wait_idle(page)
            page.wait_for_function(
                "n => document.body.innerText.split('computed (cached').length > n",
                arg=n + 1,
                timeout=180_000,
            )
            time.sleep(1)
        page.screenshot(path=str(out / "7_lab_reconstructions.png"), full_page=True)
        page.get_by_role("tab", name="During the run").click()
        time.sleep(1)
        page.screenshot(path=str(out / "7_lab_run.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
