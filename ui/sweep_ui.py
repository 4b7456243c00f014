"""The Sweep page's parts: the axes' widgets, the sweep they describe, its estimate, and the view
of a sweep computed in the background (grid, loss chart, downloads, a cell's way to Stylize or
Compare). The work itself is `nst.lab.sweep`; the run store keeps every cell, so a page that is left
or reloaded loses only its view.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
from PIL import Image

from nst.compute import backend
from nst.compute import sweeper as background
from nst.compute.cluster import ClusterError
from nst.engine.config import Config
from nst.lab import cells, viz
from nst.lab import sweep as sw
from nst.lab.compare import RunSnapshot
from nst.record.store import Store
from ui import resources, session, sidebar

# The fields worth varying, each with values to start from (as parse_vary reads them).
FIELDS = {
    "style_strength": "0..6 lin 7",
    "style_notion": "gram,meancov,patches",
    "beta": "1e-2..1e2 log 5",
    "content_layer": "conv2_2,conv4_2",
    "pooling": "max,avg",
    "init": "content,noise",
    "size": "128,256",
    "tv_weight": "0,1e-4,1e-3",
    "optimizer": "lbfgs,adam",
    "convention": "seed,gatys2016",
    **{f"w:{name}": "0,0.5,1" for name in sidebar.STYLE_LAYERS},
}
NONE = "(none)"
SEED_LOSS_NOTE = (
    "Every cell is judged the same way, so cells compare: its written 8-bit PNG scored by the "
    "seed's objective (α = 1, β = 1e5, the seed's layers and weights, at the cell's size), "
    "whatever settings made it. That is the *seed loss*; a run's own loss uses its own β and "
    "convention, so it reads differently. The content term says how much of the photo's layout "
    "is left (higher: less), the style term how far its Grams are from the painting's."
)
POLL_SECONDS = 1.0
MIN_COLUMNS = 4  # a narrow grid keeps its cells small
SIDEBAR_SIZES = (128, 192, 256, 320, 384, 448, 512, 640, 768, 1024)  # the sidebar's size slider


def _reset_values(i: int) -> None:
    field = st.session_state[f"swp_field_{i}"]
    st.session_state[f"swp_values_{i}"] = FIELDS.get(field, "")


def axis_inputs() -> tuple[list[sw.Axis], str]:
    """Up to two axes from the widgets: (axes, "") or (the axes that parsed, one error line)."""
    defaults = ("style_strength", NONE)
    axes, problems = [], []
    cols = st.columns(2)
    for i, col in enumerate(cols):
        options = list(FIELDS) if i == 0 else [NONE, *FIELDS]
        if f"swp_field_{i}" not in st.session_state:
            st.session_state[f"swp_field_{i}"] = defaults[i]
            st.session_state[f"swp_values_{i}"] = FIELDS.get(defaults[i], "")
        with col:
            field = st.selectbox(
                "Vary" if i == 0 else "and also vary",
                options,
                key=f"swp_field_{i}",
                on_change=_reset_values,
                args=(i,),
                help="A setting of the sidebar's to vary; w:LAYER is one style layer's weight.",
            )
            if field == NONE:
                continue
            text = st.text_input(
                "Values",
                key=f"swp_values_{i}",
                help="V1,V2,... or A..B log N or A..B lin N (e.g. 0..6 lin 7; 1e-2..1e2 log 5 for β).",
            )
        try:
            axes.append(sw.parse_vary(f"{field}={text}"))
        except ValueError as exc:
            problems.append(f"{field}: {exc}")
    return axes, "; ".join(problems)


def inputs(content_name: str, style_names: list[str]) -> tuple[list[cells.Input], list[cells.Input]]:
    """The sidebar's photo and paintings as the sweep takes them (bytes, and size as read)."""

    def one(name: str) -> cells.Input:
        return cells.Input(name, resources.image_bytes(name) or b"", resources.image_by_name(name).size)

    return [one(content_name)], [one(n) for n in style_names]


def build(cfg: Config, axes: list[sw.Axis]) -> tuple[sw.Sweep | None, str]:
    """The sweep over the sidebar's inputs and config (each painting alone: no blend)."""
    names = list(st.session_state.style_names)
    if not names:
        return None, "Choose at least one style image in the sidebar."
    contents, styles = inputs(st.session_state.content_name, names)
    try:
        return sw.Sweep(contents, styles, cfg.replace(style_blend=None), axes), ""
    except ValueError as exc:
        return None, str(exc)


def estimate_line(sweep: sw.Sweep, model, store: Store | None) -> tuple[sw.Estimate, str]:
    pace = resources.pace(model, sweep.base)
    est = sweep.estimate(pace, store, sw.device_name(model.mean.device))
    line = f"**{est.cells} cells**, about **{est.seconds:.0f} s** on this machine"
    line += f" ({est.reused} already computed)"
    if backend.default() == "ray":
        line += "; the cells compute on the Ray cluster (NST_RAY_ADDRESS), several at once"
    return est, line


def start(sweep: sw.Sweep, model, store: Store, est: sw.Estimate) -> None:
    try:
        executor = backend.executor(model=model)
    except ClusterError as exc:
        st.error(f"The sweep could not start: {exc}")
        return
    worker = background.SweepThread(sweep, store, executor, owner=st.session_state.owner, estimate=est)
    worker.start()
    st.session_state.swp_worker = worker
    st.session_state.pop("swp_files", None)


