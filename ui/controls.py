"""Run controls: start, pause, resume, step, stop, reset; and what to do without weights."""

from __future__ import annotations

import time

import streamlit as st

from nst.compute import backend
from nst.compute.cluster import ClusterError
from nst.engine.config import LIVE_FIELDS, field_label
from nst.engine.contract import LiveRun
from nst.engine.image import ImageInputError
from nst.lab.estimate import run_seconds
from ui import live, persist, registry, resources, session, sidebar


def _widgets_config():
    """The settings as the widgets hold them now. A callback runs before the script, so
    `session_state.config` is the previous run's: a number typed and not yet confirmed with
    Enter (the click on Start confirms it) would be missed."""
    try:
        return sidebar.read_config().validated()
    except (ValueError, KeyError):
        return st.session_state.config


def _start() -> None:
    cfg, model = _widgets_config(), st.session_state.model
    if cfg is None:
        return
    names = st.session_state.style_names
    clicked = time.monotonic()  # what "Start takes about" is checked against, from here
    try:
        content = resources.image_by_name(st.session_state.content_name)
        styles = [resources.image_by_name(n) for n in names]
        _end_replaced()  # first: on a cluster, the old run's place is the new one's
        run = backend.new_run(model, content, styles, cfg)
    except (ValueError, ImageInputError, ClusterError) as exc:
        st.session_state.notice = f"Could not start: {exc}"
        return
    begin(run, st.session_state.content_name, list(names))
    st.session_state._clicked = (run.id, clicked)


def begin(run: LiveRun, content: str, styles: list[str], store_id: int | None = None) -> None:
    """Make `run` the session's run, registered for reloads and kept in the store (a new stored
    run unless `store_id`, a stored run it goes on with). A paused run it replaces ends as
    stopped."""
    _end_replaced()
    if store_id is None:
        store_id = persist.begin(run, content, styles)
    uploads = {n: resources.image_bytes(n) for n in (content, *styles) if n.startswith("upload: ")}
    meta = session.RunMeta(content, list(styles), store_id, {n: b for n, b in uploads.items() if b})
    st.session_state.run = run
    st.session_state.run_meta = meta
    st.session_state.notice = ""
    st.session_state.tick_stats = []
    registry.register(run, meta)


def _end_replaced() -> None:
    old = session.run()
    if old is not None and not old.finished:
        resources.stepper().drop(old)  # once the evaluation under way has ended
        old.stop()
        persist.save(old, session.meta())
    if old is not None:
        old.close()  # a run on a cluster frees its place there


def _apply_changes(run: LiveRun) -> bool:
    """Give the paused run the sidebar's settings; False if one needs a new run."""
    cfg = _widgets_config()
    if cfg is None:
        return False
    live_cfg = run.config.replace(**{k: getattr(cfg, k) for k in LIVE_FIELDS})
    if len(run.styles_src) != len(st.session_state.style_names):
        live_cfg = live_cfg.replace(style_blend=run.config.style_blend)
    try:
        run.update(live_cfg)
    except ValueError as exc:
        st.session_state.notice = str(exc)
        return False
    return True


def _pause() -> None:
    run = session.run()
    if run is not None:
        resources.stepper().pause(run)  # the next evaluation does not start
        persist.save(run, session.meta())
    st.session_state.step_until = None


def _resume() -> None:
    run = session.run()
    if run is not None and _apply_changes(run) and not run.finished:
        run.message = ""  # a pause's reason (its page was away) is over
        run.resume()
        _keep_live(run)


def _keep_live(run: LiveRun) -> None:
    """Going on: in the store as running, and in the registry (it may have let go of a run
    paused for long)."""
    persist.save(run, session.meta(), image=False)
    if registry.entry() is None:
        registry.register(run, session.meta())


def _step() -> None:
    """Go on for STEP_EVALS steps, drawn as they come, then pause again."""
    run = session.run()
    if run is not None and _apply_changes(run) and not run.finished:
        st.session_state.step_until = run.evals + live.STEP_EVALS
        run.resume()
        _keep_live(run)


def _stop() -> None:
    run = session.run()
    if run is not None:
        resources.stepper().drop(run)
        run.stop()
        persist.save(run, session.meta())
        live.remember(run)


def _reset() -> None:
    """Discard the session's run; a live one ends as stopped in the store (the Gallery keeps it)."""
    run = session.run()
    if run is not None:
        _end_replaced()
        registry.unregister(run)
    st.session_state.run = None
    st.session_state.notice = ""


