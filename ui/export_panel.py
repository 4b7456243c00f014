"""Export of the session's run: PNG with its config, JSON, CSV, GIF, and the CLI command."""

from __future__ import annotations

import streamlit as st

from nst.engine.contract import LiveRun
from nst.record.trace import ExportFiles, run_files
from ui import live, print_panel, session

DOWNLOADS = [  # the export files (nst.record.trace.ExportFiles) as every page offers them
    ("Image (PNG + config)", "png", "image/png"),
    ("Run trace (JSON)", "json", "application/json"),
    ("Loss history (CSV)", "csv", "text/csv"),
    ("Progress (GIF)", "gif", "image/gif"),
]


def download_buttons(files: ExportFiles, key: str, places=None) -> None:
    """A download button per export file there is, keyed `<key><ext>`: one per column of
    `places`, or one under the other."""
    for i, (label, ext, mime) in enumerate(DOWNLOADS):
        where = places[i] if places is not None else st
        if files.get(ext):
            where.download_button(
                label,
                files.get(ext),
                f"{files.stem}.{ext}",
                mime,
                on_click="ignore",
                width="stretch",
                key=f"{key}{ext}",
            )


def _files(run: LiveRun) -> ExportFiles:
    """The run's export files (nst.record.trace: the Gallery's and `runs export`'s too), made
    once per state of the run."""
    key = (run.id, run.evals, run.status, len(run.events))
    cache = st.session_state.export_cache
    if cache.get("key") != key:
        meta = session.meta()
        cache.clear()
        cache.update(key=key, files=run_files(run, meta.content, meta.styles, meta.store_id))
    return cache["files"]


def render() -> None:
    run = session.run()
    if run is None or session.running() or not run.history:
        return
    st.subheader("Export")
    files = _files(run)
    download_buttons(files, "dl_", st.columns(len(DOWNLOADS)))
    if len(run.changes) == 1:
        changed = f" It replays the change made at step {run.changes[0][0]} (`--change`)."
    elif run.changes:
        n = len(run.changes)
        changed = f" It replays the {n} changes made during the run, each at its step (`--change`)."
    else:
        changed = ""
    if run.status == "stopped" and run.evals < run.steps:
        same = (
            f" This run was stopped at step {run.evals} of {run.steps}: the command goes on to "
            f"step {run.steps}, so its picture is further on than this one."
        )
    else:
        same = (
            " It gives the same picture, to about one level of 255 (bf16 kernels round a little "
            "differently from one process to the next)."
        )
    st.caption(
        f"Reproduce this run from the command line (uploads: use your file's path).{changed}{same}"
    )
    st.code(files.cli, language="bash")
    print_panel.render(run)
    summary = live.timing_summary()
    if summary:
        st.caption(summary)
    if run.events:
        with st.expander(f"Events ({len(run.events)})"):
            for e in run.events:
                st.write(f"step {e.step}: {e.text}")
