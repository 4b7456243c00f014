"""Make a print of the session's run: a size on paper and a dpi give the pixels; the plan says the
memory and time it takes here, or why it cannot fit; **Make the print** continues the run at that
size from its image, with its settings and changes, as a run of its own (the worker steps it like
any other; `python -m nst runs print` does the same from the command line). A finished print
offers its 16-bit TIFF with the dpi and the sRGB profile."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from nst.cli.prints import begin_print, print_config, print_fit
from nst.engine import memory
from nst.engine.contract import LiveRun
from nst.engine.image import MAX_INPUT_SIDE, ImageInputError, load_image
from nst.engine.model import fast_bf16
from nst.lab.estimate import run_seconds
from nst.record import trace
from ui import controls, resources, session

UNITS = ("cm", "in")
LARGEST = 8192  # px on the long side (nst.engine.config)
DEFAULT_MINUTES = 4.0


def render(run: LiveRun) -> None:
    meta = session.meta()
    if meta.dpi:
        _print_file(run, meta)
        return
    with st.expander("Make a print"):
        a, b, c, d = st.columns(4)
        width = a.number_input("Width", 1.0, 500.0, 30.0, 1.0, key="pr_w")
        height = b.number_input("Height", 1.0, 500.0, 20.0, 1.0, key="pr_h")
        unit = c.selectbox("Unit", UNITS, key="pr_unit")
        dpi = int(d.number_input("dpi", 72, 1200, 300, 10, key="pr_dpi"))
        w0, h0 = run.size
        fit = print_fit(f"{width}x{height}{unit}", dpi, run.size)  # paper turned as the photo is
        px, w, h = fit.long_side, fit.width, fit.height
        if px > LARGEST:
            st.warning(
                f"{width:g}x{height:g} {unit} at {dpi} dpi is {px} px on the long side; "
                f"prints go to {LARGEST} px. Lower the dpi or the size."
            )
            return
        if px <= max(w0, h0):
            st.info(f"That is {w}x{h} px: no larger than this run ({w0}x{h0}); its own image will do.")
            return
        cfg = run.config.replace(size=px)
        device = torch.device(str(run.device))  # a run on a cluster names it as text
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and fast_bf16(device))
        try:
            plan = memory.plan(w, h, "bf16" if bf16 else "fp32", cfg.history, memory.default_limit())
        except memory.MemoryPlanError as exc:
            st.error(str(exc).replace(" (or raise --max-memory)", ""))
            return
        model = st.session_state.model
        seconds = run_seconds(
            resources.pace(model, cfg), cfg.replace(time_budget=None), (w, h), model.arch
        )
        if plan.tiles > 1:
            seconds *= 1.35 * plan.tiles * plan.tile_pixels / (w * h)
        st.write(
            f"**{fit.label()}**: {plan.describe()}; "
            f"about {seconds / 60:.0f} min here for all {cfg.steps} steps."
        )
        left, right = st.columns([1, 2], vertical_alignment="bottom")
        minutes = left.number_input(
            "Time budget (min)",
            0.0,
            600.0,
            default_minutes(seconds),
            1.0,
            key="pr_minutes",
            help=f"0: all {cfg.steps} steps. The print's coarse scales take the first part.",
        )
        right.button(
            "Make the print",
            key="pr_make",
            icon=":material/print:",
            on_click=_make,
            args=(run, px, dpi, minutes, plan),
            help="A run of its own: this run's image, settings and changes, continued at the "
            "print size. It shows here as it goes; Export then offers the 16-bit TIFF.",
        )
        if meta.store_id is not None:
            st.caption("Or from the command line (a stored run of its own, the same way):")
            st.code(
                f"python -m nst runs print {meta.store_id} --size {px} --dpi {dpi} -o print.tif",
                language="bash",
            )


def default_minutes(seconds: float) -> float:
    """The time budget offered for a print estimated at `seconds`: whole minutes, at least one,
    at most DEFAULT_MINUTES; a float, as the input's bounds are (Streamlit refuses a mix)."""
    return float(min(DEFAULT_MINUTES, max(1, round(seconds / 60))))


def _make(run: LiveRun, px: int, dpi: int, minutes: float, plan: memory.Plan) -> None:
    """The Make the print button: the print becomes the session's run (the run it comes from
    stays in the store and the Gallery)."""
    model, meta = st.session_state.model, session.meta()
    side = max(MAX_INPUT_SIDE, px)  # the photo and paintings at the print's own detail
    try:
        content = load_image(
            resources.image_bytes(meta.content) or run.content_src, max_side=side, name=meta.content
        )
        styles = [
            load_image(resources.image_bytes(n) or img, max_side=side, name=n)
            for n, img in zip(meta.styles, run.styles_src, strict=True)
        ]
        # the memory plan's history, as `runs print` takes it (nst.cli.prints.plan_for)
        cfg = print_config(run.config, px, None, minutes * 60 or None).replace(history=plan.history)
    except (ValueError, ImageInputError) as exc:
        st.session_state.notice = f"Could not make the print: {exc}"
        return
    source = f"run {meta.store_id}" if meta.store_id is not None else "this page's run"
    w, h = plan.width, plan.height
    note = f"a print of {source} (its image at step {run.evals}), {w}x{h} px at {dpi} dpi"
    start = run.image()
    # its targets are computed on the device's lane, in turn with the runs optimizing there
    try:
        printed = resources.on_device(
            model, begin_print, model, content, styles, cfg, start, plan, note
        )
    except (ValueError, RuntimeError) as exc:  # torch's out-of-memory error is a RuntimeError
        st.session_state.notice = f"Could not make the print: {exc}"
        return
    controls.begin(printed, meta.content, list(meta.styles))
    session.meta().dpi = dpi


def _print_file(run: LiveRun, meta: session.RunMeta) -> None:
    """A print's own download: the 16-bit TIFF, made when asked (it is large)."""
    w, h = run.size
    worker, lane = resources.stepper(), resources.lane(st.session_state.model)
    facts = trace.of_run(run, meta.content, meta.styles, meta.store_id)
    name = f"{trace.stem(meta.content or 'nst', meta.styles, meta.store_id)}_print.tif"

    def tiff() -> bytes:  # on the device's lane: it reads the run's tensor
        return worker.call(lane, trace.print_of, facts, run, Path(name), meta.dpi)

    st.download_button(
        f"Print (16-bit TIFF, {w}x{h} px, {meta.dpi} dpi)",
        tiff,
        name,
        "image/tiff",
        on_click="ignore",
        icon=":material/print:",
        key="pr_tiff",
    )
    st.caption(
        f"{w / meta.dpi * 2.54:.1f} x {h / meta.dpi * 2.54:.1f} cm ({w / meta.dpi:.1f} x "
        f"{h / meta.dpi:.1f} in) at {meta.dpi} dpi, with the sRGB profile and the run's settings "
        "inside. The TIFF is made when you click (a few seconds)."
    )
