"""Layer lab: what each layer contributes, shown rather than told."""

import streamlit as st

from nst.engine.config import CONVENTIONS
from nst.engine.model import layer_table
from nst.lab import explore
from nst.lab.viz import gradient_figure, layer_share_figure
from ui import explore_ui as ex
from ui import resources, session

resources.through_entry()

st.title("Layer lab")
model = st.session_state.model
if model is None:
    st.stop()
v = ex.view()
cfg = v.config
style_weights = {n: w for n, w in cfg.style_weights if w > 0}
ex.caption_view(v)
run = session.run()

tabs = st.tabs(["During the run", "Reconstructions", "Style vs content", "Conventions & names"])

with tabs[0]:
    st.caption(
        "Which style layers carry the style loss as the run goes on, and where in the "
        "picture each layer pushes the pixels."
    )
    if run is not None and run.history:
        st.plotly_chart(layer_share_figure(run.history), width="stretch", key="lab_share")
        if v.regions:
            st.caption("The shares of the run's whole style loss: every region's terms summed.")
    else:
        st.info("Start a run on the Stylize page to see each layer's share over time.")
    seen = ex.region_choice(
        v, "lab_region", "The maps below show the style terms of the region chosen, or all of them."
    )
    whose = "each term of the run's objective"
    if seen.term is not None:
        whose = f"each of {seen.term.name}'s style terms (and the content term)"
    kept = ""
    if v.objective.free is not None:
        kept = " A kept region stays dark: the run holds the photo's pixels there."
    st.caption(
        f"Gradient {whose} sends to the {v.target_name} (192 px): bright "
        "where changing a pixel would change that term most. Each map is scaled to its own "
        f"strongest pixels (its 99.5th percentile); the terms' sizes differ by decades.{kept}"
    )
    grads = ex.compute(seen.gradient_maps)
    st.plotly_chart(gradient_figure(grads), width="stretch", key="lab_grads")

PAPER = (
    "As in the paper: L-BFGS from faint white noise, average pooling, its loss "
    "normalization (whatever the sidebar says)."
)

with tabs[1]:
    st.caption(
        "Gatys et al. 2016, Fig. 1. Top: white noise optimized to match the photo at one "
        "layer: detail fades in deeper layers while the layout stays. Bottom: noise "
        "optimized to match the painting's Gram matrices on growing sets of layers: "
        f"deeper sets add larger structures. {PAPER}"
    )
    arch_layers = set(model.layer_names)
    st.markdown("**Content reconstructions**")
    jobs = [j for j in explore.content_grid_jobs() if j[3]["content_layer"] in arch_layers]
    # 192 px: at 128 px conv5_2 sees a 8x6 grid, too coarse to show what the paper shows.
    ex.grid("content", jobs, 1, len(jobs), 192, 60, "Content reconstructions", pooling="avg")
    st.markdown("**Style reconstructions**")
    ex.grid("style", explore.style_grid_jobs(), 1, 5, 128, 60, "Style reconstructions", pooling="avg")

with tabs[2]:
    st.caption(
        "Gatys et al. 2016, Fig. 3: rows use style layers up to the one named, columns "
        "the style strength (the sidebar's control, calibrated on these images as a run is). "
        "Left, the painting's textures alone; right, the photo's layout comes through. The "
        "paper's columns are α/β from 1e-5 to 1e-2, on its VGG-19 rescaled so every filter's "
        "mean activation is one; a raw α/β does not carry over to other weights, a strength "
        "does. From white noise the photo needs a lower strength to come back than from the "
        f"photo itself. {PAPER}"
    )
    ex.grid(
        "tradeoff",
        explore.tradeoff_jobs(),
        5,
        4,
        128,
        50,
        "Style layers vs style strength",
        pooling="avg",
    )

with tabs[3]:
    st.caption(
        "The same weighting expressed in each loss convention. Conventions scale each "
        "layer by its own size, so one β does not carry over: this is why weights from "
        "another implementation give a different picture."
    )
    c1, c2 = st.columns(2)
    src_conv = c1.selectbox("From convention", list(CONVENTIONS), key="lab_conv")
    size = c2.select_slider("Image size (long side)", [128, 256, 512, 1024], 256, key="lab_size")
    alpha, beta = cfg.alpha, v.objective.beta
    cw, ch = v.objective.content.size  # the photo's own aspect, as a run at this size gets it
    w, h = (size, max(1, round(size * ch / cw))) if cw >= ch else (max(1, round(size * cw / ch)), size)
    rows = []
    for conv in CONVENTIONS:
        out = explore.convert_weights(
            style_weights,
            alpha,
            beta,
            src_conv,
            conv,
            model.arch,
            w,
            h,
            cfg.content_layer,
        )
        rows.append(
            {
                "convention": conv,
                "alpha": f"{out['alpha']:.3g}",
                "beta": f"{out['beta']:.3g}",
                **{f"w {n}": f"{w:.3g}" for n, w in out["style_weights"].items()},
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(
        f"α = {alpha:g}, β = {beta:.3g} in the {src_conv} convention, for the photo at {w}x{h} px."
    )
    st.markdown("**Layer names**")
    st.dataframe(
        [
            {
                "name": t.name,
                "kind": t.kind,
                "torchvision index": t.index,
                "channels": t.channels,
                "downsampling": t.stride,
            }
            for t in layer_table(model.arch)
        ],
        hide_index=True,
        width="stretch",
        height=300,
    )
