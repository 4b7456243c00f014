"""The Ray backend on a real local Ray cluster started by these tests (2 CPUs) and shut down
after: sweeps give the local executor's numbers, survive a killed worker and a killed driver;
a dashboard run lives in a Ray actor and advances, pauses, changes, exports and stops.

Ray places its servers on the machine's address (it resolves 127.0.0.1 to it, on purpose: see
ray-project/ray#26293); the cluster has no dashboard and lives only as long as this module."""

from __future__ import annotations

import csv
import io
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

from nst.compute import backend, cluster, remote  # noqa: E402
from nst.engine.config import Config  # noqa: E402
from nst.engine.image import load_image  # noqa: E402
from nst.engine.model import load_model  # noqa: E402
from nst.engine.run import Run  # noqa: E402
from nst.lab.cells import LocalExecutor, read_inputs  # noqa: E402
from nst.lab.sweep import Sweep, parse_vary, write_outputs  # noqa: E402
from nst.record.export import read_png_config  # noqa: E402
from nst.record.store import Store  # noqa: E402
from nst.samples import resolve  # noqa: E402
from tests.apptest import download_bytes, errors, settle, untrained_app  # noqa: E402
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


def _sweep_killing_a_worker(store, executor) -> tuple[list, list[int], Exception | None]:
    """Run a 2x2 sweep and kill the first worker seen computing a cell, well inside the cell
    (a cell takes seconds here). (results, killed pids, the sweep's exception)."""
    sweep = grid(CELL.replace(size=96, steps=60))
    results, killed, failed = [], [], []

    def work():
        try:
            results.extend(sweep.run(store, executor))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            failed.append(exc)

    t = threading.Thread(target=work)
    t.start()
    deadline = time.monotonic() + 60
    while not killed and time.monotonic() < deadline and t.is_alive():
        workers = _cell_workers()
        if workers:
            time.sleep(0.3)
            workers[0].send_signal(signal.SIGKILL)
            killed.append(workers[0].pid)
        time.sleep(0.05)
    t.join(180)
    assert killed, "no worker was seen computing a cell"
    return results, killed, failed[0] if failed else None


def test_a_worker_killed_mid_sweep_its_cell_is_retried_and_the_sweep_completes(ray_cluster, store):
    results, killed, failed = _sweep_killing_a_worker(store, backend.executor("ray"))
    assert failed is None
    assert len(results) == 4 and all(r.status == "done" for r in results)
    assert len(store.list_runs(None)) == 4  # each cell stored once: the killed one was not half-kept


def test_without_retries_the_killed_worker_stops_the_sweep_and_the_rest_is_kept(ray_cluster, store):
    """The control: the same kill with retries off loses the cell, so the test above shows the
    retry; the cells done before are stored, and a rerun computes only the rest."""
    results, killed, failed = _sweep_killing_a_worker(store, cluster.RayExecutor(retries=0))
    assert isinstance(failed, cluster.ClusterError) and "lost cell" in str(failed)
    kept = len(store.list_runs(None))
    assert kept < 4
    again = grid(CELL.replace(size=96, steps=60)).run(store, backend.executor("ray"))
    assert sum(r.reused for r in again) == kept and len(store.list_runs(None)) == 4


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


