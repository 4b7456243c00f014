"""The machine's compute worker: the dashboard's runs optimize here, off the pages' threads.

A page's script thread only reads a run (its history, image, place in the queue); a thread per
lane steps the runs that have a seat, a round at a time: one evaluation of each, the runs of one
size evaluated as one batch (nst.engine.together), so a rerun, a page switch or a click is
answered at once whatever the load. A lane is one device of this process (all local runs on it
share it) or one run on a Ray cluster (its actor computes; the thread waits).

Seats: a lane optimizes at most `seats` runs at once (nst.compute.seats: NST_MAX_RUNS, else one
on a CPU, where a batch costs what its runs do alone, and on a GPU what its card's memory holds
and a larger batch still gains); the others wait in the order they asked, each with its place
and the time until its turn. Pausing takes effect before the run's next evaluation; a checkpoint
is written from here (nst.record.recorded) every few seconds and at the end, so no work waits
for a page.

A page's own computation on the device (the explore pages' feature maps and Gram matrices, the
pace measurement) goes through `call`: the lane's thread runs it between two evaluations, ahead
of the next, so it has every core to itself. Two threads computing at once on a CPU slow each
other far more than taking turns (measured: the Gram page's view 3.1 s alongside a run, 1.5 s in
turn). It also keeps torch's work on one long-lived thread: while another thread that computed
with torch is alive, OpenMP's worker threads outnumber the cores and stop spin-waiting, and a run
steps 0.78x as fast (measured on a 2-core Xeon in bf16; see bench/class_worker.py).
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from nst.engine.contract import LiveRun, Status
from nst.engine.run import Run
from nst.engine.together import step_together
from nst.record.recorded import RecordedRun

GONE_SECONDS = 30.0  # a run whose page is gone (its connection closed) this long is paused
# Without a way to tell whether its page is there, a run is paused once its page has not asked
# for this long. Ticks are no heartbeat: a browser throttles a hidden tab's timers (Chromium:
# once a minute after five minutes hidden) and a starved or frozen page misses them.
SILENT_SECONDS = 600.0
REMOTE_STEPS = 5  # evaluations per call to a run on a cluster (each call returns its image)


@dataclass
class Job:
    """A run the worker holds: seated (optimizing in turn) or waiting for a seat."""

    run: LiveRun
    recorded: RecordedRun | None
    lane: str
    until: int | None = None  # pause once the run has this many evaluations (the Step button)
    asked: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)  # the last time a page wanted it
    # Whether the run's page (its session) is still there; None: not known, the ticks tell.
    present: Callable[[], bool] | None = None
    away_since: float | None = None  # when `present` first said no
    seated: bool = False
    hold: bool = False  # a page paused or stopped it: no further evaluation starts
    said: list[str] = field(default_factory=list)  # the store's trouble, for the page to show
    lock: threading.Lock = field(default_factory=threading.Lock)  # held during an evaluation
    saved_once: bool = False
    first_step: float | None = None  # when its first evaluation here began (its seat's start)
    evals_before: int = 0  # the run's evaluations when it came here


class Stepper:
    """Process-wide (one object shared by every session). `seats(lane)` gives a lane's seats."""

    def __init__(
        self,
        seats: Callable[[str], int] | int = 1,
        on_error: Callable | None = None,
        gone: float = GONE_SECONDS,
        silent: float = SILENT_SECONDS,
    ):
        self.gone, self.silent = gone, silent
        self._seats = seats if callable(seats) else (lambda _lane: seats)
        self._cond = threading.Condition()
        self._jobs: dict[int, Job] = {}  # run id -> its job, in the order they asked
        self._threads: dict[str, threading.Thread] = {}
        self._calls: dict[str, list[tuple[Callable, Future]]] = {}  # lane -> pages' work, in order
        self._closing = False
        self.on_error = on_error
        self._walls: dict[int, tuple[int, float, float]] = {}  # run id -> evals, seconds, waited
        # A thread in the middle of an evaluation when the interpreter ends would abort it.
        atexit.register(self.close)

    def close(self, seconds: float = 10.0) -> None:
        """Stop stepping (the runs stay as they are) and wait for the evaluations under way."""
        with self._cond:
            self._closing = True
            threads = list(self._threads.values())
            self._cond.notify_all()
        for t in threads:
            t.join(seconds)

    # ---- what a page does --------------------------------------------------------------

    def want(
        self,
        run: LiveRun,
        recorded: RecordedRun | None = None,
        until: int | None = None,
        present: Callable[[], bool] | None = None,
    ) -> None:
        """The run should go on: it takes a seat, or its place in the queue, and optimizes until
        it ends, is paused (`hold`) or reaches `until` evaluations, or its page is gone:
        `present()` false for `gone` seconds (without `present`, no call for `silent` seconds)."""
        if run.finished:
            return  # a tick that came after the end: nothing to hold a seat for
        with self._cond:
            job = self._jobs.get(run.id)
            if job is None:
                job = Job(run, recorded, lane_of(run), until)
                self._jobs[run.id] = job
            job.hold, job.until, job.seen = False, until, time.monotonic()
            job.present, job.away_since = present, None  # the page asking now is the run's
            if run.status == Status.PAUSED:
                run.resume()
            if recorded is not None and job.recorded is None:
                job.recorded = recorded  # kept: it knows when the run was deleted meanwhile
            self._seat(job.lane)
            self._start(job.lane)
            self._cond.notify_all()

    def pause(self, run: LiveRun) -> None:
        """No further evaluation of `run` starts; returns once the one under way has ended."""
        self._let_go(run)
        run.pause()

    def drop(self, run: LiveRun) -> None:
        """Forget the run (to stop or discard it): its seat or place goes to the next. Returns
        once an evaluation under way has ended."""
        self._let_go(run)

    def _let_go(self, run: LiveRun) -> None:
        with self._cond:
            job = self._jobs.get(run.id)
            if job is not None:
                job.hold = True
            self._leave(run.id)
        if job is not None:
            with job.lock:  # the evaluation under way, if any, ends first
                pass

    def place(self, run: LiveRun) -> int:
        """0 when the run optimizes now (or is not waiting), else its place in the queue (1 =
        next)."""
        with self._cond:
            job = self._jobs.get(run.id)
            if job is None or job.seated:
                return 0
            waiting = [j for j in self._jobs.values() if j.lane == job.lane and not j.seated]
            return waiting.index(job) + 1

    def said(self, run: LiveRun) -> list[str]:
        """The store's trouble since the last call, for the page to show once."""
        with self._cond:
            job = self._jobs.get(run.id)
            if job is None or not job.said:
                return []
            out, job.said = job.said, []
            return out

    def busy(self, lane: str) -> int:
        with self._cond:
            return sum(j.seated and not j.run.finished for j in self._jobs.values() if j.lane == lane)

    def waiting(self, lane: str) -> int:
        with self._cond:
            return sum(not j.seated for j in self._jobs.values() if j.lane == lane)

    def capacity(self, lane: str) -> int:
        return self._seats(lane)

    def seconds_to_turn(self, run: LiveRun, estimate: Callable[[LiveRun], float]) -> float:
        """Seconds until a waiting run gets its seat: the runs ahead of it in its lane, each for
        the time it has left (`estimate` for one that has not started), shared by the seats."""
        with self._cond:
            job = self._jobs.get(run.id)
            if job is None or job.seated:
                return 0.0
            ahead = []
            for j in self._jobs.values():
                if j is job:
                    break
                if j.lane == job.lane:
                    ahead.append(j.run)
        return self._share(ahead, job.lane, estimate)

    def seconds_to_free(self, lane: str, estimate: Callable[[LiveRun], float]) -> float:
        """Seconds until a run asking now would get a seat in `lane`."""
        with self._cond:
            runs = [j.run for j in self._jobs.values() if j.lane == lane]
        if len(runs) < self._seats(lane):
            return 0.0
        return self._share(runs, lane, estimate)

    def _share(self, runs: list[LiveRun], lane: str, estimate) -> float:
        left = [r.eta_seconds() if r.history else estimate(r) for r in runs]
        return sum(s or 0.0 for s in left) / max(1, self._seats(lane))

    def wall(self, run: LiveRun) -> tuple[int, float, float] | None:
        """(evaluations, wall seconds, seconds waited for a seat) of a run that ended here after
        running from the start without a pause: the wall seconds from its first evaluation to its
        end, whatever else the machine did meanwhile (a page's drawing, a browser), what its
        estimate should have said. None for a run paused, stepped by the Step button or resumed."""
        with self._cond:
            return self._walls.get(run.id)

    def call(self, lane: str, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)` on the lane's thread, before its next evaluation (at once when
        it steps no run). Returns its result (or raises its error)."""
        with self._cond:
            inline = self._closing or self._threads.get(lane) is threading.current_thread()
            if not inline:
                self._start(lane)
                done: Future = Future()
                self._calls.setdefault(lane, []).append((lambda: fn(*args, **kwargs), done))
                self._cond.notify_all()
        if inline:
            return fn(*args, **kwargs)
        return done.result()

    def _serve_calls(self, lane: str) -> None:
        """The pages' work queued for this lane, in the order it came."""
        while True:
            with self._cond:
                queue = self._calls.get(lane)
                if not queue:
                    return
                fn, done = queue.pop(0)
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - it belongs to the caller
                    done.set_exception(exc)

    # ---- the worker --------------------------------------------------------------------

    def _seat(self, lane: str) -> None:
        """Fill the lane's free seats from its queue, first come first served."""
        jobs = [j for j in self._jobs.values() if j.lane == lane]
        free = self._seats(lane) - sum(j.seated for j in jobs)
        for j in jobs:
            if free <= 0:
                break
            if not j.seated:
                j.seated, free = True, free - 1

    def _leave(self, run_id: int) -> None:
        job = self._jobs.pop(run_id, None)
        if job is not None:
            self._seat(job.lane)
            self._cond.notify_all()

    def _start(self, lane: str) -> None:
        t = self._threads.get(lane)
        if t is None or not t.is_alive():
            t = threading.Thread(target=self._work, args=(lane,), name=f"nst-{lane}", daemon=True)
            self._threads[lane] = t
            t.start()

    def _work(self, lane: str) -> None:
        """Step the lane's seated runs, an evaluation each per round, for as long as it has any:
        runs of this process together (nst.engine.together: those of one shape as one batch),
        a cluster's run (a lane of its own) a few evaluations per call."""
        try:
            while True:
                self._serve_calls(lane)  # a page's work goes before the next evaluations
                with self._cond:
                    if self._closing:
                        return
                    seated = [j for j in self._jobs.values() if j.lane == lane and j.seated]
                    if not seated:
                        if not self._calls.get(lane):
                            self._cond.wait(1.0)
                        continue
                self._advance([job for job in seated if self._may_step(job)])
        finally:
            self._serve_calls(lane)  # nothing a page waits for is left behind

    def _may_step(self, job: Job) -> bool:
        """Whether the job's run goes on now; a run whose page is gone is paused and saved."""
        run = job.run
        why = self._page_gone(job)
        if why and not run.finished:
            # Its page went away (a closed laptop, a closed tab): pause it and save it, so the
            # seat goes to the next student; Resume (or the Gallery) goes on with it.
            with job.lock:
                run.pause()
                run.message = f"paused: {why}; Resume goes on"
                self._save(job, True)
            with self._cond:
                if self._jobs.get(run.id) is job:
                    self._leave(run.id)
            return False
        return not (job.hold or run.status == Status.PAUSED)

    def _advance(self, jobs: list[Job]) -> None:
        """One evaluation of each job's run (held under its lock: a pause waits for it)."""
        for job in jobs:
            job.lock.acquire()
        try:
            going = [
                j
                for j in jobs
                if not (j.hold or j.run.status == Status.PAUSED or j.run.finished)
                and not (j.until is not None and j.run.evals >= j.until)
            ]
            for job in going:
                if job.first_step is None:
                    job.first_step, job.evals_before = time.monotonic(), job.run.evals
            try:
                errors = self._step([job.run for job in going])
            except Exception as exc:  # noqa: BLE001 - a bug must not end the lane's thread
                errors = [exc] * len(going)
            for job, exc in zip(going, errors, strict=True):
                if exc is not None:  # a bug must not stop every run
                    job.run.message = f"the run stopped on an error: {exc}"
                    job.run.stop()
                    if self.on_error:
                        self.on_error(exc)
            ended = []
            for job in jobs:
                run = job.run
                with self._cond:
                    if job.hold and not run.finished:
                        run.pause()  # paused while this evaluation was under way
                done = run.finished or (job.until is not None and run.evals >= job.until)
                if done and not run.finished:
                    run.pause()  # the Step button's steps are done
                self._save(job, done)
                if done:
                    ended.append(job)
        finally:
            for job in jobs:
                job.lock.release()
        for job in ended:
            self._time(job)
            with self._cond:
                if self._jobs.get(job.run.id) is job:
                    self._leave(job.run.id)

    @staticmethod
    def _step(runs: list[LiveRun]) -> list[BaseException | None]:
        """One evaluation of each of this process's runs, together; a few of a cluster's."""
        local = [r for r in runs if isinstance(r, Run)]
        if len(local) == len(runs) and len(runs) > 1:
            return step_together(local)
        errors: list[BaseException | None] = []
        for run in runs:
            try:
                run.step(1 if isinstance(run, Run) else REMOTE_STEPS)
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - handed back, one per run
                errors.append(exc)
        return errors

    def _time(self, job: Job) -> None:
        run = job.run
        if run.status != Status.DONE or job.until is not None or job.first_step is None:
            return
        if job.evals_before == 0:
            with self._cond:
                wall, waited = time.monotonic() - job.first_step, job.first_step - job.asked
                self._walls[run.id] = (run.evals, wall, waited)
                for old in list(self._walls)[:-64]:  # the latest runs are enough
                    del self._walls[old]

    def _page_gone(self, job: Job) -> str:
        """Why the run's page counts as gone ("" while it is there)."""
        now = time.monotonic()
        if job.present is None:
            silent = now - job.seen
            return f"its page did not answer for {silent:.0f} s" if silent > self.silent else ""
        try:
            here = job.present()
        except Exception:  # noqa: BLE001 - can't tell: the run goes on
            here = True
        if here:
            job.away_since = None
            return ""
        job.away_since = job.away_since or now
        away = now - job.away_since
        return f"its page was closed {away:.0f} s ago" if away > self.gone else ""

    def _save(self, job: Job, ended: bool) -> None:
        """A checkpoint after the first evaluation, when one is due, and at the end."""
        rec = job.recorded
        if rec is None or rec.deleted or not (ended or not job.saved_once or rec.due()):
            return
        job.saved_once = True
        trouble = rec.save(job.run)
        if trouble and trouble != rec.store.stopped:
            with self._cond:
                job.said.append(trouble)


def lane_of(run: LiveRun) -> str:
    """The lane a run steps in: its device here, or its own on a cluster."""
    return f"local:{run.device}" if isinstance(run, Run) else f"remote:{run.id}"
