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
import errno
import hashlib
import json
import math
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from nst.record import upkeep
from nst.record.files import config_json, encode, liveness, plain, plain_step, write_atomic
from nst.record.schema import (
    ENDED,
    MIGRATIONS,
    SOURCES,
    STATUSES,
    TABLES,
    VERSION,
    RunSummary,
    StoredRun,
    summary_fields,
)
from nst.record.upkeep import STALE_SECONDS

CHECKPOINT_SECONDS = 5.0  # a live run reaches the disk at least this often (see `due`)
# ... unless its checkpoint is slow to write (a print's image): then at most this share of the
# run's time goes to checkpoints
CHECKPOINT_SHARE = 0.1

ImageLike = Image.Image | bytes | str  # a PIL image, the bytes of a file, or a stored image's hash


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
        self.max_bytes = max_bytes if max_bytes is not None else upkeep.max_bytes_from_env()
        self.notices: list[str] = []  # for the user, once: what happened on opening
        self.stopped: str | None = None  # why checkpoints are not being written, while they aren't
        self._local = threading.local()
        self._last: dict[int, float] = {}
        self._cost: dict[int, float] = {}  # seconds the run's last checkpoint took to write
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
            "config": config_json(config),
            "device": device,
            "weights": weights,
            "cell_key": cell_key,
            **liveness(now),
        }
        with self.transaction() as db:
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
        """Whether a live run's next routine checkpoint is due: `every` seconds since the last,
        or longer when a checkpoint takes more than CHECKPOINT_SHARE of that to write."""
        every = max(every, self._cost.get(run_id, 0.0) / CHECKPOINT_SHARE)
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
        t0 = time.monotonic()
        sets: dict[str, Any] = {
            "status": status,
            "evals": evals,
            "seconds": seconds,
            "message": message,
            "config": None if config is None else config_json(config),
            "changes": None if changes is None else json.dumps(changes),
            "events": None if events is None else json.dumps([plain(e) for e in events]),
            "scores": None if scores is None else json.dumps(scores),
            **liveness(time.time()),
        }
        history = list(history)
        if history:
            sets["final_loss"] = plain(history[-1])["total"]
        try:
            if image is not None:  # a routine checkpoint favours speed over a smaller file
                data, ext = encode(image, sets["config"], fast=status not in ENDED)
                write_atomic(run_dir / f"latest.{ext}", data)
                sets["image"] = f"runs/{run_id}/latest.{ext}"
            if progress is not None:
                write_atomic(run_dir / "progress.gif", progress)
                sets["progress"] = f"runs/{run_id}/progress.gif"
            sets = {k: v for k, v in sets.items() if v is not None}
            # The whole history may come every time; only the records after the saved ones are new.
            query = "SELECT MAX(step) FROM records WHERE run_id = ?"
            last = self.connection().execute(query, (run_id,)).fetchone()[0]
            new = [plain(r) for r in history if last is None or plain_step(r) > last]
            with self.transaction() as db:
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
        self._cost[run_id] = self._last[run_id] - t0
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
        """Mark live runs whose process is gone as 'interrupted' (nst.record.upkeep)."""
        return upkeep.mark_interrupted(self, stale_after)

    def prune(self) -> str | None:
        """Keep the store under `max_bytes` (NST_STORE_MAX_GB; nst.record.upkeep.prune)."""
        return upkeep.prune(self)

    def size_bytes(self) -> int:
        """Bytes used: the files, and the database's pages in use."""
        return upkeep.size_bytes(self)

    def list_runs(self, owner: str | None, shared: bool = False, limit: int = 500) -> list[RunSummary]:
        """Runs newest first: those of `owner`, or everyone's when `shared` (or owner is None)."""
        mine = owner is not None and not shared
        rows = self.connection().execute(
            f"{_SELECT} {'WHERE owner = ?' if mine else ''} ORDER BY id DESC LIMIT ?",
            (owner, limit) if mine else (limit,),
        )
        return [RunSummary(**summary_fields(r, self.home)) for r in rows]

    def get_run(self, run_id: int, owner: str | None, shared: bool = False) -> StoredRun:
        """Everything stored of a run. KeyError if there is none; PermissionError if it belongs to
        another identity and the store is not shared (owner None: any run)."""
        db = self.connection()
        r = db.execute(f"{_SELECT} WHERE id = ?", (run_id,)).fetchone()
        _check_owner(r, run_id, owner, shared)
        images = db.execute(
            "SELECT role, hash FROM run_images WHERE run_id = ? ORDER BY role, position", (run_id,)
        ).fetchall()
        history = db.execute("SELECT data FROM records WHERE run_id = ? ORDER BY step", (run_id,))
        return StoredRun(
            **summary_fields(r, self.home),
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
            self.connection()
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
        with self.transaction() as db:
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
        with self.transaction() as db:
            return self._put_image(db, image)

    def image_path(self, digest: str) -> Path:
        row = self.connection().execute("SELECT ext FROM images WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(f"no stored image {digest}")
        return self.home / "images" / f"{digest}.{row['ext']}"

    def latest_image(self, run_id: int) -> Path | None:
        """The file of the run's latest checkpointed image (its final image once ended)."""
        row = self.connection().execute("SELECT image FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self.home / row["image"] if row and row["image"] else None

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

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made on its first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: transactions are explicit (`transaction`). timeout = busy timeout.
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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. IMMEDIATE takes the write lock first, so concurrent writers
        wait their turn (busy timeout) instead of failing to upgrade a read lock."""
        db = self.connection()
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
            self.connection().execute("PRAGMA journal_mode = WAL")
            with self.transaction() as db:
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
        data, ext = encode(image)
        digest = hashlib.sha256(data).hexdigest()
        path = self.home / "images" / f"{digest}.{ext}"
        if not path.exists():
            write_atomic(path, data)
        db.execute(
            "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?)", (digest, ext, len(data), time.time())
        )
        return digest


_SELECT = "SELECT * FROM runs"


def _check_owner(row: sqlite3.Row | None, run_id: int, owner: str | None, shared: bool) -> None:
    if row is None:
        raise KeyError(f"no run {run_id} in the store")
    if owner is not None and not shared and row["owner"] != owner:
        raise PermissionError(f"run {run_id} belongs to someone else")
