"""The Ray backend on a real local Ray cluster started by these tests (2 CPUs) and shut down
after: sweeps give the local executor's numbers, survive a killed worker and a killed driver;
a dashboard run lives in a Ray actor and advances, pauses, changes, exports and stops.

Ray places its servers on the machine's address (it resolves 127.0.0.1 to it, on purpose: see
ray-project/ray#26293); the cluster has no dashboard and lives only as long as this module."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

NO_RAY = "the Ray extra is not installed (pip install -r requirements-ray.txt)"
pytest.importorskip("ray", reason=NO_RAY)
import psutil  # noqa: E402 - Ray's own dependency: only there when Ray is
import ray  # noqa: E402

from nst import backend, cluster  # noqa: E402
from nst.config import Config  # noqa: E402
from nst.export import read_png_config  # noqa: E402
from nst.image import load_image  # noqa: E402
from nst.samples import resolve  # noqa: E402
from nst.store import Store  # noqa: E402
from nst.sweep import LocalExecutor, Sweep, parse_vary, read_inputs, write_outputs  # noqa: E402
from tests.apptest import download_bytes, errors, untrained_app  # noqa: E402
from tests.conftest import REAL_WEIGHTS, ROOT  # noqa: E402

NET = ("vgg16", str(REAL_WEIGHTS)) if REAL_WEIGHTS.is_file() else ("vgg16", "random")
# fp32 so that the cluster's cells can be compared with the local ones exactly
CELL = Config(size=64, steps=12, model=NET[0], weights=NET[1], precision="fp32")


@pytest.fixture(scope="module")
def ray_cluster():
    """A local cluster of 2 CPUs for this module; its address for drivers in other processes."""
    if ray.is_initialized():
        ray.shutdown()
    info = ray.init(num_cpus=2, include_dashboard=False, **cluster.job_options())
    yield info.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "home")
    yield s
    s.close()


def grid(cfg: Config = CELL) -> Sweep:
    axes = [parse_vary("beta=1e3,1e6"), parse_vary("alpha=1,4")]
    return Sweep(read_inputs("tubingen"), read_inputs("starry_night"), cfg, axes)


def rows(path) -> list[dict]:
    """results.csv without what differs from one computation to the next: time and store ids."""
    with open(path, newline="") as f:
        varying = ("seconds", "run_id")
        return [{k: v for k, v in r.items() if k not in varying} for r in csv.DictReader(f)]


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# ---- sweeps ---------------------------------------------------------------------------------


def test_a_2x2_sweep_on_ray_gives_the_local_csv_and_pixels(ray_cluster, tmp_path):
    import torch

    sweep, threads = grid(), torch.get_num_threads()
    torch.set_num_threads(1)  # as a Ray worker asked for one CPU computes: the same sums
    try:
        with Store(tmp_path / "local") as s:
            local = write_outputs(sweep, sweep.run(s, LocalExecutor()), tmp_path / "out-local")
    finally:
        torch.set_num_threads(threads)
    executor = backend.executor("ray")
    assert executor.slots == 2 and "Ray cluster of 1 node: 2 CPUs" in executor.where
    with Store(tmp_path / "ray") as s:
        results = sweep.run(s, executor)
        on_ray = write_outputs(sweep, results, tmp_path / "out-ray")
    assert len(results) == 4 and all(r.status == "done" for r in results)
    assert rows(on_ray.csv) == rows(local.csv)
    for a, b in zip(local.cells, on_ray.cells, strict=True):
        assert np.array_equal(pixels(a), pixels(b)), a.name
    with Store(tmp_path / "ray") as s:  # where each cell was computed is kept with it
        assert all(" on " in s.get_run(r.run_id, None).device for r in results)


def _cell_workers() -> list[psutil.Process]:
    """The Ray worker processes computing a cell now (Ray titles them ray::_compute)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::_compute"):
            found.append(p)
    return found


def test_a_worker_killed_mid_sweep_its_cell_is_retried_and_the_sweep_completes(ray_cluster, store):
    sweep = grid(CELL.replace(size=96, steps=60))
    results, killed = [], []

    def work():
        results.extend(sweep.run(store, backend.executor("ray")))

    t = threading.Thread(target=work)
    t.start()
    deadline = time.monotonic() + 60
    while not killed and time.monotonic() < deadline and t.is_alive():
        workers = _cell_workers()
        if workers:
            time.sleep(0.3)  # well into the cell
            workers[0].send_signal(signal.SIGKILL)
            killed.append(workers[0].pid)
        time.sleep(0.05)
    t.join(180)
    assert killed, "no worker was seen computing a cell"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    assert len(results) == 4 and all(r.status == "done" for r in results)
    assert len(store.list_runs(None)) == 4  # each cell stored once: the killed one was not half-kept


