"""Regions as the canvas draws them: its Fabric.js strokes read as a label image in the order
they were painted (`labels_of`), and a stored label image drawn back as strokes (`strokes_of`),
each region in its brush's colour (`brushes_of`)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from nst.engine.regions import RegionMap

# One colour per region (ColorBrewer's Set1, then two more), drawn half transparent over the photo.
COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#999999"]
ERASER = "#ffffff"  # paints back to the rest of the photo


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)


def rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = _rgb(hex_colour).astype(int)
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
        rgb = _rgb(stroke)
    return int(((np.array([_rgb(b) for b in brushes]) - rgb) ** 2).sum(1).argmin())


def brushes_of(region_map: RegionMap) -> list[int]:
    """Each region's brush (1 for COLOURS[0] ...): the one of its colour (a region painted here),
    else the nearest one not taken (a label image's colours)."""
    own = np.array([_rgb(c) for c in COLOURS])
    taken: list[int] = []
    for r in region_map.regions:
        order = ((own - _rgb(r.colour)) ** 2).sum(1).argsort(kind="stable")
        taken.append(next(int(i) for i in order if i + 1 not in taken) + 1)
    return taken


def strokes_of(region_map: RegionMap, size: tuple[int, int], band: int = 3) -> dict:
    """Canvas strokes (Fabric.js JSON) that paint `region_map` at `size`: a horizontal stroke
    `band` px wide over each run of one region in each band of rows, region i in brush i's
    colour, so that `labels_of` reads the map back (to within a band at its borders)."""
    w, h = size
    colours = [COLOURS[b - 1] for b in brushes_of(region_map)]
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
                    "stroke": rgba(colours[label - 1], 0.55),
                    "strokeWidth": band,
                    "strokeLineCap": "round",
                    "strokeLineJoin": "round",
                    "path": [["M", a, y], ["L", b, y]],
                }
            )
    return {"version": "6.0.0", "objects": objects}
