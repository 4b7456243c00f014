"""Stylize: start, pause, resume and export a run; the live view ticks while it runs."""

import streamlit as st

from ui import controls, export_panel, hints, live, regions_panel, resources

resources.through_entry()

st.title("Stylize")
st.caption(
    "The output starts as the photo (by default in the painting's colours); each step moves "
    "its pixels, kept between black and white, so that its VGG features "
    "keep the photo's layout (content loss) while their style statistics take on the "
    "painting's (style loss): the Gram matrices by default, the means and covariances or "
    "the painting's patches as chosen under *What style is*."
)
hints.weights_help()
regions_panel.render()
controls.buttons()
hints.explain_settings()
live.ticker(full=True)
export_panel.render()
