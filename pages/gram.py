"""Gram matrices: the style statistics the output is pushed to match, layer by layer."""

import numpy as np
import streamlit as st

from nst import explore
from nst.config import SEED_STYLE_WEIGHTS
from nst.viz import gram_distance_figure
from ui import explore_ui as ex
from ui import state

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
cfg = st.session_state.config
weights = dict(cfg.style_weights) if cfg else dict(SEED_STYLE_WEIGHTS)
layers = [n for n, w in weights.items() if w > 0]
srcs = ex.sources()
ex.caption_network()
target_name = "output" if "output" in srcs else "content"

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
    help="variance: channels whose activation varies most in the painting; "
    "energy: the largest diagonal entries G_ii.",
)
style_f = ex.features(srcs["style"], [layer])[layer]
target_f = ex.features(srcs[target_name], [layer])[layer]
idx = explore.top_gram_channels(style_f, k, by)
m = style_f.shape[1] * style_f.shape[2]
gs = explore.gram_np(style_f)[np.ix_(idx, idx)] / m
gt = explore.gram_np(target_f)[np.ix_(idx, idx)] / m
lim = float(max(np.abs(gs).max(), np.abs(gt).max(), 1e-12))
cols = st.columns(3)
cols[0].plotly_chart(
    ex.heatmap(gs, "style image", -lim, lim, "RdBu_r"), width="stretch", key="gm_style"
)
cols[1].plotly_chart(
    ex.heatmap(gt, f"{target_name}", -lim, lim, "RdBu_r"), width="stretch", key="gm_target"
)
cols[2].plotly_chart(
    ex.heatmap(gt - gs, f"{target_name} − style", -lim, lim, "RdBu_r"), width="stretch", key="gm_diff"
)
st.caption(
    f"Entries are G/M (M = {m} positions), all three on one colour scale. Where the "
    "difference is white, the output already has the painting's statistics."
)


@st.fragment(run_every=2.0 if state.running() else None)
def distances() -> None:
    srcs_now = ex.sources()
    tname = "output" if "output" in srcs_now else "content"
    feats_t = ex.features(srcs_now[tname], layers)
    feats_s = ex.features(srcs_now["style"], layers)
    grams = {n: explore.gram_np(feats_s[n]) for n in layers}
    rows = explore.gram_distances(
        {n: weights[n] for n in layers}, feats_t, grams, cfg.convention if cfg else "seed"
    )
    fig = gram_distance_figure(
        [r.layer for r in rows],
        [r.distance for r in rows],
        [r.share for r in rows],
        f"Per layer, {tname} vs style",
    )
    st.plotly_chart(fig, width="stretch", key="gm_bars")
    st.caption(
        "Which layers still differ most from the painting, and which dominate the style loss "
        "(a layer's weight times its distance). Updates while a run goes on."
    )


distances()
