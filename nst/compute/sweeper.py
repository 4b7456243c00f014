"""A sweep in the background: a daemon thread computes it while a page polls `progress()`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from nst.lab.cells import CellResult, Executor
from nst.lab.sweep import Estimate, Sweep
from nst.record.store import Store


@dataclass(frozen=True)
class Progress:
    total: int
    results: tuple[CellResult, ...]  # in the order they came
    running: bool
    error: str | None
    seconds_left: float | None  # None until something is known

    @property
    def done(self) -> int:
        return len(self.results)


class SweepThread:
    """A sweep in a daemon thread, for a page that polls `progress()` and may `stop()` it.
    `estimate` (from `Sweep.estimate`) gives a time left before the first cell is done."""

    def __init__(
        self,
        sweep: Sweep,
        store: Store,
        executor: Executor | None = None,
        *,
        owner: str = "dashboard",
        estimate: Estimate | None = None,
    ):
        self.sweep, self.store, self.executor, self.owner = sweep, store, executor, owner
        self._estimate = estimate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._results: list[CellResult] = []
        self._error: str | None = None
        self._computed_seconds, self._computed = 0.0, 0
        self._thread = threading.Thread(target=self._work, name="nst-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop at the next step of the cell being computed (that cell is dropped)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> Progress:
        with self._lock:
            results, error = tuple(self._results), self._error
            computed, spent = self._computed, self._computed_seconds
        left_cells = len(self.sweep) - len(results)
        left: float | None = None
        if computed:
            left = left_cells * spent / computed
        elif self._estimate is not None:
            todo = self._estimate.cells - self._estimate.reused
            left = self._estimate.seconds * left_cells / todo if todo else 0.0
        return Progress(len(self.sweep), results, self.running, error, left)

    def _work(self) -> None:
        last = time.perf_counter()

        def on_result(result: CellResult) -> None:
            nonlocal last
            now = time.perf_counter()
            with self._lock:
                self._results.append(result)
                if not result.reused:
                    self._computed += 1
                    self._computed_seconds += now - last
            last = now

        try:
            self.sweep.run(
                self.store, self.executor, on_result=on_result, stop=self._stop, owner=self.owner
            )
        except Exception as exc:  # noqa: BLE001 - the page shows it; the thread must not die silently
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
        finally:
            self.store.close()  # this thread's connection
