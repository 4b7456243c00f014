"""Style statistics: what the run's notion of style measures, layer by layer, and the three
notions side by side."""

import numpy as np
import streamlit as st

from nst.engine.config import NOTION_LABELS
from nst.lab import explore
from nst.lab.viz import gram_distance_figure
from ui import explore_ui as ex
from ui import resources, session

resources.through_entry()

st.title("Style statistics")
model = st.session_state.model
if model is None:
    st.stop()
v = ex.view()
WEIGHED = ", the region's, each weighted by its mask"
v = ex.region_choice(
    v,
    "ss_region",
    "The heatmaps show one region (the first when all are chosen); the bars, all of them as "
    "the run's chart records them.",
)
region = v.term.name if v.term is not None else None  # None: all regions (or none)
notion = v.config.style_notion
st.caption(explore.NOTION_NOTES[notion]["what"])
ex.caption_view(v)
layers = [n for n, w in v.config.style_weights if w > 0]
target_name = v.target_name
many = len(v.objective.styles) > 1
style_title = "the paintings, blended" if many else "the painting"

c1, c2, c3 = st.columns(3)
layer = c1.selectbox("Style layer", layers, key="ss_layer")
if notion in ("gram", "meancov"):
    k = c2.slider(
        "Channels shown (top-k)",
        8,
        128,
        32,
        8,
        key="ss_k",
        help="A 512x512 matrix is unreadable; show the k channels that matter most.",
    )
    by = c3.selectbox(
        "Choose channels by",
        ["variance", "energy"],
        key="ss_by",
        help="variance: channels whose activation varies most in the painting(s); "
        "energy: the largest diagonal entries G_ii of the target.",
    )


def _three(target, image, lim: float, what: str) -> None:
    """Target, image and their difference as heatmaps on one colour scale."""
    cols = st.columns(3)
    for col, z, title, key in (
        (cols[0], target, f"{what} of {style_title}", "ss_target"),
        (cols[1], image, f"{what} of the {target_name}", "ss_image"),
        (cols[2], image - target, f"{target_name} − target", "ss_diff"),
    ):
        col.plotly_chart(ex.heatmap(z, title, -lim, lim, "RdBu_r"), width="stretch", key=key)


if notion == "gram":
    (target_gram, image_gram, m), idx = ex.compute(
        lambda: (v.grams(layer), v.gram_channels(layer, k, by))
    )
    gs = target_gram[np.ix_(idx, idx)] / m
    gt = image_gram[np.ix_(idx, idx)] / m
    _three(gs, gt, float(max(np.abs(gs).max(), np.abs(gt).max(), 1e-12)), "Gram")
    st.caption(
        f"Entries are G/M (M = {m:,.0f} positions{WEIGHED if region else ''}), all three on one "
        "colour scale. The target is the "
        "Gram matrix the run matches"
        + (" (each painting's, weighted by its blend)" if many else "")
        + ", at the size it optimizes now. Where the difference is white, the "
        f"{target_name} already has the painting's statistics."
    )
elif notion == "meancov":
    (mean_s, cov_s, mean_t, cov_t), idx = ex.compute(
        lambda: (v.gaussians(layer), v.gram_channels(layer, k, by))
    )
    st.plotly_chart(
        ex.means_figure(mean_s[idx], mean_t[idx], [str(i) for i in idx], style_title, target_name),
        width="stretch",
        key="ss_means",
    )
    cs, ct = cov_s[np.ix_(idx, idx)], cov_t[np.ix_(idx, idx)]
    _three(cs, ct, float(max(np.abs(cs).max(), np.abs(ct).max(), 1e-12)), "Covariance")
    st.caption(
        "Each layer's features as a Gaussian: the mean of every channel (above) and how channels "
        "vary together about it (the covariance, below; a Gram matrix without the means). The "
        "loss is the Wasserstein-2 distance between the two Gaussians: the cost of moving one "
        "cloud of feature vectors onto the other."
    )
else:
    mosaic = ex.compute(v.matches, layer)
    a, b = st.columns(2)
    a.image(v.output or v.objective.content, caption=f"the {target_name}", width="stretch")
    b.image(
        mosaic,
        caption=f"its {layer} patches, each replaced by the piece of {style_title} it matched",
        width="stretch",
    )
    st.caption(
        "Every 3x3 patch of features is matched to the painting's most alike (normalized "
        "cross-correlation) and pulled towards it. Right: the painting's pixels under each "
        "match, put where they were matched; the nearer it looks like the picture on the "
        "left, the better the painting's pieces can rebuild it."
    )


@st.fragment(run_every=2.0 if session.running() else None)
def distances() -> None:
    now = ex.view().region(region)
    rows = v.layer_shares() if now is v else ex.compute(now.layer_shares)  # v: computed above
    fig = gram_distance_figure(
        [r.layer for r in rows],
        [r.distance for r in rows],
        [r.share for r in rows],
        f"Per layer, {now.target_name} vs target",
        explore.NOTION_NOTES[notion]["distance"],
    )
    st.plotly_chart(fig, width="stretch", key="ss_bars")
    st.caption(
        "Which layers still differ most from the target, and which dominate the style loss "
        "(a layer's weight times its distance, in the run's convention: the shares of the "
        "Stylize page's chart). Updates while a run goes on."
    )


distances()

st.subheader("What is style? Three answers")
st.caption(
    "The same photo and painting, the same layers and style strength, from the photo: only what "
    "the loss counts as style differs. Choose one for your run under *What style is* in the "
    "sidebar."
)
ex.grid("notions", explore.notion_jobs(), 1, 3, 192, 40, "Three notions of style")
cols = st.columns(3)
for col, (name, label) in zip(cols, NOTION_LABELS.items(), strict=True):
    col.markdown(f"**{label}**")
    col.caption(explore.NOTION_NOTES[name]["keeps"])
