"""Run controls: start, pause, resume, step, stop, reset; and what to do without weights."""

from __future__ import annotations

import streamlit as st

from nst.compute import backend
from nst.compute.cluster import ClusterError
from nst.engine.config import LIVE_FIELDS, field_help, field_label
from nst.engine.image import ImageInputError
from nst.engine.model import hub_checkpoint_path
from nst.engine.run import Run
from nst.lab.estimate import run_seconds
from ui import live, persist, registry, sidebar, state


def _widgets_config():
    """The settings as the widgets hold them now. A callback runs before the script, so
    `session_state.config` is the previous run's: a number typed and not yet confirmed with
    Enter (the click on Start confirms it) would be missed."""
    try:
        return sidebar.read_config().validated()
    except (ValueError, KeyError):
        return st.session_state.config


def _start() -> None:
    cfg, model = _widgets_config(), st.session_state.model
    if cfg is None:
        return
    names = st.session_state.style_names
    try:
        content = state.image_by_name(st.session_state.content_name)
        styles = [state.image_by_name(n) for n in names]
        _end_replaced()  # first: on a cluster, the old run's place is the new one's
        run = backend.new_run(model, content, styles, cfg)
    except (ValueError, ImageInputError, ClusterError) as exc:
        st.session_state.notice = f"Could not start: {exc}"
        return
    begin(run, st.session_state.content_name, list(names))


def begin(run: Run, content: str, styles: list[str], store_id: int | None = None) -> None:
    """Make `run` the session's run, registered for reloads and kept in the store (a new stored
    run unless `store_id`, a stored run it goes on with). A paused run it replaces ends as
    stopped."""
    _end_replaced()
    if store_id is None:
        store_id = persist.begin(run, content, styles)
    meta = state.RunMeta(content, list(styles), store_id)
    st.session_state.run = run
    st.session_state.run_meta = meta
    st.session_state.notice = ""
    st.session_state.tick_stats = []
    st.session_state.checkpoint_ms = []
    registry.register(run, meta)


def _end_replaced() -> None:
    old = st.session_state.run
    if old is not None and not old.finished:
        state.seats().leave(old.id)
        old.stop()
        persist.save(old, state.meta())
    if old is not None:
        old.close()  # a run on a cluster frees its place there


def _apply_changes(run: Run) -> bool:
    """Give the paused run the sidebar's settings; False if one needs a new run."""
    cfg = _widgets_config()
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
    run = st.session_state.run
    if run is not None:
        run.pause()
        state.seats().leave(run.id)
        persist.save(run, state.meta())
    st.session_state.step_until = None


def _resume() -> None:
    run = st.session_state.run
    if run is not None and _apply_changes(run) and not run.finished:
        run.resume()
        _keep_live(run)


def _keep_live(run: Run) -> None:
    """Going on: in the store as running, and in the registry (it may have let go of a run
    paused for long)."""
    persist.save(run, state.meta(), image=False)
    if registry.entry() is None:
        registry.register(run, state.meta())


def _step() -> None:
    """Go on for STEP_EVALS steps, drawn as they come, then pause again."""
    run = st.session_state.run
    if run is not None and _apply_changes(run) and not run.finished:
        st.session_state.step_until = run.evals + live.STEP_EVALS
        run.resume()
        _keep_live(run)


def _stop() -> None:
    run = st.session_state.run
    if run is not None:
        run.stop()
        state.seats().leave(run.id)
        persist.save(run, state.meta())
        live.remember(run)


def _reset() -> None:
    """Discard the session's run; a live one ends as stopped in the store (the Gallery keeps it)."""
    run = st.session_state.run
    if run is not None:
        _end_replaced()
        registry.unregister(run)
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
    need_new = [k for k in changed if k not in LIVE_FIELDS]
    meta = state.meta()
    if meta.content and meta.content != st.session_state.content_name:
        need_new.append("photo")
    if meta.styles and list(meta.styles) != list(st.session_state.style_names):
        need_new.append("paintings")
    return live_, need_new