def pending_changes(run: LiveRun) -> tuple[list[str], list[str]]:
    """(settings that will apply on resume, settings that need a reset)."""
    cfg = st.session_state.config
    if cfg is None:
        return [], []
    changed = [k for k, v in cfg.to_dict().items() if v != run.config.to_dict()[k]]
    if len(run.styles_src) != len(st.session_state.style_names):
        changed = [k for k in changed if k != "style_blend"]
    live_ = [k for k in changed if k in LIVE_FIELDS]
    need_new = [k for k in changed if k not in LIVE_FIELDS]
    meta = session.meta()
    if meta.content and meta.content != st.session_state.content_name:
        need_new.append("photo")
    if meta.styles and list(meta.styles) != list(st.session_state.style_names):
        need_new.append("paintings")
    return live_, need_new


def buttons() -> None:
    run, running = session.run(), session.running()
    ready = (
        st.session_state.model is not None
        and st.session_state.config is not None
        and bool(st.session_state.style_names)
    )
    paused = run is not None and not running and not run.finished
    # A paused run goes on with Resume; Start is for a change it can't take (a new size,
    # photo, start...), so a stray click does not replace the run being taught with.
    need_reset = pending_changes(run)[1] if paused else []
    table = [  # label, action, disabled, help
        (
            "Start",
            _start,
            not ready or running or (paused and not need_reset),
            "Start a new run with the sidebar's inputs and settings."
            + (
                " While a run is paused, Resume goes on with it; Start is for changes that "
                "need a new run (the paused one is kept in the Gallery)."
                if paused
                else ""
            ),
        ),
        ("Pause", _pause, not running, "Pause: change settings, then resume."),
        ("Resume", _resume, not paused, "Go on, with any changed settings from here."),
        (
            "Step",
            _step,
            not paused,
            f"Advance {live.STEP_EVALS} steps, drawn as they come, and pause again: for "
            "demonstrations.",
        ),
        ("Stop", _stop, run is None or run.finished, "End the run; the result is kept."),
        ("Reset", _reset, run is None, "Discard the run."),
    ]
    for col, (label, action, disabled, tip) in zip(st.columns(len(table)), table, strict=True):
        col.button(
            label,
            type="primary" if label == "Start" else "secondary",
            on_click=action,
            disabled=disabled,
            width="stretch",
            key=f"btn_{label.lower()}",
            help=tip,
        )
    if st.session_state.notice:
        st.warning(st.session_state.notice)
    if paused:
        apply, need_reset = pending_changes(run)
        if apply:
            st.info(
                f"Changed while paused: {_names(apply)}. Resume applies them to the rest "
                "of the run; the loss curves mark the change, and the reproduce command "
                "and the PNG record it."
            )
        if need_reset:
            st.warning(f"{_names(need_reset)} changed: that needs a new run (Start).")
    elif not running:
        _estimate()


def _names(fields: list[str]) -> str:
    """Settings by the names the sidebar shows them under."""
    labels = {
        "beta": "exact β",
        "alpha": "content weight (α)",
        "style_weights": "layer weights",
        "photo": "the photo",
        "paintings": "the paintings",
    }
    return ", ".join(labels.get(f, field_label(f)) for f in fields)


def _estimate() -> None:
    """How long Start would take here, from this machine's measured pace."""
    cfg, model = st.session_state.config, st.session_state.model
    if cfg is None or model is None or not st.session_state.style_names:
        return
    try:
        content = resources.image_by_name(st.session_state.content_name)
    except (KeyError, ImageInputError):
        return
    seconds = run_seconds(resources.pace(model, cfg), cfg, content.size, model.arch)
    worker, lane = resources.stepper(), resources.lane(model)
    busy, waiting = worker.busy(lane), worker.waiting(lane)
    share = ""
    if backend.default() == "local" and busy >= worker.capacity(lane):
        wait = worker.seconds_to_free(lane, live.estimate)
        share = (
            f", once a seat is free ({busy} running, {waiting} waiting: about {live.duration(wait)} "
            "from now)"
        )
    what = "a time budget of" if cfg.time_budget else "about"
    where = "on this machine"
    if backend.default() == "ray":
        where = "at this server's pace"
        share += "; it computes on the Ray cluster, where a run with fewer cores takes longer"
    st.caption(
        f"Start takes {what} {live.duration(seconds)} {where}{share} "
        f"({cfg.steps if not cfg.time_budget else 'as many'} steps at {cfg.size} px)."
    )
