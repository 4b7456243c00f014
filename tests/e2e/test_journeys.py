"""Browser journeys: the real server, Debian's Chromium, what a person would see."""

import io
import time

import numpy as np
from PIL import Image

from nst.record.export import read_png_config
from tests.e2e.harness import click, open_app, wait_idle
from tests.e2e.journeys import (
    exceptions,
    output_image,
    set_steps,
    sidebar_select,
    start_run,
    steps_done,
    wait_steps,
)


def test_opens_with_samples_and_the_device(page, app_url):
    open_app(page, app_url)
    sidebar = page.locator("[data-testid='stSidebar']")
    assert sidebar.locator("[data-testid='stImage']").count() >= 2  # content + style thumbnails
    assert "Device:" in sidebar.inner_text()
    assert exceptions(page) == 0
    assert page.get_by_role("button", name="Start").is_enabled()


def test_run_changes_image_and_grows_chart_and_pause_is_prompt(page, app_url):
    start_run(page, app_url, steps=5000)  # a run that cannot end before Stop is clicked
    first = output_image(page).screenshot()
    n = wait_steps(page, steps_done(page) + 3)
    assert output_image(page).screenshot() != first
    # Plotly's script loads on first use; under a busy CPU that may take a moment.
    page.locator("[data-testid='stPlotlyChart']").nth(1).wait_for(timeout=30_000)
    t0 = time.time()
    click(page, "Pause")
    page.get_by_role("button", name="Resume").wait_for(state="visible")
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some("
        "b => b.innerText.trim() === 'Resume' && !b.disabled)",
        timeout=5000,
    )
    assert time.time() - t0 < 2.5, "pause took too long"
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stProgress]')].some("
        "p => p.innerText.includes('paused'))",
        timeout=5000,
    )
    wait_idle(page)
    paused_at = steps_done(page)
    assert paused_at >= n
    time.sleep(1.5)
    assert steps_done(page) == paused_at  # really paused
    click(page, "Resume")
    wait_steps(page, paused_at + 2)
    click(page, "Stop")
    page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=10000)
    assert exceptions(page) == 0


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def _choose_file(page, uploader_index: int, name: str, data: bytes) -> None:
    """Open the uploader's file chooser, as a click on its button does, and pick a file."""
    uploader = page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader']").nth(
        uploader_index
    )
    with page.expect_file_chooser() as chooser:
        uploader.locator("[data-testid='stBaseButton-secondary']").first.click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    wait_idle(page)


def test_uploads_good_and_broken_files(page, app_url):
    open_app(page, app_url)
    _choose_file(page, 0, "broken.png", b"this is not a png")
    alert = page.locator("[data-testid='stSidebar'] [data-testid='stAlert']")
    alert.first.wait_for()
    assert "broken.png" in alert.first.inner_text()
    box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
    assert "tubingen" in box.inner_text() + box.locator("input").first.input_value()  # untouched
    uploader = page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader']").first
    assert "broken.png" not in uploader.inner_text()  # the rejected file left the uploader
    assert exceptions(page) == 0
    _choose_file(page, 1, "blue.png", _png((30, 30, 220)))
    page.wait_for_function("() => document.body.innerText.includes('upload: blue.png')")
    styles = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    assert "starry_night" not in styles.inner_text()  # the upload replaced the default style
    click(page, "Start")  # the rest of the page still works, with the uploaded style
    wait_steps(page, 2)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "style: upload: blue.png" in main and "style: starry_night" not in main


def test_every_page_while_running_then_back(page, app_url):
    start_run(page, app_url)
    links = page.locator("[data-testid='stSidebarNav'] a")
    names = [links.nth(i).inner_text().split("\n")[-1] for i in range(links.count())]
    before = steps_done(page)
    for name in names[1:]:
        page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()
        wait_idle(page)
        time.sleep(1.0)
        assert exceptions(page) == 0, name
    page.locator("[data-testid='stSidebarNav'] a", has_text=names[0]).first.click()
    wait_idle(page)
    time.sleep(1.5)
    assert steps_done(page) > before


def test_downloads_png_with_config_and_gif_with_frames(page, app_url, tmp_path):
    start_run(page, app_url, steps=5000)
    wait_steps(page, 4)
    click(page, "Stop")
    page.get_by_role("button", name="Image (PNG + config)").wait_for()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Image (PNG + config)").click()
    path = tmp_path / "out.png"
    dl.value.save_as(path)
    cfg = read_png_config(path)
    assert cfg.content_layer == "conv4_2" and cfg.optimizer == "lbfgs"
    with page.expect_download() as dl:
        page.get_by_role("button", name="Progress (GIF)").click()
    gif = tmp_path / "run.gif"
    dl.value.save_as(gif)
    assert Image.open(gif).n_frames >= 2


