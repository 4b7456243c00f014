"""Browser journeys of runs that last: a reload keeps the run going, a server restart keeps the
finished and the interrupted runs in the Gallery, and identities (the `id` in the URL) keep their
runs apart unless the gallery is shared (NST_GALLERY=shared). Each test runs its own server on a
fresh run store (NST_HOME)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest

from nst.record.store import Store
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.harness import (
    app_env,
    click,
    open_app,
    served_app,
    wait_idle,
)
from tests.e2e.journeys import exceptions, set_steps, status_text, wait_steps


@pytest.fixture(scope="module")
def chromium(browser):
    """The session's browser (one Playwright per test session: a second one inside it fails)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return browser


def env(home, **extra) -> dict:
    e = {**app_env(), "NST_HOME": str(home), **extra}
    if "NST_GALLERY" not in extra:
        e.pop("NST_GALLERY", None)
    return e


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    return context.new_page()


def identity(page) -> str:
    page.wait_for_function("() => location.search.includes('id=')", timeout=20_000)
    return parse_qs(urlparse(page.url).query)["id"][0]


def run_to_the_end(page, steps: int) -> None:
    set_steps(page, steps)
    click(page, "Start")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stProgress]')].some("
        "p => p.innerText.includes('done'))",
        timeout=120_000,
    )
    wait_idle(page)


def open_gallery(page, url: str, token: str | None = None) -> str:
    page.goto(f"{url}/gallery" + (f"?id={token}" if token else ""))
    page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
    wait_idle(page)
    page.get_by_role("heading", name="Gallery").wait_for(timeout=30_000)
    return page.locator("[data-testid='stMain']").inner_text()


def test_a_reload_mid_run_keeps_the_same_run_going(chromium, tmp_path):
    with served_app(env=env(tmp_path), log_path=ARTIFACTS / "streamlit_reload.log") as url:
        page = new_page(chromium)
        open_app(page, url)
        token = identity(page)
        set_steps(page, 5000)
        click(page, "Start")
        n = wait_steps(page, 3)
        page.reload()
        assert identity(page) == token  # the URL kept the identity
        page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
        after = wait_steps(page, 1)
        assert after >= n, status_text(page)  # not a new run from 0: the same one, further on
        assert "/5000 steps" in status_text(page)
        wait_steps(page, after + 3)  # and still advancing
        assert exceptions(page) == 0
        runs = Store(tmp_path).list_runs(token)
        assert len(runs) == 1 and runs[0].status == "running"  # one run, not a second one
        click(page, "Stop")
        page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=10_000)
        page.context.close()


def test_after_a_restart_the_gallery_lists_the_finished_and_the_interrupted_run(chromium, tmp_path):
    with served_app(env=env(tmp_path), log_path=ARTIFACTS / "streamlit_restart1.log") as url:
        page = new_page(chromium)
        open_app(page, url)
        token = identity(page)
        run_to_the_end(page, 4)
        set_steps(page, 5000)
        click(page, "Start")
        wait_steps(page, 2)
        store = Store(tmp_path)
        deadline = time.time() + 60
        while time.time() < deadline:  # until a routine checkpoint has reached the disk
            live = [r for r in store.list_runs(token) if r.status == "running"]
            if live and live[0].evals > 0 and live[0].thumbnail:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("no checkpoint of the running run within 60 s")
        killed_at = live[0].evals
        page.context.close()
    # The server is gone with the run mid-way: a new one on the same store marks it interrupted.
    with served_app(env=env(tmp_path), log_path=ARTIFACTS / "streamlit_restart2.log") as url:
        page = new_page(chromium)
        text = open_gallery(page, url, token)
        assert "#1" in text and "#2" in text, text
        assert "done" in text and "interrupted" in text
        assert exceptions(page) == 0
        page.wait_for_timeout(500)  # the thumbnails
        page.screenshot(path=str(ARTIFACTS / "gallery_after_restart.png"), full_page=True)
        assert page.get_by_role("button", name="Resume").count() == 1  # the interrupted one
        page.get_by_role("button", name="Resume").click()
        page.get_by_role("heading", name="Stylize").wait_for(timeout=30_000)
        n = wait_steps(page, killed_at)  # from the checkpoint's step, not from 0
        wait_steps(page, n + 2)  # and going on, into the same stored run
        runs = Store(tmp_path).list_runs(token)
        assert [r.id for r in runs] == [2, 1] and runs[0].status == "running"
        click(page, "Stop")  # a fresh server measures its pace first (the time estimate): slow
        page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=90_000)
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "resumed_after_restart.png"), full_page=True)
        page.context.close()


@pytest.mark.parametrize("shared", [False, True], ids=["private", "shared"])
def test_two_identities_see_only_their_own_runs_unless_shared(chromium, tmp_path, shared):
    extra = {"NST_GALLERY": "shared"} if shared else {}
    log = ARTIFACTS / f"streamlit_identities_{'shared' if shared else 'private'}.log"
    with served_app(env=env(tmp_path, **extra), log_path=log) as url:
        alice, bob = new_page(chromium), new_page(chromium)  # two browser contexts
        open_app(alice, url)
        run_to_the_end(alice, 3)
        a_token = identity(alice)
        open_app(bob, url)
        assert identity(bob) != a_token
        mine = open_gallery(alice, url, a_token)
        theirs = open_gallery(bob, url, identity(bob))
        assert "#1" in mine and "tubingen + starry_night" in mine
        assert bob.get_by_role("button", name="Delete").count() == 0  # never someone else's
        if shared:
            assert "#1" in theirs and "someone else's" in theirs
            bob.get_by_role("button", name="Compare").first.wait_for(timeout=30_000)
            assert bob.get_by_role("button", name="Compare").count() == 1
        else:
            assert "#1" not in theirs and "No stored runs yet" in theirs
            assert bob.locator("[data-testid='stMain'] [data-testid='stImage']").count() == 0
        shot = ARTIFACTS / f"gallery_other_identity_{'shared' if shared else 'private'}.png"
        bob.screenshot(path=str(shot), full_page=True)
        assert exceptions(alice) == 0 and exceptions(bob) == 0
        alice.context.close()
        bob.context.close()
