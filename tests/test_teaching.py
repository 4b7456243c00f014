"""What a class relies on: the paper's start, paintings of another shape, honest estimates, the
queue, and a changed run that its command reproduces."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nst.engine.config import Config
from nst.engine.image import deprocess, fit_style, shape_note, white_noise
from nst.engine.presets import preset
from nst.engine.run import Run
from nst.lab import estimate
from nst.record.export import cli_command, png_bytes, read_png_changes, read_png_config
from tests.conftest import ROOT

# ---- the start and the painting's shape ----------------------------------------------------


def test_white_noise_is_faint_grey_and_repeatable():
    a = np.asarray(deprocess(white_noise(64, 48, seed=3)), dtype=np.float64) / 255
    assert a.shape == (48, 64, 3)
    assert a.mean() == pytest.approx(0.5, abs=0.01)
    assert 0.012 < a.std() < 0.03  # faint: the paper's start, no per-pixel rainbow left behind
    assert np.array_equal(deprocess(white_noise(64, 48, seed=3)), deprocess(white_noise(64, 48, 3)))


def test_a_painting_of_another_shape_is_stretched_kept_whole_or_cropped():
    tall = Image.new("RGB", (80, 100), "red")
    tall.paste((0, 0, 255), (0, 40, 80, 60))  # a blue band across the middle
    out = (128, 96)
    assert fit_style(tall, out, fit="stretch").size == out
    whole = fit_style(tall, out, fit="whole")
    assert whole.width / whole.height == pytest.approx(0.8, abs=0.02)  # its own shape
    assert whole.width * whole.height == pytest.approx(128 * 96, rel=0.02)  # the output's pixels
    crop = fit_style(tall, out, fit="crop")
    assert crop.size == out
    assert crop.getpixel((64, 48))[2] > 200  # the centre (the band) is kept
    assert shape_note(tall.size, out, "stretch").startswith("taller than the photo")
    assert "squashed" in shape_note(tall.size, out, "stretch")
    assert shape_note((400, 300), out, "whole") is None  # the same shape: nothing to say


# ---- estimates --------------------------------------------------------------------------


def test_depth_counts_the_work_down_to_the_deepest_layer():
    assert estimate.depth("vgg19", ["conv5_1"]) == 1.0
    assert estimate.depth("vgg19", ["conv1_1", "conv5_1"]) == 1.0
    shallow, mid = estimate.depth("vgg19", ["conv1_2"]), estimate.depth("vgg19", ["conv3_1"])
    assert 0 < shallow < mid < estimate.depth("vgg19", ["conv4_2"]) < 1.0
    assert estimate.depth("vgg19", []) == 0.0


def test_run_estimate_adds_up_the_schedule():
    pace = estimate.Pace(fixed=0.01, per_mpx=2.0)
    cfg = Config(size=256, steps=100, scales=1)
    one = estimate.run_seconds(pace, cfg, (400, 300), "vgg19")
    pixels = 256 * 192
    d = estimate.depth("vgg19", cfg.layers_used)
    # 100 steps, the targets (two forward passes: one evaluation), two passes for the style
    # strength's reference and a forward pass of the painting there (256 px too)
    assert one == pytest.approx(103.5 * (0.01 + 2.0 * pixels / 1e6 * d))
    blend = estimate.run_seconds(pace, cfg.replace(style_blend=(1.0, 0.5)), (400, 300), "vgg19")
    assert blend == pytest.approx(104.5 * (0.01 + 2.0 * pixels / 1e6 * d))  # the other's passes
    assert estimate.run_seconds(pace, cfg.replace(steps=200), (400, 300), "vgg19") > 1.9 * one
    two = estimate.run_seconds(pace, cfg.replace(scales=2), (400, 300), "vgg19")
    assert two < one  # half the steps at a quarter of the pixels
    assert estimate.run_seconds(pace, cfg.replace(time_budget=42.0), (400, 300), "vgg19") == 42.0


def test_measured_pace_predicts_a_run(random_model):
    cfg = Config(size=96, steps=12, model="vgg19", weights="random", scales=1)
    pace = estimate.measure(random_model, cfg, sizes=(64, 128))
    assert pace.per_eval(96 * 72) > 0 and pace.per_mpx >= 0
    content = Image.new("RGB", (120, 90), (90, 120, 150))
    predicted = estimate.run_seconds(pace, cfg, content.size, "vgg19")
    run = Run(random_model, content, [content], cfg)
    while not run.finished:
        run.step(4)
    assert 0.3 * predicted < run.seconds < 3 * predicted  # timing noise allowed; the order holds


def test_the_pace_is_measured_whatever_the_blend(random_model):
    """The pace was measured with the sidebar's config and one image: a blend of two paintings
    made it raise (and the Stylize page crash once the pace expired, ten minutes in)."""
    cfg = Config(size=96, model="vgg19", weights="random", style_blend=(1.0, 0.5))
    pace = estimate.measure(random_model, cfg, sizes=(48, 64))
    assert pace.per_eval(64 * 48) > 0


def test_the_calibration_scales_the_pace_by_what_runs_really_took():
    cal, key = estimate.Calibration(), ("vgg16", "cpu")
    assert cal.factor(key) == 1.0  # nothing made yet: the bare pace
    for real in (20.0, 30.0, 25.0):
        cal.add(key, predicted=10.0, real=real)
    assert cal.factor(key) == 2.5 and cal.factor(("other",)) == 1.0  # the median, per setting
    for _ in range(estimate.Calibration.KEEP):
        cal.add(key, predicted=10.0, real=12.0)
    assert cal.factor(key) == pytest.approx(1.2)  # the latest runs only
    cal.add(key, 10.0, 1000.0)
    assert cal.factor(key) == pytest.approx(1.2)  # one odd run moves the median little
    pace = estimate.Pace(0.1, 2.0).scaled(cal.factor(key))
    assert pace.per_eval(10**6) == pytest.approx(1.2 * 2.1)


# ---- a changed run, reproduced ----------------------------------------------------------


def test_a_run_changed_on_the_way_is_reproduced_by_its_command(random_model, tmp_path, monkeypatch):
    cfg = Config(size=64, steps=12, model="vgg19", weights="random", beta=1e4)
    content = Image.open(ROOT / "nst" / "samples" / "cat.jpg").convert("RGB")
    style = Image.open(ROOT / "nst" / "samples" / "waves.jpg").convert("RGB")
    run = Run(random_model, content, [style], cfg)
    run.step(5)
    run.pause()
    run.update(run.config.replace(beta=1e6, tv_weight=0.5))
    run.resume()
    while not run.finished:
        run.step(3)
    assert run.changes == [(5, {"beta": 1e6, "tv_weight": 0.5})]
    png = png_bytes(run.image(), run.start_config, {}, run.changes)
    assert read_png_config(png) == cfg and read_png_changes(png) == run.changes

    out = tmp_path / "again.png"
    command = cli_command(run.start_config, "cat", ["waves"], str(out), run.changes)
    assert "--change 5:beta=1e+06" in command and "--change 5:tv_weight=0.5" in command
    argv = command.split()[3:]  # after "python -m nst"
    monkeypatch.setenv("NST_MODEL", "vgg19")
    monkeypatch.setenv("NST_WEIGHTS", "random")
    p = subprocess.run(
        [sys.executable, "-m", "nst", *argv, "--quiet"], cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    again = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    mine = np.asarray(run.image(), dtype=np.int16)
    assert np.abs(again - mine).max() <= 1  # the same image, to rounding
    assert read_png_changes(out) == run.changes


@pytest.mark.parametrize(
    ("change", "message"),
    [("beta=1e6", "STEP:FIELD=VALUE"), ("5:gamma=1", "no setting named 'gamma'"), ("5:beta=x", "beta")],
)
def test_a_bad_change_is_one_line_and_exit_2(change, message, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS", "random")
    p = subprocess.run(
        [sys.executable, "-m", "nst", "cat", "waves", "-o", "/tmp/x.png", "--change", change],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_the_gatys2016_preset_is_the_papers_loss_from_noise():
    cfg = preset("gatys2016")
    paper = ("noise", "avg", "gatys2016", "lbfgs")
    assert (cfg.init, cfg.pooling, cfg.convention, cfg.optimizer) == paper
    assert {w for _, w in cfg.style_weights} == {0.2} and cfg.content_layer == "conv4_2"
