"""Plotly figure builders: data in, go.Figure out. No Streamlit here.

Long histories are downsampled before they are drawn (`downsample`), so a chart sent to a browser
every tick stays small however long the run. Lines are SVG (go.Scatter), not WebGL: at 300 points
SVG is cheap, while WebGL without a GPU (software rendering) took CPU time from the optimization.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from nst.engine.run import Event, LossRecord
from nst.lab.marks import LEGEND_ROW_PX, mark_events
from nst.lab.sweep import Sweep, fmt

MAX_POINTS = 300
TOP = 40  # px above a chart's plot area, for its title
LAYER_COLORS = [
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
    "#eeca3b",
]


def downsample(history: list[LossRecord], max_points: int = MAX_POINTS) -> list[LossRecord]:
    """At most `max_points` records, evenly spread, always keeping the first and the last."""
    n = len(history)
    if n <= max_points:
        return list(history)
    idx = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return [history[i] for i in idx]


def log_axis(values) -> dict:
    """A readable log axis for `values`: labelled powers of ten (10⁶, 10⁷) over whole decades when
    the data spans one or more, else a few plain numbers (1.2e+6) rather than plotly's default
    of small digits between decades (2 3 4 5) or ten-digit labels."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    axis = {"type": "log", "exponentformat": "power", "hoverformat": ".4~g"}
    if v.size == 0:
        return {**axis, "dtick": 1}
    lo, hi = np.log10(v.min()), np.log10(v.max())
    if hi - lo < 1:
        return {**axis, "tickformat": ".3~g", "nticks": 5}
    a, b = int(np.floor(lo)), int(np.ceil(hi))
    pad = 0.04 * (b - a)  # curves that touch a decade stay visible
    return {**axis, "range": [a - pad, b + pad], "dtick": max(1, -(-(b - a) // 6))}


def share_axis() -> dict:
    """0 to 100 % in quarters."""
    return {"range": [0, 1], "tickformat": ".0%", "dtick": 0.25, "hoverformat": ".1%"}


def _trace_values(fig: go.Figure) -> np.ndarray:
    parts = [np.asarray(t.y, dtype=np.float64) for t in fig.data if t.y is not None]
    return np.concatenate(parts) if parts else np.zeros(0)


def _layout(fig: go.Figure, title: str, height: int, yaxis: dict, top: int = TOP) -> go.Figure:
    # One nested update (no "xaxis_title"-style paths): plotly parses each path anew per call.
    layout = {
        # at the top of the figure, so the change markers above the plot area stay clear of it
        "title": {
            "text": title,
            "font": {"size": 14},
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 8},
        },
        "height": height,
        "margin": {"l": 10, "r": 10, "t": top, "b": 10},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top"},  # below the axis title
        "xaxis": {"title": {"text": "step", "standoff": 4}, "tickformat": "~s", "hoverformat": "d"},
        "yaxis": yaxis,
        "uirevision": "keep",  # keep zoom and hidden traces across ticks
    }
    fig.update_layout(layout)
    return fig


def _series(values) -> np.ndarray:
    """Chart data as an array: plotly checks a list element by element on every tick."""
    return np.asarray(values, dtype=np.float64)


def _steps(history: list[LossRecord], events: list[Event]) -> tuple[float, float]:
    """The steps a chart spans: its records' and its events'."""
    xs = [r.step for r in history[:1] + history[-1:]] + [e.step for e in events]
    return (min(xs), max(xs)) if xs else (0.0, 1.0)


def _loss_layout(
    fig: go.Figure, title: str, height: int, history: list[LossRecord], events: list[Event] | None
) -> go.Figure:
    """A loss chart's log axis (from its curves) and its events marked; the figure grows by
    what the markers and their legend rows take, so the plot keeps its height."""
    axis, events = log_axis(_trace_values(fig)), events or []
    top, rows = mark_events(fig, events, _steps(history, events), TOP)
    return _layout(fig, title, height + top - TOP + LEGEND_ROW_PX * rows, axis, top)


def _beta(record: LossRecord, beta: float) -> float:
    """The β a record was made with (records made before β was recorded: the run's now)."""
    return record.beta if getattr(record, "beta", None) is not None else beta


def loss_figure(
    history: list[LossRecord],
    alpha: float,
    beta: float,
    tv_weight: float = 0.0,
    events: list[Event] | None = None,
    height: int = 320,
) -> go.Figure:
    """Total loss and its weighted parts (alpha*content, beta*style, tv) per step, log scale."""
    pts = downsample(history)
    x = _series([r.step for r in pts])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=_series([r.total for r in pts]),
            name="total",
            mode="lines",
            line={"width": 3, "color": "#222"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=_series([alpha * r.content for r in pts]),
            name="α·content",
            mode="lines",
            line={"color": "#4c78a8"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=_series([_beta(r, beta) * r.style for r in pts]),
            name="β·style",
            mode="lines",
            line={"color": "#e45756"},
        )
    )
    if tv_weight:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_series([tv_weight * r.tv for r in pts]),
                name="tv",
                mode="lines",
                line={"color": "#54a24b"},
            )
        )
    return _loss_layout(fig, "Loss", height, history, events)


