"""Gallery: the runs kept in the run store, to compare, resume, export or delete."""

import streamlit as st

from ui import gallery_ui, resources

resources.through_entry()

st.title("Gallery")
gallery_ui.said()
gallery_ui.render()
