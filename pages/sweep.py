"""Sweep: the sidebar's stylization over a grid of one or two settings, cell by cell."""

import streamlit as st

from ui import resources
from ui import sweep_ui as su

resources.through_entry()
su.follow()

st.title("Sweep")
st.caption(
    "The sidebar's photo, painting(s) and settings, with one or two settings varied over a grid. "
    "Every cell is a run kept in the run store: a sweep run again computes only what is new."
)
cfg, model = st.session_state.config, st.session_state.model
if cfg is None or model is None:
    st.info(st.session_state.get("model_problem") or "Fix the settings in the sidebar first.")
    st.stop()

axes, problem = su.axis_inputs()
worker = st.session_state.get("swp_worker")
running = worker is not None and worker.running
store = resources.store()
if problem:
    st.error(problem)
else:
    sweep, problem = su.build(cfg, axes)
    if problem:
        st.error(problem)
    else:
        est, line = su.estimate_line(sweep, model, store)
        st.markdown(line)
        if store is None:
            st.warning("A sweep keeps its cells in the run store, which could not be opened.")
        elif st.button("Start", type="primary", disabled=running, key="swp_start"):
            su.start(sweep, model, store, est)
            worker = st.session_state.swp_worker

if worker is not None:
    su.watch(worker)
