"""The live run: a fragment that advances the session's run a few steps per tick and draws it.

The run lives in st.session_state; the fragment ticks (run_every) only while it is running, and
each tick spends about TICK_SECONDS optimizing, so a click is answered within a second. The
Stylize page draws the full view; the entry script draws a compact strip on every other page, so
the run goes on while the user looks elsewhere.
"""

from __future__ import annotations

import io
import time

import streamlit as st
from PIL import Image, ImageDraw

from nst.compute import backend
from nst.engine.config import MAX_STEPS
from nst.engine.contract import LiveRun
from nst.lab.compare import RunSnapshot
from nst.lab.viz import layer_figure, loss_figure
from nst.record.store import CHECKPOINT_SECONDS
from ui import persist, registry, session, state

TICK_SECONDS = 0.7  # optimizing time per tick: clicks wait at most this long
RUN_EVERY = 0.1  # seconds between ticks
MAX_STEPS_PER_TICK = 25


STEP_EVALS = 10  # what the Step button advances: visible in a demo at any size


def advance(run: LiveRun, limit: int | None = None) -> float:
    """Step the run for about TICK_SECONDS (at most `limit` steps); returns the optimizing
    seconds spent."""
    before = run.seconds
    recent = run.history[-10:]
    # Seconds per evaluation lately: the first evaluations (warm-up, a coarse scale) would make
    # the ticks short, and each tick's drawing then weighs more.
    if len(recent) >= 2 and recent[-1].seconds > recent[0].seconds:
        per_eval = (recent[-1].seconds - recent[0].seconds) / (len(recent) - 1)
    else:
        per_eval = run.seconds / run.evals if run.evals else None
    n = 1 if per_eval is None else max(1, min(MAX_STEPS_PER_TICK, round(TICK_SECONDS / per_eval)))
    run.step(n if limit is None else max(1, min(n, limit)))
    return run.seconds - before


def _tick() -> None:
    """Advance the run if it should be running and has a seat; checkpoint it when due; at its
    end, save it and rerun the app to stop ticking."""
    run = session.run()
    if not session.running():
        return
    if st.session_state.get("_first_frame") != run.id:
        st.session_state["_first_frame"] = run.id  # draw the start at once; step from the next tick
        return
    seats = state.seats()
    st.session_state.queue_place = seats.ask(run.id)
    if st.session_state.queue_place:
        return
    entry = registry.entry()
    # Two tabs of one identity show the same run: one steps it at a time, the other skips.
    if entry is not None and not entry.lock.acquire(blocking=False):
        return
    try:
        _step_and_save(run, seats)
    finally:
        if entry is not None:
            entry.lock.release()


def _step_and_save(run: LiveRun, seats) -> None:
    meta = session.meta()
    t0 = time.perf_counter()
    until = st.session_state.get("step_until")
    opt = advance(run, None if until is None else until - run.evals)
    st.session_state["_tick_started"] = (t0, opt)
    if until is not None and run.evals >= until and not run.finished:
        run.pause()  # the Step button's steps are done
        st.session_state.step_until = None
        seats.leave(run.id)
        persist.save(run, meta)
        st.rerun(scope="app")
    if run.finished:
        seats.leave(run.id)
        persist.save(run, meta)
        remember(run)
        st.rerun(scope="app")
    persist.save(run, meta, due_only=True)


def remember(run: LiveRun) -> None:
    """Keep a finished run for the Compare page (once)."""
    basket, meta = session.basket(), session.meta()
    if not basket.has(run.id):
        basket.add(RunSnapshot.of_run(run, meta.content, meta.styles, meta.store_id))


def _end_tick() -> None:
    started = st.session_state.pop("_tick_started", None)
    if started:
        t0, opt = started
        stats = st.session_state.tick_stats
        stats.append((opt, time.perf_counter() - t0))
        del stats[:-50]


def status_line(run: LiveRun) -> str:
    eps = run.evals_per_second()
    eta = run.eta_seconds()
    if run.config.time_budget and run.steps == MAX_STEPS:  # the time is the limit
        parts = [f"{run.evals} steps", f"{run.seconds:.0f}/{run.config.time_budget:g} s"]
    else:
        parts = [f"{run.evals}/{run.steps} steps"]
        if run.config.time_budget:
            parts.append(f"{run.seconds:.0f}/{run.config.time_budget:g} s")
    if eps:
        parts.append(f"{eps:.1f} evaluations/s")
    if eta and not run.finished:
        parts.append(f"about {eta:.0f} s left")
    w, h = run.size
    parts.append(f"{w}x{h}")
    parts.append(run.status)
    return " · ".join(parts)


SHOWN_AT = ("actual pixels", "2x, pixels enlarged", "column width")


def _shown(run: LiveRun) -> Image.Image:
    """The output as the view controls ask: alone, or photo | output split at a handle."""
    out = run.image()
    if st.session_state.get("ui_view") == "before / after":
        photo = run.content_src.resize(out.size, Image.Resampling.LANCZOS)
        x = round(out.width * st.session_state.get("ui_split", 50) / 100)
        out = out.copy()
        out.paste(photo.crop((0, 0, x, out.height)), (0, 0))
        ImageDraw.Draw(out).line([(x, 0), (x, out.height)], fill="white", width=2)
    if st.session_state.get("ui_shown_at") == SHOWN_AT[1]:
        out = out.resize((out.width * 2, out.height * 2), Image.Resampling.NEAREST)
    return out


