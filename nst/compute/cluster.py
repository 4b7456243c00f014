"""Runs and sweep cells on a Ray cluster (optional: `pip install -r requirements-ray.txt`).

Two kinds of work go there:

  * Sweep cells, as Ray tasks (`RayExecutor`, an nst.lab.sweep.Executor): a task per cell, on a GPU
    when the cluster has GPUs, else on a CPU. Each worker process loads the network once and keeps
    it for its later cells. A task whose worker dies is retried (`CELL_RETRIES`). The driver
    stores every outcome as it arrives (nst.lab.sweep.Sweep.run), so a driver that dies loses only
    the cells in flight, and the same command goes on from the store.
  * Dashboard runs, each in a Ray actor (`RemoteRun`): a tick asks the actor for `step(n)` and
    gets back the new loss records, events, animation frames and the latest image. RemoteRun
    offers what the dashboard uses of nst.engine.run.Run, so the pages don't know which one they hold.

Where the cluster is: NST_RAY_ADDRESS, as `ray.init` takes it: `auto` (the cluster this machine
joined with `ray start`), `HOST:PORT` (its head node), `ray://HOST:10001` (Ray Client), or `local`
(a cluster of this machine started by this process, gone when the process ends). The project's
`nst` package is shipped to the workers with the job (`py_modules`); weights files must be at the
same path on every node, or in each node's torch hub cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from nst.engine.config import Config
from nst.engine.contract import FINAL
from nst.engine.model import VGGFeatures, load_model, pick_device
from nst.engine.objective import Reference
from nst.engine.run import Event, Record, Run, evals_per_second, new_run_id
from nst.lab.sweep import CellOutcome, CellSpec, compute_cell
from nst.record.export import Frames

ADDRESS_ENV = "NST_RAY_ADDRESS"
GPU_SHARE_ENV = "NST_RAY_GPU_SHARE"  # the part of a GPU each cell or run asks for
CELL_RETRIES = 2  # a cell whose worker process dies is computed again, at most this often
RUN_GPU_SHARE = 0.125  # a dashboard run: 8 sessions share a card unless NST_RAY_GPU_SHARE says
RUN_CPUS_ENV = "NST_RAY_RUN_CPUS"  # CPUs (threads) a dashboard run asks for; 1 by default
PLACE_SECONDS = 10.0  # for the cluster to find room for a run's actor
START_SECONDS = 180.0  # for the actor to load its network and make the run
CALL_SECONDS = 300.0  # for one reply of a run's actor


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


def _asks(gpu_share: float, cpus: float = 1) -> dict[str, float]:
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


def _model_for(cfg: Config, weights: str) -> VGGFeatures:
    return _model(cfg.model, weights, str(pick_device(cfg.device)))


def _where() -> str:
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
    outcome = compute_cell(spec, _model_for(spec.config, weights))
    return dataclasses.replace(outcome, device=f"{outcome.device} on {_where()}")


class RayExecutor:
    """An nst.lab.sweep.Executor on a Ray cluster: each cell a Ray task (retried when its worker
    dies), at most two per slot in flight so a stop cancels little. Outcomes come as cells end,
    in any order; the driver (Sweep.run) stores them."""

    def __init__(self, where: str | None = None, retries: int = CELL_RETRIES):
        ray = connect(where)
        self._ray = ray
        self.where = describe()
        have = resources()
        asks = _asks(1.0)
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
            raise ClusterError(f"{_label(spec)} failed on the cluster: {_first_line(cause)}") from None
        except ray.exceptions.RayError as exc:  # its worker died more often than retried
            raise ClusterError(
                f"the cluster lost {_label(spec)} {self.retries + 1} time(s): {_first_line(exc)}"
            ) from None


def _label(spec: CellSpec) -> str:
    return "cell " + (spec.label.replace("\n", ", ") or str(spec.index))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- dashboard runs: an actor per run -----------------------------------------------------


@dataclass
class Snapshot:
    """What a run's actor replies: the run's state now and what is new since its last reply."""

    status: str
    message: str
    evals: int
    seconds: float
    config: Config
    size: tuple[int, int]
    progress: float
    eta: float | None
    image: Image.Image
    records: list[Record] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    changes: list[tuple[int, dict]] = field(default_factory=list)
    frames: list[tuple[int, Image.Image]] = field(default_factory=list)
    reference: Reference | None = None  # the style strength's calibration (nst.engine.objective)


class _RunActor:
    """A Run in a Ray actor's process (the body of the actor)."""

    def start(self, content, styles, config, weights, frame_every, going_on=None):
        """The run, going on from `going_on` = (image, evals, seconds) when given: (a snapshot,
        facts of the worker), or the reason it can't start (a sentence)."""
        try:
            model = _model_for(config, weights)
            self.run = Run(model, content, styles, config, frame_every=frame_every)
            if going_on is not None:  # a run that was let go: it goes on when asked
                self.run.start_from(*going_on)
                self.run.pause()
        except (ValueError, OSError) as exc:
            return f"{exc}"
        self._sent = {"records": 0, "events": 0, "changes": 0, "frame": -1}
        facts = {"device": str(model.mean.device), "weights": model.weights_source, "node": _where()}
        return self._snapshot(), facts

    def step(self, n: int) -> Snapshot:
        self.run.step(n)
        return self._snapshot()

    def call(self, name: str, *args) -> tuple[Snapshot, object, str]:
        """`pause`, `resume`, `stop`, `update` or `start_from`: (snapshot, result, error)."""
        if name not in ("pause", "resume", "stop", "update", "start_from"):
            return self._snapshot(), None, f"no such call {name!r}"
        try:
            result = getattr(self.run, name)(*args)
        except ValueError as exc:
            return self._snapshot(), None, str(exc)
        return self._snapshot(), result, ""

    def _snapshot(self) -> Snapshot:
        run, sent = self.run, self._sent
        frames = [(s, f) for s, f in run.frames if s > sent["frame"]]
        snap = Snapshot(
            run.status,
            run.message,
            run.evals,
            run.seconds,
            run.config,
            run.size,
            run.progress(),
            run.eta_seconds(),
            run.image(),
            run.history[sent["records"] :],
            run.events[sent["events"] :],
            run.changes[sent["changes"] :],
            frames,
            run.reference,
        )
        sent.update(records=len(run.history), events=len(run.events), changes=len(run.changes))
        if frames:
            sent["frame"] = frames[-1][0]
        return snap


