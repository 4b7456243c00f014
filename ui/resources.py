"""What every session of the dashboard shares: the cached network and its pace, the run store,
the server's seats, the sample images; and this browser's identity (ui.session holds the keys)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import secrets
import time
from pathlib import Path

import streamlit as st

from nst.compute.seats import card_seats, lane_seats, seats_from_environment
from nst.compute.stepper import Stepper, lane_of
from nst.engine.config import Config, from_environment
from nst.engine.image import load_image
from nst.engine.model import VGGFeatures, WeightsError, hub_checkpoint_path, load_model, pick_device
from nst.engine.presets import for_device
from nst.lab.estimate import Calibration, Pace, measure, run_seconds
from nst.record.store import Store, default_home
from nst.samples import PHOTOS, STYLES

_last_release = [0.0]


def release_memory(every: float = 5.0) -> None:
    """Hand memory of ended sessions back to the system, at most every `every` seconds.

    Streamlit drops a closed tab's session some time later, and its tensors' memory then stays
    in the C allocator's free lists; a cycle collection and malloc_trim give it back.
    """
    now = time.monotonic()
    if now - _last_release[0] < every:
        return
    _last_release[0] = now
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def base_config() -> Config:
    """Defaults for this machine: NST_MODEL / NST_WEIGHTS, and a GPU's larger size."""
    return for_device(from_environment(Config()), pick_device("auto").type)


@st.cache_data(max_entries=16, show_spinner=False)
def sample_image(path: str):
    return load_image(path)


def image_bytes(name: str) -> bytes | None:
    """The file behind an input: the upload as it came, or the sample's file."""
    if name in st.session_state.upload_bytes:
        return st.session_state.upload_bytes[name]
    path = PHOTOS.get(name) or STYLES.get(name)
    return Path(path).read_bytes() if path else None


def image_by_name(name: str):
    if name in st.session_state.uploads:
        return st.session_state.uploads[name]
    if name in PHOTOS:
        return sample_image(str(PHOTOS[name]))
    return sample_image(str(STYLES[name]))


@st.cache_resource
def stepper() -> Stepper:
    """The server's compute worker (nst.compute.stepper), shared by every session: it steps the
    runs with a seat (NST_MAX_RUNS per device, else one on a CPU) while the pages only read."""
    try:
        seats_from_environment("cpu")
    except ValueError as exc:
        st.warning(f"{exc}; using the default number of seats.")
        return Stepper(lambda lane: 1 if lane.startswith("remote:") else default_seats(lane, {}))
    return Stepper(lambda lane: 1 if lane.startswith("remote:") else default_seats(lane))


def presence():
    """A check, callable from any thread, of whether this session's page is still connected
    (None where Streamlit can't tell: the worker then goes by the page's ticks).

    A reload or a closed tab disconnects the session; a hidden, throttled or frozen tab stays
    connected (its browser answers the socket whatever its page's scripts are doing).
    """
    try:  # Streamlit's runtime: public in name, guarded because its module paths have moved
        from streamlit.runtime import get_instance
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        runtime, ctx = get_instance(), get_script_run_ctx()
        session_id = ctx.session_id
        if not isinstance(runtime.is_active_session(session_id), bool):
            return None  # AppTest's stand-in runtime
    except Exception:  # noqa: BLE001 - no runtime; an older or newer Streamlit
        return None
    return lambda: runtime.is_active_session(session_id)


def on_device(model: VGGFeatures, fn, *args, **kwargs):
    """A page's own computation on the model's device, in turn with the runs the worker steps
    there (nst.compute.stepper.Stepper.call): it gets every core instead of fighting for them."""
    return stepper().call(lane(model), fn, *args, **kwargs)


_CARD_SEATS: dict[str, int] = {}  # lane -> seats measured on its card when its model loaded


def default_seats(lane: str, environ=None) -> int:
    """Seats of a local lane ("local:cuda:0", "local:cpu"): nst.compute.seats."""
    return lane_seats(lane.split(":")[1], _CARD_SEATS.get(lane), environ)


def lane(model: VGGFeatures) -> str:
    """The worker's lane of runs on this model's device."""
    return f"local:{model.mean.device}"


# Measured once per setting: the runs made here then correct it (`calibration`), so a pace taken
# while the server was busy starting skews only the first estimates, and no page waits for a
# measurement again (on a slow CPU one takes most of a minute).
@st.cache_resource(show_spinner="Measuring this machine's pace...", max_entries=8)
def _pace(
    arch: str, weights: str, device: str, precision: str, pooling: str, notion: str, _model, _cfg
) -> Pace:
    return on_device(_model, measure, _model, _cfg)  # in turn with the runs: a true pace


def _pace_key(model: VGGFeatures, cfg: Config) -> tuple:
    device = str(model.mean.device)
    return (model.arch, model.weights_source, device, cfg.precision, cfg.pooling, cfg.style_notion)


@st.cache_resource
def calibration() -> Calibration:
    """What runs really took on this server against the bare pace (shared by every session)."""
    return Calibration()


