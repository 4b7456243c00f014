"""Keeping the run store true and within bounds: runs whose process died are marked
interrupted, and a store over its size limit drops what finished runs can do without."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from typing import TYPE_CHECKING

from nst.record.files import HOST, alive
from nst.record.schema import LIVE

if TYPE_CHECKING:
    from nst.record.store import Store

STALE_SECONDS = 600.0  # a live run of another machine silent this long is taken as gone
KEEP_RECORDS = 200  # loss records a pruned run keeps: first, last and evenly between


def mark_interrupted(store: Store, stale_after: float = STALE_SECONDS) -> list[int]:
    """Mark live runs whose process is gone as 'interrupted'; they keep their last checkpoint.

    A run of this machine is gone when its process is (by pid and process start time, so a
    reused pid is no alibi); a run of another machine (or a database of version 1, without
    pids), when its heartbeat is older than `stale_after` seconds. Returns their ids.
    """
    now = time.time()
    rows = store.connection().execute(
        "SELECT id, pid, proc_start, host, heartbeat FROM runs WHERE status IN (?, ?)", LIVE
    )
    gone = [
        r["id"]
        for r in rows
        if (
            not alive(r["pid"], r["proc_start"])
            if r["pid"] and r["host"] == HOST and os.name == "posix"
            else (r["heartbeat"] or 0) < now - stale_after
        )
    ]
    if not gone:
        return gone
    text = "interrupted: its process ended without saving (killed or crashed); last checkpoint kept"
    with store.transaction() as db:
        db.executemany(
            "UPDATE runs SET status = 'interrupted', message = ?, updated = ?"
            " WHERE id = ? AND status IN ('running', 'paused')",
            [(text, now, run_id) for run_id in gone],
        )
    return gone


def size_bytes(store: Store) -> int:
    """Bytes used: the files, and the database's pages in use."""
    return files_bytes(store) + db_bytes(store)


def prune(store: Store) -> str | None:
    """Keep the store under `max_bytes` (NST_STORE_MAX_GB) by dropping what a finished run can
    do without, oldest first: its progress animation and loss detail (thinned to KEEP_RECORDS
    records). Final images, settings and inputs stay. Returns what was done, for the user."""
    files = files_bytes(store)
    if files + db_bytes(store) <= store.max_bytes:
        return None
    db = store.connection()
    rows = db.execute(
        "SELECT id, progress FROM runs WHERE pruned = 0 AND status NOT IN (?, ?) ORDER BY updated, id",
        LIVE,
    ).fetchall()
    dropped = 0
    for r in rows:
        if files + db_bytes(store) <= store.max_bytes:
            break
        if r["progress"]:
            with contextlib.suppress(FileNotFoundError):  # another process pruning too
                gif = store.home / r["progress"]
                files -= gif.stat().st_size
                gif.unlink()
        with store.transaction() as w:
            thin_records(w, r["id"])
            w.execute("UPDATE runs SET pruned = 1, progress = NULL WHERE id = ?", (r["id"],))
        dropped += 1
    size, limit = files + db_bytes(store), f"{store.max_bytes / 1e9:g} GB limit (NST_STORE_MAX_GB)"
    still = f"It holds {size / 1e9:.2f} GB: delete runs in the gallery to make room."
    if not dropped:
        return f"The run store is over its {limit} with nothing left to drop. {still}"
    text = (
        f"The run store was over its {limit}: the progress animations and loss detail of the "
        f"{dropped} oldest finished run(s) were dropped; final images, settings and inputs stay."
    )
    return text if size <= store.max_bytes else f"{text} {still}"


def files_bytes(store: Store) -> int:
    total = 0
    for d, _, names in (*os.walk(store.home / "images"), *os.walk(store.home / "runs")):
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # renamed or deleted meanwhile
                total += os.stat(os.path.join(d, name)).st_size
    return total


def db_bytes(store: Store) -> int:
    db = store.connection()
    pages = (
        db.execute("PRAGMA page_count").fetchone()[0]
        - db.execute("PRAGMA freelist_count").fetchone()[0]
    )
    return pages * db.execute("PRAGMA page_size").fetchone()[0]


def thin_records(db: sqlite3.Connection, run_id: int) -> None:
    steps = [
        s for (s,) in db.execute("SELECT step FROM records WHERE run_id = ? ORDER BY step", (run_id,))
    ]
    if len(steps) > KEEP_RECORDS:
        keep = {steps[round(i * (len(steps) - 1) / (KEEP_RECORDS - 1))] for i in range(KEEP_RECORDS)}
        db.executemany(
            "DELETE FROM records WHERE run_id = ? AND step = ?",
            [(run_id, s) for s in steps if s not in keep],
        )


def max_bytes_from_env() -> float:
    text = os.environ.get("NST_STORE_MAX_GB", "2")
    try:
        return float(text) * 1e9
    except ValueError:
        raise ValueError(f"NST_STORE_MAX_GB must be a number of gigabytes, not {text!r}") from None
