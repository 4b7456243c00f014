"""The Stylize page in AppTest (no browser): inputs, a run across reruns, pause, export."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from nst.record.export import read_png_config, read_png_meta
from tests.apptest import download_bytes, errors, settle, untrained_app


@pytest.fixture
def at(monkeypatch):
    at = untrained_app(monkeypatch)
    assert not errors(at)
    at.sidebar.select_slider(key="cfg_size").set_value(128)
    at.sidebar.number_input(key="cfg_steps").set_value(200)
    at.run()
    return at


def start(at):
    """Start, and tick until the worker has made the first evaluation (the first tick only draws
    the starting image)."""
    at.button(key="btn_start").click().run()
    settle(at, lambda r: r.evals >= 1)


def test_opens_with_samples_and_names_the_device(at):
    assert at.sidebar.selectbox(key="content_name").value == "tubingen"
    assert at.sidebar.multiselect(key="style_names").value == ["starry_night"]
    assert any("Device: **cpu**" in c.value for c in at.sidebar.caption)
    assert any("Untrained network" in w.value for w in at.warning)  # the permanent banner
    assert at.button(key="btn_start").disabled is False


def test_a_run_advances_across_reruns_and_pause_keeps_history(at):
    at.button(key="btn_start").click().run()
    run = at.session_state.run
    assert run is not None and run.evals == 0  # the first tick draws the start at once
    settle(at, lambda r: r.evals >= 2)  # it optimizes in the server's worker meanwhile
    at.button(key="btn_pause").click().run()
    evals = at.session_state.run.evals
    assert at.session_state.run.status == "paused"
    at.run()
    assert at.session_state.run.evals == evals  # paused: no ticking
    at.button(key="btn_resume").click().run()
    run = settle(at, lambda r: r.evals > evals)
    at.button(key="btn_pause").click().run()
    assert len(run.history) == run.evals


def _values(series) -> list[float]:
    """A chart series as sent to the browser: a list, or plotly's typed array (base64)."""
    if isinstance(series, dict):
        return np.frombuffer(base64.b64decode(series["bdata"]), dtype=series["dtype"]).tolist()
    return list(series)


def test_loss_chart_data_grows(at):
    start(at)
    run = settle(at, lambda r: r.evals >= 2)
    n1 = len(_values(json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]))
    settle(at, lambda r, n=run.evals: r.evals > n + 1)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    steps = _values(spec["data"][0]["x"])
    assert len(steps) > n1
    assert steps == sorted(steps) and steps[0] == 1
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert {t["name"] for t in spec["data"]} >= {"total", "α·content", "β·style"}


def test_changed_setting_while_paused_applies_and_is_marked(at):
    start(at)
    at.button(key="btn_pause").click().run()
    before = at.session_state.run.beta
    at.sidebar.slider(key="cfg_style_strength").set_value(5.0).run()
    assert any("Style strength" in i.value for i in at.info)
    at.button(key="btn_resume").click().run()
    run = at.session_state.run
    assert run.config.style_strength == 5.0 and run.config.beta is None
    assert run.beta == pytest.approx(before * 10)  # one unit: ten times the style weight
    assert run.events and "style_strength" in run.events[-1].text and "β" in run.events[-1].text
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["shapes"]  # the change is a line on the curves


def test_bad_upload_shows_an_error_and_leaves_the_run_alone(at):
    start(at)
    at.button(key="btn_pause").click().run()
    run, evals = at.session_state.run, at.session_state.run.evals
    at.sidebar.file_uploader(key="up_content").set_value(("broken.png", b"not an image", "image/png"))
    at.run()
    assert any("broken.png" in e.value and "not an image" in e.value for e in at.sidebar.error)
    assert at.session_state.run is run and run.evals == evals and run.status == "paused"
    assert at.sidebar.selectbox(key="content_name").value == "tubingen"
    assert not errors(at)


def test_a_photo_too_small_is_refused_with_its_size_and_the_minimum(at):
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buf, format="PNG")
    at.sidebar.file_uploader(key="up_content").set_value(("dot.png", buf.getvalue(), "image/png"))
    at.run()
    said = [e.value for e in at.sidebar.error]
    assert any("dot.png: a 1x1 px image is too small" in e and "at least 32 px" in e for e in said)
    assert at.sidebar.selectbox(key="content_name").value == "tubingen"  # nothing else changed
    assert "upload: dot.png" not in at.session_state.uploads
    assert not errors(at)