# ---- the view of a sweep --------------------------------------------------------------------


def watch(worker: background.SweepThread) -> None:
    """The grid as it fills: polled every POLL_SECONDS while the worker runs."""

    ticking = worker.running

    @st.fragment(run_every=POLL_SECONDS if ticking else None)
    def view() -> None:
        p = worker.progress()
        _status(worker, p)
        if p.results:
            st.plotly_chart(viz.sweep_figure(worker.sweep, p.results), width="stretch", key="swp_chart")
        _grid(worker.sweep, p.results)
        if ticking and not p.running:
            st.rerun()  # the whole page: stop ticking, show the downloads

    view()
    p = worker.progress()
    if not p.running and p.results:
        _downloads(worker, p.results)


def _status(worker: background.SweepThread, p: background.Progress) -> None:
    if p.error:
        st.error(f"The sweep failed: {p.error}")
    text = f"{p.done}/{p.total} cells"
    if p.running and p.seconds_left is not None:
        text += f" · about {p.seconds_left:.0f} s left"
    elif not p.running and p.done < p.total and not p.error:
        text += " · stopped: Start again to compute the rest (the finished cells are kept)"
    elif not p.running:
        text += " · done"
    st.progress(p.done / p.total if p.total else 1.0, text=text)
    where = worker.executor.where if worker.executor is not None else "this machine"
    caption = f"{worker.sweep.title()} · computing on {where}"
    if p.running and worker.executor is not None and worker.executor.where != "this machine":
        caption += (
            ". Cells start as the cluster's CPUs (or GPUs) free up: a dashboard run holds one "
            "while it lasts, so a busy class slows a sweep down"
        )
    st.caption(caption)
    if p.running and st.button("Stop", key="swp_stop"):
        worker.stop()


def _grid(sweep: sw.Sweep, results) -> None:
    rows, cols = sweep.shape
    by_place = {(r.spec.row, r.spec.col): r for r in results}
    st.caption(SEED_LOSS_NOTE)
    for row in range(rows):
        columns = st.columns(max(cols, MIN_COLUMNS))[:cols]
        for col, column in enumerate(columns):
            with column:
                r = by_place.get((row, col))
                if r is None:
                    st.caption("…")
                    continue
                label = r.spec.label.replace("\n", " · ") or r.spec.style.stem
                caption = f"{label} · seed loss {sw.fmt(r.seed_loss)}"
                st.image(str(r.image), caption=caption, width="stretch")
                st.button(
                    "Open in Stylize",
                    key=f"swp_open_{r.spec.index}",
                    on_click=_open_in_stylize,
                    args=(r,),
                    width="stretch",
                )
                st.button(
                    "Add to Compare",
                    key=f"swp_cmp_{r.spec.index}",
                    on_click=_add_to_compare,
                    args=(r,),
                    width="stretch",
                )


def _open_in_stylize(r: cells.CellResult) -> None:
    """Load the cell's inputs and config into the sidebar (a callback: before its widgets)."""
    cfg = r.spec.config
    if cfg.size not in SIDEBAR_SIZES:
        near = min(SIDEBAR_SIZES, key=lambda s: abs(s - cfg.size))
        st.session_state.swp_said = (
            f"This cell's size, {cfg.size} px, is not one of the sidebar's: Stylize uses {near} px."
        )
        cfg = cfg.replace(size=near)
    sidebar.put_config(cfg)
    st.session_state.content_name = r.spec.content.name
    st.session_state.style_names = [r.spec.style.name]
    st.session_state.swp_goto = "pages/stylize.py"


def _add_to_compare(r: cells.CellResult) -> None:
    store = resources.store()
    try:
        full = store.get_run(r.run_id, None)
        with Image.open(r.image) as im:
            snap = RunSnapshot.of_stored(full, im.convert("RGB"))
    except (AttributeError, KeyError, OSError) as exc:
        st.session_state.swp_said = f"This cell could not be added to Compare: {exc}"
        return
    session.basket().add(snap)
    st.session_state.swp_goto = "pages/compare.py"


def follow() -> None:
    """Go where a cell's button asked (a page switch is a whole-app rerun)."""
    said = st.session_state.get("swp_said")
    if said:
        st.toast(said)
        del st.session_state.swp_said
    goto = st.session_state.pop("swp_goto", None)
    if goto:
        st.switch_page(goto, query_params={"id": st.session_state.owner})


def _downloads(worker: background.SweepThread, results) -> None:
    key = (id(worker), len(results))
    files = st.session_state.get("swp_files")
    if files is None or files[0] != key:
        with tempfile.TemporaryDirectory(prefix="nst-sweep-") as tmp:
            out = sw.write_outputs(worker.sweep, results, tmp)
            files = (key, Path(out.sheet).read_bytes(), Path(out.csv).read_bytes())
        st.session_state.swp_files = files
    left, right = st.columns(2)
    left.download_button(
        "Download the sheet (PNG)",
        files[1],
        "sheet.png",
        "image/png",
        on_click="ignore",
        key="swp_dl_sheet",
        width="stretch",
    )
    right.download_button(
        "Download the results (CSV)",
        files[2],
        "results.csv",
        "text/csv",
        on_click="ignore",
        key="swp_dl_csv",
        width="stretch",
    )
