"""Seats: how many runs the server optimizes at once, and the queue of those waiting.

Every session's run asks for a seat on each tick. With `NST_MAX_RUNS` unset (or 0) every run
gets one at once; with NST_MAX_RUNS=N, N runs optimize and the others wait in the order they
asked, each told its place. A run that stops ticking (paused, finished, its tab closed) gives its
seat up within STALE seconds, so a closed laptop never blocks a class.
"""

from __future__ import annotations

import os
import threading
import time

STALE = 5.0  # seconds without a tick after which a run's seat or place is given up


def capacity_from_environment(environ=None) -> int:
    """NST_MAX_RUNS as a whole number of seats; 0 (or unset) means no limit."""
    env = os.environ if environ is None else environ
    text = env.get("NST_MAX_RUNS", "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"NST_MAX_RUNS must be a whole number, not {text!r}") from None
    if value < 0:
        raise ValueError(f"NST_MAX_RUNS must be 0 (no limit) or more, not {value}")
    return value


class Seats:
    """Process-wide: one object shared by every session (a cached resource)."""

    def __init__(self, capacity: int = 0, clock=time.monotonic):
        self.capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._seated: dict[int, float] = {}  # run id -> last tick
        self._queue: dict[int, float] = {}  # run id -> last ask, in order of the first ask

    def _expire(self, now: float) -> None:
        for table in (self._seated, self._queue):
            for rid in [r for r, t in table.items() if now - t > STALE]:
                del table[rid]

    def ask(self, run_id: int) -> int:
        """0 if the run may optimize now (it keeps its seat), else its place in the queue
        (1 = next). Call on every tick of a run that wants to go on."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if run_id in self._seated:
                self._seated[run_id] = now
                return 0
            self._queue[run_id] = now  # a new key goes last; a known one keeps its place
            free = len(self._queue) if not self.capacity else self.capacity - len(self._seated)
            place = list(self._queue).index(run_id)
            if place < free:
                del self._queue[run_id]
                self._seated[run_id] = now
                return 0
            return place - max(0, free) + 1

    def leave(self, run_id: int) -> None:
        """The run paused, ended or was discarded: its seat or place goes to the next."""
        with self._lock:
            self._seated.pop(run_id, None)
            self._queue.pop(run_id, None)

    def busy(self) -> int:
        """Runs optimizing now (ticked within STALE seconds)."""
        with self._lock:
            self._expire(self._clock())
            return len(self._seated)

    def waiting(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._queue)