@functools.cache
def _actor_class(ray):
    # No restarts: a restarted actor would have lost the run; the page keeps the last image.
    return ray.remote(max_restarts=0)(_RunActor)


def _room_for(asks: dict[str, float], seconds: float = 3.0) -> bool:
    """Whether the cluster has the CPUs and GPUs free that `asks` wants, by its reports over
    the next `seconds` (they lag a little behind a place just freed)."""
    ray, deadline = connect(), time.monotonic() + seconds
    while True:
        free = ray.available_resources()
        if all(free.get(k, 0) >= asks.get(n, 0) for k, n in (("CPU", "num_cpus"), ("GPU", "num_gpus"))):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _no_room() -> str:
    return (
        f"the Ray cluster has no room for this run now ({describe()}, all in use by other runs "
        "and sweeps): try again when one ends"
    )


def _release(ray, actor) -> None:
    with contextlib.suppress(Exception):  # already gone, or the cluster is: nothing to free
        ray.kill(actor)


class RemoteRun:
    """A stylization run computed by a Ray actor, seen here through what the dashboard uses of
    nst.engine.run.Run: the same attributes (history, events, changes, frames, config, status, evals,
    seconds, ...) and methods (step, pause, resume, stop, update, start_from, image, ...).

    The actor holds a CPU (or part of a GPU) only while the run can go on: it is let go when the
    run ends, by `close()` (a session that went away), or when this object is garbage. A run
    whose actor was let go and is asked to go on (more steps, changed settings) gets a new actor
    that starts from its last image (the optimizer's memory restarts, as after a change). If the
    actor is lost (its node died) the run ends as failed with its last image kept.

    ClusterError from the constructor when the cluster has no room (within PLACE_SECONDS) or
    can't be reached; ValueError for settings the run can't take."""

    def __init__(
        self,
        content: Image.Image,
        styles: list[Image.Image],
        config: Config | None = None,
        *,
        frame_every: int | None = None,
        max_frames: int = 80,
        where: str | None = None,
    ):
        self.config = self.start_config = (config or Config()).validated()
        if not styles:
            raise ValueError("at least one style image is needed")
        self.content_src = content.convert("RGB")
        self.styles_src = [s.convert("RGB") for s in styles]
        self.history: list[Record] = []
        self.events: list[Event] = []
        self.changes: list[tuple[int, dict]] = []
        self.frames = Frames(1, max_frames)
        self.status, self.message = "ready", ""
        self.evals, self.seconds = 0, 0.0
        self.id = new_run_id()
        self.reference: Reference | None = None  # the actor's, from its first reply
        self._ray = connect(where)
        self._weights = weights_for_workers(self.config.weights)
        self._frame_every = frame_every
        self._held = False  # paused here: a reply that was on its way says nothing else
        self._lock = threading.Lock()  # a tick and a click may reach the run from two threads
        self._release = weakref.finalize(self, _release, None, None)
        self._release.detach()  # no actor yet
        self._open()

    # ---- as nst.engine.run.Run ----------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.config.steps

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def beta(self) -> float:
        """The style weight β the run optimizes with now (its exact β, or its strength's)."""
        if self.config.beta is not None or self.reference is None:
            return self.config.beta if self.config.beta is not None else float("nan")
        return self.reference.beta(self.config)

    @property
    def location(self) -> str:
        return f"a Ray actor on node {self.node}, {self.device}"

    def step(self, n: int = 1) -> int:
        if self.finished:
            return 0
        before = self.evals
        self._ask("step", n)
        return self.evals - before

    def pause(self) -> None:
        """At once, without waiting for the actor (a tick may be stepping it)."""
        with self._lock:
            if not self.finished:
                self.status, self._held = "paused", True
                self._tell("pause")

    def resume(self) -> None:
        with self._lock:
            if not self.finished:
                self.status, self._held = "running", False
                self._tell("resume")

    def stop(self) -> None:
        """At once: the run ends with the image it shows now (a step already asked for, by a
        tick in another thread, is dropped with the actor)."""
        with self._lock:
            if not self.finished:
                self.status = "stopped"
                self.frames.add(self.evals, self._image)
        self.close()  # a stopped run never steps again

    def update(self, config: Config) -> list[str]:
        result = self._ask("call", "update", config.validated())
        return result if isinstance(result, list) else []

    def start_from(self, image: Image.Image, evals: int = 0, seconds: float = 0.0) -> None:
        self.frames = Frames(1, self.frames.limit)
        self._ask("call", "start_from", image.convert("RGB"), evals, seconds)
        if self.status == "failed":
            raise ClusterError(self.message)

    def image(self) -> Image.Image:
        return self._image.copy()

    def progress(self) -> float:
        return self._progress

    def eta_seconds(self) -> float | None:
        return self._eta

    def evals_per_second(self, window: int = 10) -> float:
        return evals_per_second(self.history, window)

    def close(self) -> None:
        """Let go of the actor (its CPU or GPU share); what this object shows stays."""
        self._release()

    # ---- the actor -----------------------------------------------------------------------

    def _open(self) -> None:
        """A new actor for this run: placed within PLACE_SECONDS, then the network loaded and
        the run made, going on from the last image if the run has one."""
        ray = self._ray
        asks = _asks(RUN_GPU_SHARE, run_cpus())
        if not _room_for(asks):
            raise ClusterError(_no_room())
        actor = _actor_class(ray).options(**asks).remote()
        release = weakref.finalize(self, _release, ray, actor)
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=PLACE_SECONDS)
        except ray.exceptions.GetTimeoutError:
            release()
            raise ClusterError(_no_room()) from None
        except ray.exceptions.RayError as exc:
            release()
            raise ClusterError(f"the run could not start on the cluster: {_first_line(exc)}") from None
        going_on = (self._image, self.evals, self.seconds) if self.evals else None
        args = (self.content_src, self.styles_src, self.config, self._weights, self._frame_every)
        try:
            reply = ray.get(actor.start.remote(*args, going_on), timeout=START_SECONDS)
        except ray.exceptions.RayError as exc:
            release()
            raise ClusterError(f"the run could not start on the cluster: {_first_line(exc)}") from None
        if isinstance(reply, str):
            release()
            raise ValueError(reply)
        snap, facts = reply
        self._actor, self._release = actor, release
        self.device, self.weights_source, self.node = facts["device"], facts["weights"], facts["node"]
        if going_on is not None:
            said = f"went on in a new Ray actor on node {self.node}; the optimizer restarts"
            self.events.append(Event(self.evals, said))
        self._take(snap)

    def _tell(self, name: str) -> None:
        """A call whose reply nobody waits for (an actor runs its caller's calls in order)."""
        if self._release.alive:
            self._actor.call.remote(name)

    def _ask(self, method: str, *args):
        """Call the actor and take its reply; a run whose actor was let go gets a new one."""
        ray = self._ray
        if self.status == "stopped":
            return None  # never goes on
        if not self._release.alive:
            try:
                self._open()
            except (ClusterError, ValueError) as exc:  # it waits, paused, to be tried again
                with self._lock:
                    self.status, self._held = "paused", True
                    self.message = f"The run could not go on: {exc}. Press Resume to try again."
                return None
        actor = self._actor
        try:
            reply = ray.get(getattr(actor, method).remote(*args), timeout=CALL_SECONDS)
        except ray.exceptions.RayError as exc:
            if actor is not self._actor or not self._release.alive:
                return None  # let go meanwhile (stopped, replaced): not a loss
            self._lost(exc)
            return None
        if actor is not self._actor:
            return None  # a reply from an actor let go meanwhile: news of nothing
        if method == "step":
            self._take(reply)
            return None
        snap, result, error = reply
        self._take(snap)
        if error:
            raise ValueError(error)
        return result

    def _lost(self, exc: Exception) -> None:
        ray = self._ray
        if isinstance(exc, ray.exceptions.RayTaskError):  # the run itself raised
            cause = getattr(exc, "cause", None) or exc
            self._fail(f"the run failed on the cluster ({_first_line(cause)}); the last image is kept")
        else:  # the actor died, its node was lost, or no reply in time
            self._fail(
                f"the Ray worker computing this run was lost ({_first_line(exc)}); "
                "the last image is kept"
            )

    def _fail(self, message: str) -> None:
        self.status, self.message = "failed", message
        self.events.append(Event(self.evals, message))
        self.close()

    def _take(self, snap: Snapshot) -> None:
        with self._lock:
            if self.status == "stopped":
                return  # stopped here: a late reply doesn't bring it back
            self._apply(snap)
        if self.finished:
            self.close()  # its place on the cluster is free; more steps get a new actor

    def _apply(self, snap: Snapshot) -> None:
        held = self._held and snap.status in ("ready", "running")
        self.status = "paused" if held else snap.status
        self.message = snap.message  # what the run says (a trouble of the cluster's is over)
        self.evals, self.seconds, self.config = snap.evals, snap.seconds, snap.config
        self.reference = snap.reference or self.reference
        self._size, self._progress, self._eta = snap.size, snap.progress, snap.eta
        self._image = snap.image
        self.history += snap.records
        self.events += snap.events
        self.changes += snap.changes
        for step, frame in snap.frames:
            self.frames.add(step, frame)
