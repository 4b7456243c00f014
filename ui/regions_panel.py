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
from PIL import Image, ImageDraw

from nst.engine.config import STRENGTH_DEFAULT, STRENGTH_RANGE
from nst.engine.regions import FEATHER, MAX_REGIONS, Region, RegionError, RegionMap
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
            stroke_color=_rgba(colour, 0.55),
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
            if drawing is not None:  # nothing painted, or the canvas cleared
                st.session_state.regions = st.session_state._rg_strokes = None
            elif stored is not None:
                _show_stored(stored, photo)
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
            canvas = Canvas(drawing, _digest(labels_of(drawing, COLOURS, size)), _seed(region_map))
    st.session_state._rg_canvas = (key, canvas)
    return canvas


def _seed(region_map: RegionMap) -> tuple:
    """Each stored region's painting and strength, and the feather, put into the region
    widgets; their values as `_values` reads them."""
    paintings = list(st.session_state.style_names)
    strength = float(st.session_state.get("cfg_style_strength", STRENGTH_DEFAULT))
    for label, r in enumerate(region_map.regions, 1):
        keep = r.painting is None or r.painting >= len(paintings)
        st.session_state[f"rg_paint_{label}"] = KEEP if keep else paintings[r.painting]
        st.session_state[f"rg_strength_{label}"] = strength if r.strength is None else r.strength
    st.session_state["rg_feather"] = min(24, region_map.feather)
    return _values(range(1, len(region_map.regions) + 1))


def _values(labels) -> tuple:
    """The region widgets' values for `labels`, and the feather: what a region map is made of."""
    state = st.session_state
    each = tuple((state.get(f"rg_paint_{n}"), state.get(f"rg_strength_{n}")) for n in labels)
    return each, state.get("rg_feather")


def strokes_of(region_map: RegionMap, size: tuple[int, int], band: int = 3) -> dict:
    """Canvas strokes (Fabric.js JSON) that paint `region_map` at `size`: a horizontal stroke
    `band` px wide over each run of one region in each band of rows, region i in brush i's
    colour, so that `labels_of` reads the map back (to within a band at its borders)."""
    w, h = size
    labels = np.array(Image.fromarray(region_map.labels, "L").resize(size, Image.Resampling.NEAREST))
    objects = []
    for top in range(0, h, band):
        y = min(top + band / 2, h - 0.5)
        row = labels[min(int(y), h - 1)]
        edges = np.flatnonzero(np.diff(row)) + 1
        for x0, x1 in zip([0, *edges], [*edges, w], strict=True):
            label = int(row[x0])
            if label == 0:
                continue
            if x1 - x0 >= band:  # round caps reach band/2 past each end
                a, b = x0 + band / 2, x1 - band / 2
            else:
                a = b = (x0 + x1) / 2
            objects.append(
                {
                    "type": "Path",
                    "originX": "center",
                    "originY": "center",
                    "left": (a + b) / 2,
                    "top": y,
                    "fill": None,
                    "stroke": _rgba(COLOURS[(label - 1) % len(COLOURS)], 0.55),
                    "strokeWidth": band,
                    "strokeLineCap": "round",
                    "strokeLineJoin": "round",
                    "path": [["M", a, y], ["L", b, y]],
                }
            )
    return {"version": "6.0.0", "objects": objects}


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
