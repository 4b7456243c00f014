"""The session's run in the run store: created on Start, checkpointed while it runs (every
CHECKPOINT_SECONDS, from the ticking fragment), saved at pause, stop, end and failure.

The store's trouble never reaches the run: every call here catches it, says it once (a toast),
and the run goes on unsaved. `store.stopped` (a full disk) is shown on the Stylize page while set.
"""

from __future__ import annotations

import dataclasses
import time

import streamlit as st

from nst.engine.run import Run
from nst.record.export import gif_bytes
from ui import state


def begin(run: Run, content: str, styles: list[str]) -> int | None:
    """A stored run for `run` (just made from these inputs); its store id, or None."""
    store = state.store()
    if store is None:
        return None
    try:
        return store.create_run(
            state.image_bytes(content) or run.content_src,
            [state.image_bytes(n) or img for n, img in zip(styles, run.styles_src, strict=True)],
            run.start_config,
            owner=st.session_state.owner,
            source="dashboard",
            content_name=content,
            style_names=styles,
            device=str(run.device),
            weights=run.weights_source,
        )
    except Exception as exc:  # noqa: BLE001 - the run goes on, unsaved
        state.say_once(f"This run is not being stored ({exc}); it goes on.", toast=True)
        return None


def fields(run: Run) -> dict:
    """What a checkpoint keeps of the run besides its image and status."""
    return {
        "history": run.history,
        "events": [dataclasses.asdict(e) for e in run.events],
        "evals": run.evals,
        "seconds": run.seconds,
        "config": run.start_config,
        "changes": [{"step": s, "changes": c} for s, c in run.changes],
        "message": run.message,
    }


def save(run: Run, meta: dict, *, image: bool = True, due_only: bool = False) -> None:
    """Checkpoint the run as it is now (a routine one only when due, with `due_only`)."""
    store, run_id = state.store(), meta.get("store_id")
    if store is None or run_id is None or (due_only and not store.due(run_id)):
        return
    t0 = time.perf_counter()
    try:
        img = run.image() if image else None
        status = run.status if run.status in ("running", "paused") else "running"
        if run.finished:
            gif = gif_bytes([f for _, f in run.frames]) if len(run.frames) else None
            said = store.finish(run_id, run.status, img, progress=gif, **fields(run))
        else:
            said = None if store.checkpoint(run_id, img, status=status, **fields(run)) else "?"
            if said and store.stopped is None:
                said = f"Run {run_id} was deleted from the store: it goes on, unsaved."
                meta["store_id"] = None
            elif said:
                said = None  # a full disk: the Stylize page says so while it lasts
    except Exception as exc:  # noqa: BLE001 - a store bug must not cost the user the run
        said = f"The run could not be stored ({exc}); it goes on unsaved."
    if said:
        state.say_once(said, toast=True)
    if due_only:  # the routine ones, for the timing line under Export
        ms = st.session_state.checkpoint_ms
        ms.append((time.perf_counter() - t0) * 1000)
        del ms[:-20]
