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
from PIL import Image, ImageDraw

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


def labels_of(drawing: dict | None, colours: list[str], size: tuple[int, int]) -> np.ndarray:
    """(h, w) labels from the canvas's strokes (its Fabric.js JSON), drawn again in the order
    they were painted, each in its brush's label (1 for colours[0] ..., 0 for the eraser), so a
    later stroke covers an earlier one. (The canvas's pixels can't tell: where two
    half-transparent strokes overlap their colours mix, and a mix may look like a third brush.)"""
    labels = Image.new("L", size, 0)
    pen = ImageDraw.Draw(labels)
    brushes = [ERASER, *colours]
    for obj in (drawing or {}).get("objects", []):
        points = [(float(c[-2]), float(c[-1])) for c in obj.get("path") or [] if len(c) >= 3]
        if not points or not obj.get("stroke"):
            continue
        label = _brush(obj["stroke"], brushes)
        # the path is in the canvas's coordinates until the stroke is moved or scaled (edit mode):
        # its centre (left, top) then differs from the points' own, and scaleX/Y apply about it
        xs, ys = [x for x, _ in points], [y for _, y in points]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        sx, sy = float(obj.get("scaleX", 1)), float(obj.get("scaleY", 1))
        left, top = float(obj.get("left", cx)), float(obj.get("top", cy))
        points = [(left + (x - cx) * sx, top + (y - cy) * sy) for x, y in points]
        width = max(1, round(float(obj.get("strokeWidth", 1)) * (sx + sy) / 2))
        pen.line(points, fill=label, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round caps
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=label)
    return np.array(labels)


def _brush(stroke: str, brushes: list[str]) -> int:
    """The label of the brush whose colour a stroke's "rgba(r,g,b,a)" (or "#rrggbb") is."""
    if stroke.startswith("rgb"):
        inside = stroke[stroke.find("(") + 1 : stroke.find(")")]
        rgb = np.array([float(v) for v in inside.split(",")[:3]])
    else:
        rgb = np.array([int(stroke[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    own = np.array([[int(b[i : i + 2], 16) for i in (1, 3, 5)] for b in brushes], dtype=float)
    return int(((own - rgb) ** 2).sum(1).argmin())


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
    labels = labels_of(getattr(result, "json_data", None), COLOURS, (w, h))
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
