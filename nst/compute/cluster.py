"""Runs and sweep cells on a Ray cluster (optional: `pip install -r requirements-ray.txt`).

Two kinds of work go there:

  * Sweep cells, as Ray tasks (`RayExecutor`, an nst.lab.sweep.Executor): a task per cell, on a GPU
    when the cluster has GPUs, else on a CPU. Each worker process loads the network once and keeps
    it for its later cells. A task whose worker dies is retried (`CELL_RETRIES`). The driver
    stores every outcome as it arrives (nst.lab.sweep.Sweep.run), so a driver that dies loses only
    the cells in flight, and the same command goes on from the store.
  * Dashboard runs, each in a Ray actor (nst.compute.remote.RemoteRun).

Where the cluster is: NST_RAY_ADDRESS, as `ray.init` takes it: `auto` (the cluster this machine
joined with `ray start`), `HOST:PORT` (its head node), `ray://HOST:10001` (Ray Client), or `local`
(a cluster of this machine started by this process, gone when the process ends). The project's
`nst` package is shipped to the workers with the job (`py_modules`); weights files must be at the
same path on every node, or in each node's torch hub cache.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from nst.engine.config import Config
from nst.engine.model import VGGFeatures, load_model, pick_device
from nst.lab.cells import CellOutcome, CellSpec, compute_cell

ADDRESS_ENV = "NST_RAY_ADDRESS"
GPU_SHARE_ENV = "NST_RAY_GPU_SHARE"  # the part of a GPU each cell or run asks for
CELL_RETRIES = 2  # a cell whose worker process dies is computed again, at most this often
RUN_CPUS_ENV = "NST_RAY_RUN_CPUS"  # CPUs (threads) a dashboard run asks for; 1 by default


class ClusterError(RuntimeError):
    """Ray is not installed, the cluster can't be reached or has no room: one sentence."""


def installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def address() -> str | None:
    """NST_RAY_ADDRESS, or None when it is not set (the local backend)."""
    return os.environ.get(ADDRESS_ENV, "").strip() or None


_connect_lock = threading.Lock()


def connect(where: str | None = None):
    """Join the cluster at `where` (default NST_RAY_ADDRESS, else `local`) once per process;
    returns the ray module. ClusterError when Ray is missing or the cluster can't be reached."""
    if not installed():
        raise ClusterError("the Ray backend needs Ray: pip install -r requirements-ray.txt")
    import ray

    with _connect_lock:
        if not ray.is_initialized():
            where = where or address() or "local"
            _answers(where)
            try:
                if where == "local":
                    _start_local(ray)
                else:
                    ray.init(address=where, **job_options())
            except Exception as exc:  # noqa: BLE001 - Ray's errors are many kinds; one sentence
                raise ClusterError(f"could not join the Ray cluster at {where}: {exc}") from None
    return ray


def _start_local(ray) -> None:
    """A Ray instance of this machine, started from a thread that lives as long as the process:
    Ray's own processes end with the thread that started them (a parent-death signal), and a
    Streamlit script's thread ends with every rerun."""
    if threading.current_thread() is threading.main_thread():
        ray.init(include_dashboard=False, **job_options())
        return
    started, failed = threading.Event(), []

    def keeper() -> None:
        try:
            ray.init(include_dashboard=False, **job_options())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failed.append(exc)
        started.set()
        if not failed:
            threading.Event().wait()  # as long as the process

    threading.Thread(target=keeper, name="nst-ray-local", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]


def _answers(where: str, seconds: float = 3.0) -> None:
    """ClusterError at once when nothing listens at a HOST:PORT address (Ray itself would retry
    for a minute, printing a line every few seconds)."""
    host, colon, port = where.removeprefix("ray://").rpartition(":")
    if where in ("local", "auto") or not colon or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {where} ({exc.strerror or exc})") from None


def job_options() -> dict:
    """`ray.init` options of an nst driver: this `nst` package shipped to the workers with the
    network's settings, and Ray's own log lines kept out of the terminal."""
    package = str(Path(__file__).resolve().parent.parent)  # the whole nst package
    return {
        "namespace": "nst",
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "runtime_env": {"py_modules": [package], "env_vars": _worker_env()},
    }


def _worker_env() -> dict[str, str]:
    """What the workers need of this process's environment: the network's settings."""
    names = ("NST_MODEL", "NST_WEIGHTS", "NST_OFFLINE")  # each node keeps its own TORCH_HOME
    env = {n: os.environ[n] for n in names if os.environ.get(n)}
    if "NST_WEIGHTS" in env:
        env["NST_WEIGHTS"] = weights_for_workers(env["NST_WEIGHTS"])
    return env


