"""Make a print of the session's run: a size on paper and a dpi give the pixels; the plan says the
memory and time it takes here, or why it cannot fit; the command makes it from the stored run
(`python -m nst runs print`), a run of its own that starts from this one's image."""

from __future__ import annotations

import streamlit as st
import torch

from nst.cli.prints import print_pixels
from nst.engine import memory
from nst.engine.contract import LiveRun
from nst.engine.model import fast_bf16
from nst.lab.estimate import run_seconds
from ui import session, state

UNITS = ("cm", "in")


def render(run: LiveRun) -> None:
    with st.expander("Make a print"):
        a, b, c, d = st.columns(4)
        width = a.number_input("Width", 1.0, 500.0, 30.0, 1.0, key="pr_w")
        height = b.number_input("Height", 1.0, 500.0, 20.0, 1.0, key="pr_h")
        unit = c.selectbox("Unit", UNITS, key="pr_unit")
        dpi = d.number_input("dpi", 72, 1200, 300, 10, key="pr_dpi")
        w0, h0 = run.size
        px = print_pixels(f"{width}x{height}{unit}", int(dpi), max(w0, h0) / min(w0, h0))
        w, h = (px, round(px * h0 / w0)) if w0 >= h0 else (round(px * w0 / h0), px)
        if px > 8192:
            st.warning(
                f"{width:g}x{height:g} {unit} at {dpi} dpi is {px} px on the long side; "
                "prints go to 8192 px. Lower the dpi or the size."
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
        seconds = run_seconds(state.pace(model, cfg), cfg.replace(time_budget=None), (w, h), model.arch)
        if plan.tiles > 1:
            seconds *= 1.35 * plan.tiles * plan.tile_pixels / (w * h)
        st.write(
            f"**{w}x{h} px** ({width:g}x{height:g} {unit} at {dpi} dpi): {plan.describe()}; "
            f"about {seconds / 60:.0f} min here for {cfg.steps} steps (or give it a time budget)."
        )
        meta = session.meta()
        if meta.store_id is None:
            st.caption("This run is not in the run store, so the command line cannot print it.")
            return
        st.caption(
            "Make it from the command line: a run of its own, starting from this run's "
            "image with its settings and changes, written as a 16-bit TIFF with the dpi."
        )
        st.code(
            f"python -m nst runs print {meta.store_id} --size {px} --dpi {dpi} -o print.tif",
            language="bash",
        )