def test_good_upload_becomes_the_content(at):
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 30, 30)).save(buf, format="PNG")
    at.sidebar.file_uploader(key="up_content").set_value(("red.png", buf.getvalue(), "image/png"))
    at.run()
    assert at.sidebar.selectbox(key="content_name").value == "upload: red.png"


def test_download_png_carries_the_widgets_config(at):
    at.sidebar.slider(key="sw_conv1_1").set_value(0.5)
    at.sidebar.slider(key="cfg_style_strength").set_value(2.5)
    at.run()
    start(at)
    settle(at, lambda r: r.evals >= 1)
    at.button(key="btn_stop").click().run()
    buttons = {b.label: b for b in at.get("download_button")}
    assert set(buttons) >= {
        "Image (PNG + config)",
        "Run trace (JSON)",
        "Loss history (CSV)",
        "Progress (GIF)",
    }
    png = download_bytes(buttons["Image (PNG + config)"])
    cfg = read_png_config(png)
    assert cfg.size == 128 and cfg.steps == 200 and cfg.style_strength == 2.5 and cfg.beta is None
    meta = read_png_meta(png)
    assert meta["beta"] == pytest.approx(at.session_state.run.beta)  # the β the strength gave
    assert dict(cfg.style_weights)["conv1_1"] == 0.5
    assert any("python -m nst tubingen starry_night" in c.value for c in at.code)
    gif = Image.open(io.BytesIO(download_bytes(buttons["Progress (GIF)"])))
    assert gif.format == "GIF" and gif.n_frames >= 2


def test_preset_fills_the_widgets(at):
    at.sidebar.selectbox(key="ui_preset").set_value("seed").run()
    assert at.sidebar.number_input(key="cfg_steps").value == 3000
    assert at.sidebar.selectbox(key="cfg_optimizer").value == "adam"
    assert at.sidebar.number_input(key="cfg_lr").value == pytest.approx(0.003)


def test_the_limit_is_steps_or_seconds_and_the_widgets_say_which(at):
    assert at.session_state.config.time_budget is None
    at.sidebar.radio(key="ui_limit").set_value("a number of seconds").run()
    cfg = at.session_state.config
    assert cfg.time_budget == 30.0 and cfg.steps == 10_000  # the time, whatever the steps
    keys = [w.key for w in at.sidebar.number_input]
    assert "cfg_time_budget" in keys and "cfg_steps" not in keys
    at.sidebar.radio(key="ui_limit").set_value("a number of steps").run()
    cfg = at.session_state.config
    assert cfg.time_budget is None and cfg.steps == 200  # the steps set before come back


def test_an_exact_beta_overrides_the_strength_and_clearing_it_gives_the_slider_back(at):
    at.sidebar.number_input(key="cfg_beta").set_value(37_000.0).run()
    assert at.session_state.config.beta == 37_000.0
    assert at.sidebar.slider(key="cfg_style_strength").disabled
    assert any("overrides the style strength" in c.value for c in at.sidebar.caption)
    at.sidebar.number_input(key="cfg_beta").set_value(None).run()
    assert at.session_state.config.beta is None
    assert not at.sidebar.slider(key="cfg_style_strength").disabled


def test_the_seed_preset_is_the_seeds_exact_objective(at):
    at.sidebar.selectbox(key="ui_preset").set_value("seed").run()
    cfg = at.session_state.config
    assert cfg.alpha == 1.0 and cfg.beta == 1e5 and cfg.convention == "seed"


