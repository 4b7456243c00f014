"""The shared sidebar: inputs, then every setting, generated from `nst.engine.config.Config`.

Each Config field becomes a widget keyed `cfg_<name>` with the field's help text; a few get a
friendlier form (style strength on a log scale, a slider per style layer). `read_config` turns the
widgets back into a Config, so the dashboard and the CLI share one definition.
"""

from __future__ import annotations

import dataclasses
import typing

import streamlit as st

from nst.engine.config import CONTENT_LAYER, MAX_STEPS, SEED_STYLE_WEIGHTS, Config, field_help
from nst.engine.contract import LiveRun
from nst.engine.model import layer_table
from nst.engine.presets import PRESETS, preset
from ui import inputs, resources
from ui.session import RunMeta

SPECIAL = {f.name for f in dataclasses.fields(Config) if f.metadata.get("custom_widget")} - {
    "style_strength"
}
STYLE_LAYERS = [name for name, _ in SEED_STYLE_WEIGHTS]
LIMITS = ("a number of steps", "a number of seconds")  # what ends a run: ui_limit's options
DEFAULT_SECONDS = 30.0
KEEP = inputs.KEEP  # every sidebar widget keeps its value for the session (ui.inputs)


def _key(name: str) -> str:
    return f"cfg_{name}"


def _put(cfg: Config) -> None:
    """Write a Config into the widgets' session resources."""
    for f in dataclasses.fields(Config):
        if f.name in SPECIAL:
            continue
        value = getattr(cfg, f.name)
        if f.name == "time_budget" and value is None:
            value = st.session_state.get(_key(f.name)) or DEFAULT_SECONDS
        if f.name == "steps" and cfg.time_budget and value == MAX_STEPS:
            value = st.session_state.get(_key(f.name)) or Config.steps
        st.session_state[_key(f.name)] = value
    st.session_state["ui_limit"] = LIMITS[1] if cfg.time_budget else LIMITS[0]
    if st.session_state.get("regions") != cfg.regions:  # a run's own regions (ui.regions_panel)
        st.session_state["regions"] = cfg.regions
        st.session_state["_rg_generation"] += 1  # a fresh canvas, drawn with the run's regions
    st.session_state["_rg_photo"] = st.session_state.content_name
    weights = dict(cfg.style_weights)
    for name in STYLE_LAYERS:
        st.session_state[f"sw_{name}"] = float(weights.get(name, 0.0))
    _put_blend(cfg, st.session_state.style_names)


def _put_blend(cfg: Config, names: list[str]) -> None:
    """The blend sliders of `names` set to `cfg.style_blend`, where it gives one weight each. A
    config without blend weights (a preset, one painting) leaves the sliders as they are."""
    if cfg.style_blend is None or len(cfg.style_blend) != len(names):
        return
    for name, weight in zip(names, cfg.style_blend, strict=True):
        st.session_state[f"blend_{name}"] = float(weight)


def put_config(cfg: Config) -> None:
    """Show `cfg` in the sidebar's widgets (a preset, a loaded run, a sweep's cell), its blend
    weights on the paintings chosen now (`style_names`: set them first)."""
    _put(cfg)


def set_up_as(run: LiveRun, meta: RunMeta) -> None:
    """Show a run's own set-up: its photo, paintings (uploads too, from the run's images) and
    settings with their blend weights, so that Start and Resume mean what the run is, not the
    defaults. Before the sidebar is drawn: a reloaded page, or the next script run
    (`set_up_next`)."""
    images = [run.content_src, *run.styles_src]
    for name, image in zip([meta.content, *meta.styles], images, strict=False):
        if name.startswith("upload: "):
            st.session_state.uploads[name] = image
            if name in meta.upload_bytes:
                st.session_state.upload_bytes[name] = meta.upload_bytes[name]
    if meta.content:
        st.session_state.content_name = meta.content
    if meta.styles:
        st.session_state.style_names = list(meta.styles)
    put_config(run.config)


def set_up_next() -> None:
    """Show the session's run's set-up when the sidebar is next drawn: for a run taken up after
    it was drawn in this script run (the Gallery's Resume), as its widgets can't be set then."""
    st.session_state["_set_up_run"] = True


def _apply_preset() -> None:
    cfg = preset(st.session_state["ui_preset"], base=read_config())
    _put(cfg)


def read_config() -> Config:
    """The Config the widgets describe now."""
    values = {}
    for f in dataclasses.fields(Config):
        if f.name in SPECIAL:
            continue
        values[f.name] = (
            st.session_state.get(_key(f.name)) if f.name == "beta" else st.session_state[_key(f.name)]
        )
    if st.session_state.get("ui_limit") == LIMITS[1]:  # the time, whatever the steps
        values["steps"] = MAX_STEPS
        values["time_budget"] = float(values["time_budget"] or DEFAULT_SECONDS)
    else:
        values["time_budget"] = None
    values["style_weights"] = tuple((n, float(st.session_state[f"sw_{n}"])) for n in STYLE_LAYERS)
    names = st.session_state.style_names
    if len(names) > 1:
        values["style_blend"] = tuple(float(st.session_state.get(f"blend_{n}", 1.0)) for n in names)
    values["regions"] = st.session_state.get("regions")  # painted on the Stylize page
    hints = typing.get_type_hints(Config)
    for name in ("size", "steps", "scales", "random_seed"):
        values[name] = int(values[name])
    for name, hint in hints.items():
        if hint is float and name in values:
            values[name] = float(values[name])
    return Config(**values)


