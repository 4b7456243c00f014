"""Regions on the Stylize page: paint over the photo, one colour per region, and give each a
painting of the run, its own strength, or "keep the photo" (nst.engine.regions).

The painted map becomes the config's `regions` (session key "regions"): Start and Resume take it
like any setting, the run keeps it (store, PNG, trace, the reproduce command), and a reload
finds it in the run's config.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image

from nst.engine.config import STRENGTH_DEFAULT, STRENGTH_RANGE
from nst.engine.regions import FEATHER, MAX_REGIONS, Region, RegionError, RegionMap
from ui import resources
from ui.strokes import COLOURS, ERASER, brushes_of, labels_of, rgba, strokes_of

CANVAS_SIDE = 480  # px: the canvas's long side on the page
KEEP = "keep the photo"


@dataclass(frozen=True)
class Canvas:
    """What a freshly shown canvas is first drawn with: the strokes of the session's regions, a
    digest of the labels they make and the region widgets' values shown with them. While
    neither changes, the regions stay exactly the stored ones."""

    drawing: dict
    digest: str
    values: tuple


def render() -> None:
    """The panel: the brush, the canvas over the photo, each region's painting and strength."""
    here = st.session_state.content_name
    if st.session_state._rg_photo not in (None, here):  # another photo: its regions do not fit
        st.session_state.regions = st.session_state._rg_strokes = None
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
        key = f"rg_canvas_{here}_{st.session_state._rg_generation}"
        first = _first_drawing(key, stored, (w, h))
        a, b, c = st.columns([2, 1, 1])
        names = [f"Region {i + 1}" for i in range(MAX_REGIONS)] + ["Eraser"]
        brush = a.selectbox("Brush", names, key="rg_brush")
        size = b.slider("Brush size", 4, 80, 28, key="rg_size")
        feather = c.slider("Feather (px)", 0, 24, FEATHER, key="rg_feather")
        colour = ERASER if brush == "Eraser" else COLOURS[names.index(brush)]
        result = st_canvas(
            stroke_color=rgba(colour, 0.55),
            stroke_width=size,
            background_image=photo.resize((w, h), Image.Resampling.LANCZOS),
            width=w,
            height=h,
            drawing_mode="freedraw",
            initial_drawing=first.drawing if first else None,
            key=key,
        )
        drawing = getattr(result, "json_data", None)
        if drawing is None and first is not None:
            drawing = first.drawing  # the canvas has not answered yet: it shows its first drawing
        labels = labels_of(drawing, COLOURS, (w, h))
        if not labels.any():
            if stored is not None and first is None:  # stored regions the canvas can't draw
                _show_stored(stored, photo)
            else:  # nothing painted, or the canvas cleared
                st.session_state.regions = st.session_state._rg_strokes = None
            return
        same = first is not None and _digest(labels) == first.digest
        text = _set_regions(labels, photo, feather, first.values if same else None)
        if text is not None:
            st.session_state._rg_strokes = (text, drawing)


def _digest(labels: np.ndarray) -> str:
    return hashlib.sha1(labels.tobytes()).hexdigest()


def _first_drawing(key: str, stored: str | None, size: tuple[int, int]) -> Canvas | None:
    """What the canvas `key` is first drawn with. On its first showing (a page visited again, a
    reload, a run's regions put in place): the strokes of the session's regions (as painted,
    else drawn from the map), with the region widgets set to them; the same while it stays."""
    kept = st.session_state._rg_canvas
    if key in st.session_state and kept is not None and kept[0] == key:
        return kept[1]  # the canvas is on the page already
    canvas = None
    if stored is not None:
        try:
            region_map = RegionMap.from_text(stored)
        except RegionError:
            region_map = None  # shown as it is (_show_stored), with the reason
        if region_map is not None:
            strokes = st.session_state._rg_strokes
            drawing = strokes[1] if strokes and strokes[0] == stored else None
            drawing = drawing or strokes_of(region_map, size)
            drawn = labels_of(drawing, COLOURS, size)
            present = sorted(int(v) for v in np.unique(drawn) if v)
            canvas = Canvas(drawing, _digest(drawn), _seed(region_map, present))
    st.session_state._rg_canvas = (key, canvas)
    return canvas


def _seed(region_map: RegionMap, present: list[int]) -> tuple:
    """Each stored region's painting and strength, and the feather, put into its brush's
    widgets; the values `_values` reads for the brushes `present` on the canvas."""
    paintings = list(st.session_state.style_names)
    strength = float(st.session_state.get("cfg_style_strength", STRENGTH_DEFAULT))
    for brush, r in zip(brushes_of(region_map), region_map.regions, strict=True):
        keep = r.painting is None or r.painting >= len(paintings)
        own = (
            strength
            if r.strength is None
            else min(max(r.strength, STRENGTH_RANGE[0]), STRENGTH_RANGE[1])
        )
        st.session_state[f"rg_paint_{brush}"] = KEEP if keep else paintings[r.painting]
        st.session_state[f"rg_strength_{brush}"] = own
    st.session_state["rg_feather"] = min(24, region_map.feather)
    return _values(present)


def _values(labels) -> tuple:
    """The region widgets' values for `labels`, the feather and the paintings they name: what
    a region map is made of."""
    state = st.session_state
    each = tuple((state.get(f"rg_paint_{n}"), state.get(f"rg_strength_{n}")) for n in labels)
    return each, state.get("rg_feather"), tuple(state.style_names)


def _set_regions(
    labels: np.ndarray, photo: Image.Image, feather: int, first: tuple | None
) -> str | None:
    """Each painted colour's painting and strength; the session's regions from them (the
    stored ones, exactly, while the widgets hold the values `first` was shown with)."""
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
    if first is not None and _values(used) == first and st.session_state.regions is not None:
        return st.session_state.regions  # as first shown: the stored regions, exactly
    full = Image.fromarray(relabel[labels], "L").resize(photo.size, Image.Resampling.NEAREST)
    try:
        region_map = RegionMap(np.array(full), tuple(regions), feather).checked(len(paintings))
    except RegionError as exc:  # e.g. a region painted too thin to survive the resize
        st.warning(f"Regions not used: {exc}.")
        st.session_state.regions = None
        return None
    st.session_state.regions = region_map.to_text()
    return st.session_state.regions


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