def pace(model: VGGFeatures, cfg: Config) -> Pace:
    """Seconds per evaluation here as runs really go: the bare pace, measured once per network,
    device, precision, pooling and notion of style, scaled by what the runs made here took
    against it."""
    key = _pace_key(model, cfg)
    return _pace(*key, model, cfg).scaled(calibration().factor(key))


def learn_pace(model: VGGFeatures | None, run, clicked: tuple[int, float] | None) -> None:
    """A run ended here: keep what it took against what the bare pace predicted for it. What it
    took is what its page saw, from the click on Start (`clicked`: the run's id and the time) to
    its end shown, less any wait for a seat; without the click (a resumed run), its set-up and
    its evaluations as the worker timed them."""
    timed = stepper().wall(run)
    if model is None or timed is None or timed[0] < 10 or not lane_of(run).startswith("local:"):
        return  # paused on the way, stepped by hand, or too short to say much
    evals, wall, waited = timed
    if clicked is not None and clicked[0] == run.id:
        real = time.monotonic() - clicked[1] - waited
    else:
        real = getattr(run, "setup_seconds", 0.0) + wall
    cfg = run.config
    key = _pace_key(model, cfg)
    plan = cfg.replace(steps=evals, time_budget=None)
    predicted = run_seconds(_pace(*key, model, cfg), plan, run.content_src.size, model.arch)
    calibration().add(key, predicted, real)


@st.cache_resource(show_spinner="Loading the network...", max_entries=4)
def _cached_model(arch: str, weights: str, device: str) -> VGGFeatures:
    # One object shared by every session: read-only from here on (no .to(), no hooks).
    model = load_model(arch, weights, device)
    if model.mean.device.type == "cuda":  # how many runs its card takes at once, measured once
        _CARD_SEATS.setdefault(lane(model), card_seats(model))
    return model


def get_model(cfg: Config) -> tuple[VGGFeatures | None, str]:
    """(the shared model, "") or (None, why not). Shows a download's progress in the page."""
    try:
        device = pick_device(cfg.device)
    except ValueError as exc:
        return None, str(exc)
    if (
        cfg.weights == "imagenet"
        and not hub_checkpoint_path(cfg.model).is_file()
        and not os.environ.get("NST_OFFLINE")
    ):
        from nst.engine.model import resolve_weights

        bar = st.progress(0.0, text=f"Downloading {cfg.model} ImageNet weights...")
        try:
            resolve_weights(
                cfg.model,
                "imagenet",
                lambda f: bar.progress(min(1.0, f), text=f"Downloading {cfg.model} weights: {f:.0%}"),
            )
        except WeightsError as exc:
            bar.empty()
            return None, str(exc)
        bar.empty()
    try:
        return _cached_model(cfg.model, cfg.weights, str(device)), ""
    except WeightsError as exc:
        return None, str(exc)


# ---- runs that last: the store and this browser's identity ------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")


@st.cache_resource(show_spinner=False, max_entries=8)
def _store(home: str) -> tuple[Store | None, str]:
    try:
        return Store(home), ""
    except Exception as exc:  # noqa: BLE001 - any trouble: the dashboard goes on without storing
        return None, f"Runs are not being stored: the run store in {home} could not be opened ({exc})."


def store() -> Store | None:
    """The run store shared by every session (NST_HOME), or None when it cannot be opened (said
    once per session, and the dashboard goes on without storing)."""
    found, problem = _store(str(default_home()))
    if problem:
        say_once(problem)
    return found


def say_once(text: str, toast: bool = False) -> None:
    """A store message, shown once per session: a warning line, or a toast from inside the
    ticking fragment (a warning there would vanish on the next tick)."""
    said = st.session_state.store_said
    if text in said:
        return
    said.add(text)
    if toast:
        st.toast(text, icon=":material/database:")
    else:
        st.warning(text, icon=":material/database:")


def identify() -> str:
    """This browser's identity: the `id` query parameter, made on the first visit and kept in the
    URL (a reload keeps it; a page switch drops query parameters, so it is put back)."""
    owner = st.session_state.owner
    if not owner:
        given = st.query_params.get("id", "")
        owner = given if TOKEN.fullmatch(given) else secrets.token_urlsafe(12)
        st.session_state.owner = owner
    if st.query_params.get("id") != owner:
        st.query_params["id"] = owner
    return owner


def gallery_shared() -> bool:
    """NST_GALLERY=shared: the Gallery shows everyone's runs (others' read-only)."""
    return os.environ.get("NST_GALLERY", "").strip().lower() == "shared"


def through_entry() -> None:
    """Make sure the entry script ran before this page. A page opened by its address as a fresh
    server's first request runs alone: with a pages/ folder beside it, Streamlit starts in its old
    pages-folder mode until st.navigation has run once. Leave that mode and run again, entry first
    (the rerun keeps the page asked for)."""
    if "owner" in st.session_state:
        return
    try:  # a Streamlit internal: guarded, and without it the page simply shows a hint
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError):
        st.info("Open the dashboard from its start page (the address without a page name).")
        st.stop()
    st.rerun()
