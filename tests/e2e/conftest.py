import pytest

from tests.e2e.harness import ROOT, app_env, chromium_available, launch, served_app

ARTIFACTS = ROOT / "artifacts" / "e2e"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app_url():
    if not chromium_available():
        pytest.skip("Chromium not found at /usr/bin/chromium (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Four seats: a test's run left going by the test before (a closed context) must not queue
    # the next test's (the class journey runs a server of its own with the default, one seat).
    env = {**app_env(), "NST_MAX_RUNS": "4"}
    with served_app(env=env, log_path=ARTIFACTS / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    yield pg
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    # The test's run, if still going, is paused as a student would before leaving: left going it
    # would keep a seat until the worker finds its page gone (30 s) and slow the next tests.
    pause = pg.get_by_role("button", name="Pause", exact=True)
    try:
        if pause.count() and pause.first.is_visible():
            pause.first.click(timeout=5_000)
            pg.get_by_role("button", name="Resume", exact=True).wait_for(timeout=10_000)
    except Exception:  # noqa: BLE001 - a page in any state still closes
        pass
    context.close()
