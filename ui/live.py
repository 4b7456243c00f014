"""The live run: a fragment that hands the session's run to the server's worker and draws it.

The run lives in st.session_state; it optimizes in the server's compute worker
(nst.compute.stepper), never in the page's thread. The fragment ticks (run_every) only while the
run is running or waiting for a seat, and each tick only reads the run and draws it, so a click is
answered at once whatever the load. The Stylize page draws the full view; the entry script draws a
compact strip on every other page, so the run goes on while the user looks elsewhere.
"""

from __future__ import annotations

import io
import os
import time

import streamlit as st

from nst.compute.stepper import lane_of
from nst.engine.contract import LiveRun
from nst.lab.compare import RunSnapshot
from nst.lab.estimate import run_seconds
from nst.lab.viz import layer_figure, loss_figure
from ui import persist, registry, resources, session
from ui.shown import SHOWN_AT, SHOWN_MAX, page_image, shown_png, status_line

# How often the page shows a running run: as often as a person can follow it, and no more. Each
# tick costs the server's Python and the browser's drawing, which on a laptop that runs both
# take cores from the optimization; a redraw of the Plotly curves costs the browser most of all
# (docs/performance.md, "The dashboard's own cost"). A pause, a Step and the end draw everything.
RUN_EVERY = float(os.environ.get("NST_TICK_SECONDS") or 2.0)  # the image and progress line
CHART_EVERY = float(os.environ.get("NST_CHART_SECONDS") or 15.0)  # the loss curves
STEP_EVALS = 10  # what the Step button advances: visible in a demo at any size
PAGE_NICE = 10  # the page's ticks yield the CPU to the compute worker (Linux threads)


def _yield_cpu() -> None:
    """Lower this script thread's CPU priority, so that a tick waits for a core rather than
    taking one from the compute worker's threads (the ticks' work can wait a few ms; an
    evaluation whose thread is preempted stalls every core it runs on). Linux only: a thread's
    nice value is its own there; elsewhere nothing changes."""
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            if os.getpriority(os.PRIO_PROCESS, tid) < PAGE_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, PAGE_NICE)
        except OSError:
            pass


def _tick(ticking: bool) -> None:
    """Hand the run to the server's worker while it should go on (it optimizes there, off this
    thread), and read where it is. Once it has ended or paused, rerun the app to stop ticking."""
    run = session.run()
    if not session.running():
        if run is not None and run.finished and not session.basket().has(run.id):
            resources.learn_pace(st.session_state.model, run, st.session_state._clicked)
            remember(run)  # once (it ended in the worker)
        if ticking and run is not None:
            st.session_state.step_until = None
            st.rerun(scope="app")  # the buttons and the ticking follow the run's end
        return
    worker = resources.stepper()
    worker.want(
        run, persist.recorded(session.meta()), st.session_state.step_until, resources.presence()
    )
    st.session_state.queue_place = worker.place(run)
    for text in worker.said(run):
        resources.say_once(text, toast=True)
    if entry := registry.entry():
        entry.touched = time.monotonic()


def remember(run: LiveRun) -> None:
    """Keep a finished run for the Compare page (once)."""
    basket, meta = session.basket(), session.meta()
    if not basket.has(run.id):
        basket.add(RunSnapshot.of_run(run, meta.content, meta.styles, meta.store_id))


def _end_tick(t0: float) -> None:
    stats = st.session_state.tick_stats
    stats.append(time.perf_counter() - t0)
    del stats[:-50]


def _seat_notice(run: LiveRun) -> None:
    place = st.session_state.get("queue_place", 0)
    if not (place and session.running()):
        return
    worker = resources.stepper()
    seats = worker.capacity(lane_of(run))
    wait = worker.seconds_to_turn(run, estimate)
    st.info(
        f"Waiting for a free seat: number {place} in the queue. This server optimizes {seats} "
        f"run{'s' if seats > 1 else ''} at a time (NST_MAX_RUNS), each at full speed; yours starts "
        f"by itself in about {duration(wait)}.",
        icon=":material/hourglass_top:",
    )


def estimate(run: LiveRun) -> float:
    """Seconds a run that has not started will take, at this machine's measured pace."""
    model = st.session_state.model
    if model is None:
        return 0.0
    return run_seconds(resources.pace(model, run.config), run.config, run.content_src.size, model.arch)


