"""Feature maps: what each VGG layer responds to, for the photo, the painting and the output."""

import streamlit as st

from nst.lab import explore
from nst.lab.viz import channel_bar_figure, heatmap_row
from ui import explore_ui as ex
from ui import resources

resources.through_entry()

st.title("Feature maps")
st.caption(
    "Each layer turns the image into many channels, each a map of where one learned "
    "pattern occurs. Early layers respond to edges and colours at every pixel; deeper "
    "layers see larger, more abstract parts at lower resolution."
)
model = st.session_state.model
if model is None:
    st.stop()
v = ex.view()
srcs = v.images()
ex.caption_view(v)
c1, c2, c3 = st.columns([1, 1, 1])
source = c1.radio(
    "Image",
    list(srcs),
    horizontal=True,
    key="fm_source",
    help="Look inside the photo, the painting(s) as the run matches them, or the run's current output.",
)
layer = c2.selectbox(
    "Layer",
    model.layer_names,
    index=model.layer_names.index("relu3_1"),
    key="fm_layer",
    help="Every conv, relu and pool layer, by name.",
)
rank = c3.selectbox(
    "Rank channels by",
    ["mean", "max", "std"],
    key="fm_rank",
    help="Most active first: average activation, peak, or spread.",
)
count = st.slider("Channels shown", 4, 64, 16, 4, key="fm_count")

fmap = ex.features(srcs[source], [layer])[layer]
top = explore.top_channels(fmap, count, rank)
st.subheader(f"{layer}: {fmap.shape[0]} channels of {fmap.shape[2]}x{fmap.shape[1]}")
st.image(
    explore.feature_grid(fmap, top, cols=8),
    width="stretch",
    caption=f"The {count} most active channels ({rank}), each scaled to its own range; "
    "white is strong activation.",
)

stats = explore.channel_stats(fmap)
channel = st.selectbox(
    "Channel",
    top,
    key=f"fm_channel_{source}_{layer}_{rank}",  # another image ranks anew: its top channel first
    help="Pick a channel for a large view and its statistics.",
)
left, right = st.columns([3, 2])
left.plotly_chart(
    ex.heatmap(fmap[channel], f"{layer} channel {channel}", height=420), width="stretch", key="fm_big"
)
with right:
    st.metric("Mean activation", f"{stats['mean'][channel]:.3g}")
    st.metric("Peak", f"{stats['max'][channel]:.3g}")
    st.metric("Active positions", f"{stats['active'][channel]:.0%}")
    st.plotly_chart(
        channel_bar_figure(top, stats[rank][top], rank, highlight=channel),
        width="stretch",
        key="fm_bars",
    )

st.subheader(f"Channel {channel} in every image")
st.caption(
    "The same learned pattern found in the photo, the painting and the output: the "
    "output keeps the photo's layout where content layers look, and takes on the "
    "painting's statistics where style layers look. One colour scale for all of them."
)
maps = {name: ex.features(img, [layer])[layer][channel] for name, img in srcs.items()}
st.plotly_chart(heatmap_row(maps), width="stretch", key="fm_side")