def _png(color, size=(80, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_an_uploaded_style_replaces_the_default_and_blending_stays_possible(at):
    at.sidebar.file_uploader(key="up_style").set_value([("blue.png", _png((20, 20, 220)), "image/png")])
    at.run()
    assert at.sidebar.multiselect(key="style_names").value == ["upload: blue.png"]
    at.sidebar.multiselect(key="style_names").set_value(["upload: blue.png", "the_scream"]).run()
    assert {s.key for s in at.sidebar.slider} >= {"blend_upload: blue.png", "blend_the_scream"}
    assert not errors(at)


def test_a_rejected_file_leaves_the_uploader_and_its_message_stays(at):
    at.sidebar.file_uploader(key="up_style").set_value([("bad.png", b"garbage", "image/png")])
    at.run()
    keys = [u.key for u in at.sidebar.get("file_uploader")]
    assert "up_style" not in keys and "up_style_1" in keys  # a fresh, empty uploader
    assert any("bad.png" in e.value for e in at.sidebar.error)
    at.run()
    assert any("bad.png" in e.value for e in at.sidebar.error)  # still said after a rerun
    assert at.sidebar.multiselect(key="style_names").value == ["starry_night"]  # nothing lost


def test_a_painting_of_another_shape_is_said(at):
    at.sidebar.multiselect(key="style_names").set_value(["the_scream"]).run()
    assert any("taller than the photo" in c.value for c in at.sidebar.caption)


def test_start_takes_a_number_typed_without_enter(at):
    """Clicking Start confirms the number being typed: the run gets it, not the one before."""
    at.sidebar.number_input(key="cfg_steps").set_value(150)
    at.button(key="btn_start").click().run()
    assert at.session_state.run.config.steps == 150


def test_the_print_planner_gives_pixels_memory_and_the_command(at):
    start(at)
    settle(at, lambda r: r.evals >= 1)
    at.button(key="btn_stop").click().run()
    at.number_input(key="pr_w").set_value(40.0)
    at.number_input(key="pr_h").set_value(30.0)
    at.number_input(key="pr_dpi").set_value(200).run()
    px = round(40 / 2.54 * 200)  # 3150 px on the long side
    text = " ".join(m.value for m in at.markdown)
    assert f"{px}x" in text and "GB at its peak" in text and "min here" in text
    cmds = [c.value for c in at.code if "runs print" in c.value]
    assert cmds and f"--size {px} --dpi 200 -o print.tif" in cmds[0]
    at.number_input(key="pr_dpi").set_value(1200).run()  # 18898 px: beyond prints
    assert any("prints go to 8192 px" in w.value for w in at.warning)
    assert not at.exception


def test_the_print_planner_turns_the_paper_as_a_portrait_photo_is(at):
    at.sidebar.file_uploader(key="up_content").set_value(
        ("tall.png", _png("red", (60, 80)), "image/png")
    )
    at.run()
    start(at)  # 96x128 px
    at.button(key="btn_stop").click().run()
    at.number_input(key="pr_w").set_value(10.0)
    at.number_input(key="pr_h").set_value(7.5)
    at.number_input(key="pr_dpi").set_value(150).run()
    text = " ".join(m.value for m in at.markdown)
    assert "**443x591 px (7.5x10 cm at 150 dpi)**" in text  # width x height, both
    assert "10x7.5 cm" not in text
    assert not at.exception


def test_the_print_budget_offered_is_a_float_whatever_the_estimate():
    """Streamlit refuses a number input whose value is an int and bounds are floats: an
    estimate of 90-210 s (2 or 3 whole minutes) ended the Export section with a traceback."""
    from ui.print_panel import default_minutes

    for seconds, minutes in ((20, 1.0), (150, 2.0), (200, 3.0), (3600, 4.0)):
        offered = default_minutes(seconds)
        assert offered == minutes and type(offered) is float


def test_make_the_print_continues_the_run_at_the_print_size_as_a_run_of_its_own(at):
    start(at)
    at.button(key="btn_stop").click().run()
    source = at.session_state.run
    source_id = at.session_state.run_meta.store_id
    at.number_input(key="pr_w").set_value(4.0)
    at.number_input(key="pr_h").set_value(4.0)
    at.number_input(key="pr_dpi").set_value(100)  # 157 px on the long side: more than the run's
    at.number_input(key="pr_minutes").set_value(0.1).run()  # 6 s
    at.button(key="pr_make").click().run()
    printed = at.session_state.run
    assert printed is not source and printed.config.size == 157 and printed.config.time_budget == 6
    assert at.session_state.run_meta.dpi == 100 and at.session_state.run_meta.store_id != source_id
    assert printed.events[0].text.startswith(f"a print of run {source_id} (its image at step ")
    assert printed.config.scales == 1 and printed.evals <= 1  # 128 -> 157 px: no doubling
    run = settle(at, lambda r: r.finished)
    assert run.status == "done" and max(run.size) == 157
    w, h = run.size
    labels = [b.label for b in at.get("download_button")]
    assert f"Print (16-bit TIFF, {w}x{h} px, 100 dpi)" in labels
    assert "Make the print" not in [b.label for b in at.button]  # a print's own export
    assert not at.exception
