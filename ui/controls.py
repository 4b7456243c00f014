"""Run controls: start, pause, resume, step, stop, reset; and what to do without weights."""

from __future__ import annotations

import streamlit as st

from nst.config import LIVE_FIELDS, field_help
from nst.image import ImageInputError
from nst.model import hub_checkpoint_path
from nst.run import Run
from ui import live, state


def _start() -> None:
    cfg, model = st.session_state.config, st.session_state.model
    names = st.session_state.style_names
    try:
        content = state.image_by_name(st.session_state.content_name)
        styles = [state.image_by_name(n) for n in names]
        run = Run(model, content, styles, cfg)
    except (ValueError, ImageInputError) as exc:
        st.session_state.notice = f"Could not start: {exc}"
        return
    st.session_state.run = run
    st.session_state.run_meta = {"content": st.session_state.content_name, "styles": list(names)}
    st.session_state.notice = ""
    st.session_state.tick_stats = []


def _apply_changes(run: Run) -> bool:
    """Give the paused run the sidebar's settings; False if one needs a new run."""
    cfg = st.session_state.config
    if cfg is None:
        return False
    live_cfg = run.config.replace(**{k: getattr(cfg, k) for k in LIVE_FIELDS})
    if len(run.styles_src) != len(st.session_state.style_names):
        live_cfg = live_cfg.replace(style_blend=run.config.style_blend)
    try:
        run.update(live_cfg)
    except ValueError as exc:
        st.session_state.notice = str(exc)
        return False
    return True


def _pause() -> None:
    if st.session_state.run is not None:
        st.session_state.run.pause()


def _resume() -> None:
    run = st.session_state.run
    if run is not None and _apply_changes(run) and not run.finished:
        run.resume()


def _step() -> None:
    run = st.session_state.run
    if run is not None and _apply_changes(run) and not run.finished:
        live.advance(run)
        if not run.finished:
            run.pause()


def _stop() -> None:
    run = st.session_state.run
    if run is not None:
        run.stop()
        live.remember(run)


def _reset() -> None:
    st.session_state.run = None
    st.session_state.notice = ""


def pending_changes(run: Run) -> tuple[list[str], list[str]]:
    """(settings that will apply on resume, settings that need a reset)."""
    cfg = st.session_state.config
    if cfg is None:
        return [], []
    changed = [k for k, v in cfg.to_dict().items() if v != run.config.to_dict()[k]]
    if len(run.styles_src) != len(st.session_state.style_names):
        changed = [k for k in changed if k != "style_blend"]
    live_ = [k for k in changed if k in LIVE_FIELDS]
    return live_, [k for k in changed if k not in LIVE_FIELDS]


def buttons() -> None:
    run, running = st.session_state.run, state.running()
    ready = (
        st.session_state.model is not None
        and st.session_state.config is not None
        and bool(st.session_state.style_names)
    )
    paused = run is not None and not running and not run.finished
    # label, action, disabled, help
    table = [
        (
            "Start",
            _start,
            not ready or running,
            "Start a new run with the sidebar's inputs and settings.",
        ),
        ("Pause", _pause, not running, "Pause: change settings, then resume."),
        ("Resume", _resume, not paused, "Go on, with any changed settings from here."),
        (
            "Step",
            _step,
            not paused,
            "Advance one tick (a few steps) and pause again: for demonstrations.",
        ),
        ("Stop", _stop, run is None or run.finished, "End the run; the result is kept."),
        ("Reset", _reset, run is None, "Discard the run."),
    ]
    for col, (label, action, disabled, tip) in zip(st.columns(len(table)), table, strict=True):
        col.button(
            label,
            type="primary" if label == "Start" else "secondary",
            on_click=action,
            disabled=disabled,
            width="stretch",
            key=f"btn_{label.lower()}",
            help=tip,
        )
    if st.session_state.notice:
        st.warning(st.session_state.notice)
    if paused:
        apply, need_reset = pending_changes(run)
        if apply:
            st.info(
                f"Changed while paused: {', '.join(apply)}. Resume applies them to the rest "
                "of the run; the loss curves mark the change."
            )
        if need_reset:
            st.warning(f"{', '.join(need_reset)} changed: that needs a new run (Start).")


def weights_help() -> None:
    """When no model could be loaded: say how to provide weights, offer the untrained one."""
    problem = st.session_state.get("model_problem")
    if not problem:
        return
    cfg = st.session_state.config
    st.error(problem, icon=":material/extension_off:")
    folder = hub_checkpoint_path(cfg.model).parent if cfg else "$TORCH_HOME/hub/checkpoints"
    st.markdown(
        f"""**How to provide weights** (any one):
1. Start the app with `NST_WEIGHTS=/path/to/{cfg.model if cfg else "vgg19"}.pth` (a torchvision
   state dict; `NST_MODEL=vgg16` for VGG-16 weights).
2. Type that path into *Network and device → Weights* in the sidebar.
3. Copy torchvision's checkpoint into the cache folder `{folder}`."""
    )
    st.button(
        "Use the untrained network (mechanics only)",
        key="btn_random",
        on_click=lambda: st.session_state.update(cfg_weights="random"),
        help=field_help("weights"),
    )