def test_make_the_print_runs_it_here_and_downloads_its_16_bit_tiff(page, app_url, tmp_path):
    import tifffile

    start_run(page, app_url, steps=5000)
    wait_steps(page, 3)
    click(page, "Stop")
    page.get_by_text("Make a print").click()
    sizes = (("Width", "10"), ("Height", "7.5"), ("dpi", "100"), ("Time budget (min)", "0.1"))
    for label, value in sizes:
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    click(page, "Make the print")
    # the print is the page's run now: the worker steps it, and its export offers the TIFF
    button = page.get_by_role("button", name="Print (16-bit TIFF", exact=False)
    button.wait_for(timeout=120_000)
    size = button.inner_text().split(", ")[1].removesuffix(" px")  # "394x296"
    with page.expect_download(timeout=60_000) as dl:
        button.click()
    path = tmp_path / "print.tif"
    dl.value.save_as(path)
    with tifffile.TiffFile(path) as tif:
        a = tif.pages[0].asarray()
        dpi = tif.pages[0].tags["XResolution"].value
    assert a.dtype == np.uint16 and f"{a.shape[1]}x{a.shape[0]}" == size
    assert 390 <= max(a.shape[:2]) <= round(10 / 2.54 * 100)  # 10 x 7.5 cm at 100 dpi
    assert dpi[0] / dpi[1] == 100
    assert exceptions(page) == 0


def _choose_content(page, name: str) -> None:
    sidebar_select(page, "Content photo", name)


def test_four_sessions_run_apart_and_memory_returns(browser, app_url):
    import gc

    from tests.e2e.harness import LIVE_KEEP_SECONDS, SERVER_PIDS, rss_mb

    pid = SERVER_PIDS[app_url]
    warm = browser.new_context()  # one session first: the model and caches are loaded
    start_run(warm.new_page(), app_url)
    warm.close()
    gc.collect()
    time.sleep(5)  # that session expires (TTL 3 s)
    before = rss_mb(pid)
    contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(4)]
    pages = [c.new_page() for c in contexts]
    photos = ["cat", "astronaut", "cat", "astronaut"]
    try:
        for i, page in enumerate(pages):
            open_app(page, app_url)
            _choose_content(page, photos[i])
            set_steps(page, 900 + i)
        for page in pages:
            click(page, "Start")
        for page in pages:
            wait_steps(page, 2, timeout=180)
        for page in pages:
            click(page, "Pause")
        time.sleep(1.5)
        shots = []
        for i, page in enumerate(pages):
            main = page.locator("[data-testid='stMain']").inner_text()
            other = "astronaut" if photos[i] == "cat" else "cat"
            assert f"content: {photos[i]}" in main and f"content: {other}" not in main
            assert f"/{900 + i} steps" in main  # its own setting, nobody else's
            shots.append(output_image(page).screenshot())
            assert exceptions(page) == 0
        assert shots[0] != shots[1]
        during = rss_mb(pid)
    finally:
        for c in contexts:
            c.close()
    # Streamlit keeps a closed tab's session for the TTL (3 s here) and evicts it when another
    # session is stored (a later tab closing); the server keeps a closed tab's run for a reload
    # (LIVE_KEEP_SECONDS here) and lets it go when a later session starts; the app hands freed
    # memory back to the system on a later script run (state.release_memory, at most every 5 s).
    # So: two later visits, the first after the runs' keep.
    for wait in (LIVE_KEEP_SECONDS + 1, 6):
        time.sleep(wait)
        probe = browser.new_context()
        open_app(probe.new_page(), app_url)
        probe.close()
    deadline = time.time() + 30
    after = rss_mb(pid)
    while after > before + 150 and time.time() < deadline:
        time.sleep(1)
        after = rss_mb(pid)
    print(f"server RSS: before {before:.0f} MB, with 4 sessions {during:.0f} MB, after {after:.0f} MB")
    assert after <= before + 150, (before, during, after)


def test_reload_mid_run_gives_a_working_app(page, app_url):
    start_run(page, app_url)
    n = wait_steps(page, 2)
    page.reload()  # a new session; it takes over the run, which goes on (test_store_journeys)
    page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
    wait_steps(page, n + 1)
    assert exceptions(page) == 0
    # A reloaded page may first measure this machine's pace for its estimate, holding the
    # script for seconds on a slow CPU (a 2-core AVX2 EPYC: 10-20 s): clicks wait for it.
    click(page, "Stop")
    page.wait_for_function("() => document.body.innerText.includes('stopped')", timeout=60000)
    wait_idle(page)
    click(page, "Start")
    page.wait_for_function("() => !document.body.innerText.includes('stopped')", timeout=60000)
    wait_steps(page, 2)
    assert exceptions(page) == 0


def test_a_blended_run_on_the_style_page_shows_the_runs_own_target(page, app_url):
    open_app(page, app_url)
    styles = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    styles.click()
    page.get_by_role("option", name="the_scream").click()
    page.keyboard.press("Escape")
    page.wait_for_function(  # two paintings: a blend slider for each
        "() => document.body.innerText.includes('Blend: the_scream')", timeout=30_000
    )
    wait_idle(page)
    set_steps(page, 5000)
    click(page, "Start")
    wait_steps(page, 2)
    click(page, "Pause")
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Style statistics").first.click()
    wait_idle(page)
    page.wait_for_function("() => document.body.innerText.includes('Showing this run')", timeout=30_000)
    page.locator("[data-testid='stPlotlyChart']").first.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => document.body.textContent.includes('Gram of the paintings, blended')",
        timeout=30_000,
    )
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "each painting's, weighted by its blend" in text
    assert exceptions(page) == 0