def _layer_series(history: list[LossRecord]) -> tuple[list[LossRecord], list[int], list[str]]:
    pts = downsample(history)
    layers = list(dict.fromkeys(n for r in pts for n in r.style_layers))
    return pts, _series([r.step for r in pts]), layers


def layer_figure(
    history: list[LossRecord], beta: float, events: list[Event] | None = None, height: int = 320
) -> go.Figure:
    """Each style layer's weighted term (beta * w_l * E_l) per step, log scale."""
    pts, x, layers = _layer_series(history)
    fig = go.Figure()
    for i, name in enumerate(layers):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_series([_beta(r, beta) * r.style_layers.get(name, 0.0) for r in pts]),
                name=name,
                mode="lines",
                line={"color": LAYER_COLORS[i % len(LAYER_COLORS)]},
            )
        )
    return _loss_layout(fig, "Style loss per layer (β·w·E)", height, history, events)


def layer_share_figure(history: list[LossRecord], height: int = 300) -> go.Figure:
    """Each style layer's share of the style loss over the run, as stacked areas."""
    pts, x, layers = _layer_series(history)
    fig = go.Figure()
    for i, name in enumerate(layers):
        y = _series([r.style_layers.get(name, 0.0) / r.style if r.style > 0 else 0.0 for r in pts])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                stackgroup="share",
                line={"color": LAYER_COLORS[i % len(LAYER_COLORS)]},
            )
        )
    return _layout(fig, "Share of the style loss per layer", height, share_axis())


