"""The command line keeps its runs in the store: `python -m nst runs list|show|export|resume|delete`,
and a run killed with SIGKILL is found interrupted and finished by `runs resume`."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from nst.engine.config import Config
from nst.record.export import read_png_changes, read_png_config
from nst.record.store import Store
from tests.conftest import ROOT

FAST = ["--weights", "random", "--size", "64", "--steps", "4", "--device", "cpu", "--quiet"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NST_STORE_MAX_GB", raising=False)
    return tmp_path / "home"


def env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("NST_MODEL", "NST_WEIGHTS")}


def nst(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst", *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def listed() -> list[dict]:
    p = nst("runs", "list", "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def stylize(tmp_path, *extra) -> subprocess.CompletedProcess:
    p = nst("cat", "swirls", "-o", str(tmp_path / "out.png"), *FAST, *extra)
    assert p.returncode == 0, p.stderr
    return p


def test_a_cli_run_is_listed_as_done_with_a_valid_image(home, tmp_path):
    stylize(tmp_path)
    (run,) = listed()
    assert (run["status"], run["source"], run["evals"], run["size"]) == ("done", "cli", 4, 64)
    assert (run["content_name"], run["style_names"]) == ("cat", ["swirls"])
    with Image.open(run["image"]) as im, Image.open(tmp_path / "out.png") as written:
        assert im.size == written.size and max(im.size) == 64
        assert im.convert("RGB").tobytes() == written.convert("RGB").tobytes()  # the final image
    table = nst("runs", "list")
    assert "done" in table.stdout and "cat + swirls" in table.stdout


def test_no_store_leaves_the_store_empty(home, tmp_path):
    stylize(tmp_path, "--no-store")
    assert listed() == []


def test_export_writes_a_png_json_and_csv_with_the_runs_config(home, tmp_path):
    stylize(tmp_path, "--beta", "2e5", "--change", "2:beta=3e5")
    (run,) = listed()
    p = nst("runs", "export", str(run["id"]), "-o", str(tmp_path / "export"))
    assert p.returncode == 0, p.stderr
    files = {path.suffix: path for path in (tmp_path / "export").iterdir()}
    assert set(files) == {".png", ".json", ".csv", ".gif"}
    written = read_png_config(tmp_path / "out.png")
    assert read_png_config(files[".png"]) == written and written.beta == 2e5
    assert read_png_changes(files[".png"]) == [(2, {"beta": 3e5})]
    trace = json.loads(files[".json"].read_text())
    assert Config.from_dict(trace["start_config"]) == written and trace["config"]["beta"] == 3e5
    rows = files[".csv"].read_text().splitlines()
    assert rows[0].startswith("step,") and len(rows) == 1 + 4


def test_show_lists_config_and_changes_and_a_deleted_run_is_gone(home, tmp_path):
    stylize(tmp_path, "--change", "2:beta=3e5")
    (run,) = listed()
    shown = nst("runs", "show", str(run["id"]))
    assert shown.returncode == 0 and '"style_strength": 4.0' in shown.stdout
    assert "at step 2: beta=300000.0" in shown.stdout
    p = nst("runs", "delete", str(run["id"]))
    assert p.returncode == 0, p.stderr
    assert listed() == []
    p = nst("runs", "show", str(run["id"]))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"nst: error: no run {run['id']} in the store"]


@pytest.mark.parametrize(
    "args", [["show", "99"], ["export", "99", "-o", "x"], ["resume", "99"], ["delete", "99"]]
)
def test_an_unknown_run_exits_2_with_one_line(home, args):
    p = nst("runs", *args)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == ["nst: error: no run 99 in the store"]


def test_a_store_that_cannot_be_written_warns_and_the_run_goes_on(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NST_HOME", str(blocker / "home"))
    p = stylize(tmp_path)
    assert "run is not stored" in p.stderr and "Traceback" not in p.stderr
    assert max(Image.open(tmp_path / "out.png").size) == 64


def test_a_killed_run_is_interrupted_with_its_last_image_and_resume_finishes_it(home, tmp_path):
    steps = 100
    child = subprocess.Popen(
        [sys.executable, "-m", "nst", "cat", "swirls", "-o", str(tmp_path / "out.png"), *FAST[:2]]
        + ["--size", "64", "--steps", str(steps), "--device", "cpu", "--quiet"],
        cwd=ROOT,
        env=env(),
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # the store itself: each `runs list` would take seconds to start
            assert child.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            store = Store()
            runs = store.list_runs(None)
            store.close()
            if runs and runs[0].evals > 0:
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    (run,) = listed()
    assert run["status"] == "interrupted" and 0 < run["evals"] < steps
    with Image.open(run["image"]) as im:
        im.load()
        assert max(im.size) == 64
    p = nst("runs", "resume", str(run["id"]), "--quiet")
    assert p.returncode == 0, p.stderr
    assert f"from its last checkpoint at step {run['evals']}; the optimizer restarts" in p.stderr
    (after,) = listed()
    assert (after["status"], after["evals"]) == ("done", steps)
    shown = json.loads(nst("runs", "show", str(run["id"]), "--json").stdout)
    assert shown["records"] == steps and shown["message"] == ""
    assert any("resumed" in e["text"] for e in shown["events"])
    p = nst("runs", "resume", str(run["id"]))
    assert p.returncode == 2 and "nothing to resume" in p.stderr