def buttons() -> None:
    run, running = st.session_state.run, state.running()
    ready = (
        st.session_state.model is not None
        and st.session_state.config is not None
        and bool(st.session_state.style_names)
    )
    paused = run is not None and not running and not run.finished
    # A paused run goes on with Resume; Start is for a change it can't take (a new size,
    # photo, start...), so a stray click does not replace the run being taught with.
    need_reset = pending_changes(run)[1] if paused else []
    table = [  # label, action, disabled, help
        (
            "Start",
            _start,
            not ready or running or (paused and not need_reset),
            "Start a new run with the sidebar's inputs and settings."
            + (
                " While a run is paused, Resume goes on with it; Start is for changes that "
                "need a new run (the paused one is kept in the Gallery)."
                if paused
                else ""
            ),
        ),
        ("Pause", _pause, not running, "Pause: change settings, then resume."),
        ("Resume", _resume, not paused, "Go on, with any changed settings from here."),
        (
            "Step",
            _step,
            not paused,
            f"Advance {live.STEP_EVALS} steps, drawn as they come, and pause again: for "
            "demonstrations.",
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
                f"Changed while paused: {_names(apply)}. Resume applies them to the rest "
                "of the run; the loss curves mark the change, and the reproduce command "
                "and the PNG record it."
            )
        if need_reset:
            st.warning(f"{_names(need_reset)} changed: that needs a new run (Start).")
    elif not running:
        _estimate()


def _names(fields: list[str]) -> str:
    """Settings by the names the sidebar shows them under."""
    labels = {
        "beta": "exact β",
        "alpha": "content weight (α)",
        "style_weights": "layer weights",
        "photo": "the photo",
        "paintings": "the paintings",
    }
    return ", ".join(labels.get(f, field_label(f)) for f in fields)


def _estimate() -> None:
    """How long Start would take here, from this machine's measured pace."""
    cfg, model = st.session_state.config, st.session_state.model
    if cfg is None or model is None or not st.session_state.style_names:
        return
    try:
        content = state.image_by_name(st.session_state.content_name)
    except (KeyError, ImageInputError):
        return
    seconds = run_seconds(state.pace(model, cfg), cfg, content.size, model.arch)
    seats = state.seats()
    busy = seats.busy()
    share = ""
    if seats.capacity and busy >= seats.capacity:
        share = f" once a seat is free ({busy} running, {seats.waiting()} waiting)"
    elif busy and model.mean.device.type == "cpu" and backend.default() == "local":
        seconds *= busy + 1
        share = f", shared with {busy} other run{'s' if busy > 1 else ''} now"
    what = "a time budget of" if cfg.time_budget else "about"
    where = "on this machine"
    if backend.default() == "ray":
        where = "at this server's pace"
        share += "; it computes on the Ray cluster, where a run with fewer cores takes longer"
    st.caption(
        f"Start takes {what} {_duration(seconds)} {where}{share} "
        f"({cfg.steps if not cfg.time_budget else 'as many'} steps at {cfg.size} px)."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.1f} min"


def explain_settings() -> None:
    """What β and the layer weights do to the picture, for the class."""
    with st.expander("What the settings do to the picture"):
        st.markdown(
            """- **Style strength** (0 to 6): how far the picture goes from the photo to the
  painting. 0: the photo in the painting's colours. 6: the painting's strokes everywhere, and more
  style would change nothing. Each step of 1 is ten times the style weight β, counted from this
  run's own balance (the painting's distance from the photo's layout against the photo's distance
  from the painting's style), so a value means the same for any photo, painting and size.
- **Layer weights**: which sizes of texture the painting gives. `conv1_1` and `conv2_1` carry
  colour and fine grain; `conv3_1` small strokes; `conv4_1` and `conv5_1` large strokes and
  swirls. Set a layer to 0 to remove its textures (the Layer lab shows each layer alone).
- **Content layer**: where the photo's layout is kept. `conv4_2` (the paper's) keeps the shapes
  and lets the details go; a shallow one such as `conv2_2` keeps the photo almost exactly.
- **Start from**: noise gives the most painterly result and takes longest; the photo or the
  recoloured photo converge faster."""
        )


WEIGHTS_FILES = {  # torchvision's ImageNet checkpoints: name, size, where to get them
    "vgg19": ("vgg19-dcbb9e9d.pth", "548 MB"),
    "vgg16": ("vgg16-397923af.pth", "528 MB"),
}


def weights_help() -> None:
    """When no model could be loaded: say what is missing, how big it is, where to get it and
    where to put it; offer the untrained network meanwhile."""
    problem = st.session_state.get("model_problem")
    if not problem:
        return
    cfg = st.session_state.config
    arch = cfg.model if cfg else "vgg19"
    name, size = WEIGHTS_FILES.get(arch, WEIGHTS_FILES["vgg19"])
    folder = hub_checkpoint_path(arch).parent
    st.error(
        f"No pretrained {arch.upper()} network could be loaded, so this dashboard cannot stylize yet.",
        icon=":material/extension_off:",
    )
    st.markdown(
        f"""**To get the network** (once, on any computer with internet access): download
torchvision's ImageNet weights `{name}` ({size}) from
`https://download.pytorch.org/models/{name}`. Then, on this computer, either
1. copy the file into `{folder}` and reload this page, or
2. type the file's path into *Network and device → Weights* in the sidebar, or
3. ask whoever runs the server to start it with `NST_WEIGHTS=/path/to/{name}`."""
    )
    with st.expander("What went wrong, exactly"):
        st.code(problem[:1].upper() + problem[1:], language=None, wrap_lines=True)
    st.button(
        "Use the untrained network meanwhile (mechanics only)",
        key="btn_random",
        on_click=lambda: st.session_state.update(cfg_weights="random"),
        help=field_help("weights"),
    )
