"""Streamlit helpers of the dashboard (the engine, `nst/`, never imports Streamlit)."""
