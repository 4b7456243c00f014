"""Regions on the Stylize page: paint over the photo, one colour per region, and give each a
painting of the run, its own strength, or "keep the photo" (nst.engine.regions).

The painted map becomes the config's `regions` (session key "regions"): Start and Resume take it
like any setting, the run keeps it (store, PNG, trace, the reproduce command), and a reload
finds it in the run's config.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
from PIL import Image

from nst.engine.config import STRENGTH_DEFAULT, STRENGTH_RANGE
from nst.engine.regions import MAX_REGIONS, Region, RegionError, RegionMap
from ui import resources

# One colour per region (ColorBrewer's Set1, then two more), drawn half transparent over the photo.
COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999"]
ERASER = "#ffffff"  # paints back to the rest of the photo
CANVAS_SIDE = 480  # px: the canvas's long side on the page
KEEP = "keep the photo"


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def labels_of(image_data: np.ndarray, colours: list[str]) -> np.ndarray:
    """(h, w) labels from the canvas's RGBA strokes: 1 for colours[0] ..., 0 where nothing (or
    the eraser) was painted. Strokes are half transparent, so where two overlap the pixel is a
    mix of their colours, which may lie near a third brush's: each painted pixel goes to the
    nearest of the brushes actually used (those whose own colour appears unmixed)."""
    rgba = image_data.astype(np.int32)
    painted = rgba[..., 3] > 40
    choices = [ERASER, *colours]
    rgb = np.stack([np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)]) for c in choices])
    d = np.abs(rgba[..., None, :3] - rgb[None, None]).max(-1)  # (h, w, brushes)
    used = [k for k in range(len(choices)) if int(((d[..., k] <= 8) & painted).sum()) >= 10]
    if not used:
        return np.zeros(painted.shape, np.uint8)
    nearest = np.array(used)[d[..., used].argmin(-1)].astype(np.uint8)  # 0: the eraser
    nearest[~painted] = 0
    return nearest


def render() -> None:
    """The panel: the brush, the canvas over the photo, each region's painting and strength."""
    here = st.session_state.content_name
    if st.session_state._rg_photo not in (None, here):  # another photo: its regions do not fit
        st.session_state.regions, st.session_state._rg_drawn = None, None
    st.session_state._rg_photo = here
    stored = st.session_state.regions
    with st.expander("Regions: a style per part of the photo", expanded=stored is not None):
        try:
            from streamlit_drawable_canvas import st_canvas
        except ImportError:
            st.info("Painting regions needs `pip install streamlit-drawable-canvas`.")
            return
        photo = resources.image_by_name(st.session_state.content_name)
        scale = CANVAS_SIDE / max(photo.size)
        w, h = max(1, round(photo.width * scale)), max(1, round(photo.height * scale))
        st.caption(
            "Paint over the photo: each colour is a region with its own painting, strength, or "
            "the photo kept. What is left unpainted takes the sidebar's paintings. The eraser "
            "paints back to that; the canvas's toolbar undoes a stroke or clears it all."
        )
        a, b, c = st.columns([2, 1, 1])
        names = [f"Region {i + 1}" for i in range(MAX_REGIONS)] + ["Eraser"]
        brush = a.selectbox("Brush", names, key="rg_brush")
        size = b.slider("Brush size", 4, 80, 28, key="rg_size")
        feather = c.slider("Feather (px)", 0, 24, 6, key="rg_feather")
        colour = ERASER if brush == "Eraser" else COLOURS[names.index(brush)]
        result = st_canvas(
            stroke_color=_rgba(colour, 0.55),
            stroke_width=size,
            background_image=photo.resize((w, h), Image.Resampling.LANCZOS),
            width=w,
            height=h,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"rg_canvas_{here}_{st.session_state._rg_generation}",
        )
        painted = _painted(result, w, h)
        if painted is None:
            if st.session_state._rg_drawn is not None:  # the canvas was cleared
                st.session_state.regions = st.session_state._rg_drawn = None
            elif stored is not None:
                _show_stored(stored, photo)
            return
        st.session_state._rg_drawn = hashlib.sha1(painted.tobytes()).hexdigest()
        _set_regions(painted, photo, feather)


def _painted(result, w: int, h: int) -> np.ndarray | None:
    """The canvas's labels, or None when nothing is painted (or the canvas has not answered)."""
    try:
        data = result.image_data
    except Exception:  # noqa: BLE001 - no drawing sent yet
        return None
    if data is None or data.shape[:2] != (h, w):
        return None
    labels = labels_of(data, COLOURS)
    return labels if labels.any() else None


def _set_regions(labels: np.ndarray, photo: Image.Image, feather: int) -> None:
    """Each painted colour's painting and strength; the session's regions from them."""
    paintings = list(st.session_state.style_names)
    used = sorted(int(v) for v in np.unique(labels) if v)
    regions, relabel = [], np.zeros(MAX_REGIONS + 1, np.uint8)
    for n, label in enumerate(used, 1):
        a, b = st.columns([2, 3])
        choice = a.selectbox(
            f"Region {label}", [*paintings, KEEP], key=f"rg_paint_{label}", help=_COLOUR_HELP
        )
        a.markdown(f"<span style='color:{COLOURS[label - 1]}'>■■■</span>", unsafe_allow_html=True)
        strength = b.slider(
            f"Region {label}'s style strength",
            *STRENGTH_RANGE,
            float(st.session_state.get("cfg_style_strength", STRENGTH_DEFAULT)),
            0.25,
            key=f"rg_strength_{label}",
            disabled=choice == KEEP,
        )
        painting = None if choice == KEEP else paintings.index(choice)
        regions.append(Region(COLOURS[label - 1], painting, None if painting is None else strength))
        relabel[label] = n
    full = Image.fromarray(relabel[labels], "L").resize(photo.size, Image.Resampling.NEAREST)
    try:
        region_map = RegionMap(np.array(full), tuple(regions), feather).checked(len(paintings))
    except RegionError as exc:  # e.g. a region painted too thin to survive the resize
        st.warning(f"Regions not used: {exc}.")
        st.session_state.regions = None
        return
    st.session_state.regions = region_map.to_text()


def _show_stored(text: str, photo: Image.Image) -> None:
    """The run's regions (painted before a reload, or in an earlier session), over the photo."""
    try:
        region_map = RegionMap.from_text(text)
    except RegionError as exc:
        st.warning(f"This run's regions could not be shown: {exc}.")
        return
    st.caption("This run's regions (painting on the canvas replaces them):")
    st.image(overlay(region_map, photo, CANVAS_SIDE))
    if st.button("Remove the regions", key="rg_remove"):
        st.session_state.regions = None
        st.rerun()


def overlay(region_map: RegionMap, photo: Image.Image, side: int) -> Image.Image:
    """The photo with each region's colour laid over it, half transparent."""
    scale = side / max(photo.size)
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    base = photo.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    labels = np.array(Image.fromarray(region_map.labels, "L").resize(size, Image.Resampling.NEAREST))
    colours = np.array(
        [[0, 0, 0]] + [[int(r.colour[i : i + 2], 16) for i in (1, 3, 5)] for r in region_map.regions]
    )
    tint = colours[labels].astype(np.float32)
    out = np.asarray(base, np.float32)
    painted = (labels > 0)[..., None]
    out = np.where(painted, 0.45 * out + 0.55 * tint, out)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


_COLOUR_HELP = "The painting this region takes (from the sidebar's), or the photo kept as it is."