def _widget(f: dataclasses.Field, container) -> None:
    meta, key = f.metadata, _key(f.name)
    label = meta.get("label", f.name.replace("_", " ").capitalize())
    if f.name == "content_layer":
        convs = [t.name for t in layer_table(st.session_state[_key("model")]) if t.kind == "conv"]
        if st.session_state[key] not in convs:
            st.session_state[key] = CONTENT_LAYER
        container.selectbox(label, convs, key=key, persist_state=KEEP, help=meta["help"])
    elif "choices" in meta:
        names = meta.get("choice_labels", {})
        container.selectbox(
            label,
            list(meta["choices"]),
            key=key,
            persist_state=KEEP,
            help=meta["help"],
            format_func=lambda v: names.get(v, v),
        )
    elif f.name == "style_strength":
        lo, hi = meta["min"], meta["max"]
        container.slider(
            label,
            float(lo),
            float(hi),
            step=meta["step"],
            key=key,
            persist_state=KEEP,
            help=meta["help"],
            disabled=st.session_state.get(_key("beta")) is not None,
        )
    elif f.name == "size":
        container.select_slider(
            label,
            [128, 192, 256, 320, 384, 448, 512, 640, 768, 1024],
            key=key,
            persist_state=KEEP,
            help=meta["help"],
        )
    elif f.name == "weights":
        container.text_input(label, key=key, persist_state=KEEP, help=meta["help"])
    elif f.type in ("int", int):
        container.number_input(
            label,
            min_value=meta.get("min"),
            max_value=meta.get("max"),
            step=1,
            key=key,
            persist_state=KEEP,
            help=meta["help"],
        )
    else:
        if f.name == "beta":  # empty (None) means "from the strength"; never the minimum, 0
            container.number_input(
                label,
                min_value=0.0,
                value=None,
                format="%g",
                key=key,
                persist_state=KEEP,
                help=meta["help"],
                placeholder="from the style strength",
            )
            return
        container.number_input(
            label,
            min_value=float(meta["min"]) if "min" in meta else None,
            max_value=float(meta["max"]) if "max" in meta else None,
            format="%g",
            key=key,
            persist_state=KEEP,
            help=meta["help"],
        )


def render() -> Config:
    """Draw the sidebar and return the Config it describes."""
    if st.session_state.get("_set_up_run") and st.session_state.get("run") is not None:
        set_up_as(st.session_state.run, st.session_state.run_meta)
    st.session_state["_set_up_run"] = False
    # A new session has no widget values yet (the widgets keep theirs after: KEEP): the
    # strength slider's missing says so, and the widgets are filled.
    if _key("style_strength") not in st.session_state:
        # A reloaded page that took over its live run shows that run's settings, so nothing
        # reads as changed; a new session starts from this machine's defaults.
        run = st.session_state.get("run")
        _put(run.config if run is not None else resources.base_config())
        st.session_state["ui_preset"] = "default"
    with st.sidebar:
        st.subheader("Inputs")
        inputs.render()
        st.subheader("Settings")
        st.selectbox(
            "Preset",
            list(PRESETS),
            key="ui_preset",
            persist_state=KEEP,
            on_change=_apply_preset,
            help="default: fast L-BFGS from the photo. seed: the course project "
            "(Adam, 3000 steps). gatys2016: the paper's settings.",
        )
        fields = {f.name: f for f in dataclasses.fields(Config)}
        _widget(fields["size"], st)
        # Only one of steps and seconds is drawn: the other keeps its value (KEEP).
        limit = st.radio(
            "Stop after",
            LIMITS,
            key="ui_limit",
            persist_state=KEEP,
            horizontal=True,
            help="A step count repeats exactly; a time budget spends that many seconds "
            "(coarse-to-fine: small sizes first) whatever the steps.",
        )
        _widget(fields["steps" if limit == LIMITS[0] else "time_budget"], st)
        _widget(fields["style_strength"], st)
        _widget(fields["style_notion"], st)
        beta = st.session_state.get(_key("beta"))  # an empty number input may leave no key
        run = st.session_state.get("run")
        if beta is None and run is not None and run.history:
            st.caption(
                f"This run's β: {run.beta:.3g} (strength {run.config.style_strength:g} "
                "on its photo and paintings)."
            )
        if beta is not None:
            st.caption(
                f"An exact β = {beta:.4g} (α = {st.session_state[_key('alpha')]:g}) is set under "
                "*Optimization and picture*: it overrides the style strength. Clear it to use "
                "the slider."
            )
        with st.expander("Layers"):
            st.caption(
                "Weight per style layer: shallow layers carry colour and fine grain, "
                "deep layers larger strokes."
            )
            for name in STYLE_LAYERS:
                st.slider(
                    name,
                    0.0,
                    1.0,
                    step=0.05,
                    key=f"sw_{name}",
                    persist_state=KEEP,
                    help=field_help("style_weights"),
                )
            _widget(fields["content_layer"], st)
        groups = {
            "advanced": st.expander("Optimization and picture"),
            "system": st.expander("Network and device"),
        }
        for f in dataclasses.fields(Config):
            if f.name in SPECIAL or f.metadata["group"] == "basic" or f.name == "content_layer":
                continue
            if f.metadata["group"] in groups:
                _widget(f, groups[f.metadata["group"]])
    try:
        return read_config().validated()
    except ValueError as exc:
        st.sidebar.error(str(exc))
        return None
