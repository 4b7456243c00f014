"""The run store's schema: its SQLite tables, their forward migrations, and the records a
reader gets back (`RunSummary`, `StoredRun`). nst.record.store reads and writes through these."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst.engine.config import Config
from nst.engine.contract import FINAL, Change

TABLES = {"runs", "images", "run_images", "records"}
SOURCES = ("dashboard", "cli", "sweep")  # who made a run
# A run's status in the store: a Status word (nst.engine.contract), or `interrupted` for a run
# whose process died before it ended.
STATUSES = ("running", "paused", "done", "stopped", "failed", "interrupted")
LIVE = ("running", "paused")
ENDED = tuple(str(s) for s in sorted(FINAL))  # what `finish` accepts: nst.engine.contract.FINAL


def v1(db: sqlite3.Connection) -> None:
    """The first schema. A shipped migration is never edited: databases of its version exist."""
    for sql in (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: an id is never reused
            created REAL NOT NULL, updated REAL NOT NULL,
            source TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
            content_name TEXT NOT NULL DEFAULT '', style_names TEXT NOT NULL DEFAULT '[]',
            config TEXT NOT NULL DEFAULT '{}', changes TEXT NOT NULL DEFAULT '[]',
            events TEXT NOT NULL DEFAULT '[]', message TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '', weights TEXT NOT NULL DEFAULT '',
            evals INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
            final_loss REAL, image TEXT)""",
        """CREATE TABLE images (
            hash TEXT PRIMARY KEY, ext TEXT NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL)""",
        """CREATE TABLE run_images (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            role TEXT NOT NULL, position INTEGER NOT NULL,
            hash TEXT NOT NULL REFERENCES images(hash),
            PRIMARY KEY (run_id, role, position))""",
        "CREATE INDEX run_images_hash ON run_images(hash)",
        """CREATE TABLE records (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (run_id, step)) WITHOUT ROWID""",
    ):
        db.execute(sql)


def v2(db: sqlite3.Connection) -> None:
    """Liveness (process, its start, machine, heartbeat) to find killed runs; the progress
    animation and a pruned mark for the size limit; an index for the gallery."""
    for sql in (
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN proc_start TEXT",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN heartbeat REAL",
        "ALTER TABLE runs ADD COLUMN progress TEXT",
        "ALTER TABLE runs ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0",
        "UPDATE runs SET heartbeat = updated",
        "CREATE INDEX runs_owner ON runs(owner, id)",
    ):
        db.execute(sql)


def v3(db: sqlite3.Connection) -> None:
    """Sweep cells (nst.lab.sweep): a cell's identity, a hash of its inputs and config, so a rerun
    finds it; and its scores (JSON) as the sweep reports them."""
    for sql in (
        "ALTER TABLE runs ADD COLUMN cell_key TEXT",
        "ALTER TABLE runs ADD COLUMN scores TEXT",
        "CREATE INDEX runs_cell_key ON runs(cell_key)",
    ):
        db.execute(sql)


# Schema version -> the step that reaches it from the version before (PRAGMA user_version).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: v1, 2: v2, 3: v3}
VERSION = max(MIGRATIONS)


# The settings a run's summary names, as the run ended (its config with the changes made on the
# way): a run started at strength 4 and changed to 2 while paused is listed at 2.
SUMMARY_SETTINGS = ("size", "beta", "style_strength", "alpha", "convention", "style_notion")


def settings_at(config: dict, changes: list[dict], step: float = math.inf) -> dict:
    """A stored run's settings at `step` (by default its last) as a dict: the ones it started
    with (`config`), then every change made up to that step, oldest first."""
    d = dict(config)
    for at, changed in sorted((Change.from_dict(c) for c in changes), key=lambda c: c.step):
        if at <= step:
            d.update(changed)
    return d


def summary_fields(r: sqlite3.Row, home: Path) -> dict:
    """A `runs` row as RunSummary's fields: its settings as the run ended, and those it began
    with where a change moved them."""
    computed = {*SUMMARY_SETTINGS, "thumbnail", "started"}
    d = {f.name: r[f.name] for f in dataclasses.fields(RunSummary) if f.name not in computed}
    d["style_names"] = tuple(json.loads(d["style_names"]))
    d["thumbnail"] = home / r["image"] if r["image"] else None
    first = json.loads(r["config"])
    last = settings_at(first, json.loads(r["changes"]))
    d.update({k: last.get(k) for k in SUMMARY_SETTINGS})
    d["started"] = {k: first.get(k) for k in SUMMARY_SETTINGS if first.get(k) != last.get(k)}
    return d


@dataclass(frozen=True)
class RunSummary:
    """One run as the gallery lists it; its settings (SUMMARY_SETTINGS) as the run ended."""

    id: int
    created: float  # seconds since the epoch
    updated: float
    status: str
    source: str
    owner: str
    content_name: str
    style_names: tuple[str, ...]
    size: int | None  # the config's long side, px
    beta: float | None  # the exact β, None where the style strength gave it
    style_strength: float | None
    alpha: float | None
    convention: str | None
    style_notion: str | None  # None: a run stored before there was a choice (the Gram's)
    final_loss: float | None
    evals: int
    seconds: float
    thumbnail: Path | None  # the latest image
    started: dict  # the settings above that changes moved: {name: value at the start}


@dataclass(frozen=True)
class StoredRun(RunSummary):
    """One run in full, as `get_run` gives it back."""

    config: dict
    changes: list[dict]  # [{step, set: {field: value}}] (nst.engine.contract.Change)
    history: list[dict]  # nst.engine.run.LossRecord as dicts, by step
    events: list[dict]
    message: str
    device: str
    weights: str
    content: str  # image hashes
    styles: tuple[str, ...]
    progress: Path | None  # the GIF
    cell_key: str | None = None  # a sweep cell's identity (nst.lab.sweep)
    scores: dict | None = None  # a sweep cell's scores

    def timeline(self) -> list[Change]:
        """The changes as `Run.changes` has them, oldest first."""
        return sorted((Change.from_dict(c) for c in self.changes), key=lambda c: c.step)

    def config_at(self, step: float = math.inf) -> Config:
        """The config the run had at `step` (by default its last): the one it started with,
        then every change made up to that step."""
        return Config.from_dict(settings_at(self.config, self.changes, step))
