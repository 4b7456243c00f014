"""The Gallery's cards (stored runs: open in Compare, resume, export, delete) and the stored runs
the Compare page lists beside the session's own."""

from __future__ import annotations

import io
import time
from pathlib import Path

import streamlit as st
from PIL import Image

from nst.compute import backend
from nst.compute.cluster import ClusterError
from nst.engine.config import NOTION_LABELS
from nst.engine.image import ImageInputError
from nst.lab.compare import RunSnapshot, weights_change_text
from nst.record.recorded import RESUMABLE, RecordedRun, can_resume
from nst.record.schema import ENDED, LIVE, RunSummary
from nst.record.store import Store
from nst.record.trace import stored_files
from ui import controls, persist, registry, resources, session, sidebar
from ui.export_panel import download_buttons

COLUMNS = 3
SHOWN = 60  # the newest runs shown; older ones stay in the store (python -m nst runs list)
COMPARED = session.COMPARE_LIMIT  # stored runs the Compare page lists


@st.cache_data(max_entries=256, show_spinner=False)
def _thumbnail(path: str, mtime: float) -> bytes:
    """A small JPEG of a run's latest image (the file can be large; mtime keys a changed one)."""
    with Image.open(path) as im:
        small = im.convert("RGB")
    small.thumbnail((480, 480))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def _image(path: Path) -> bytes | None:
    try:
        return _thumbnail(str(path), path.stat().st_mtime)
    except OSError:
        return None


def _name(name: str) -> str:
    return name.removeprefix("upload: ")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _facts(r: RunSummary) -> str:
    """The card's line of facts; its settings as the run ended (and how a change moved them)."""
    loss = f"loss {r.final_loss:.3g}" if r.final_loss is not None else "no loss yet"
    parts = [
        f"{r.size} px" if r.size else "",
        weights_change_text(r.started, r.beta, r.style_strength, r.alpha),
        f"{r.convention} losses" if r.convention not in (None, "seed") else "",
        f"style as {NOTION_LABELS[r.style_notion]}" if r.style_notion not in (None, "gram") else "",
        f"**{r.status}**",
        f"{r.evals} steps",
        loss,
        _when(r.created),
    ]
    if r.source != "dashboard":
        parts.append("command line" if r.source == "cli" else r.source)
    return " · ".join(p for p in parts if p)


def render() -> None:
    store = resources.store()
    if store is None:
        st.info("No run store is open on this server, so there is nothing to show.")
        return
    owner, shared = st.session_state.owner, resources.gallery_shared()
    if shared:
        st.caption(
            "Everyone's runs on this server (NST_GALLERY=shared): yours can be resumed and "
            "deleted, the others' opened in Compare and exported."
        )
    else:
        st.caption(
            "The runs of this browser: it is known by the `id` in the page's address, so keep "
            "that address (a bookmark) to find them again."
        )
    runs = store.list_runs(owner, shared, limit=SHOWN + 1)
    if not runs:
        st.info("No stored runs yet: start one on the Stylize page; it is kept here as it goes.")
        return
    if len(runs) > SHOWN:
        st.caption(f"The newest {SHOWN} runs; `python -m nst runs list` lists them all.")
    live = registry.store_ids(owner)
    for start in range(0, min(len(runs), SHOWN), COLUMNS):
        for col, r in zip(st.columns(COLUMNS), runs[start : start + COLUMNS], strict=False):
            with col.container(border=True):
                _card(store, r, mine=r.owner == owner, live=live)


def _card(store: Store, r: RunSummary, mine: bool, live: set[int]) -> None:
    thumb = _image(r.thumbnail) if r.thumbnail is not None else None
    if thumb:
        st.image(thumb, width="stretch")
    else:
        st.caption("No image yet.")
    styles = ", ".join(_name(s) for s in r.style_names)
    st.markdown(f"**#{r.id}** {_name(r.content_name)} + {styles}")
    st.caption(_facts(r) + ("" if mine else " · someone else's"))
    if r.id in live:
        st.caption("Live in this server: it goes on on the Stylize page of its browser.")
    resumable = (
        mine
        and r.status in RESUMABLE
        and r.id not in live
        and (full := _stored(r)) is not None
        and can_resume(full, live)
    )
    row = st.container(horizontal=True, gap="small")  # the buttons wrap in a narrow card
    if row.button("Compare", key=f"gal_cmp_{r.id}", icon=":material/compare:", help="Open in Compare"):
        _open_in_compare(r)
    if resumable and row.button(
        "Resume",
        key=f"gal_resume_{r.id}",
        icon=":material/play_arrow:",
        disabled=session.running(),
        help="Go on from its last checkpoint (the optimizer restarts)"
        + (": pause or stop the run on Stylize first" if session.running() else ""),
    ):
        _resume(store, r)
    row.button(
        "Export",
        key=f"gal_export_{r.id}",
        icon=":material/download:",
        on_click=_toggle,
        args=("gal_open_export", r.id),
        help="PNG with its settings, JSON, CSV, GIF",
    )
    if mine and r.id not in live and r.status not in LIVE:
        row.button(
            "Delete",
            key=f"gal_delete_{r.id}",
            icon=":material/delete:",
            on_click=_toggle,
            args=("gal_confirm", r.id),
            help="Delete the run and its files (asks first)",
        )
    if st.session_state.get("gal_confirm") == r.id:
        _confirm_delete(r.id)
    if st.session_state.get("gal_open_export") == r.id:
        _downloads(r)


