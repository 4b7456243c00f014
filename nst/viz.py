"""Plotly figure builders: data in, go.Figure out. No Streamlit here.

Long histories are downsampled before they are drawn (`downsample`), so a chart sent to a browser
every tick stays small however long the run. Lines are SVG (go.Scatter), not WebGL: at 300 points
SVG is cheap, while WebGL without a GPU (software rendering) took CPU time from the optimization.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from nst.run import Event, Record

MAX_POINTS = 300
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


def downsample(history: list[Record], max_points: int = MAX_POINTS) -> list[Record]:
    """At most `max_points` records, evenly spread, always keeping the first and the last."""
    n = len(history)
    if n <= max_points:
        return list(history)
    idx = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return [history[i] for i in idx]


def _layout(fig: go.Figure, title: str, height: int, log: bool) -> go.Figure:
    # One nested update (no "xaxis_title"-style paths): plotly parses each path anew per call.
    layout = {
        "title": {"text": title, "font": {"size": 14}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"title": {"text": "step"}},
        "uirevision": "keep",  # keep zoom and hidden traces across ticks
    }
    if log:
        layout["yaxis"] = {"type": "log", "exponentformat": "power"}
    fig.update_layout(layout)
    return fig


def _series(values) -> np.ndarray:
    """Chart data as an array: plotly checks a list element by element on every tick."""
    return np.asarray(values, dtype=np.float64)


def _mark_events(fig: go.Figure, events: list[Event]) -> None:
    for e in events:
        fig.add_vline(x=e.step + 0.5, line_dash="dot", line_color="#888")
        label = e.text if len(e.text) < 40 else e.text[:37] + "..."
        fig.add_annotation(
            x=e.step + 0.5,
            y=1,
            yref="paper",
            text=label,
            showarrow=False,
            textangle=-90,
            xanchor="right",
            yanchor="top",
            font={"size": 10, "color": "#666"},
        )


def loss_figure(
    history: list[Record],
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
            y=_series([beta * r.style for r in pts]),
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
    _mark_events(fig, events or [])
    return _layout(fig, "Loss", height, log=True)


def _layer_series(history: list[Record]) -> tuple[list[Record], list[int], list[str]]:
    pts = downsample(history)
    layers = list(dict.fromkeys(n for r in pts for n in r.style_layers))
    return pts, _series([r.step for r in pts]), layers


def layer_figure(
    history: list[Record], beta: float, events: list[Event] | None = None, height: int = 320
) -> go.Figure:
    """Each style layer's weighted term (beta * w_l * E_l) per step, log scale."""
    pts, x, layers = _layer_series(history)
    fig = go.Figure()
    for i, name in enumerate(layers):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_series([beta * r.style_layers.get(name, 0.0) for r in pts]),
                name=name,
                mode="lines",
                line={"color": LAYER_COLORS[i % len(LAYER_COLORS)]},
            )
        )
    _mark_events(fig, events or [])
    return _layout(fig, "Style loss per layer (β·w·E)", height, log=True)


def layer_share_figure(history: list[Record], height: int = 300) -> go.Figure:
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
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return _layout(fig, "Share of the style loss per layer", height, log=False)
