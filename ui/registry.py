"""Live runs by identity, kept by the server process so that a reloaded page finds its run.

A reload (or the same URL in a new tab) is a new Streamlit session with an empty session state;
its identity (the `id` in the URL) finds the run here and the session's ticker goes on with the
same Run object. A run nobody has ticked or opened for NST_LIVE_KEEP_SECONDS (10 minutes by
default) is let go, its memory with it: a live one is saved to the store as paused first, so the
Gallery offers to resume it. A server restart loses them all; the store then marks the live ones
interrupted.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from nst.engine.contract import LiveRun
from nst.engine.run import Run
from ui import persist, resources, session, sidebar

DEFAULT_KEEP_SECONDS = 600.0


@dataclass
class Live:
    run: Run
    meta: session.RunMeta  # names of the inputs, and the run's id in the store
    touched: float = field(default_factory=time.monotonic)


@st.cache_resource
def _live() -> dict[str, Live]:
    """Identity -> its latest run, shared by every session of this server process."""
    return {}


_lock = threading.Lock()


def keep_seconds() -> float:
    text = os.environ.get("NST_LIVE_KEEP_SECONDS", "")
    try:
        return float(text) if text.strip() else DEFAULT_KEEP_SECONDS
    except ValueError:
        return DEFAULT_KEEP_SECONDS


def get(owner: str) -> Live | None:
    return _live().get(owner)


def register(run: LiveRun, meta: session.RunMeta) -> None:
    """Make `run` this identity's live run (a reload of the page picks it up)."""
    sweep()
    with _lock:
        _live()[st.session_state.owner] = Live(run, meta)


def unregister(run: LiveRun) -> None:
    with _lock:
        live = _live()
        entry = live.get(st.session_state.owner)
        if entry is not None and entry.run is run:
            del live[st.session_state.owner]


def entry() -> Live | None:
    """The entry of this session's run, if the run is registered (touched: it is in use)."""
    found = _live().get(st.session_state.owner)
    if found is None or found.run is not session.run():
        return None
    found.touched = time.monotonic()
    return found


def attach() -> None:
    """On every script run. On a session's first: take over this identity's live run (the page
    was reloaded, or opened again in a new tab), so that it goes on where it was. Then: this
    session's run is in use, so it is kept."""
    if not st.session_state.get("_attached"):
        st.session_state["_attached"] = True
        sweep()
        found = _live().get(st.session_state.owner)
        if found is not None and session.run() is None:
            st.session_state.run = found.run
            st.session_state.run_meta = found.meta
            sidebar.set_up_as(found.run, found.meta)  # its photo, paintings and settings
    entry()


def store_ids(owner: str) -> set[int]:
    """Store id of the run `owner` has live in this process (running or paused), if any."""
    e = _live().get(owner)
    if e is None or e.run.finished or e.meta.store_id is None:
        return set()
    return {e.meta.store_id}


def sweep() -> None:
    """Let go of the runs untouched for `keep_seconds()`; a live one is saved as paused first
    (quietly: whoever's session sweeps is not the run's owner)."""
    now, keep = time.monotonic(), keep_seconds()
    with _lock:
        live = _live()
        gone = [(owner, e) for owner, e in live.items() if now - e.touched > keep]
        for owner, _ in gone:
            del live[owner]
    for _, e in gone:
        rec = None if e.run.finished else persist.recorded(e.meta)
        if rec is not None:
            # Whatever the trouble (the store's, a cluster's), the last routine checkpoint stays.
            with contextlib.suppress(Exception):
                resources.stepper().pause(e.run)
                rec.save(e.run, status="paused")
        e.run.close()  # a run on a cluster frees its place there
