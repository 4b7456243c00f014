"""The session's run in the run store (nst.record.recorded.RecordedRun): begun on Start,
checkpointed while it runs and at its end by the server's compute worker, saved here at pause,
stop and when another run replaces it.

The store's trouble never reaches the run: RecordedRun says it in a sentence, said here once (a
toast), and the run goes on unsaved. `store.stopped` (a full disk) is shown on the Stylize page
while set, so it is not toasted too.
"""

from __future__ import annotations

import streamlit as st

from nst.engine.contract import LiveRun
from nst.record.recorded import RecordedRun
from ui import resources, session


def begin(run: LiveRun, content: str, styles: list[str]) -> int | None:
    """A stored run for `run` (just made from these inputs); its store id, or None."""
    store = resources.store()
    if store is None:
        return None
    try:
        return RecordedRun.begin(
            store,
            run,
            resources.image_bytes(content) or run.content_src,
            [resources.image_bytes(n) or img for n, img in zip(styles, run.styles_src, strict=True)],
            content_name=content,
            style_names=styles,
            source="dashboard",
            owner=st.session_state.owner,
        ).id
    except Exception as exc:  # noqa: BLE001 - the run goes on, unsaved
        resources.say_once(f"This run is not being stored ({exc}); it goes on.", toast=True)
        return None


def recorded(meta: session.RunMeta) -> RecordedRun | None:
    """The session's stored run, from its run's meta."""
    store, run_id = resources.store(), meta.store_id
    return None if store is None or run_id is None else RecordedRun(store, run_id)


def save(run: LiveRun, meta: session.RunMeta, *, image: bool = True) -> None:
    """Save the run as it is now (at a click: pause, stop, a replaced run); the worker writes
    the routine checkpoints and the end (nst.compute.stepper)."""
    rec = recorded(meta)
    if rec is None:
        return
    said = rec.save(run, image=image)
    if rec.deleted:
        meta.store_id = None
    if said and said != rec.store.stopped:
        resources.say_once(said, toast=True)
