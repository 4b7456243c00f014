"""Export of the session's run: PNG with its config, JSON, CSV, GIF, and the CLI command."""

from __future__ import annotations

import streamlit as st

from nst.export import cli_command, gif_bytes, history_csv, png_bytes, safe_filename
from ui import live


def _files(run) -> dict:
    key = (id(run), run.evals, run.status, len(run.events))
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
        }
        cache.clear()
        cache.update(
            key=key,
            stem=stem[:80] or "nst",
            png=png_bytes(run.image(), run.config, facts),
            json=run.config.to_json(),
            csv=history_csv(run.history),
            gif=gif_bytes([f for _, f in run.frames] + [run.image().resize(run.frames[-1][1].size)])
            if run.frames
            else None,
            cli=cli_command(
                run.config,
                _arg(meta.get("content", "cat")),
                [_arg(s) for s in meta.get("styles", [])],
                f"{stem[:80] or 'nst'}.png",
            ),
        )
    return cache


def _arg(name: str) -> str:
    return name.removeprefix("upload: ") if name.startswith("upload: ") else name


def render() -> None:
    run = st.session_state.run
    if run is None or st.session_state.running or not run.history:
        return
    st.subheader("Export")
    files = _files(run)
    stem = files["stem"]
    cols = st.columns(4)
    cols[0].download_button(
        "Image (PNG + config)",
        files["png"],
        f"{stem}.png",
        "image/png",
        on_click="ignore",
        width="stretch",
        key="dl_png",
    )
    cols[1].download_button(
        "Config (JSON)",
        files["json"],
        f"{stem}.json",
        "application/json",
        on_click="ignore",
        width="stretch",
        key="dl_json",
    )
    cols[2].download_button(
        "Loss history (CSV)",
        files["csv"],
        f"{stem}.csv",
        "text/csv",
        on_click="ignore",
        width="stretch",
        key="dl_csv",
    )
    if files["gif"]:
        cols[3].download_button(
            "Progress (GIF)",
            files["gif"],
            f"{stem}.gif",
            "image/gif",
            on_click="ignore",
            width="stretch",
            key="dl_gif",
        )
    st.caption("Reproduce this run from the command line (uploads: use your file's path):")
    st.code(files["cli"], language="bash")
    summary = live.timing_summary()
    if summary:
        st.caption(summary)
    if run.events:
        with st.expander(f"Events ({len(run.events)})"):
            for e in run.events:
                st.write(f"step {e.step}: {e.text}")
