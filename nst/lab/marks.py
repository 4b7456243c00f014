"""The events of a run (a setting changed, a new scale) marked on its loss charts, so that a
reader sees what happened where: a numbered dotted line, its words in the hover and the legend,
settings by the names the sidebar gives them. No Streamlit here."""

from __future__ import annotations

import dataclasses
import math

import plotly.graph_objects as go

from nst.engine.config import Config, field_label
from nst.engine.records import Event

SHORT_NAMES = {"beta": "β", "alpha": "α"}  # the sidebar's labels of these are sentences
EVENT_COLOR = "#666"
CLOSE = 0.04  # of the steps shown: markers nearer than this to the last one stand above it
LEVELS = 3  # marker rows above the plot at most
LEVEL_PX = 16
LISTED = 6  # events named in the legend, the newest; the others by their hover
LEGEND_CHARS = 48
LEGEND_ROW_PX = 19


def event_text(text: str) -> str:
    """An event as a person reads it: settings by the sidebar's names and arrows, e.g.
    "style_strength: 4 -> 2; β: 0.5 -> 0.01" as "Style strength: 4 → 2; β: 0.5 → 0.01"."""
    fields = {f.name for f in dataclasses.fields(Config)}
    parts = []
    for part in text.split("; "):
        name, sep, rest = part.partition(": ")
        if sep and name in fields:
            part = f"{SHORT_NAMES.get(name) or field_label(name)}: {rest}"
        parts.append(part.replace(" -> ", " → "))
    return "; ".join(parts)


def mark_events(
    fig: go.Figure, events: list[Event], steps: tuple[float, float], top: int
) -> tuple[int, int]:
    """A dotted line at each event's step, numbered in level text just above the plot area, with
    the whole event in its hover; the newest LISTED named in the legend: "2 Style strength: 4 → 2".
    A marker near the one before stands a row higher, so close changes stay readable. Returns
    the top margin the markers need (from `top`, the chart's own) and the legend rows their
    names take."""
    span = max(steps[1] - steps[0], 1.0)
    last_x, level, levels = -math.inf, 0, 0
    listed = range(max(1, len(events) - LISTED + 1), len(events) + 1)
    for n, e in enumerate(events, start=1):
        x, text = e.step + 0.5, event_text(e.text)
        level = (level + 1) % LEVELS if (x - last_x) / span < CLOSE else 0
        last_x, levels = x, max(levels, level + 1)
        fig.add_vline(x=x, line_dash="dot", line_color="#888")
        fig.add_annotation(
            x=x,
            y=1.0,
            yref="paper",
            yanchor="bottom",
            yshift=level * LEVEL_PX,
            text=str(n),
            textangle=0,
            showarrow=False,
            hovertext=f"step {e.step}: {text}",
            font={"size": 11, "color": EVENT_COLOR},
        )
        if n not in listed:
            continue
        short = text if len(text) <= LEGEND_CHARS else text[: LEGEND_CHARS - 1] + "…"
        fig.add_trace(  # a legend entry only: no points
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=f"{n} {short}",
                line={"dash": "dot", "color": "#888"},
                legendgroup="events",
                legendgrouptitle={"text": "at the dotted lines:"} if n == listed[0] else None,
                hoverinfo="skip",
            )
        )
    return top + LEVEL_PX * levels, len(listed) + 1 if events else 0
