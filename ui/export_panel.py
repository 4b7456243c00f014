"""Export of the session's run: PNG with its config, JSON, CSV, GIF, and the CLI command."""

from __future__ import annotations

import json

import streamlit as st

from nst.record.export import cli_command, gif_bytes, history_csv, png_bytes, run_trace, safe_filename
from nst.samples import DEFAULT_PHOTO
from ui import live, state


def _files(run) -> dict:
    key = (run.id, run.evals, run.status, len(run.events))
    cache = st.session_state.export_cache
    if cache.get("key") != key:
        meta = st.session_state.run_meta
        stem = "_".join(
            [
                safe_filename(meta.get("content", "content").removeprefix("upload: ")),
                *(safe_filename(s.removeprefix("upload: ")) for s in meta.get("styles", [])),
            ]
        )
        facts = {
            "weights": run.weights_source,
            "device": str(run.device),
            "evals": run.evals,
            "seconds": round(run.seconds, 3),
            "status": run.status,
            "beta": run.beta,
        }
        cache.clear()
        cache.update(
            key=key,
            stem=stem[:80] or "nst",
            png=png_bytes(run.image(), run.start_config, facts, run.changes),
            json=json.dumps(run_trace(run), indent=1, default=str),
            csv=history_csv(run.history),
            gif=gif_bytes([f for _, f in run.frames] + [run.image().resize(run.frames[-1][1].size)])
            if run.frames
            else None,
            cli=cli_command(
                run.start_config,
                _arg(meta.get("content", DEFAULT_PHOTO)),
                [_arg(s) for s in meta.get("styles", [])],
                f"{stem[:80] or 'nst'}.png",
                run.changes,
            ),
        )
    return cache


def _arg(name: str) -> str:
    return name.removeprefix("upload: ") if name.startswith("upload: ") else name


def render() -> None:
    run = st.session_state.run
    if run is None or state.running() or not run.history:
        return
    st.subheader("Export")
    files = _files(run)
    stem = files["stem"]
    downloads = [
        ("Image (PNG + config)", "png", "png", "image/png"),
        ("Run trace (JSON)", "json", "json", "application/json"),
        ("Loss history (CSV)", "csv", "csv", "text/csv"),
        ("Progress (GIF)", "gif", "gif", "image/gif"),
    ]
    for col, (label, key, ext, mime) in zip(st.columns(4), downloads, strict=True):
        if files[key]:
            col.download_button(
                label,
                files[key],
                f"{stem}.{ext}",
                mime,
                on_click="ignore",
                width="stretch",
                key=f"dl_{key}",
            )
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
    st.code(files["cli"], language="bash")
    summary = live.timing_summary()
    if summary:
        st.caption(summary)
    if run.events:
        with st.expander(f"Events ({len(run.events)})"):
            for e in run.events:
                st.write(f"step {e.step}: {e.text}")