def _sweep_command(out, *extra) -> list[str]:
    return [
        sys.executable, "-m", "nst", "sweep", "tubingen", "starry_night", "-o", str(out),
        "--size", "96", "--steps", "60", "--model", NET[0], "--weights", NET[1],
        "--precision", "fp32", "--vary", "beta=1e3,1e6", "--vary", "alpha=1,4", *extra,
    ]  # fmt: skip


def test_a_killed_driver_is_resumed_from_the_store(ray_cluster, tmp_path):
    env = {**os.environ, "NST_HOME": str(tmp_path / "home"), "NST_RAY_ADDRESS": ray_cluster}
    env["PYTHONPATH"] = str(ROOT)
    first = subprocess.Popen(
        _sweep_command(tmp_path / "a"), env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    said = []
    for line in first.stderr:  # "[1/4] β=1e3, α=1: seed loss ... (1.2 s)": a cell is stored
        said.append(line)
        if line.startswith("[1/4]"):
            first.send_signal(signal.SIGKILL)
            break
    first.wait(60)
    assert first.returncode == -signal.SIGKILL, "".join(said)
    assert any("on Ray cluster of 1 node" in line for line in said)
    with Store(tmp_path / "home") as s:
        kept = len(s.list_runs(None))
    assert 1 <= kept < 4
    again = subprocess.run(
        _sweep_command(tmp_path / "b"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert f"{4 - kept} computed in" in again.stderr and f"{kept} stored before" in again.stderr
    with Store(tmp_path / "home") as s:
        assert len(s.list_runs(None)) == 4  # nothing computed twice
    assert len(rows(tmp_path / "b" / "results.csv")) == 4


def test_the_command_line_says_in_one_line_when_no_cluster_answers(tmp_path):
    env = {**os.environ, "NST_HOME": str(tmp_path / "home"), "NST_RAY_ADDRESS": "127.0.0.1:9"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        _sweep_command(tmp_path / "out"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "nst: error: no Ray cluster answers at 127.0.0.1:9 (Connection refused)"
    ]


# ---- dashboard runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_painting():
    return tuple(load_image(resolve(name), max_side=512) for name in ("tubingen", "starry_night"))


def test_a_remote_run_steps_pauses_changes_and_stops_in_its_actor(ray_cluster, photo_painting):
    run = cluster.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=30))
    assert run.location.startswith("a Ray actor on node ") and run.location.endswith("cpu")
    assert run.evals == 0 and run.size == (64, 48) and run.image().size == (64, 48)
    assert run.step(5) == 5 and len(run.history) == 5 and run.history[-1].step == 5
    run.pause()
    assert run.status == "paused"
    assert run.update(run.config.replace(beta=1e3)) == ["beta: 100000 -> 1000"]
    assert run.changes == [(5, {"beta": 1000.0})] and run.events[-1].step == 5
    with pytest.raises(ValueError, match="changing size needs a new run"):
        run.update(run.config.replace(size=128))
    run.step(100)
    assert run.status == "done" and run.evals == 30 and len(run.frames) >= 2
    actor = run._actor
    run.stop()
    assert run.status == "done"  # stop after the end changes nothing; the actor is freed
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.step.remote(1), timeout=30)


def test_a_lost_actor_fails_the_run_and_keeps_its_last_image(ray_cluster, photo_painting):
    run = cluster.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=50))
    run.step(4)
    last = np.asarray(run.image())
    ray.kill(run._actor)  # as when its node dies
    assert run.step(4) == 0
    assert run.status == "failed" and "was lost" in run.message and "last image is kept" in run.message
    assert np.array_equal(np.asarray(run.image()), last) and run.evals == 4


def test_the_dashboard_runs_on_the_cluster_and_exports(ray_cluster, monkeypatch):
    monkeypatch.setenv("NST_RAY_ADDRESS", ray_cluster)
    at = untrained_app(monkeypatch)
    assert not errors(at)
    assert any("Ray cluster at" in c.value for c in at.sidebar.caption)
    at.sidebar.select_slider(key="cfg_size").set_value(128)
    at.sidebar.number_input(key="cfg_steps").set_value(40)
    at.run()
    at.button(key="btn_start").click().run()
    run = at.session_state.run
    assert isinstance(run, cluster.RemoteRun), at.session_state.notice
    at.run()
    at.run()
    assert run.evals >= 2
    assert any(c.value.startswith("Computing on a Ray actor on node") for c in at.caption)
    at.button(key="btn_pause").click().run()
    evals = run.evals
    at.run()
    assert run.status == "paused" and run.evals == evals
    at.button(key="btn_stop").click().run()
    assert run.status == "stopped" and not errors(at)
    buttons = {b.label: b for b in at.get("download_button")}
    png = download_bytes(buttons["Image (PNG + config)"])
    cfg = read_png_config(png)
    assert cfg.size == 128 and cfg.steps == 40
    with Image.open(__import__("io").BytesIO(png)) as im:
        assert max(im.size) == 128
