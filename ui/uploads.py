"""The sidebar's uploaders: a file is decoded once, kept with its bytes (the run store keeps an
upload as given), and a bad one only shows a message and leaves the uploader."""

from __future__ import annotations

import streamlit as st

from nst.engine.image import MAX_INPUT_SIDE, ImageInputError, load_image

MAX_UPLOAD_MB = 25


def uploader(label: str, base: str, multiple: bool) -> list[str]:
    """Decode new uploads; returns the names of good ones. A bad file only shows a message,
    and leaves the uploader (a fresh widget, under a new key) so it is not listed as if used."""
    generation = st.session_state.setdefault("upload_generation", {}).get(base, 0)
    key = base if not generation else f"{base}_{generation}"
    files = st.file_uploader(
        label,
        type=None,
        accept_multiple_files=multiple,
        key=key,
        help=f"PNG, JPEG, WebP, GIF, BMP or TIFF, up to {MAX_UPLOAD_MB} MB.",
    )
    files = files if isinstance(files, list) else [files] if files else []
    seen = st.session_state.upload_seen.setdefault(key, {})
    added, errors = [], []
    for f in files:
        name = f"upload: {f.name}"
        if f.file_id in seen:
            continue
        try:
            if f.size > MAX_UPLOAD_MB * 1024 * 1024:
                raise ImageInputError(f"{f.name}: file is larger than {MAX_UPLOAD_MB} MB")
            data = f.getvalue()
            img = load_image(data, max_side=MAX_INPUT_SIDE, name=f.name)
        except ImageInputError as exc:
            errors.append(str(exc))
            continue
        st.session_state.uploads[name] = img
        st.session_state.upload_bytes[name] = data  # the file as given, for the run store
        seen[f.file_id] = name
        added.append(name)
    if files:
        st.session_state.upload_errors[base] = errors
    if errors:
        st.session_state.upload_generation[base] = generation + 1
        if added:  # the good files of this batch are decoded: take them before the widget goes
            st.session_state[f"_added_{base}"] = added
        st.rerun()
    added = st.session_state.pop(f"_added_{base}", []) + added
    for msg in st.session_state.upload_errors.get(base, []):
        st.error(f"Not used: {msg}. Everything else is unchanged.", icon=":material/warning:")
    return added
