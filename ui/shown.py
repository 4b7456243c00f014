"""A run as the page shows it: its progress line and its image (the view controls' way)."""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image, ImageDraw

from nst.engine.config import MAX_STEPS
from nst.engine.contract import LiveRun


def status_line(run: LiveRun) -> str:
    eps = run.evals_per_second()
    eta = run.eta_seconds()
    if run.config.time_budget and run.steps == MAX_STEPS:  # the time is the limit
        parts = [f"{run.evals} steps", f"{run.seconds:.0f}/{run.config.time_budget:g} s"]
    else:
        parts = [f"{run.evals}/{run.steps} steps"]
        if run.config.time_budget:
            parts.append(f"{run.seconds:.0f}/{run.config.time_budget:g} s")
    if eps:
        parts.append(f"{eps:.1f} evaluations/s")
    if eta and not run.finished:
        parts.append(f"about {eta:.0f} s left")
    w, h = run.size
    parts.append(f"{w}x{h}")
    parts.append(run.status)
    return " · ".join(parts)


SHOWN_AT = ("actual pixels", "2x, pixels enlarged", "column width")


SHOWN_MAX = 1600  # px: a print is shown reduced to this on the page (its file has every pixel)


def page_image(run: LiveRun) -> Image.Image:
    """The run's image as the page shows it: a print's reduced to SHOWN_MAX, made once per
    step (a tick would otherwise send every pixel of it to the browser)."""
    key = (run.id, run.evals, run.status, run.size, run.config.preserve_color)
    cached = st.session_state._page_image
    if cached is None or cached[0] != key:
        img = run.image()
        if max(img.size) > SHOWN_MAX:
            img.thumbnail((SHOWN_MAX, SHOWN_MAX), Image.Resampling.LANCZOS)
        cached = st.session_state._page_image = (key, img)
    return cached[1]


def _shown(run: LiveRun) -> Image.Image:
    """The output as the view controls ask: alone, or photo | output split at a handle."""
    out = page_image(run)
    if st.session_state.get("ui_view") == "before / after":
        photo = run.content_src.resize(out.size, Image.Resampling.LANCZOS)
        x = round(out.width * st.session_state.get("ui_split", 50) / 100)
        out = out.copy()
        out.paste(photo.crop((0, 0, x, out.height)), (0, 0))
        ImageDraw.Draw(out).line([(x, 0), (x, out.height)], fill="white", width=2)
    if st.session_state.get("ui_shown_at") == SHOWN_AT[1]:
        out = out.resize((out.width * 2, out.height * 2), Image.Resampling.NEAREST)
    return out


def shown_png(run: LiveRun) -> tuple[bytes, tuple[int, int]]:
    """The shown image as PNG bytes and its size, encoded once per step and view: a tick that
    finds no new step sends the same bytes (the same media file), which the browser keeps."""
    view = (st.session_state.get("ui_view"), st.session_state.get("ui_split"))
    key = (run.id, run.evals, run.status, run.size, view, st.session_state.get("ui_shown_at"))
    cached = st.session_state._shown_png
    if cached is None or cached[0] != key:
        img = _shown(run)
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)  # fast; lossless, as the file
        cached = st.session_state._shown_png = (key, buf.getvalue(), img.size)
    return cached[1], cached[2]
