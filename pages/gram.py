"""Gram matrices: the style statistics the output is pushed to match, layer by layer."""

import numpy as np
import streamlit as st

from nst.lab.viz import gram_distance_figure
from ui import explore_ui as ex
from ui import session, state

state.through_entry()

st.title("Gram matrices")
st.caption(
    "A Gram matrix records how often two channels fire together, summed over the whole "
    "image: it keeps textures and colours but forgets where things are. The style loss "
    "is the difference between the output's Gram matrices and the painting's. The layers "
    "are the seed's: convolution outputs before their ReLU, so a channel can be negative and "
    "so can an entry (two channels of opposite sign)."
)
model = st.session_state.model
if model is None:
    st.stop()
v = ex.view()
ex.caption_view(v)
layers = [n for n, w in v.config.style_weights if w > 0]
target_name = v.target_name

c1, c2, c3 = st.columns(3)
layer = c1.selectbox("Style layer", layers, key="gm_layer")
k = c2.slider(
    "Channels shown (top-k)",
    8,
    128,
    32,
    8,
    key="gm_k",
    help="A 512x512 matrix is unreadable; show the k channels that matter most.",
)
by = c3.selectbox(
    "Choose channels by",
    ["variance", "energy"],
    key="gm_by",
    help="variance: channels whose activation varies most in the painting(s); "
    "energy: the largest diagonal entries G_ii of the target.",
)


def numbers(v):
    """Everything this page shows of the view, in one turn on the device (the view keeps it)."""
    return v.grams(layer), v.gram_channels(layer, k, by), v.layer_shares()


(target_gram, image_gram, m), idx, _ = ex.compute(numbers, v)
gs = target_gram[np.ix_(idx, idx)] / m
gt = image_gram[np.ix_(idx, idx)] / m
lim = float(max(np.abs(gs).max(), np.abs(gt).max(), 1e-12))
many = len(v.objective.styles) > 1
style_title = "target: the paintings, blended" if many else "target: the painting"
cols = st.columns(3)
cols[0].plotly_chart(ex.heatmap(gs, style_title, -lim, lim, "RdBu_r"), width="stretch", key="gm_style")
cols[1].plotly_chart(
    ex.heatmap(gt, f"{target_name}", -lim, lim, "RdBu_r"), width="stretch", key="gm_target"
)
cols[2].plotly_chart(
    ex.heatmap(gt - gs, f"{target_name} − target", -lim, lim, "RdBu_r"),
    width="stretch",
    key="gm_diff",
)
st.caption(
    f"Entries are G/M (M = {m} positions), all three on one colour scale. The target is the "
    "Gram matrix the run matches"
    + (" (each painting's, weighted by its blend)" if many else "")
    + ", at the size it optimizes now. Where the difference is white, the "
    f"{target_name} already has the painting's statistics."
)


@st.fragment(run_every=2.0 if session.running() else None)
def distances() -> None:
    now = ex.view()
    rows = v.layer_shares() if now is v else ex.compute(now.layer_shares)  # v: computed above
    fig = gram_distance_figure(
        [r.layer for r in rows],
        [r.distance for r in rows],
        [r.share for r in rows],
        f"Per layer, {now.target_name} vs target",
    )
    st.plotly_chart(fig, width="stretch", key="gm_bars")
    st.caption(
        "Which layers still differ most from the target, and which dominate the style loss "
        "(a layer's weight times its distance, in the run's convention: the shares of the "
        "Stylize page's chart). Updates while a run goes on."
    )


distances()