def weights_for_workers(weights: str) -> str:
    """A weights file named relative to this process's folder, made absolute for the workers
    (whose folder differs); 'imagenet', 'random' and absolute paths as they are."""
    path = Path(weights).expanduser()
    return str(path.resolve()) if weights not in ("imagenet", "random") and path.is_file() else weights


def resources() -> dict[str, float]:
    """CPUs and GPUs of the cluster (joins it first)."""
    ray = connect()
    have = ray.cluster_resources()
    return {"CPU": float(have.get("CPU", 0)), "GPU": float(have.get("GPU", 0))}


def describe() -> str:
    """The cluster in a few words: 'Ray cluster of 2 nodes: 32 CPUs, 2 GPUs'."""
    ray = connect()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    have = resources()
    gpus = f", {have['GPU']:g} GPUs" if have["GPU"] else ""
    return f"Ray cluster of {nodes} node{'s' * (nodes != 1)}: {have['CPU']:g} CPUs{gpus}"


def run_cpus() -> float:
    """CPUs a dashboard run asks for (NST_RAY_RUN_CPUS, default 1): on a CPU cluster, a class of
    thirty on 32 cores wants 1; one user on a workstation wants all of them for one run."""
    try:
        return max(1.0, float(os.environ.get(RUN_CPUS_ENV) or 1))
    except ValueError:
        return 1.0


def resource_asks(gpu_share: float, cpus: float = 1) -> dict[str, float]:
    """What one cell or run asks the scheduler for: part of a GPU when there are GPUs, else
    `cpus` CPUs (Ray then gives the worker as many threads)."""
    if resources()["GPU"]:
        share = float(os.environ.get(GPU_SHARE_ENV) or gpu_share)
        return {"num_gpus": min(1.0, max(0.01, share)), "num_cpus": 1}
    return {"num_cpus": cpus}


@functools.lru_cache(maxsize=4)
def _model(arch: str, weights: str, device: str) -> VGGFeatures:
    """The network, once per worker process (a process serves many cells)."""
    return load_model(arch, weights, device)


def worker_model(cfg: Config, weights: str) -> VGGFeatures:
    return _model(cfg.model, weights, str(pick_device(cfg.device)))


def node_name() -> str:
    """This worker's node, for the page and the cell's record."""
    import ray

    try:
        ip = ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - a name is only for display
        ip = ""
    return f"{socket.gethostname()} ({ip})" if ip else socket.gethostname()


# ---- sweeps: a task per cell --------------------------------------------------------------


def _compute(spec: CellSpec, weights: str) -> CellOutcome:
    """A cell, in a worker process (the body of the Ray task)."""
    outcome = compute_cell(spec, worker_model(spec.config, weights))
    return dataclasses.replace(outcome, device=f"{outcome.device} on {node_name()}")


class RayExecutor:
    """An nst.lab.sweep.Executor on a Ray cluster: each cell a Ray task (retried when its worker
    dies), at most two per slot in flight so a stop cancels little. Outcomes come as cells end,
    in any order; the driver (Sweep.run) stores them."""

    def __init__(self, where: str | None = None, retries: int = CELL_RETRIES):
        ray = connect(where)
        self._ray = ray
        self.where = describe()
        have = resources()
        asks = resource_asks(1.0)
        if have["GPU"]:
            self.slots = max(1, int(have["GPU"] / asks["num_gpus"]))
        else:
            self.slots = max(1, int(have["CPU"]))
        self.retries = retries
        self._task = ray.remote(max_retries=retries)(_compute).options(**asks)

    def map(self, specs: Sequence[CellSpec], stop: threading.Event) -> Iterator[CellOutcome]:
        ray, queue, pending = self._ray, list(specs), {}
        try:
            while queue or pending:
                if stop.is_set():  # what is done already is kept; the rest is dropped
                    done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                    yield from (self._outcome(ref, pending.pop(ref)) for ref in done)
                    return
                while queue and len(pending) < 2 * self.slots:
                    spec = queue.pop(0)
                    pending[self._task.remote(spec, weights_for_workers(spec.config.weights))] = spec
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
                for ref in done:
                    yield self._outcome(ref, pending.pop(ref))
        finally:
            for ref in pending:  # stopped, or failed: the cells in flight are dropped
                ray.cancel(ref, force=True)

    def _outcome(self, ref, spec: CellSpec) -> CellOutcome:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the cell itself raised: not retried
            cause = getattr(exc, "cause", None) or exc
            raise ClusterError(f"{_label(spec)} failed on the cluster: {first_line(cause)}") from None
        except ray.exceptions.RayError as exc:  # its worker died more often than retried
            raise ClusterError(
                f"the cluster lost {_label(spec)} {self.retries + 1} time(s): {first_line(exc)}"
            ) from None


def _label(spec: CellSpec) -> str:
    return "cell " + (spec.label.replace("\n", ", ") or str(spec.index))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
