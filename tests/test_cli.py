import json
import subprocess
import sys

import pytest
from PIL import Image

from nst.engine.config import MAX_STEPS
from nst.record.export import read_png_config, read_png_meta
from tests.conftest import ROOT

FAST = ["--weights", "random", "--size", "48", "--steps", "3", "--quiet"]


@pytest.fixture(autouse=True)
def store_home(tmp_path, monkeypatch):
    """Runs are stored: in a folder of the test's own, not the user's data folder."""
    monkeypatch.setenv("NST_HOME", str(tmp_path / "home"))


def nst(*args, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("NST_MODEL", "NST_WEIGHTS")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "nst", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_run_writes_a_png_with_its_config_and_metrics(tmp_path):
    out, metrics = tmp_path / "out.png", tmp_path / "m.json"
    p = nst(
        "cat",
        "swirls",
        "-o",
        str(out),
        *FAST,
        "--beta",
        "2e5",
        "--metrics",
        str(metrics),
        "--save-every",
        "2",
    )
    assert p.returncode == 0, p.stderr
    cfg = read_png_config(out)
    assert cfg.beta == 2e5 and cfg.size == 48 and cfg.weights == "random"
    assert "random" in read_png_meta(out)["weights"]
    assert "untrained" in p.stderr
    m = json.loads(metrics.read_text())
    assert m["evals"] == 3 and len(m["history"]) == 3 and m["seconds"] > 0
    assert m["config"]["beta"] == 2e5 and m["device"] == "cpu"
    assert Image.open(out).size == (48, 32)
    assert (tmp_path / "out_0002.png").is_file()


@pytest.mark.parametrize(
    "args,words",
    [
        (["cat", "missing.jpg"], "no such file"),
        (["cat", "swirls", "--steps", "x"], "invalid int"),
        (["cat", "swirls", "--optimizer", "sgd"], "invalid choice"),
        (["cat", "swirls", "--style-weights", "conv1_1"], "layer=weight"),
        (["cat", "swirls", "--content-layer", "conv9_1"], "conv9_1"),
        (["cat", "swirls", "mosaic", "--style-blend", "1"], "blend"),
        (["cat", "swirls", "--size", "-4"], "size"),
        (["cat", "swirls", "--weights", "/no/such.pth"], "does not exist"),
        (["cat", "swirls", "--alpha", "nan"], "alpha must be a finite number"),
        (["cat", "swirls", "--lr", "inf"], "lr must be a finite number"),
        (["cat", "swirls", "--time-budget", "inf"], "time_budget must be a finite number"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, words):
    p = nst(*FAST, *args, "-o", str(tmp_path / "o.png"))
    assert p.returncode == 2
    assert words in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_not_an_image_exits_2(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    p = nst("cat", str(bad), "-o", str(tmp_path / "o.png"), *FAST)
    assert p.returncode == 2 and "not an image" in p.stderr and "Traceback" not in p.stderr


def test_a_photo_too_small_exits_2_with_one_line_naming_its_size(tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), "red").save(tiny)
    p = nst(str(tiny), "swirls", "-o", str(tmp_path / "o.png"), *FAST)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [
        f"nst: error: {tiny}: a 1x1 px image is too small; its short side must be at least 32 px"
    ]
    assert not (tmp_path / "o.png").exists()


def test_missing_arguments_exit_2():
    p = nst()
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_offline_imagenet_weights_exit_2_with_advice(tmp_path):
    p = nst(
        "cat",
        "swirls",
        "-o",
        str(tmp_path / "o.png"),
        "--size",
        "48",
        "--steps",
        "1",
        env_extra={"TORCH_HOME": str(tmp_path / "th"), "NST_OFFLINE": "1"},
    )
    assert p.returncode == 2
    assert "NST_WEIGHTS" in p.stderr and str(tmp_path / "th") in p.stderr
    assert "Traceback" not in p.stderr


def test_a_time_budget_without_steps_spends_the_budget(tmp_path):
    metrics = tmp_path / "m.json"
    fast = ["--weights", "random", "--size", "48", "--quiet"]
    p = nst(
        "cat",
        "swirls",
        "-o",
        str(tmp_path / "o.png"),
        *fast,
        "--time-budget",
        "3",
        "--metrics",
        str(metrics),
    )
    assert p.returncode == 0, p.stderr
    m = json.loads(metrics.read_text())
    # the whole budget is spent, and no step count stopped it first
    per_eval = m["seconds"] / m["evals"]
    assert m["seconds"] >= 3 - per_eval and m["config"]["steps"] == MAX_STEPS and m["status"] == "done"


def test_progress_into_a_log_is_a_line_per_tenth_without_carriage_returns(tmp_path):
    """Piped to a file, 30 steps make about ten whole lines, not one line of 30 redraws."""
    fast = ["--weights", "random", "--size", "48", "--steps", "30"]
    p = nst("cat", "swirls", "-o", str(tmp_path / "out.png"), *fast)
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stderr
    lines = [line for line in p.stderr.splitlines() if line.startswith("nst: ") and "steps" in line]
    assert 8 <= len(lines) <= 11
    assert lines[-1].startswith("nst: 30 steps (100%)")
    assert len(p.stderr) < 3000
