"""nst dashboard: page setup, the shared sidebar, navigation, and the run's ticker."""

from pathlib import Path

import streamlit as st
from PIL import Image

from nst.compute import backend, cluster
from ui import live, registry, resources, session, sidebar

# A local icon: an emoji or Material icon would be fetched from a font server (offline: none).
ICON = Image.open(Path(__file__).parent / "ui" / "icon.png")
st.set_page_config(page_title="nst: style transfer lab", page_icon=ICON, layout="wide")
session.init()
resources.release_memory()
resources.identify()  # before anything else reads the identity
registry.attach()
if (store := resources.store()) is not None:
    for notice in store.notices:
        resources.say_once(notice)

stylize = st.Page("pages/stylize.py", title="Stylize", icon=":material/brush:", default=True)
pg = st.navigation(
    {
        "Make": [
            stylize,
            st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
            st.Page("pages/sweep.py", title="Sweep", icon=":material/grid_on:"),
        ],
        "Look inside": [
            st.Page("pages/features.py", title="Feature maps", icon=":material/grid_view:"),
            st.Page("pages/style.py", title="Style statistics", icon=":material/blur_on:"),
            st.Page("pages/lab.py", title="Layer lab", icon=":material/science:"),
        ],
    }
)

cfg = sidebar.render()
st.session_state.config = cfg
model, problem = resources.get_model(cfg) if cfg else (None, "")
st.session_state.model = model
st.session_state.model_problem = problem
if model is not None and model.is_random:
    st.warning(
        "Untrained network in use: the pictures show the mechanics only, not real style "
        "transfer. Provide ImageNet weights for real results.",
        icon=":material/science:",
    )
if model is not None:
    st.sidebar.caption(f"Device: **{model.mean.device}** · {model.arch} · {model.weights_source}")
    if backend.default() == "ray":
        st.sidebar.caption(f"Runs and sweeps compute on the Ray cluster at **{cluster.address()}**.")

if pg is not stylize:
    live.ticker(full=False)
pg.run()
