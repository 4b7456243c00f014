"""Shared pieces of the exploration pages: image choice, cached forward passes, grids."""

from __future__ import annotations

import hashlib
import io
import json
import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from nst.engine.config import Config
from nst.lab import explore
from nst.lab.estimate import grid_seconds
from nst.lab.view import View
from nst.samples import DEFAULT_STYLE
from ui import resources, session

GRIDS_KEPT = 24  # finished grids kept for every session (a few MB of thumbnails each at most)


def digest(img: Image.Image) -> str:
    return hashlib.sha1(img.tobytes() + str(img.size).encode()).hexdigest()


@st.cache_resource(max_entries=8, show_spinner=False)
def _inputs_view(
    model_key: str, config_json: str, photo_key: str, painting_keys: tuple, _model, _photo, _paintings
):
    """A view of the sidebar's inputs, shared by sessions with the same inputs (read-only)."""
    cfg = Config.from_dict(json.loads(config_json))
    return resources.on_device(_model, View.of_inputs, _model, cfg, _photo, _paintings)


def view() -> View:
    """What the explore pages look into: the run's own objective where there is a run, else
    the sidebar's settings on its photo and paintings."""
    run = session.run()
    model = st.session_state.model
    if run is not None:  # one view per state of the run: the pages draw it several times
        objective = run.objective_now
        key = (run.id, run.evals, run.size, id(objective) if objective else run.config)
        kept = st.session_state.get("_run_view")
        if kept is None or kept[0] != key:
            kept = (key, resources.on_device(model, View.of_run, run, model))
            st.session_state["_run_view"] = kept
        return kept[1]
    cfg = network()
    content = resources.image_by_name(st.session_state.content_name)
    names = st.session_state.style_names or [DEFAULT_STYLE]
    paintings = [resources.image_by_name(n) for n in names]
    if cfg.style_blend is not None and len(cfg.style_blend) != len(paintings):
        cfg = cfg.replace(style_blend=None)
    return _inputs_view(
        f"{model.arch}:{model.weights_source}",
        cfg.to_json(),
        digest(content),
        tuple(digest(p) for p in paintings),
        model,
        content,
        paintings,
    )


def compute(fn, *args):
    """`fn(*args)` (a view's numbers: `compute(v.grams, layer)`) on the device, in turn with the
    runs there (ui.resources.on_device); a view keeps what it computed, so it is quick again."""
    return resources.on_device(st.session_state.model, fn, *args)


def means_figure(target, image, channels: list[str], target_name: str, image_name: str):
    """Each channel's mean in the painting(s) and in the image, side by side."""
    fig = go.Figure()
    for y, name, colour in ((target, target_name, "#4c78a8"), (image, image_name, "#e45756")):
        fig.add_trace(go.Bar(x=channels, y=[float(v) for v in y], name=name, marker_color=colour))
    fig.update_layout(
        barmode="group",
        height=260,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": "Mean of each channel", "font": {"size": 13}},
        xaxis={"title": "channel", "type": "category"},
    )
    return fig


def caption_view(v: View) -> None:
    """Say whose objective the page shows."""
    cfg = v.config
    st.caption(
        f"Showing {v.origin}: its photo, its paintings as the run matches them, "
        f"{cfg.convention} losses, {cfg.pooling} pooling, β = {v.objective.beta:.3g}."
    )


def region_choice(v: View, key: str, shows: str) -> View:
    """With a style per region, a select box of the run's regions (and all of them together);
    the view looking at the one chosen. `shows`: what the page shows for a region."""
    if not v.regions:
        return v
    everything = "all regions together (the run's style loss)"
    pick = st.selectbox(
        "Region",
        [everything, *v.regions],
        key=key,
        help="This run has a style per region: each region's statistics are taken over its own "
        f"positions and matched to its own painting. {shows}",
    )
    return v.region(None if pick == everything else pick)


@st.cache_data(max_entries=64, show_spinner=False)
def _features(
    model_key: str, img_key: str, layers: tuple[str, ...], pooling: str, _model, _img
) -> dict[str, np.ndarray]:
    return resources.on_device(_model, explore.features, _model, _img, list(layers), pooling)


def network() -> Config:
    """The settings whose network (pooling, losses) the pages look into: the run's where there
    is one, else the sidebar's."""
    run = session.run()
    if run is not None:
        return run.config
    return st.session_state.config or Config()


def features(img: Image.Image, layers: list[str]) -> dict[str, np.ndarray]:
    """Cached per (model, image content, layers, pooling): moving between layers is quick."""
    model = st.session_state.model
    key = f"{model.arch}:{model.weights_source}"
    return _features(key, digest(img), tuple(layers), network().pooling, model, img)


