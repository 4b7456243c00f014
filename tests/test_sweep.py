"""Sweeps: the grammar of --vary, the coarse-first order, the layout, the command line's outputs,
and that a rerun or a stopped sweep computes only what is missing."""

from __future__ import annotations

import csv
import threading
import time

import pytest

from nst.cli import main
from nst.compute.sweeper import SweepThread
from nst.engine.config import Config
from nst.lab.cells import LocalExecutor, read_inputs
from nst.lab.sweep import MAX_CELLS, Sweep, TooManyCells, parse_vary
from nst.record.export import read_png_config, read_png_meta
from nst.record.store import Store
from tests.conftest import REAL_WEIGHTS

# Real features where the weights are here (as on this project's machine), else untrained ones.
NET = ("vgg16", str(REAL_WEIGHTS)) if REAL_WEIGHTS.is_file() else ("vgg16", "random")
TINY = Config(size=64, steps=3, model=NET[0], weights=NET[1])


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture(scope="module")
def cat_swirls():
    return read_inputs("cat"), read_inputs("swirls")


# ---- the grammar of --vary ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, field, values",
    [
        ("beta=1e3..1e6 log 4", "beta", (1e3, 1e4, 1e5, 1e6)),
        ("alpha=0..1 lin 3", "alpha", (0.0, 0.5, 1.0)),
        ("size=128..512 lin 4", "size", (128, 256, 384, 512)),
        ("content_layer=conv2_2, conv4_2", "content_layer", ("conv2_2", "conv4_2")),
        ("content-layer=conv4_2", "content_layer", ("conv4_2",)),
        ("pooling=max,avg,max", "pooling", ("max", "avg")),
        ("w:conv4_1=0,0.5,1", "w:conv4_1", (0.0, 0.5, 1.0)),
        ("time_budget=0,10", "time_budget", (None, 10.0)),
    ],
)
def test_vary_reads_lists_ranges_and_layer_weights(text, field, values):
    axis = parse_vary(text)
    assert (axis.field, axis.values) == (field, values)


@pytest.mark.parametrize(
    "text, says",
    [
        ("gamma=1,2", "no setting named 'gamma'"),
        ("beta=lots", "'lots' is not a number"),
        ("beta=", "empty"),
        ("beta= , ,", "empty"),
        ("pooling=max,median", "pooling must be one of max, avg"),
        ("beta=-1,1", "beta must be at least"),
        ("size=100.5", "not a whole number"),
        ("beta=0..1e6 log 4", "above zero"),
        ("beta=1..10", "A..B log N"),
        ("beta=1..10 log 0", "1 to 10000 values"),
        ("pooling=max..avg lin 2", "a list of values, not a range"),
        ("style_weights=1", "w:conv4_1"),
        ("w:conv4_1=-1", "0 or more"),
        ("beta", "FIELD=VALUES"),
    ],
)
def test_vary_refuses_bad_input_with_a_sentence(text, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(".", r"\.")):
        parse_vary(text)


# ---- order and layout ---------------------------------------------------------------------


def test_cells_come_corners_first_then_midpoints(cat_swirls):
    sweep = Sweep(*cat_swirls, TINY, [parse_vary("beta=1e2..1e6 log 5"), parse_vary("pooling=max,avg")])
    order = [dict(c.values)["beta"] for c in sweep.cells()]
    assert order == [1e2, 1e2, 1e6, 1e6, 1e4, 1e4, 1e3, 1e3, 1e5, 1e5]
    assert len(sweep) == 10 and sweep.shape == (5, 2)


def test_the_last_varied_field_runs_across_and_inputs_add_rows(cat_swirls):
    cat, swirls = cat_swirls
    two_photos = cat + read_inputs("tubingen")
    one_axis = Sweep(two_photos, swirls, TINY, [parse_vary("beta=1e3,1e4,1e5")])
    assert one_axis.shape == (2, 3)
    places = {(c.content.name, dict(c.values)["beta"]): (c.row, c.col) for c in one_axis.cells()}
    assert places[("tubingen", 1e4)] == (1, 1)
    assert "tubingen × swirls\nβ=1e4" in {c.label for c in one_axis.cells()}
    batch = Sweep(two_photos, swirls + read_inputs("mosaic"), TINY)  # no --vary: photos x paintings
    assert batch.shape == (2, 2)
    assert {(c.row, c.col) for c in batch.cells()} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_cell_with_invalid_settings_is_refused_before_anything_runs(cat_swirls):
    with pytest.raises(ValueError, match="vgg16 has no layer.*conv9_9"):
        Sweep(*cat_swirls, TINY, [parse_vary("content_layer=conv4_2,conv9_9")])
    with pytest.raises(ValueError, match="beta is varied twice"):
        Sweep(*cat_swirls, TINY, [parse_vary("beta=1,2"), parse_vary("beta=3")])
    with pytest.raises(TooManyCells, match=f"401 cells, more than {MAX_CELLS}"):
        Sweep(*cat_swirls, TINY, [parse_vary("alpha=1..2 lin 401")])


