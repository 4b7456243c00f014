"""Dashboard runs on a Ray cluster (nst.compute.cluster), each in an actor of its own.

A tick asks the actor for `step(n)` and gets back a `Snapshot`: the new loss records, events,
animation frames and the latest image. `RemoteRun` offers what the dashboard uses of
nst.engine.run.Run (both satisfy nst.engine.contract.LiveRun), so the pages don't know which one
they hold. The actor holds its CPU (or GPU share) only while the run can go on.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import weakref
from dataclasses import dataclass, field

from PIL import Image

from nst.compute.cluster import (
    ClusterError,
    connect,
    describe,
    first_line,
    node_name,
    resource_asks,
    run_cpus,
    weights_for_workers,
    worker_model,
)
from nst.engine.config import Config
from nst.engine.contract import FINAL, Change
from nst.engine.frames import Frames
from nst.engine.objective import Reference
from nst.engine.run import Event, LossRecord, Run, evals_per_second, new_run_id

RUN_GPU_SHARE = 0.125  # a dashboard run: 8 sessions share a card unless NST_RAY_GPU_SHARE says
PLACE_SECONDS = 10.0  # for the cluster to find room for a run's actor
START_SECONDS = 180.0  # for the actor to load its network and make the run
CALL_SECONDS = 300.0  # for one reply of a run's actor


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
    records: list[LossRecord] = field(default_factory=list)
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
            model = worker_model(config, weights)
            self.run = Run(model, content, styles, config, frame_every=frame_every)
            if going_on is not None:  # a run that was let go: it goes on when asked
                self.run.start_from(*going_on)
                self.run.pause()
        except (ValueError, OSError) as exc:
            return f"{exc}"
        self._sent = {"records": 0, "events": 0, "changes": 0, "frame": -1}
        facts = {"device": str(model.mean.device), "weights": model.weights_source, "node": node_name()}
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
        self.history: list[LossRecord] = []
        self.events: list[Event] = []
        self.changes: list[Change] = []
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

    objective_now = None  # its objective lives with the actor: a view builds its own (nst.lab.view)

    def result_tensor(self) -> None:
        """Its scored tensor lives with the actor: `image()` is what comes here."""
        return None

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

    @property
    def holds_place(self) -> bool:
        """Whether the run holds an actor (and its place on the cluster) now."""
        return self._release.alive

    @property
    def actor(self):
        """The Ray actor computing the run now (None before the first, or once let go)."""
        return self._actor if self._release.alive else None

    # ---- the actor -----------------------------------------------------------------------

    def _open(self) -> None:
        """A new actor for this run: placed within PLACE_SECONDS, then the network loaded and
        the run made, going on from the last image if the run has one."""
        ray = self._ray
        asks = resource_asks(RUN_GPU_SHARE, run_cpus())
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
            raise ClusterError(f"the run could not start on the cluster: {first_line(exc)}") from None
        going_on = (self._image, self.evals, self.seconds) if self.evals else None
        args = (self.content_src, self.styles_src, self.config, self._weights, self._frame_every)
        try:
            reply = ray.get(actor.start.remote(*args, going_on), timeout=START_SECONDS)
        except ray.exceptions.RayError as exc:
            release()
            raise ClusterError(f"the run could not start on the cluster: {first_line(exc)}") from None
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
            self._fail(f"the run failed on the cluster ({first_line(cause)}); the last image is kept")
        else:  # the actor died, its node was lost, or no reply in time
            self._fail(
                f"the Ray worker computing this run was lost ({first_line(exc)}); "
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
