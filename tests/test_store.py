import errno
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import pytest
from PIL import Image

import nst.record.store
import nst.record.upkeep
from nst.engine.config import Config
from nst.engine.run import Event, LossRecord
from nst.record.export import read_png_config
from nst.record.schema import MIGRATIONS, TABLES, VERSION
from nst.record.store import Store
from tests.conftest import ROOT


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NST_STORE_MAX_GB", raising=False)
    return tmp_path / "home"


@pytest.fixture
def store(home):
    s = Store()
    yield s
    s.close()


def png(color, size=(16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def record(step: int) -> LossRecord:
    return LossRecord(step, 0, 16, 12, 100.0 / step, 1.0, 2.0, {"conv1_1": 2.0}, 0.0, 0.1 * step)


def stored_files(home, folder="images"):
    return sorted(p.name for p in (home / folder).iterdir())


def test_a_fresh_store_has_the_schema_at_the_latest_version(store, home):
    db = sqlite3.connect(home / "nst.db")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= TABLES
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION == max(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    assert {"owner", "source", "status", "config", "changes", "pid", "heartbeat", "image"} <= columns
    assert store.notices == [] and store.stopped is None


def test_the_home_is_nst_home_or_the_per_user_data_folder(home, monkeypatch):
    assert nst.record.store.default_home() == home
    monkeypatch.delenv("NST_HOME")
    assert nst.record.store.default_home().name == "nst"


def test_a_version_1_database_is_upgraded_and_keeps_its_runs(home):
    home.mkdir()
    db = sqlite3.connect(home / "nst.db")
    MIGRATIONS[1](db)  # the DDL of the first version, as its code wrote it
    an_hour_ago = time.time() - 3600
    db.execute(
        "INSERT INTO runs (created, updated, source, owner, status, config)"
        " VALUES (?, ?, 'cli', 'cli', 'running', '{\"size\": 256, \"beta\": 100000.0}')",
        (an_hour_ago, an_hour_ago),
    )
    db.execute("INSERT INTO images VALUES ('abc', 'png', 3, 0)")
    db.execute("INSERT INTO run_images VALUES (1, 'content', 0, 'abc')")
    db.execute("INSERT INTO run_images VALUES (1, 'style', 0, 'abc')")
    db.execute('INSERT INTO records VALUES (1, 1, \'{"step": 1, "total": 5.0}\')')
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()

    store = Store()
    version = sqlite3.connect(home / "nst.db").execute("PRAGMA user_version").fetchone()[0]
    assert version == VERSION
    run = store.get_run(1, "cli")
    assert (run.size, run.beta, run.history) == (256, 1e5, [{"step": 1, "total": 5.0}])
    # Version 1 kept no process ids: its stale 'running' run is found by its old heartbeat.
    assert run.status == "interrupted" and "interrupted" in store.notices[0]
    assert store.create_run(png("red"), [png("blue")]) == 2


def test_a_checkpoint_round_trips_the_image_bytes_and_the_history(store):
    cfg = Config(size=64, beta=2e5)
    names = {"content_name": "cat.png", "style_names": ["s.png"]}
    run_id = store.create_run(png("red"), [png("blue")], cfg, **names)
    image = png("green", (40, 30))
    changes = [{"step": 2, "changes": {"beta": 3e5}}]
    events = [Event(2, "beta: 200000 -> 300000")]
    hist = [record(s) for s in (1, 2, 3)]
    assert store.checkpoint(run_id, image, hist, events, "paused", 3, 0.3, cfg, changes)
    assert store.latest_image(run_id).read_bytes() == image
    assert store.checkpoint(run_id, None, [*hist, record(4), record(5)], status="running", evals=5)

    run = store.get_run(run_id, "cli")
    assert run.history == [asdict(record(s)) for s in range(1, 6)]  # each record once
    assert (run.status, run.evals, run.seconds, run.final_loss) == ("running", 5, 0.3, 20.0)
    assert run.changes == changes and run.events == [{"step": 2, "text": "beta: 200000 -> 300000"}]
    assert Config.from_dict(run.config) == cfg
    assert (run.content_name, run.style_names, run.thumbnail) == ("cat.png", ("s.png",), run.thumbnail)
    assert store.image_path(run.content).read_bytes() == png("red")

    # A PIL image is saved as a PNG that carries the config, like an exported one.
    store.finish(run_id, "done", Image.new("RGB", (8, 8), "white"), config=cfg)
    assert read_png_config(store.latest_image(run_id)) == cfg
    assert store.get_run(run_id, "cli").status == "done"


def test_a_checkpoint_slow_to_write_comes_less_often(store):
    """A print's image takes a while to encode: the routine checkpoints then take at most
    CHECKPOINT_SHARE of the run's time, where a small run's come every CHECKPOINT_SECONDS."""
    import numpy as np

    share = nst.record.store.CHECKPOINT_SHARE
    cfg = Config(size=64)
    small = store.create_run(png("red"), [png("blue")], cfg, content_name="a", style_names=["b"])
    big = store.create_run(png("red"), [png("blue")], cfg, content_name="a", style_names=["b"])
    noise = np.random.default_rng(0).integers(0, 256, (1536, 2048, 3), dtype=np.uint8)
    t0 = time.monotonic()
    assert store.checkpoint(big, Image.fromarray(noise), status="running")
    took = time.monotonic() - t0
    t0 = time.monotonic()
    assert store.checkpoint(small, png("green"), status="running")
    time.sleep((time.monotonic() - t0) / share + 0.01)
    assert store.due(small, every=0.0)  # a small image: soon
    assert not store.due(big, every=0.0)  # the big one: not until 1/share of its write time
    time.sleep(took / share)
    assert store.due(big, every=0.0)


def test_each_identity_sees_its_own_runs_unless_shared(store):
    alice = store.create_run(png("red"), [png("blue")], owner="alice", source="dashboard")
    bob = store.create_run(png("red"), [png("blue")], owner="bob", source="dashboard")
    assert [r.id for r in store.list_runs("alice")] == [alice]
    assert [r.id for r in store.list_runs("alice", shared=True)] == [bob, alice]
    with pytest.raises(PermissionError):
        store.get_run(bob, "alice")
    assert store.get_run(bob, "alice", shared=True).owner == "bob"
    with pytest.raises(PermissionError):
        store.delete_run(bob, "alice")
    store.delete_run(bob, "bob")
    with pytest.raises(KeyError):
        store.get_run(bob, "bob")
    assert store.create_run(png("red"), [png("blue")]) == bob + 1  # ids are never reused


def test_a_photo_used_by_two_runs_is_stored_once_and_leaves_with_the_last(store, home):
    photo = png("red")
    a = store.create_run(photo, [png("blue")])
    b = store.create_run(photo, [png("yellow")])
    assert len(stored_files(home)) == 3
    photo_file = store.image_path(store.get_run(a, None).content)
    store.delete_run(a, None)
    assert photo_file.exists() and len(stored_files(home)) == 2  # a's style went with it
    store.delete_run(b, None)
    assert stored_files(home) == [] and stored_files(home, "runs") == []


def test_a_corrupt_database_is_moved_aside_and_a_fresh_store_opens(home):
    home.mkdir()
    (home / "nst.db").write_bytes(b"this is not a database" * 100)
    store = Store()
    (notice,) = store.notices
    (aside,) = home.glob("nst.db.corrupt-*")
    assert "moved aside" in notice and aside.name in notice and "fresh store" in notice
    assert aside.read_bytes() == b"this is not a database" * 100
    assert store.create_run(png("red"), [png("blue")]) == 1


@pytest.mark.parametrize(
    "ddl,version,why",
    [
        ("CREATE TABLE customers (name TEXT)", 0, "other program"),
        ("CREATE TABLE customers (name TEXT)", 7, "other program"),
        (";".join(f"CREATE TABLE {t} (x)" for t in TABLES), VERSION + 1, "newer"),
    ],
)
def test_a_foreign_sqlite_database_is_moved_aside(home, ddl, version, why):
    home.mkdir()
    db = sqlite3.connect(home / "nst.db")
    db.executescript(f"{ddl}; PRAGMA user_version = {version};")
    db.close()
    store = Store()
    assert why in store.notices[0] and "moved aside" in store.notices[0]
    (aside,) = home.glob("nst.db.corrupt-*")
    assert sqlite3.connect(aside).execute("PRAGMA user_version").fetchone()[0] == version
    assert store.list_runs(None) == []


def test_a_run_whose_process_was_killed_is_interrupted_with_its_last_image(home):
    script = (
        "import sys, time\n"
        "from nst.record.store import Store\n"
        "s = Store()\n"
        "run = s.create_run(bytes.fromhex(sys.argv[1]), [bytes.fromhex(sys.argv[1])])\n"
        "s.checkpoint(run, bytes.fromhex(sys.argv[2]), status='running')\n"
        "print(run, flush=True)\n"
        "time.sleep(60)\n"
    )
    image = png("purple", (20, 20))
    child = subprocess.Popen(
        [sys.executable, "-c", script, png("red").hex(), image.hex()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    run_id = int(child.stdout.readline())
    mine = Store().create_run(png("red"), [png("blue")])  # a live run of a live process
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    store = Store()
    assert store.get_run(run_id, None).status == "interrupted"
    assert store.latest_image(run_id).read_bytes() == image
    assert store.get_run(mine, None).status == "running"
    assert "interrupted" in store.notices[0]


def test_a_run_of_another_machine_is_interrupted_when_its_heartbeat_is_stale(store, home):
    run_id = store.create_run(png("red"), [png("blue")], status="paused")
    db = sqlite3.connect(home / "nst.db")
    db.execute("UPDATE runs SET host = 'elsewhere', heartbeat = ?", (time.time() - 60,))
    db.commit()
    assert store.mark_interrupted(stale_after=600) == []
    assert store.mark_interrupted(stale_after=30) == [run_id]
    assert store.get_run(run_id, None).status == "interrupted"


def test_four_threads_writing_runs_at_once_lose_nothing(store, home):
    errors, ids = [], []

    def work(t: int) -> None:
        try:
            for i in range(20):
                run_id = store.create_run(png("red"), [png((t * 60, 0, 0))], owner=f"t{t}")
                store.checkpoint(run_id, png((t * 60, i, 0)), [record(1)], status="running")
                store.checkpoint(run_id, None, [record(1), record(2)], status="paused")
                history = [record(1), record(2), record(3)]
                store.finish(run_id, "done", png((t * 60, i, 1)), history=history)
                ids.append(run_id)
        except Exception as exc:  # reported below, with the thread's name
            errors.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    runs = store.list_runs(None)
    assert len(runs) == 80 and len(set(ids)) == 80
    assert {r.status for r in runs} == {"done"} and {r.final_loss for r in runs} == {100.0 / 3}
    assert all(len(store.get_run(r.id, None).history) == 3 for r in runs)
    assert len(stored_files(home)) == 5  # the shared photo once, four styles


def test_a_full_disk_stops_checkpoints_without_raising(store, monkeypatch):
    run_id = store.create_run(png("red"), [png("blue")])

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nst.record.store, "write_atomic", full)  # the writer it calls
    assert store.checkpoint(run_id, png("green"), [record(1)], status="running") is False
    assert "disk is full" in store.stopped and "run goes on" in store.stopped
    assert store.finish(run_id, "done", png("green")) == store.stopped
    monkeypatch.undo()
    assert store.checkpoint(run_id, png("green"), [record(1)]) is True
    assert store.stopped is None and store.latest_image(run_id).read_bytes() == png("green")


def test_over_the_size_limit_the_oldest_basket_lose_their_intermediate_files(home, monkeypatch):
    store = Store()
    runs = []
    for i in range(3):
        run_id = store.create_run(png("red"), [png("blue")])
        history = [record(s) for s in range(1, 301)]
        store.finish(run_id, "done", png((i, 0, 0)), history=history, progress=os.urandom(200_000))
        runs.append(run_id)
    live = store.create_run(png("red"), [png("blue")])
    store.checkpoint(live, png("white"), [record(1)])

    monkeypatch.setenv("NST_STORE_MAX_GB", str((store.size_bytes() - 150_000) / 1e9))
    store = Store()
    (notice,) = store.notices
    assert "over its" in notice and "NST_STORE_MAX_GB" in notice
    assert "1 oldest finished run(s)" in notice and "final images" in notice
    oldest, *rest = (store.get_run(r, None) for r in runs)
    assert oldest.progress is None and len(oldest.history) == nst.record.upkeep.KEEP_RECORDS
    assert oldest.history[0]["step"] == 1 and oldest.history[-1]["step"] == 300
    assert store.latest_image(oldest.id).read_bytes() == png((0, 0, 0))  # the final image stays
    assert all(r.progress.exists() and len(r.history) == 300 for r in rest)
    assert store.size_bytes() <= store.max_bytes

    monkeypatch.setenv("NST_STORE_MAX_GB", "0.000001")
    store = Store()
    assert "delete runs in the gallery" in store.notices[0]
    assert all(store.latest_image(r).exists() for r in [*runs, live])
    assert store.get_run(live, None).history == [asdict(record(1))]
