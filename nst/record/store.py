"""Runs that outlive a page: SQLite (WAL) plus a folder of files, embedded, no server.

The home folder (`NST_HOME`, else the per-user data folder) holds:
  nst.db                    runs, their loss records, which images each run uses
  images/<sha256>.png|jpg   content and style images, stored once by content hash
  runs/<id>/latest.png      the newest checkpointed image (the final one once the run ended)
  runs/<id>/progress.gif    the progress animation, written when the run ends

A live run checkpoints every few seconds and at pause, stop and end: one short transaction, and
files written whole then renamed into place, so a killed process leaves its last checkpoint intact.
Each live run keeps its process id and a heartbeat; opening the store marks the runs whose process
is gone as 'interrupted'. Trouble with the store (a corrupt file, a full disk, a size over the limit)
becomes a sentence in `notices` or `stopped`, never an exception inside a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from nst.engine.config import Config
from nst.engine.contract import FINAL
from nst.record.export import CONFIG_KEY, history_csv, png_bytes, safe_filename

SOURCES = ("dashboard", "cli", "sweep")
STATUSES = ("running", "paused", "done", "stopped", "failed", "interrupted")
LIVE = ("running", "paused")
ENDED = tuple(str(s) for s in sorted(FINAL))  # what `finish` accepts: nst.engine.contract.FINAL
CHECKPOINT_SECONDS = 5.0  # a live run reaches the disk at least this often (see `due`)
STALE_SECONDS = 600.0  # a live run of another machine silent this long is taken as gone
KEEP_RECORDS = 200  # loss records a pruned run keeps: first, last and evenly between
TABLES = {"runs", "images", "run_images", "records"}
HOST = socket.gethostname()

ImageLike = Image.Image | bytes | str  # a PIL image, the bytes of a file, or a stored image's hash


def _v1(db: sqlite3.Connection) -> None:
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


def _v2(db: sqlite3.Connection) -> None:
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


def _v3(db: sqlite3.Connection) -> None:
    """Sweep cells (nst.lab.sweep): a cell's identity, a hash of its inputs and config, so a rerun
    finds it; and its scores (JSON) as the sweep reports them."""
    for sql in (
        "ALTER TABLE runs ADD COLUMN cell_key TEXT",
        "ALTER TABLE runs ADD COLUMN scores TEXT",
        "CREATE INDEX runs_cell_key ON runs(cell_key)",
    ):
        db.execute(sql)


# Schema version -> the step that reaches it from the version before (PRAGMA user_version).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2, 3: _v3}
VERSION = max(MIGRATIONS)


@dataclass(frozen=True)
class RunSummary:
    """One run as the gallery lists it."""

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
    final_loss: float | None
    evals: int
    seconds: float
    thumbnail: Path | None  # the latest image


@dataclass(frozen=True)
class StoredRun(RunSummary):
    """One run in full, as `get_run` gives it back."""

    config: dict
    changes: list[dict]  # [{step, changes: {field: value}}]
    history: list[dict]  # nst.engine.run.Record as dicts, by step
    events: list[dict]
    message: str
    device: str
    weights: str
    content: str  # image hashes
    styles: tuple[str, ...]
    progress: Path | None  # the GIF
    cell_key: str | None = None  # a sweep cell's identity (nst.lab.sweep)
    scores: dict | None = None  # a sweep cell's scores

    def timeline(self) -> list[tuple[int, dict]]:
        """The changes as `Run.changes` has them: (step, {field: value}), oldest first."""
        return sorted(((int(c["step"]), dict(c["changes"])) for c in self.changes), key=lambda c: c[0])

    def config_at(self, step: float = math.inf) -> Config:
        """The config the run had at `step` (by default its last): the one it started with,
        then every change made up to that step."""
        d = dict(self.config)
        for at, changed in self.timeline():
            if at <= step:
                d.update(changed)
        return Config.from_dict(d)

    def stem(self) -> str:
        """A file-name stem for its exports: run12_tubingen_starry_night."""
        names = (self.content_name, *self.style_names)
        name = "_".join(Path(n.removeprefix("upload: ")).stem for n in names)
        return safe_filename(f"run{self.id}_{name}")[:80]

    def export_files(self) -> dict[str, bytes | str | None]:
        """What the Stylize page's Export gives, for this stored run: the PNG with its start
        config and changes embedded, the JSON trace, the loss history as CSV, the progress GIF
        if stored. The Gallery and `python -m nst runs export` both write these."""
        start, timeline = Config.from_dict(self.config), self.timeline()
        png = None
        if self.thumbnail is not None and self.thumbnail.is_file():
            facts = {
                "weights": self.weights,
                "device": self.device,
                "evals": self.evals,
                "seconds": round(self.seconds, 3),
                "status": self.status,
                "run": self.id,
            }
            if self.history and self.history[-1].get("beta") is not None:
                facts["beta"] = self.history[-1]["beta"]
            with Image.open(self.thumbnail) as im:
                png = png_bytes(im.convert("RGB"), start, facts, timeline)
        last_beta = self.history[-1].get("beta") if self.history else None
        trace = {
            "config": self.config_at().to_dict(),
            "beta": last_beta,  # the β of the last record: the strength's, or the exact one
            "start_config": start.to_dict(),
            "changes": [{"step": step, "set": c} for step, c in timeline],
            "status": self.status,
            "message": self.message,
            "device": self.device,
            "weights": self.weights,
            "seconds": round(self.seconds, 4),
            "evals": self.evals,
            "final_loss": self.final_loss,
            "content": self.content_name,
            "styles": list(self.style_names),
            "events": self.events,
            "history": self.history,
        }
        from nst.engine.run import Record  # the engine; the store itself does not need it

        gif = self.progress.read_bytes() if self.progress and self.progress.is_file() else None
        return {
            "stem": self.stem(),
            "png": png,
            "json": json.dumps(trace, indent=1, default=str),
            "csv": history_csv([Record(**r) for r in self.history]),
            "gif": gif,
        }


def default_home() -> Path:
    """`NST_HOME`, else the per-user data folder (platformdirs; ~/.local/share/nst without it)."""
    if os.environ.get("NST_HOME"):
        return Path(os.environ["NST_HOME"]).expanduser()
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".local" / "share" / "nst"
    return Path(platformdirs.user_data_dir("nst", appauthor=False))


class Store:
    """The runs of every session and process of this user. Safe to share between threads: each
    thread gets its own connection; writers queue on SQLite's lock (busy timeout)."""

    def __init__(self, home: str | Path | None = None, *, max_bytes: float | None = None):
        self.home = Path(home) if home else default_home()
        self.path = self.home / "nst.db"
        self.max_bytes = max_bytes if max_bytes is not None else _max_bytes_from_env()
        self.notices: list[str] = []  # for the user, once: what happened on opening
        self.stopped: str | None = None  # why checkpoints are not being written, while they aren't
        self._local = threading.local()
        self._last: dict[int, float] = {}
        for sub in ("images", "runs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        problem = self._prepare()
        if problem:
            self.close()
            aside = self._move_aside()
            self.notices.append(
                f"The run store {self.path} could not be opened: {problem}. It was moved aside to "
                f"{aside.name} (nothing was deleted) and a fresh store was started."
            )
            if (again := self._prepare()) is not None:
                raise RuntimeError(f"a fresh run store at {self.path} failed too: {again}")
        if gone := self.mark_interrupted():
            self.notices.append(
                f"{len(gone)} run(s) ended when their process was killed or crashed: marked "
                "interrupted, with their last checkpoint kept."
            )
        if pruned := self.prune():
            self.notices.append(pruned)

    # ---- runs --------------------------------------------------------------------------

    def create_run(
        self,
        content: ImageLike,
        styles: Iterable[ImageLike],
        config: Any = None,
        *,
        owner: str = "cli",
        source: str = "cli",
        content_name: str = "",
        style_names: Iterable[str] = (),
        device: str = "",
        weights: str = "",
        status: str = "running",
        cell_key: str | None = None,
    ) -> int:
        """A new run of `content` in the manner of `styles` under `config` (a Config or a dict);
        returns its id, never one used before. `cell_key`: a sweep cell's identity (`find_cell`)."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        now = time.time()
        run = {
            "created": now,
            "source": source,
            "owner": owner,
            "status": status,
            "content_name": content_name,
            "style_names": json.dumps(list(style_names)),
            "config": _config_json(config),
            "device": device,
            "weights": weights,
            "cell_key": cell_key,
            **_liveness(now),
        }
        with self._write() as db:
            hashes = [self._put_image(db, im) for im in (content, *styles)]
            run_id = db.execute(
                f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' * len(run))})",
                tuple(run.values()),
            ).lastrowid
            db.executemany(
                "INSERT INTO run_images VALUES (?, ?, ?, ?)",
                [(run_id, "style" if i else "content", max(0, i - 1), h) for i, h in enumerate(hashes)],
            )
        self._last[run_id] = time.monotonic()
        return run_id

    def due(self, run_id: int, every: float = CHECKPOINT_SECONDS) -> bool:
        """Whether a live run's next routine checkpoint is due (`every` seconds since the last)."""
        return time.monotonic() - self._last.get(run_id, -math.inf) >= every

    def checkpoint(
        self,
        run_id: int,
        image: Image.Image | bytes | None = None,
        history: Iterable[Any] = (),
        events: Iterable[Any] | None = None,
        status: str | None = None,
        evals: int | None = None,
        seconds: float | None = None,
        config: Any = None,
        changes: list[dict] | None = None,
        *,
        message: str | None = None,
        progress: bytes | None = None,
        scores: dict | None = None,
    ) -> bool:
        """Save a live run: its latest image, the history records not saved yet (the whole
        history may be passed every time), and whatever else is given. Cheap: one transaction.

        Never raises into the run for the store's sake: on a full disk (or any write error) it
        returns False and sets `stopped` to say so; the next checkpoint that succeeds clears it.
        """
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        run_dir = self.home / "runs" / str(run_id)
        sets: dict[str, Any] = {
            "status": status,
            "evals": evals,
            "seconds": seconds,
            "message": message,
            "config": None if config is None else _config_json(config),
            "changes": None if changes is None else json.dumps(changes),
            "events": None if events is None else json.dumps([_plain(e) for e in events]),
            "scores": None if scores is None else json.dumps(scores),
            **_liveness(time.time()),
        }
        history = list(history)
        if history:
            sets["final_loss"] = _plain(history[-1])["total"]
        try:
            if image is not None:  # a routine checkpoint favours speed over a smaller file
                data, ext = _encode(image, sets["config"], fast=status not in ENDED)
                _write_atomic(run_dir / f"latest.{ext}", data)
                sets["image"] = f"runs/{run_id}/latest.{ext}"
            if progress is not None:
                _write_atomic(run_dir / "progress.gif", progress)
                sets["progress"] = f"runs/{run_id}/progress.gif"
            sets = {k: v for k, v in sets.items() if v is not None}
            # The whole history may come every time; only the records after the saved ones are new.
            last = self._db().execute("SELECT MAX(step) FROM records WHERE run_id = ?", (run_id,))
            last = last.fetchone()[0]
            new = [_plain(r) for r in history if last is None or _plain_step(r) > last]
            with self._write() as db:
                updated = db.execute(
                    f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                    (*sets.values(), run_id),
                ).rowcount
                db.executemany(
                    "INSERT OR IGNORE INTO records VALUES (?, ?, ?)",
                    [(run_id, r["step"], json.dumps(r)) for r in new if updated],
                )
        except (OSError, sqlite3.Error) as exc:
            full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
                getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            )
            why = "the disk is full" if full else f"the store could not be written ({exc})"
            self.stopped = f"Checkpoints stopped: {why}. The run goes on, unsaved, until there is room."
            return False
        self.stopped = None
        if not updated:  # deleted meanwhile (from another page): leave no files behind
            shutil.rmtree(run_dir, ignore_errors=True)
            return False
        self._last[run_id] = time.monotonic()
        return True

    def finish(
        self, run_id: int, status: str, image: Image.Image | bytes | None = None, **state: Any
    ) -> str | None:
        """The end of a run (done, stopped, failed): a last checkpoint (same keywords, plus
        `progress`, the GIF), then the size limit. Returns a notice for the user, if any."""
        if status not in ENDED:
            raise ValueError(f"a run ends as one of {', '.join(ENDED)}, not {status!r}")
        if not self.checkpoint(run_id, image, status=status, **state):
            return self.stopped
        try:
            return self.prune()
        except (OSError, sqlite3.Error) as exc:  # the run is saved; the limit waits for next time
            return f"The run store's size limit could not be checked: {exc}"

    def mark_interrupted(self, stale_after: float = STALE_SECONDS) -> list[int]:
        """Mark live runs whose process is gone as 'interrupted'; they keep their last checkpoint.

        A run of this machine is gone when its process is (by pid and process start time, so a
        reused pid is no alibi); a run of another machine (or a database of version 1, without
        pids), when its heartbeat is older than `stale_after` seconds. Returns their ids.
        """
        now = time.time()
        rows = self._db().execute(
            "SELECT id, pid, proc_start, host, heartbeat FROM runs WHERE status IN (?, ?)", LIVE
        )
        gone = [
            r["id"]
            for r in rows
            if (
                not _alive(r["pid"], r["proc_start"])
                if r["pid"] and r["host"] == HOST and os.name == "posix"
                else (r["heartbeat"] or 0) < now - stale_after
            )
        ]
        if not gone:
            return gone
        text = "interrupted: its process ended without saving (killed or crashed); last checkpoint kept"
        with self._write() as db:
            db.executemany(
                "UPDATE runs SET status = 'interrupted', message = ?, updated = ?"
                " WHERE id = ? AND status IN ('running', 'paused')",
                [(text, now, run_id) for run_id in gone],
            )
        return gone

    def list_runs(self, owner: str | None, shared: bool = False, limit: int = 500) -> list[RunSummary]:
        """Runs newest first: those of `owner`, or everyone's when `shared` (or owner is None)."""
        mine = owner is not None and not shared
        rows = self._db().execute(
            f"{_SELECT} {'WHERE owner = ?' if mine else ''} ORDER BY id DESC LIMIT ?",
            (owner, limit) if mine else (limit,),
        )
        return [RunSummary(**self._summary(r)) for r in rows]

    def get_run(self, run_id: int, owner: str | None, shared: bool = False) -> StoredRun:
        """Everything stored of a run. KeyError if there is none; PermissionError if it belongs to
        another identity and the store is not shared (owner None: any run)."""
        db = self._db()
        r = db.execute(f"{_SELECT} WHERE id = ?", (run_id,)).fetchone()
        _check_owner(r, run_id, owner, shared)
        images = db.execute(
            "SELECT role, hash FROM run_images WHERE run_id = ? ORDER BY role, position", (run_id,)
        ).fetchall()
        history = db.execute("SELECT data FROM records WHERE run_id = ? ORDER BY step", (run_id,))
        return StoredRun(
            **self._summary(r),
            config=json.loads(r["config"]),
            changes=json.loads(r["changes"]),
            history=[json.loads(d) for (d,) in history],
            events=json.loads(r["events"]),
            message=r["message"],
            device=r["device"],
            weights=r["weights"],
            content=next(h for role, h in images if role == "content"),
            styles=tuple(h for role, h in images if role == "style"),
            progress=self.home / r["progress"] if r["progress"] else None,
            cell_key=r["cell_key"],
            scores=json.loads(r["scores"]) if r["scores"] else None,
        )

    def find_cell(self, cell_key: str) -> int | None:
        """The newest finished ('done') run of a sweep cell with this identity, if any."""
        row = (
            self._db()
            .execute(
                "SELECT id FROM runs WHERE cell_key = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
                (cell_key,),
            )
            .fetchone()
        )
        return row["id"] if row else None

    def delete_run(self, run_id: int, owner: str | None) -> None:
        """Delete a run of `owner` (None: any) with its files, and its images unless another run
        uses them."""
        with self._write() as db:
            r = db.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
            _check_owner(r, run_id, owner, shared=False)
            hashes = {
                h for (h,) in db.execute("SELECT hash FROM run_images WHERE run_id = ?", (run_id,))
            }
            for table in ("run_images", "records"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            for h in hashes:  # unlinked while the write lock is held: no run can claim it meanwhile
                if db.execute("SELECT 1 FROM run_images WHERE hash = ?", (h,)).fetchone() is None:
                    (ext,) = db.execute("SELECT ext FROM images WHERE hash = ?", (h,)).fetchone()
                    db.execute("DELETE FROM images WHERE hash = ?", (h,))
                    (self.home / "images" / f"{h}.{ext}").unlink(missing_ok=True)
        shutil.rmtree(self.home / "runs" / str(run_id), ignore_errors=True)

    # ---- images and space --------------------------------------------------------------

    def add_image(self, image: ImageLike) -> str:
        """Store an image once (PNG and JPEG bytes as given, anything else as PNG); its hash."""
        with self._write() as db:
            return self._put_image(db, image)

    def image_path(self, digest: str) -> Path:
        row = self._db().execute("SELECT ext FROM images WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(f"no stored image {digest}")
        return self.home / "images" / f"{digest}.{row['ext']}"

    def latest_image(self, run_id: int) -> Path | None:
        """The file of the run's latest checkpointed image (its final image once ended)."""
        row = self._db().execute("SELECT image FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self.home / row["image"] if row and row["image"] else None

    def size_bytes(self) -> int:
        """Bytes used: the files, and the database's pages in use."""
        return self._files_bytes() + self._db_bytes()

    def prune(self) -> str | None:
        """Keep the store under `max_bytes` (NST_STORE_MAX_GB) by dropping what a finished run can
        do without, oldest first: its progress animation and loss detail (thinned to KEEP_RECORDS
        records). Final images, settings and inputs stay. Returns what was done, for the user."""
        files = self._files_bytes()
        if files + self._db_bytes() <= self.max_bytes:
            return None
        db = self._db()
        rows = db.execute(
            "SELECT id, progress FROM runs WHERE pruned = 0 AND status NOT IN (?, ?)"
            " ORDER BY updated, id",
            LIVE,
        ).fetchall()
        dropped = 0
        for r in rows:
            if files + self._db_bytes() <= self.max_bytes:
                break
            if r["progress"]:
                with contextlib.suppress(FileNotFoundError):  # another process pruning too
                    gif = self.home / r["progress"]
                    files -= gif.stat().st_size
                    gif.unlink()
            with self._write() as w:
                _thin_records(w, r["id"])
                w.execute("UPDATE runs SET pruned = 1, progress = NULL WHERE id = ?", (r["id"],))
            dropped += 1
        size, limit = files + self._db_bytes(), f"{self.max_bytes / 1e9:g} GB limit (NST_STORE_MAX_GB)"
        still = f"It holds {size / 1e9:.2f} GB: delete runs in the gallery to make room."
        if not dropped:
            return f"The run store is over its {limit} with nothing left to drop. {still}"
        text = (
            f"The run store was over its {limit}: the progress animations and loss detail of the "
            f"{dropped} oldest finished run(s) were dropped; final images, settings and inputs stay."
        )
        return text if size <= self.max_bytes else f"{text} {still}"

    def close(self) -> None:
        """Close this thread's connection (other threads' close when those threads end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: transactions are explicit (`_write`). timeout = busy timeout.
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            try:
                db.execute("PRAGMA foreign_keys = ON")
                db.execute("PRAGMA synchronous = NORMAL")  # WAL: a killed process loses nothing
            except sqlite3.Error:
                db.close()
                raise
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock first, so concurrent writers
        wait their turn (busy timeout) instead of failing to upgrade a read lock."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _prepare(self) -> str | None:
        """Bring the database to VERSION. Returns why the file can't be ours, or None."""
        try:
            self._db().execute("PRAGMA journal_mode = WAL")
            with self._write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                tables = {
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
                if (version or tables - {"sqlite_sequence"}) and not tables >= TABLES:
                    return "it is an SQLite database of some other program"
                if version > VERSION:
                    return f"its schema version {version} is newer than this nst knows ({VERSION})"
                for v in range(version + 1, VERSION + 1):
                    MIGRATIONS[v](db)
                db.execute(f"PRAGMA user_version = {VERSION}")
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                raise  # busy, read-only ...: not the file's fault, nothing to move aside
            return f"it is not a readable SQLite database ({exc})"
        return None

    def _move_aside(self) -> Path:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        while aside.exists():
            aside = aside.with_name(aside.name + "+")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{self.path}{suffix}"):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        return aside

    def _put_image(self, db: sqlite3.Connection, image: ImageLike) -> str:
        if isinstance(image, str):
            self.image_path(image)  # a hash: it must be stored already
            return image
        data, ext = _encode(image)
        digest = hashlib.sha256(data).hexdigest()
        path = self.home / "images" / f"{digest}.{ext}"
        if not path.exists():
            _write_atomic(path, data)
        db.execute(
            "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?)", (digest, ext, len(data), time.time())
        )
        return digest

    def _summary(self, r: sqlite3.Row) -> dict[str, Any]:
        d = {f.name: r[f.name] for f in dataclasses.fields(RunSummary) if f.name != "thumbnail"}
        d["style_names"] = tuple(json.loads(d["style_names"]))
        d["thumbnail"] = self.home / r["image"] if r["image"] else None
        return d

    def _files_bytes(self) -> int:
        total = 0
        for d, _, names in (*os.walk(self.home / "images"), *os.walk(self.home / "runs")):
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # renamed or deleted meanwhile
                    total += os.stat(os.path.join(d, name)).st_size
        return total

    def _db_bytes(self) -> int:
        db = self._db()
        pages = (
            db.execute("PRAGMA page_count").fetchone()[0]
            - db.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return pages * db.execute("PRAGMA page_size").fetchone()[0]


_SELECT = (
    "SELECT *, json_extract(config, '$.size') AS size, json_extract(config, '$.beta') AS beta, "
    "json_extract(config, '$.style_strength') AS style_strength, "
    "json_extract(config, '$.alpha') AS alpha, json_extract(config, '$.convention') AS convention "
    "FROM runs"
)


def _check_owner(row: sqlite3.Row | None, run_id: int, owner: str | None, shared: bool) -> None:
    if row is None:
        raise KeyError(f"no run {run_id} in the store")
    if owner is not None and not shared and row["owner"] != owner:
        raise PermissionError(f"run {run_id} belongs to someone else")


def _thin_records(db: sqlite3.Connection, run_id: int) -> None:
    steps = [
        s for (s,) in db.execute("SELECT step FROM records WHERE run_id = ? ORDER BY step", (run_id,))
    ]
    if len(steps) > KEEP_RECORDS:
        keep = {steps[round(i * (len(steps) - 1) / (KEEP_RECORDS - 1))] for i in range(KEEP_RECORDS)}
        db.executemany(
            "DELETE FROM records WHERE run_id = ? AND step = ?",
            [(run_id, s) for s in steps if s not in keep],
        )


def _write_atomic(path: Path, data: bytes) -> None:
    """The whole file or none: a temporary file in the same folder, then a rename over the old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode(
    image: Image.Image | bytes, config_json: str | None = None, fast: bool = False
) -> tuple[bytes, str]:
    """File bytes and extension. PNG and JPEG bytes stay as given (an upload is kept as the same
    file); other images become PNG, with the config embedded as `nst.record.export.png_bytes` does."""
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return data, "png"
        if data.startswith(b"\xff\xd8\xff"):
            return data, "jpg"
        with Image.open(io.BytesIO(data)) as im:
            image = im.convert("RGB")
    info = PngImagePlugin.PngInfo()
    if config_json:
        info.add_text(CONFIG_KEY, config_json)
    buf = io.BytesIO()
    # Fast: stored, not deflated. A 512 px checkpoint: 13 ms and 576 KiB, against 29 ms and
    # 445 KiB at level 1 (AMD EPYC, 2 cores); the final image is compressed (level 6).
    image.save(buf, format="PNG", pnginfo=info, compress_level=0 if fast else 6)
    return buf.getvalue(), "png"


def _config_json(config: Any) -> str:
    return json.dumps(
        config.to_dict() if hasattr(config, "to_dict") else dict(config or {}), sort_keys=True
    )


def _liveness(now: float) -> dict[str, Any]:
    """Who is running a live run, to tell later whether it still is."""
    return {
        "updated": now,
        "heartbeat": now,
        "pid": os.getpid(),
        "proc_start": _proc_start(),
        "host": HOST,
    }


def _plain(item: Any) -> dict:
    return dataclasses.asdict(item) if dataclasses.is_dataclass(item) else dict(item)


def _plain_step(item: Any) -> int:
    return item["step"] if isinstance(item, dict) else item.step


def _proc_start(pid: int | str = "self") -> str | None:
    """When a process started (Linux: clock ticks since boot), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    return started is None or _proc_start(pid) in (None, started)


def _max_bytes_from_env() -> float:
    text = os.environ.get("NST_STORE_MAX_GB", "2")
    try:
        return float(text) * 1e9
    except ValueError:
        raise ValueError(f"NST_STORE_MAX_GB must be a number of gigabytes, not {text!r}") from None
