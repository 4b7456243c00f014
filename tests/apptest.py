"""AppTest helpers.

Streamlit's AppTest resets `PagesManager.uses_pages_directory` before every run, and a `pages/`
folder beside the entry script then makes every run after the first execute only the page (the
old pages-folder mode), skipping the entry script and its sidebar. A real server sets the flag to
False once `st.navigation` has run, so it is kept False here, as in a served app.
"""

from __future__ import annotations

import os
import tempfile
import time

from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

_orig_init = PagesManager.__init__


def _init(self, *args, **kwargs):
    _orig_init(self, *args, **kwargs)
    PagesManager.uses_pages_directory = False


PagesManager.__init__ = _init


def app(timeout: float = 120) -> AppTest:
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)


def untrained_app(monkeypatch, identity: str | None = None) -> AppTest:
    """The app on the untrained VGG-19 (fast, needs no weights), run once; its run store in a
    fresh folder unless the test set NST_HOME; `identity`: the browser's `id` in the URL."""
    monkeypatch.setenv("NST_MODEL", "vgg19")
    monkeypatch.setenv("NST_WEIGHTS", "random")
    monkeypatch.setenv("NST_OFFLINE", "1")
    if not os.environ.get("NST_HOME"):
        monkeypatch.setenv("NST_HOME", tempfile.mkdtemp(prefix="nst-apptest-"))
    at = app()
    if identity:
        at.query_params["id"] = identity
    at.run()
    return at


def errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception]


# AppTest keeps the media of a run (images, downloads) only during that run; keep what was stored,
# by file id, so tests can read what a download button would give.
MEDIA: dict[str, bytes] = {}
_orig_store = MemoryMediaFileStorage.load_and_get_id


def _store(self, path_or_data, mimetype, kind, filename=None):
    file_id = _orig_store(self, path_or_data, mimetype, kind, filename)
    if isinstance(path_or_data, (bytes, bytearray)):
        MEDIA[file_id] = bytes(path_or_data)
    elif isinstance(path_or_data, str) and kind.name == "DOWNLOADABLE":
        MEDIA[file_id] = path_or_data.encode()
    return file_id


MemoryMediaFileStorage.load_and_get_id = _store


def download_bytes(button) -> bytes:
    """The bytes a download button in the last run would give."""
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    return MEDIA[file_id]


def settle(at: AppTest, done, timeout: float = 120.0):
    """Rerun the app, as a browser's ticks would, until `done(run)`: the run optimizes in the
    server's worker meanwhile (nst.compute.stepper), not in the reruns. Returns the run."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        run = at.session_state.run
        if done(run):
            return run
        assert time.monotonic() < deadline, f"not there within {timeout:g} s: {run.status}, {run.evals}"
        time.sleep(0.05)