def duration(seconds: float) -> str:
    return f"{max(1, round(seconds))} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _notices(run: LiveRun) -> None:
    """What the page says of the run besides its progress: drawn on the page's reruns (a pause,
    an end, a failure rerun the page), not on every tick."""
    st.caption(f"Computing on {run.location}.")
    store = resources.store()
    if store is not None and store.stopped:
        st.warning(store.stopped, icon=":material/database_off:")
    if run.status == "failed":
        st.error(run.message, icon=":material/error:")
    elif run.status == "paused" and run.message:  # paused by a trouble: what to do
        st.warning(run.message, icon=":material/pause_circle:")


def _view_controls() -> None:
    a, b = st.columns(2)
    a.radio("View", ("output", "before / after"), key="ui_view", horizontal=True)
    b.radio("Shown at", SHOWN_AT, key="ui_shown_at", horizontal=True)
    if st.session_state.get("ui_view") == "before / after":
        st.slider("Photo | output", 0, 100, 50, key="ui_split", label_visibility="collapsed")


def _live_part() -> None:
    """What changes while the run goes, and only that: its progress line, its place in the
    queue, its image."""
    run = session.run()
    if run is None:
        return
    st.progress(run.progress(), text=status_line(run))
    _seat_notice(run)
    shown, (sw, _) = shown_png(run)
    fit = st.session_state.get("ui_shown_at") == SHOWN_AT[2]
    w, h = run.size
    reduced = f", shown at {sw}px wide" if max(w, h) > SHOWN_MAX else ""
    st.image(
        shown,
        caption=f"output after {run.evals} steps ({w}x{h} px{reduced})",
        width="stretch" if fit else sw,
    )


def _inputs(run: LiveRun) -> None:
    meta = session.meta()
    content, *styles = _thumbnails(run)
    st.image(content, caption=f"content: {meta.content}", width=180)
    for name, img in zip(meta.styles, styles, strict=False):
        st.image(img, caption=f"style: {name}", width=180)


def _charts() -> None:
    """The loss curves, drawn by a fragment of their own every CHART_EVERY seconds while the run
    goes (a redraw of two Plotly figures costs the server and the browser far more than the
    image); the figures are made again only when the history has grown."""
    run = session.run()
    if run is None or not run.history:
        return
    cfg = run.config
    key = (run.id, len(run.history), len(run.events), run.beta, cfg.alpha, cfg.tv_weight)
    cached = st.session_state._figures
    if cached is None or cached[0] != key:
        figures = (
            loss_figure(run.history, cfg.alpha, run.beta, cfg.tv_weight, run.events),
            layer_figure(run.history, run.beta, run.events),
        )
        cached = st.session_state._figures = (key, figures)
    c1, c2 = st.columns(2)
    c1.plotly_chart(cached[1][0], width="stretch", key="chart_loss")
    c2.plotly_chart(cached[1][1], width="stretch", key="chart_layers")
    if session.running():
        st.caption(f"The curves are drawn again every {CHART_EVERY:g} s while the run goes.")


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
    """What the page's ticks cost the server: they only read the run and draw it (the worker
    optimizes it elsewhere)."""
    stats = st.session_state.tick_stats[-20:]
    if len(stats) < 3:
        return None
    return (
        f"Last {len(stats)} ticks of this page: {sum(stats) / len(stats) * 1000:.0f} ms each on the "
        "server to read the run and draw it; the optimization runs in the server's worker meanwhile."
    )


def _compact_view() -> None:
    run = session.run()
    if run is None or not (session.running() or run.status == "paused"):
        return
    a, b = st.columns([1, 6])
    a.image(page_image(run), width=90)
    b.progress(run.progress(), text=f"Run: {status_line(run)}")
    if st.session_state.get("queue_place") and session.running():
        b.caption(f"Waiting for a free seat: number {st.session_state.queue_place} in the queue.")


def ticker(full: bool) -> None:
    """Define and call the fragments; they tick only while the run is running: the progress and
    the image every RUN_EVERY seconds (on other pages a compact strip), the curves every
    CHART_EVERY seconds (Stylize only). What does not change while a run goes (the inputs, the
    view's controls, the notices) is drawn outside them, once per page rerun."""
    going = session.running()
    interval = RUN_EVERY if going else None

    @st.fragment(run_every=interval)
    def live() -> None:
        _yield_cpu()
        t0 = time.perf_counter()
        _tick(interval is not None)
        (_live_part if full else _compact_view)()
        _end_tick(t0)

    if not full:
        live()
        return
    run = session.run()
    if run is None:
        st.info("Choose a photo and a style in the sidebar (samples are ready), then press **Start**.")
        return
    _notices(run)
    left, right = st.columns([3, 2])
    with left:
        _view_controls()
        live()
    with right:
        _inputs(run)

    @st.fragment(run_every=CHART_EVERY if going else None)
    def curves() -> None:
        _yield_cpu()
        _charts()

    curves()