def _toggle(key: str, run_id: int) -> None:
    st.session_state[key] = None if st.session_state.get(key) == run_id else run_id


def _confirm_delete(run_id: int) -> None:
    st.warning(f"Delete run #{run_id}, its images and its records, for good?")
    yes, no = st.columns(2)
    yes.button(
        "Delete for good",
        key=f"gal_yes_{run_id}",
        type="primary",
        width="stretch",
        on_click=_delete,
        args=(run_id,),
    )
    no.button(
        "Keep it",
        key=f"gal_no_{run_id}",
        width="stretch",
        on_click=_toggle,
        args=("gal_confirm", run_id),
    )


def _delete(run_id: int) -> None:
    st.session_state.gal_confirm = None
    store = resources.store()
    try:
        store.delete_run(run_id, st.session_state.owner)
    except (KeyError, PermissionError) as exc:
        st.session_state.gal_said = str(exc)
        return
    session.basket().drop_stored(run_id)


def _stored(r: RunSummary):
    """Everything stored of a listed run (None if it went meanwhile), kept while it is unchanged."""
    try:
        home, owner = str(resources.store().home), st.session_state.owner
        return _get_run(home, r.id, r.updated, owner, resources.gallery_shared())
    except (KeyError, PermissionError):
        return None


@st.cache_resource(max_entries=32, show_spinner=False)
def _get_run(home: str, run_id: int, updated: float, owner: str, shared: bool):
    return resources.store().get_run(run_id, owner, shared)


def _downloads(r: RunSummary) -> None:
    full = _stored(r)
    if full is None:
        return
    download_buttons(stored_files(full), f"gal_dl_{full.id}_")


def _open_in_compare(r: RunSummary) -> None:
    full = _stored(r)
    if full is None:
        st.rerun()
    if full.thumbnail is None or not full.thumbnail.is_file():
        st.session_state.gal_said = f"Run #{full.id} has no image yet to compare."
        st.rerun()
    with Image.open(full.thumbnail) as im:
        session.basket().add(RunSnapshot.of_stored(full, im.convert("RGB")))
    st.switch_page("pages/compare.py", query_params={"id": st.session_state.owner})


def _resume(store: Store, r: RunSummary) -> None:
    owner = st.session_state.owner

    def model_for(cfg):
        model, problem = resources.get_model(cfg)
        if model is None:
            raise ValueError(problem)
        return model

    try:
        resumed = RecordedRun.resume(
            store, r.id, model_for, backend.new_run, owner=owner, live_here=registry.store_ids(owner)
        )
    except (KeyError, PermissionError, ValueError, ImageInputError, OSError, ClusterError) as exc:
        st.session_state.gal_said = f"Run #{r.id} could not be resumed: {exc}"
        st.rerun()
    full = resumed.recorded.stored()
    controls.begin(resumed.run, full.content_name, list(full.style_names), store_id=full.id)
    persist.save(resumed.run, session.meta(), image=False)
    sidebar.set_up_next()  # its photo, paintings and settings, not those the sidebar had
    st.switch_page("pages/stylize.py", query_params={"id": st.session_state.owner})


def said() -> None:
    """A message left by the last action (a failed resume, a run gone meanwhile)."""
    text = st.session_state.pop("gal_said", None)
    if text:
        st.warning(text)


@st.cache_data(max_entries=64, show_spinner=False)
def _snapshot(home: str, run_id: int, updated: float, owner: str) -> RunSnapshot | None:
    full = resources.store().get_run(run_id, owner)
    if full.thumbnail is None or not full.thumbnail.is_file():
        return None
    with Image.open(full.thumbnail) as im:
        return RunSnapshot.of_stored(full, im.convert("RGB"))


def compared_runs() -> list[RunSnapshot]:
    """This identity's finished runs from the store, oldest first, then the session's own (a
    stored run the session holds already is not listed twice)."""
    own = list(session.basket())
    store = resources.store()
    if store is None:
        return own
    have = session.basket().store_ids()
    owner = st.session_state.owner
    stored = []
    for r in store.list_runs(owner, limit=200):
        if r.status in ENDED and r.id not in have:
            try:
                snap = _snapshot(str(store.home), r.id, r.updated, owner)
            except (KeyError, PermissionError, OSError):
                continue
            if snap is not None:
                stored.append(snap)
            if len(stored) == COMPARED:
                break
    return stored[::-1] + own