def gram_distance_figure(
    layers: list[str],
    distances,
    shares,
    title: str,
    distance_name: str = "Gram distance",
    height: int = 320,
) -> go.Figure:
    """Per style layer, the distance under the run's notion of style (bars on a log axis, left)
    beside the layer's share of the style loss (bars on 0-100 %, right)."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=layers,
            y=[float(d) for d in distances],
            name=distance_name,
            marker_color="#4c78a8",
            offsetgroup="a",
        )
    )
    fig.add_trace(
        go.Bar(
            x=layers,
            y=[float(v) for v in shares],
            name="share of style loss",
            marker_color="#e45756",
            yaxis="y2",
            offsetgroup="b",
        )
    )
    fig.update_layout(
        {
            "barmode": "group",
            "height": height,
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
            "title": {"text": title, "font": {"size": 13}},
            "xaxis": {"type": "category"},
            "yaxis": {"title": {"text": "RMS difference / M"}, **log_axis(distances)},
            "yaxis2": {
                "title": {"text": "share"},
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                **share_axis(),
            },
            "legend": {"orientation": "h", "y": -0.15},
        }
    )
    return fig


def channel_bar_figure(
    channels: list[int], values, stat: str, highlight: int | None = None, height: int = 220
) -> go.Figure:
    """One bar per channel, in the order given (most active first), labelled by channel number.

    The axis is categorical: numbers as labels would otherwise make plotly place each bar at its
    channel index on a 0-511 axis, as slivers. The `highlight` channel is drawn in orange."""
    fig = go.Figure(
        go.Bar(
            x=[f"#{c}" for c in channels],
            y=_series(values),
            marker_color=["#f58518" if c == highlight else "#4c78a8" for c in channels],
            hovertemplate="channel %{x}: %{y:.3~g}<extra></extra>",
        )
    )
    fig.update_layout(
        {
            "title": {"text": f"{stat} per shown channel", "font": {"size": 13}},
            "height": height,
            "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
            "xaxis": {"type": "category", "tickangle": -90},
            "yaxis": {"tickformat": ".3~g", "nticks": 5, "rangemode": "tozero"},
            "bargap": 0.15,
        }
    )
    return fig


_BARE_AXIS = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}


def _map_row(fig: go.Figure, maps: dict[str, np.ndarray], hover: str) -> None:
    """Maps as heatmaps in the subplots of one row, on the figure's one colour axis, each
    keeping its aspect ratio, without axes."""
    for i, (name, z) in enumerate(maps.items(), start=1):
        trace = go.Heatmap(
            z=z, coloraxis="coloraxis", name=name, hovertemplate=hover + f"<extra>{name}</extra>"
        )
        fig.add_trace(trace, row=1, col=i)
        fig.update_yaxes(
            autorange="reversed", scaleanchor="x" if i == 1 else f"x{i}", row=1, col=i, **_BARE_AXIS
        )
        fig.update_xaxes(row=1, col=i, **_BARE_AXIS)


def heatmap_row(maps: dict[str, np.ndarray], title: str = "", height: int = 280) -> go.Figure:
    """Maps side by side on one shared colour scale, with one colour bar, each keeping its
    aspect ratio: the same channel in several images, comparable at a glance."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.02)
    lo = min(float(np.min(m)) for m in maps.values())
    hi = max(float(np.max(m)) for m in maps.values())
    _map_row(fig, {n: np.asarray(m) for n, m in maps.items()}, "%{z:.3~g}")
    fig.update_layout(
        {
            "title": {"text": title, "font": {"size": 13}},
            "height": height,
            "margin": {"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
            "coloraxis": {
                "colorscale": "Viridis",
                "cmin": lo,
                "cmax": hi if hi > lo else lo + 1,
                "colorbar": {"thickness": 12, "tickformat": ".3~g", "nticks": 5},
            },
        }
    )
    return fig


# Magma as stops, its darkest "#000004" made "#010005": Streamlit's chart theme uses "#000001" to
# "#000040" as placeholders for its own colours, and drew every zero of a map (a held region)
# in its fourth category colour, a light red, instead of black.
MAGMA = [
    [k / (len(pc.sequential.Magma) - 1), "#010005" if c == "#000004" else c]
    for k, c in enumerate(pc.sequential.Magma)
]


def gradient_figure(maps: dict[str, np.ndarray], height: int = 160) -> go.Figure:
    """Where each loss term pushes the pixels: maps side by side, each scaled to its own
    strongest pixels (99.5th percentile; the terms differ by decades), on one colour scale from
    0 to 1. Low enough that the maps, which keep their aspect, fill it under their titles."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.015)
    scaled = {}
    for name in names:
        z = np.sqrt(np.asarray(maps[name], dtype=np.float64))  # sqrt: faint regions stay visible
        top = float(np.percentile(z, 99.5))  # a few hot pixels must not darken the rest
        scaled[name] = np.clip(z / top, 0, 1) if top > 0 else z
    _map_row(fig, scaled, "%{z:.2f} of its strongest")
    fig.update_annotations(font_size=11)
    fig.update_layout(
        height=height,
        margin={"l": 4, "r": 4, "t": 24, "b": 4},
        coloraxis={
            "colorscale": MAGMA,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {
                "thickness": 10,
                "title": {
                    "text": "√|grad|, of<br>its strongest",
                    "side": "right",
                    "font": {"size": 10},
                },
                "tickvals": [0, 0.5, 1],
            },
        },
    )
    return fig


SWEEP_LOG_FIELDS = {"beta", "tv_weight"}  # varied on a log axis


def sweep_figure(sweep: Sweep, results) -> go.Figure:
    """A sweep's seed loss, content and style loss against the first varied value (a trace per value of
    the second, and per photo x painting); a log axis for the weights."""
    titles = ("seed loss of the PNG", "its content term", "its style term")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles)
    if not sweep.axes:
        return fig
    first = sweep.axes[0]
    groups: dict[str, list] = {}
    for r in sorted(results, key=lambda r: first.values.index(r.spec.values[0][1])):
        others = zip(sweep.axes[1:], r.spec.values[1:], strict=True)
        rest = [f"{a.name}={fmt(v)}" for a, (_, v) in others]
        if len(sweep.contents) * len(sweep.styles) > 1:
            rest.insert(0, f"{r.spec.content.stem} × {r.spec.style.stem}")
        groups.setdefault(", ".join(rest) or "loss", []).append(r)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in first.values)
    for n, (name, rs) in enumerate(groups.items()):
        x = [r.spec.values[0][1] if numeric else fmt(r.spec.values[0][1]) for r in rs]
        for col, attr in enumerate(("seed_loss", "content_loss", "style_loss"), start=1):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[getattr(r, attr) for r in rs],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1 and len(groups) > 1,
                    line={"color": SWEEP_COLOURS[n % len(SWEEP_COLOURS)]},
                ),
                row=1,
                col=col,
            )
    positive = numeric and all(v > 0 for v in first.values)
    log_x = positive and (first.field in SWEEP_LOG_FIELDS or _spread(first.values) >= 100)
    fig.update_xaxes(title_text=first.name, type="log" if log_x else None)
    if not numeric:
        order = [fmt(v) for v in first.values]
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    fig.update_yaxes(type="log")
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


SWEEP_COLOURS = ("#3b5bdb", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#1098ad")


def _spread(values) -> float:
    return max(values) / min(values) if min(values) > 0 else math.inf