def _dies(actor, seconds: float = 30) -> bool:
    """Whether the actor is gone within `seconds` (ray.kill is a request: a call sent at once
    may still be answered)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            return True
        except ray.exceptions.GetTimeoutError:
            pass
        time.sleep(0.2)
    return False


def test_a_remote_run_steps_pauses_changes_and_stops_in_its_actor(ray_cluster, photo_painting):
    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=30))
    assert run.location.startswith("a Ray actor on node ") and run.location.endswith("cpu")
    assert run.evals == 0 and run.size == (64, 48) and run.image().size == (64, 48)
    assert run.step(5) == 5 and len(run.history) == 5 and run.history[-1].step == 5
    run.pause()
    assert run.status == "paused"
    assert run.update(run.config.replace(beta=1e3)) == ["beta: from the strength -> 1000"]
    assert run.changes == [(5, {"beta": 1000.0})] and run.events[-1].step == 5
    with pytest.raises(ValueError, match="changing size needs a new run"):
        run.update(run.config.replace(size=128))
    run.resume()
    assert run.step(3) == 3 and run.status == "running"
    actor = run.actor
    run.stop()
    assert run.status == "stopped" and run.evals == 8 and run.step(5) == 0
    assert _dies(actor)  # its place on the cluster is free


def test_a_remote_run_computes_what_a_local_run_computes(ray_cluster, photo_painting):
    import torch

    cfg = CELL.replace(steps=15)
    far = remote.RemoteRun(photo_painting[0], [photo_painting[1]], cfg)
    while not far.finished:
        far.step(4)  # in ticks, as the page steps it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the actor, which asked for one CPU
    try:
        local = Run(load_model(cfg.model, cfg.weights), photo_painting[0], [photo_painting[1]], cfg)
        local.step(100)
    finally:
        torch.set_num_threads(threads)
    assert far.status == local.status == "done" and far.evals == local.evals == 15
    assert [r.total for r in far.history] == [r.total for r in local.history]
    assert np.array_equal(np.asarray(far.image()), np.asarray(local.image()))
    assert [s for s, _ in far.frames] == [s for s, _ in local.frames]


def test_a_let_go_run_goes_on_in_a_new_actor_from_its_last_image(ray_cluster, photo_painting):
    """As when the registry lets go of a run paused for long, and its user comes back."""
    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=40))
    run.step(6)
    run.pause()
    last, first_actor = np.asarray(run.image()), run.actor
    run.close()
    assert run.status == "paused" and np.array_equal(np.asarray(run.image()), last)
    run.resume()
    assert run.step(4) == 4 and run.evals == 10 and run.actor is not first_actor
    assert "went on in a new Ray actor" in run.events[-1].text and run.events[-1].step == 6
    run.stop()


def test_a_finished_run_frees_its_place_and_more_steps_take_a_new_one(ray_cluster, photo_painting):
    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=5))
    run.step(10)
    assert run.status == "done" and not run.holds_place
    assert run.update(run.config.replace(steps=9)) == ["steps: 5 -> 9"]
    assert run.status == "paused" and run.holds_place
    run.resume()
    run.step(10)
    assert run.status == "done" and run.evals == 9 and not run.holds_place


def test_a_full_cluster_says_so_at_once(ray_cluster, photo_painting, monkeypatch):
    monkeypatch.setenv(cluster.RUN_CPUS_ENV, "2")  # one run takes the whole 2-CPU cluster
    # the first run's worker may take seconds to start on a slow CPU: only the second must fail fast
    first = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL)
    monkeypatch.setattr(remote, "PLACE_SECONDS", 3.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(cluster.ClusterError, match="no room for this run now"):
            remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL)
        assert time.monotonic() - t0 < 15
    finally:
        first.close()
    monkeypatch.setattr(remote, "PLACE_SECONDS", 20.0)  # the freed place may take a moment
    remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL).close()  # room again


def test_a_lost_actor_fails_the_run_and_keeps_its_last_image(ray_cluster, photo_painting):
    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(steps=50))
    run.step(4)
    last = np.asarray(run.image())
    ray.kill(run.actor)  # as when its node dies
    assert _dies(run.actor)
    assert run.step(4) == 0
    assert run.status == "failed" and "was lost" in run.message and "last image is kept" in run.message
    assert np.array_equal(np.asarray(run.image()), last) and run.evals == 4


def test_remote_runs_satisfy_the_run_contract_with_their_own_beta(ray_cluster, photo_painting):
    from nst.engine.contract import LiveRun

    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL)
    try:
        assert isinstance(run, LiveRun)  # every member the pages may use (nst.engine.contract)
        run.step(2)
        assert run.reference is not None and run.beta == run.history[-1].beta
    finally:
        run.close()


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
    assert isinstance(run, remote.RemoteRun), at.session_state.notice
    settle(at, lambda r: r.evals >= 2)  # the server's worker steps it in its actor
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
    with Image.open(io.BytesIO(png)) as im:  # the file is the actor's last image
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(run.image()))


def test_the_sweep_page_computes_its_cells_on_the_cluster(ray_cluster, monkeypatch, tmp_path):
    monkeypatch.setenv("NST_RAY_ADDRESS", ray_cluster)
    monkeypatch.setenv("NST_HOME", str(tmp_path))
    at = untrained_app(monkeypatch)
    at.switch_page("pages/sweep.py").run()
    at.sidebar.number_input(key="cfg_steps").set_value(3).run()
    at.text_input(key="swp_values_0").set_value("2,5").run()  # two style strengths
    at.selectbox(key="swp_field_1").set_value("size").run()
    at.text_input(key="swp_values_1").set_value("64").run()
    line = " ".join(m.value for m in at.markdown)
    assert "**2 cells**" in line and "compute on the Ray cluster" in line
    at.button(key="swp_start").click().run()
    worker = at.session_state.swp_worker
    assert isinstance(worker.executor, cluster.RayExecutor)
    deadline = time.time() + 120
    while worker.running and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    at.run()
    assert not worker.running and worker.progress().error is None and not errors(at)
    assert len(at.main.get("image")) == 2
    with Store(tmp_path) as s:  # stored by the page's driver, computed on a worker
        runs = [s.get_run(r.id, None) for r in s.list_runs(None)]
    assert len(runs) == 2 and all(" on " in r.device for r in runs)


def test_stop_while_a_tick_is_stepping_ends_stopped_not_failed(ray_cluster, photo_painting):
    """A click (Stop) and a tick reach the run from two threads: the tick's step, cut off with
    the actor, is news of nothing."""
    run = remote.RemoteRun(photo_painting[0], [photo_painting[1]], CELL.replace(size=128, steps=500))
    run.step(1)
    tick = threading.Thread(target=run.step, args=(200,))
    tick.start()
    time.sleep(0.5)  # well inside the 200 steps
    run.stop()
    stopped_at = run.evals
    tick.join(60)
    assert run.status == "stopped" and run.message == "" and run.evals == stopped_at
    assert run.frames[-1][0] == stopped_at and run.step(5) == 0