def _seat_notice(run: LiveRun) -> None:
    place = st.session_state.get("queue_place", 0)
    seats = state.seats()
    if place and session.running():
        st.info(
            f"Waiting for a free seat: number {place} in the queue. This server optimizes "
            f"{seats.capacity} run{'s' if seats.capacity > 1 else ''} at a time (NST_MAX_RUNS); "
            "yours starts by itself when a seat frees up.",
            icon=":material/hourglass_top:",
        )
    elif session.running() and seats.busy() > 1 and backend.default() == "local":
        st.caption(
            f"{seats.busy()} runs share this machine right now: each goes at about "
            f"1/{seats.busy()} of its speed alone, and the time left counts that. "
            "An operator can queue runs instead (NST_MAX_RUNS)."
        )


def _full_view() -> None:
    run = session.run()
    if run is None:
        st.info("Choose a photo and a style in the sidebar (samples are ready), then press **Start**.")
        return
    st.progress(run.progress(), text=status_line(run))
    st.caption(f"Computing on {run.location}.")
    _seat_notice(run)
    store = state.store()
    if store is not None and store.stopped:
        st.warning(store.stopped, icon=":material/database_off:")
    if run.status == "failed":
        st.error(run.message, icon=":material/error:")
    elif run.status == "paused" and run.message:  # paused by a trouble: what to do
        st.warning(run.message, icon=":material/pause_circle:")
    left, right = st.columns([3, 2])
    with left:
        a, b = st.columns(2)
        a.radio("View", ("output", "before / after"), key="ui_view", horizontal=True)
        b.radio("Shown at", SHOWN_AT, key="ui_shown_at", horizontal=True)
        if st.session_state.get("ui_view") == "before / after":
            st.slider("Photo | output", 0, 100, 50, key="ui_split", label_visibility="collapsed")
        shown = _shown(run)
        fit = st.session_state.get("ui_shown_at") == SHOWN_AT[2]
        w, h = run.size
        st.image(
            shown,
            caption=f"output after {run.evals} steps ({w}x{h} px)",
            width="stretch" if fit else shown.width,
        )
    with right:
        meta = session.meta()
        content, *styles = _thumbnails(run)
        st.image(content, caption=f"content: {meta.content}", width=180)
        for name, img in zip(meta.styles, styles, strict=False):
            st.image(img, caption=f"style: {name}", width=180)
    if run.history:
        cfg = run.config
        c1, c2 = st.columns(2)
        c1.plotly_chart(
            loss_figure(run.history, cfg.alpha, run.beta, cfg.tv_weight, run.events),
            width="stretch",
            key="chart_loss",
        )
        c2.plotly_chart(
            layer_figure(run.history, run.beta, run.events), width="stretch", key="chart_layers"
        )


def _thumbnails(run: LiveRun) -> list[bytes]:
    """The run's photo and styles as small JPEGs, encoded once per run: st.image would encode
    the full-size sources again on every tick."""
    key = ("thumbs", run.id)
    cached = st.session_state.get("_thumbs")
    if cached is None or cached[0] != key:
        out = []
        for img in (run.content_src, *run.styles_src):
            small = img.copy()
            small.thumbnail((360, 360))
            buf = io.BytesIO()
            small.save(buf, format="JPEG", quality=90)
            out.append(buf.getvalue())
        cached = st.session_state["_thumbs"] = (key, out)
    return cached[1]


def timing_summary() -> str | None:
    """Server-side cost of recent ticks: optimizing vs everything else (drawing, encoding)."""
    stats = st.session_state.tick_stats[-20:]
    if len(stats) < 3:
        return None
    opt = sum(o for o, _ in stats)
    total = sum(t for _, t in stats)
    text = (
        f"Last {len(stats)} ticks: {total / len(stats):.2f} s each on the server, "
        f"{1 - opt / total:.0%} of it outside the optimization (drawing the image and charts, "
        "session state)."
    )
    saved = st.session_state.checkpoint_ms
    if saved:
        ms = sum(saved) / len(saved)
        text += (
            f" A checkpoint to the run store (every {CHECKPOINT_SECONDS:g} s) took {ms:.0f} ms, "
            f"{ms / 1000 / (total / len(stats)):.0%} of its tick."
        )
    return text


def _compact_view() -> None:
    run = session.run()
    if run is None or not (session.running() or run.status == "paused"):
        return
    a, b = st.columns([1, 6])
    a.image(run.image(), width=90)
    b.progress(run.progress(), text=f"Run: {status_line(run)}")
    if st.session_state.get("queue_place") and session.running():
        b.caption(f"Waiting for a free seat: number {st.session_state.queue_place} in the queue.")


def ticker(full: bool) -> None:
    """Define and call the fragment; it ticks only while the run is running."""
    interval = RUN_EVERY if session.running() else None

    @st.fragment(run_every=interval)
    def live() -> None:
        _tick()
        (_full_view if full else _compact_view)()
        _end_tick()

    live()
