"""The sidebar's inputs: the content photo and the paintings, chosen or uploaded, shown small,
each painting's blend weight when there are several."""

from __future__ import annotations

import streamlit as st

from nst import samples
from nst.engine.config import field_help
from nst.engine.image import shape_note
from ui import resources
from ui.uploads import uploader

# Every sidebar widget keeps its value for the session. A page switch made by the script
# (st.switch_page: Gallery -> Compare, Resume, a sweep cell) carries no widget states, and
# Streamlit then drops every widget's value, though the sidebar is drawn on every page: the
# photo, paintings and settings came back as the defaults. Kept, they come back as they were.
KEEP = "session"


def render() -> None:
    """The photo (one, chosen or uploaded) and the paintings (several blend), with thumbnails."""
    uploads = st.session_state.uploads
    added = uploader("Upload a photo", "up_content", multiple=False)
    photos = list(samples.PHOTOS) + [n for n in uploads if n.startswith("upload:")]
    if added:
        st.session_state.content_name = added[-1]
    if st.session_state.content_name not in photos:
        st.session_state.content_name = samples.DEFAULT_PHOTO
    st.selectbox(
        "Content photo",
        photos,
        key="content_name",
        persist_state=KEEP,
        help="The photo whose layout the output keeps.",
    )
    if st.session_state.content_name == "tubingen":
        st.caption("Tübingen, photo: Andreas Praefcke, CC BY 3.0.")
    added = uploader("Upload style images", "up_style", multiple=True)
    styles = list(samples.STYLES) + [n for n in uploads if n.startswith("upload:")]
    if added:  # an upload replaces the styles in use; pick more below to blend them
        st.session_state.style_names = added
    st.multiselect(
        "Style images",
        styles,
        key="style_names",
        persist_state=KEEP,
        help="The paintings whose textures the output takes. An upload replaces the "
        "current choice; pick several here to blend them.",
    )
    names = st.session_state.style_names
    content = resources.image_by_name(st.session_state.content_name)
    cols = st.columns(1 + max(1, len(names)))
    cols[0].image(content, caption="content", width="stretch")
    fit = st.session_state.get("cfg_style_fit", "whole")
    for col, name in zip(cols[1:], names, strict=False):
        col.image(resources.image_by_name(name), caption=name.removeprefix("upload: "), width="stretch")
    for name in names:
        note = shape_note(resources.image_by_name(name).size, content.size, fit)
        if note:
            st.caption(
                f"{name.removeprefix('upload: ')} is {note} (*Painting's shape*, under "
                "Optimization and picture)."
            )
    if len(names) > 1:
        for name in names:
            # its weight in the state, not as the slider's default: put_config sets it too
            st.session_state.setdefault(f"blend_{name}", 1.0)
            st.slider(
                f"Blend: {name.removeprefix('upload: ')}",
                0.0,
                1.0,
                step=0.05,
                key=f"blend_{name}",
                persist_state=KEEP,
                help=field_help("style_blend"),
            )
    if not names:
        st.warning("Choose at least one style image.")