def heatmap(
    z: np.ndarray,
    title: str,
    zmin=None,
    zmax=None,
    colorscale="Viridis",
    height: int = 300,
    x=None,
    y=None,
    showscale: bool = True,
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            zmin=zmin,
            zmax=zmax,
            colorscale=colorscale,
            x=x,
            y=y,
            showscale=showscale,
            colorbar={"thickness": 12, "tickformat": ".3~g", "nticks": 6},
            hovertemplate="%{z:.4~g}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=height,
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
    )
    bare = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    fig.update_yaxes(autorange="reversed", scaleanchor="x", **bare)
    fig.update_xaxes(**bare)
    return fig


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---- reconstruction grids, computed a cell per tick ------------------------------------------


@st.cache_resource(max_entries=1)
def _grid_results() -> dict:
    """Finished grids of every session, by inputs and settings: a demo replays instantly."""
    return {}


def grid(
    name: str,
    jobs: list,
    rows: int,
    cols: int,
    size: int,
    steps: int,
    title: str,
    pooling: str | None = None,
) -> None:
    """A grid of reconstructions: says how long it will take (from this machine's measured
    pace, then from the cells done), fills in as it computes, can be stopped, and can be
    downloaded as one image. `pooling`: the sidebar's unless given."""
    content, style = view().sources()  # as given: the grids use the paper's settings
    model = st.session_state.model
    pooling = pooling or network().pooling
    key = (name, model.arch, model.weights_source, digest(content), digest(style), size, steps, pooling)
    done_all = _grid_results()
    jobs_state = st.session_state.setdefault("grids", {})
    g = jobs_state.get(name)
    if g is None or g["key"] != key:
        g = {"key": key, "cells": list(done_all.get(key, [])), "running": False}
        jobs_state[name] = g
    if not g["running"] and len(done_all.get(key, [])) > len(g["cells"]):
        g["cells"] = list(done_all[key])  # finished meanwhile, in another tab or session
    total = len(jobs)
    left = total - len(g["cells"])
    pace = resources.pace(model, network().replace(pooling=pooling, style_notion="gram"))
    aspect = content.width / content.height
    predicted_left = grid_seconds(pace, model.arch, jobs[len(g["cells"]) :], size, steps, aspect)
    if g.get("spent") and g.get("predicted_done"):  # the pace of this grid's own cells so far
        predicted_left *= g["spent"] / g["predicted_done"]
    a, b, c = st.columns([2, 1, 1])
    a.caption(
        f"{total} images at {size} px, {steps} L-BFGS steps each from white noise: about "
        f"{predicted_left:.0f} s on this machine."
        if left
        else f"{total} images, computed (cached for these inputs and settings)."
    )
    if b.button("Compute", key=f"go_{name}", disabled=g["running"] or not left, width="stretch"):
        g["running"] = True
    if c.button("Stop", key=f"stop_{name}", disabled=not g["running"], width="stretch"):
        g["running"] = False

    @st.fragment(run_every=0.1 if g["running"] else None)
    def fill() -> None:
        if g["running"] and len(g["cells"]) < total:
            row, col, label, kw = jobs[len(g["cells"])]
            t0 = time.perf_counter()
            job = [(row, col, label, kw)]
            cells = explore.run_jobs(model, content, style, job, size, steps, pooling=pooling)
            cell = resources.on_device(model, next, cells)  # in turn with the runs on the device
            g["cells"].append(cell)
            g["spent"] = g.get("spent", 0.0) + time.perf_counter() - t0
            g["predicted_done"] = g.get("predicted_done", 0.0) + grid_seconds(
                pace, model.arch, job, size, steps, aspect
            )
            if len(g["cells"]) == total:
                g["running"] = False
                done_all[key] = list(g["cells"])
                while len(done_all) > GRIDS_KEPT:  # oldest first: dicts keep insertion order
                    done_all.pop(next(iter(done_all)))
                st.rerun(scope="app")
        if g["running"]:
            done = len(g["cells"])
            rate = g["spent"] / g["predicted_done"] if g.get("predicted_done") else 1.0
            rest = rate * grid_seconds(pace, model.arch, jobs[done:], size, steps, aspect)
            st.progress(done / total, text=f"{done}/{total} computed · about {rest:.0f} s left")
        by_pos = {(cl.row, cl.col): cl for cl in g["cells"]}
        for r in range(rows):
            columns = st.columns(cols)
            for col_i in range(cols):
                cl = by_pos.get((r, col_i))
                label = next(j[2] for j in jobs if j[0] == r and j[1] == col_i)
                if cl is not None:
                    columns[col_i].image(cl.image, caption=label, width="stretch")
                else:
                    columns[col_i].caption(f"{label}: waiting")
        # Drawn by the fragment itself, so it shows in the very run that finishes the grid: a
        # button after the fragment needed the full rerun, which a pending tick of this
        # fragment could preempt, leaving no button until the page was opened again.
        if g["cells"] and not g["running"]:
            sheet = explore.grid_sheet(g["cells"], rows, cols, title=title)
            st.download_button(
                "Download this grid (PNG)",
                png(sheet),
                f"{name}_grid.png",
                "image/png",
                on_click="ignore",
                key=f"dl_{name}",
            )

    fill()