# ---- running: resumable, stoppable ----------------------------------------------------------


def test_a_stopped_sweep_resumes_to_the_full_grid_computing_only_the_rest(cat_swirls, store):
    sweep = Sweep(*cat_swirls, TINY, [parse_vary("beta=1e3,1e6"), parse_vary("pooling=max,avg")])
    executor, stop, seen = LocalExecutor(), threading.Event(), []

    def after(result):
        seen.append(result)
        if len(seen) == 2:
            stop.set()

    first = sweep.run(store, executor, on_result=after, stop=stop)
    assert len(first) == 2 and not any(r.reused for r in first)
    assert len(sweep.todo(store)) == 2
    done = sweep.run(store, executor)
    assert len(done) == 4 and sum(r.reused for r in done) == 2
    assert [r.spec.index for r in done] == [0, 1, 2, 3]  # sheet order
    assert {r.run_id for r in done if r.reused} == {r.run_id for r in first}
    again = sweep.run(store, executor)
    assert all(r.reused for r in again) and len(store.list_runs(None)) == 4
    stored = store.get_run(done[0].run_id, None)
    assert (stored.source, stored.cell_key, stored.status) == ("sweep", done[0].spec.key, "done")
    assert stored.scores["seed_loss"] == pytest.approx(done[0].seed_loss)


def test_the_background_worker_reports_progress_and_stops_mid_cell(cat_swirls, store):
    sweep = Sweep(*cat_swirls, TINY.replace(steps=6), [parse_vary("beta=1e3,1e4,1e5,1e6")])
    worker = SweepThread(sweep, store, LocalExecutor())
    worker.start()
    deadline = time.monotonic() + 120
    while worker.progress().done < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    assert worker.join(60)
    progress = worker.progress()
    assert progress.error is None and not progress.running
    assert 1 <= progress.done < 4 and progress.total == 4
    assert progress.seconds_left is not None and progress.seconds_left > 0
    rest = SweepThread(sweep, store, LocalExecutor())
    rest.start()
    assert rest.join(240)
    final = rest.progress()
    assert final.error is None and final.done == 4 and final.seconds_left == 0
    assert sum(r.reused for r in final.results) == progress.done


# ---- the command line -----------------------------------------------------------------------


def sweep_cli(out, *more):
    model, weights = NET
    argv = ["sweep", "cat", "swirls", "-o", str(out), "--size", "64", "--steps", "3"]
    return main([*argv, "--model", model, "--weights", weights, "--device", "cpu", *more])


def test_a_2x2_sweep_writes_cells_csv_and_sheet_and_a_rerun_computes_nothing(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("NST_HOME", str(tmp_path / "home"))
    out = tmp_path / "grid"
    vary = ["--vary", "beta=1e3..1e6", "log", "2", "--vary", "content_layer=conv2_2,conv4_2"]
    assert sweep_cli(out, *vary) == 0
    first = capsys.readouterr()
    assert "4 cells, 0 already computed; 4 to compute: about" in first.err
    assert "4 computed" in first.err and first.out.count("done") == 4
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 4
    assert {(r["beta"], r["content_layer"]) for r in rows} == {
        (b, c) for b in ("1000.0", "1000000.0") for c in ("conv2_2", "conv4_2")
    }
    for r in rows:
        cell = out / r["file"]
        cfg = read_png_config(cell)
        assert (cfg.beta, cfg.content_layer, cfg.size) == (float(r["beta"]), r["content_layer"], 64)
        assert read_png_meta(cell)["evals"] == int(r["evals"]) == 3
        assert float(r["seed_loss"]) > 0 and float(r["seconds"]) > 0
    assert len(list((out / "cells").glob("*.png"))) == 4 and (out / "sheet.png").stat().st_size > 0

    assert sweep_cli(out, *vary) == 0
    again = capsys.readouterr()
    assert "4 already computed; 0 to compute" in again.err and "0 computed" in again.err
    assert again.out.count("(stored)") == 4


@pytest.mark.parametrize(
    "vary, says",
    [
        (["gamma=1,2"], "no setting named 'gamma'"),
        (["beta=lots"], "'lots' is not a number"),
        (["pooling="], "empty"),
        (["beta=1..1e6", "log", "21", "--vary", "alpha=1..2", "lin", "20"], "420 cells, more than 400"),
    ],
)
def test_bad_vary_input_exits_2_with_one_line(tmp_path, capsys, vary, says):
    assert sweep_cli(tmp_path / "out", "--vary", *vary) == 2
    err = capsys.readouterr().err
    assert err.startswith("nst: error: --vary" if "cells" not in says else "nst: error: the grid")
    assert says in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
