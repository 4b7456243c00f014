"""The dashboard's session state, declared in one place: every key with its default and what it
holds, the families of keys that widgets own, and typed accessors for the run, its names and the
Compare basket. `init` puts the defaults in place once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from nst.engine.contract import LiveRun, Status
from nst.lab.compare import RunSnapshot
from nst.samples import DEFAULT_PHOTO, DEFAULT_STYLE

COMPARE_LIMIT = 12  # runs the Compare basket holds (the oldest leaves first)


@dataclass
class RunMeta:
    """What the session knows of its run besides the run: its inputs' names and its store id."""

    content: str = ""  # a sample's name, or "upload: <file name>"
    styles: list[str] = field(default_factory=list)
    store_id: int | None = None  # None: not stored (no store, or deleted meanwhile)
    upload_bytes: dict[str, bytes] = field(default_factory=dict)  # its uploads' files, for a reload
    dpi: int | None = None  # a print's (ui.print_panel): its TIFF's resolution


class Basket:
    """The runs picked for the Compare page, oldest first: one entry per run (by its session id
    or store id), at most COMPARE_LIMIT."""

    def __init__(self) -> None:
        self.items: list[RunSnapshot] = []

    def add(self, snap: RunSnapshot) -> None:
        self.items = [r for r in self.items if not _same(r, snap)] + [snap]
        del self.items[:-COMPARE_LIMIT]

    def drop_stored(self, store_id: int) -> None:
        self.items = [r for r in self.items if r.store_id != store_id]

    def has(self, run_id: int) -> bool:
        return any(r.id == run_id for r in self.items)

    def store_ids(self) -> set[int]:
        return {r.store_id for r in self.items if r.store_id is not None}

    def __iter__(self) -> Iterator[RunSnapshot]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> RunSnapshot:
        return self.items[i]

    def copy(self) -> Basket:  # a fresh one per session (init copies defaults)
        return Basket()


def _same(a: RunSnapshot, b: RunSnapshot) -> bool:
    return a.id == b.id or (a.store_id is not None and a.store_id == b.store_id)


# Every key of the dashboard's session state, with its default: this module is where a reader
# finds them all. Widgets own the keys of the families below (Streamlit sets them); a test runs
# every page and checks that no other key appears.
DEFAULTS: dict[str, Any] = {
    "run": None,  # the session's run (nst.engine.contract.LiveRun)
    "run_meta": RunMeta(),
    "config": None,  # nst.engine.config.Config the sidebar's widgets make (None: invalid)
    "model": None,  # the shared network (None: it could not be loaded)
    "model_problem": "",  # why not, for the weights help
    "content_name": DEFAULT_PHOTO,
    "style_names": [DEFAULT_STYLE],
    "uploads": {},  # name -> PIL image, valid uploads only
    "upload_bytes": {},  # name -> the uploaded file's bytes, stored with a run as given
    "upload_seen": {},  # uploader key -> file ids already handled
    "upload_errors": {},  # uploader -> messages of its last rejected files
    "upload_generation": {},  # uploader -> times it was renewed to drop a rejected file
    "basket": Basket(),  # the Compare basket
    "tick_stats": [],  # (optimizing seconds, whole tick seconds) of recent ticks
    "export_cache": {},  # the Export's files, for the run state they were made of
    "notice": "",  # a run control's message (could not start, a change that needs a reset)
    "queue_place": 0,  # this run's place in the server's queue (0: optimizing or not waiting)
    "step_until": None,  # the Step button: pause when the run reaches this many steps
    "owner": "",  # this browser's identity: the `id` in the page's URL
    "store_said": set(),  # store messages already shown to this session
    "grids": {},  # the lab's computed grids, by their inputs (ui.explore_ui)
    "gal_said": None,  # the Gallery's last action's message
    "gal_confirm": None,  # the run whose deletion the Gallery asks to confirm
    "gal_open_export": None,  # the run whose downloads the Gallery shows
    "swp_worker": None,  # the Sweep page's background sweep (nst.lab.sweep.SweepThread)
    "swp_said": None,  # the Sweep page's last action's message
    "swp_goto": None,  # the page a sweep cell's button asked for
    "swp_files": None,  # the finished sweep's files for download
    "regions": None,  # the regions painted on the Stylize page (Config.regions text, ui.regions_panel)
    "_rg_photo": None,  # the photo those regions were painted on (another photo drops them)
    "_rg_strokes": None,  # (regions text, the canvas's strokes that made it): drawn again on return
    "_rg_canvas": None,  # (canvas key, Canvas): what a freshly shown canvas was first drawn with
    "_rg_generation": 0,  # the canvas's generation: a run's regions put in place start a fresh one
    # the ticking fragment's own: the run whose first frame was drawn, the tick's start, the
    # inputs' thumbnails, the pages' view of the run, whether the registry was consulted
    "_clicked": None,  # (run id, monotonic seconds) of the Start that made the session's run
    "_tick_started": None,
    "_thumbs": None,
    "_run_view": None,
    "_page_image": None,  # the run's image as the page shows it (ui.shown.page_image)
    "_shown_png": None,  # that image as the view controls show it, encoded (ui.shown.shown_png)
    "_figures": None,  # the loss curves' figures, for the history they were made of
    "_attached": False,
    "_set_up_run": False,  # the sidebar shows the run's set-up when next drawn (ui.sidebar)
}
WIDGET_FAMILIES = {
    "cfg_": "the sidebar's settings (ui.sidebar)",
    "sw_": "the sidebar's style layer weights",
    "blend_": "the sidebar's blend weight per painting",
    "up_": "the sidebar's uploaders",
    "ui_": "the Stylize page's view controls and the sidebar's preset",
    "btn_": "the run controls",
    "dl_": "the Stylize page's downloads",
    "gal_": "the Gallery's buttons",
    "swp_": "the Sweep page's form",
    "cmp_": "the Compare page",
    "lab_": "the Layer lab",
    "fm_": "the Feature maps page",
    "ss_": "the Style statistics page",
    "go_": "a reconstruction grid's Compute button (ui.explore_ui.grid)",
    "stop_": "a reconstruction grid's Stop button",
    "chart_": "the Stylize page's loss charts",
    "pr_": "the Stylize page's print planner (ui.print_panel)",
    "rg_": "the Stylize page's regions: brush, canvas, each region's painting and strength",
    "_added_": "uploads already added to the choices",
}


def run() -> LiveRun | None:
    """The session's run."""
    return st.session_state.run


def meta() -> RunMeta:
    """The session's run's names and store id."""
    return st.session_state.run_meta


def basket() -> Basket:
    """The Compare basket."""
    return st.session_state.basket


def declared(key: str) -> bool:
    """Whether `key` is one of the session state's declared keys or widget families."""
    return key in DEFAULTS or any(key.startswith(p) for p in WIDGET_FAMILIES)


def init() -> None:
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = _fresh(value)


def _fresh(value: Any) -> Any:
    if isinstance(value, RunMeta):
        return RunMeta()
    return value.copy() if hasattr(value, "copy") else value


def running() -> bool:
    """Should the ticker advance this session's run? Derived from the run itself."""
    r = run()
    return r is not None and r.status in (Status.READY, Status.RUNNING)
