"""Sweeps: the same stylization over photos x paintings x a grid of settings, cell by cell.

A sweep is content photo(s) x painting(s) x a grid over Config fields. `parse_vary` reads one
axis of the grid:

  FIELD=V1,V2,...      the values, written as the field's flag takes them (pooling=max,avg)
  FIELD=A..B log N     N numbers from A to B, evenly spaced on a log scale (beta=1e-2..1e2 log 5)
  FIELD=A..B lin N     N numbers from A to B, evenly spaced (size=128..512 lin 4; whole for ints)
  w:LAYER=V1,V2,...    one style layer's weight, the others keeping theirs (w:conv4_1=0,0.5,1)

Every cell is an ordinary run with the sweep's step count or time budget, kept in the run store
(source 'sweep') under its identity: a hash of the input images' bytes and the cell's full config.
A rerun finds the cells already computed and computes only the rest, so a stopped sweep resumes.

Cells are computed coarse grid first: the ends of every axis, then their midpoints, then the points
between those, so a half-done sweep already shows the trend. An `Executor` computes them
(`LocalExecutor`: one after another in this process; a cluster's executor can take its place);
the driver, `Sweep.run`, writes every result to the store. nst.compute.sweeper runs a sweep in a
thread that a page polls.

Sheet layout: the last varied field runs across; the inputs (photo, then painting) and the other
varied fields run down. With no varied field, the paintings run across and the photos down.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import re
import shutil
import threading
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from nst.engine.config import Config
from nst.engine.model import VGGFeatures, layer_names
from nst.lab.cells import (
    CellResult,
    CellSpec,
    Executor,
    Input,
    LocalExecutor,
    cell_key,
    record,
    stored_result,
)
from nst.lab.estimate import Pace, measure, run_seconds
from nst.lab.explore import Cell, grid_sheet
from nst.record.export import safe_filename
from nst.record.store import Store

MAX_CELLS = 400  # a larger grid runs only when confirmed (`limit=None`; the CLI's --yes)
SYMBOLS = {"alpha": "α", "beta": "β", "style_strength": "strength"}
# results.csv: after row, col, content, style and the varied values; then the cell's file
COLUMNS = ("seed_loss", "content_loss", "style_loss", "run_loss", "seconds", "evals", "status")
COLUMNS += ("reused", "run_id")
_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
_RANGE = re.compile(r"^(\S+?)\s*\.\.\s*(\S+)\s+(log|lin)\s+(\d+)$")


# ---- what varies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One varied setting: a Config field, or `w:LAYER` for one style layer's weight."""

    field: str
    values: tuple

    @property
    def name(self) -> str:
        """As labels say it: α and β for the weights, w(conv4_1) for a layer's weight."""
        if self.field.startswith("w:"):
            return f"w({self.field[2:]})"
        return SYMBOLS.get(self.field, self.field)

    def apply(self, cfg: Config, value: Any) -> Config:
        if self.field.startswith("w:"):
            weights = {**dict(cfg.style_weights), self.field[2:]: value}
            return cfg.replace(style_weights=tuple(weights.items()))
        if self.field == "style_strength":  # a strength asked for is used: no exact β over it
            return cfg.replace(style_strength=value, beta=None)
        return cfg.replace(**{self.field: value})


def fmt(value: Any) -> str:
    """A value as a label shows it: 1000, 1e6, 2.15e-5, conv4_2."""
    if isinstance(value, float):
        return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{value:.3g}")
    return "none" if value is None else str(value)


def parse_vary(text: str) -> Axis:
    """'FIELD=VALUES' (see the module's docstring) -> Axis. ValueError with one sentence."""
    name, eq, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not name.startswith("w:"):
        name = name.replace("-", "_")
    if not eq or not name:
        raise ValueError("write FIELD=VALUES, e.g. style_strength=0..6 lin 7 or pooling=max,avg")
    kind = _kind(name)
    if m := _RANGE.match(spec):
        values = _range(name, kind, *m.groups())
    elif ".." in spec:
        raise ValueError(f"write a range as A..B log N or A..B lin N, not {spec!r}")
    else:
        values = [_convert(kind, v.strip()) for v in spec.split(",") if v.strip()]
    if not values:
        raise ValueError(f"the list of values for {name} is empty")
    values = list(dict.fromkeys(values))  # a value given twice is one column
    for v in values:
        _check(name, v)
    return Axis(name, tuple(values))


def _kind(name: str) -> str:
    if name.startswith("w:"):
        return "float"
    if name in ("style_weights", "style_blend"):
        raise ValueError(f"{name} is not varied whole: vary one layer's weight, e.g. w:conv4_1=0,0.5,1")
    if name not in _FIELDS:
        raise ValueError(f"no setting named {name!r}")
    hint = typing.get_type_hints(Config)[name]
    return {int: "int", float: "float", float | None: "float?"}.get(hint, "str")


def _convert(kind: str, text: str) -> Any:
    if kind == "str":
        return text
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if kind == "int":
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        return int(number)
    return None if kind == "float?" and number == 0 else number  # time_budget 0: no limit


def _range(name: str, kind: str, a: str, b: str, mode: str, n: str) -> list:
    if kind == "str":
        raise ValueError(f"{name} takes a list of values, not a range")
    lo, hi, count = _convert("float", a), _convert("float", b), int(n)
    if not 1 <= count <= 10_000:
        raise ValueError(f"a range has 1 to 10000 values, not {count}")
    if mode == "log" and (lo <= 0 or hi <= 0):
        raise ValueError("a log range needs numbers above zero")
    t = [i / (count - 1) for i in range(count)] if count > 1 else [0.0]
    points = [lo * (hi / lo) ** f if mode == "log" else lo + (hi - lo) * f for f in t]
    if kind == "int":
        return [round(p) for p in points]
    return [_convert(kind, f"{p:.6g}") for p in points]  # 1e4, not 10000.000000000002


def _check(name: str, value: Any) -> None:
    if name.startswith("w:"):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"a style layer's weight is a number of 0 or more, not {value}")
        return
    Config().replace(**{name: value}).validated()


# ---- the order of work ------------------------------------------------------------------------------


def _levels(n: int) -> list[int]:
    """How late each of n points along an axis comes: both ends 0, their midpoint 1, ..."""
    level = [0] * n
    spans, depth = [(0, n - 1)], 1
    while spans:
        spans_next = []
        for a, b in spans:
            if b - a >= 2:
                m = (a + b) // 2
                level[m] = depth
                spans_next += [(a, m), (m, b)]
        spans, depth = spans_next, depth + 1
    return level


class TooManyCells(ValueError):
    pass


class Sweep:
    """Photos x paintings x the grid of `axes` over `base`. ValueError (one sentence) when a cell's
    settings are invalid; TooManyCells beyond `limit` cells (None: no limit)."""

    def __init__(
        self,
        contents: Sequence[Input],
        styles: Sequence[Input],
        base: Config,
        axes: Sequence[Axis] = (),
        limit: int | None = MAX_CELLS,
    ):
        if not contents or not styles:
            raise ValueError("a sweep needs at least one photo and one painting")
        fields = [a.field for a in axes]
        if twice := next((f for f in fields if fields.count(f) > 1), None):
            raise ValueError(f"{twice} is varied twice")
        self.contents, self.styles, self.axes = list(contents), list(styles), tuple(axes)
        self.base = base.validated()
        self.dims = [len(self.contents), len(self.styles), *(len(a.values) for a in self.axes)]
        count = math.prod(self.dims)
        if limit is not None and count > limit:
            raise TooManyCells(
                f"the grid has {count} cells, more than {limit}: narrow it or confirm (--yes)"
            )
        down = math.prod(self.dims[:-1])
        self.shape = (down, self.dims[-1]) if self.axes else (self.dims[0], self.dims[1])
        self._cells = sorted(
            (self._cell(coord) for coord in itertools.product(*map(range, self.dims))),
            key=lambda c: (c.level, c.row, c.col),
        )

    def __len__(self) -> int:
        return len(self._cells)

    def cells(self) -> list[CellSpec]:
        """Every cell, coarse grid first (the order they are computed in)."""
        return list(self._cells)

    def title(self) -> str:
        def names(inputs: list[Input]) -> str:
            return inputs[0].stem if len(inputs) == 1 else f"{len(inputs)} images"

        b = self.base
        varied = {a.field for a in self.axes}
        budget = f"{b.time_budget:g} s" if b.time_budget else f"{b.steps} steps"
        if varied & {"steps", "time_budget"}:
            budget = "steps varied" if "steps" in varied else "seconds varied"
        net = f"{b.model}, UNTRAINED weights" if b.weights == "random" else b.model
        return f"{names(self.contents)} × {names(self.styles)} · {b.size} px · {budget} · {net}"

    def _cell(self, coord: tuple[int, ...]) -> CellSpec:
        ci, si, *vi = coord
        content, style, cfg = self.contents[ci], self.styles[si], self.base
        values = tuple((a.field, a.values[i]) for a, i in zip(self.axes, vi, strict=True))
        parts = [f"{a.name}={fmt(v)}" for a, (_, v) in zip(self.axes, values, strict=True)]
        if len(self.contents) * len(self.styles) > 1:
            parts.insert(0, f"{content.stem} × {style.stem}")
        label = "\n".join(parts)
        try:
            for a, (_, v) in zip(self.axes, values, strict=True):
                cfg = a.apply(cfg, v)
            cfg = cfg.validated()
            known = layer_names(cfg.model)
            missing = [n for n in (*dict(cfg.style_weights), cfg.content_layer) if n not in known]
            if missing:
                raise ValueError(f"{cfg.model} has no layer(s) {', '.join(missing)}")
        except ValueError as exc:
            raise ValueError(f"cell {label.replace(chr(10), ', ')}: {exc}") from None
        if self.axes:
            row = ci * len(self.styles) + si
            for a, i in zip(self.axes[:-1], vi[:-1], strict=True):
                row = row * len(a.values) + i
            col = vi[-1]
        else:
            row, col = ci, si
        levels = [_levels(n)[i] for n, i in zip(self.dims, coord, strict=True)]
        order = max(levels) * 100 + sum(levels)
        index = row * self.shape[1] + col
        return CellSpec(
            index, row, col, content, style, cfg, values, label, cell_key(content, style, cfg), order
        )

    # ---- cost and work ---------------------------------------------------------------

    def todo(self, store: Store | None) -> list[CellSpec]:
        """The cells not computed yet (not in `store`), coarse grid first."""
        return [c for c in self._cells if store is None or store.find_cell(c.key) is None]

    def estimate(self, pace: Pace, store: Store | None = None, device: str = "") -> Estimate:
        """Seconds to compute the cells not in `store` yet, at `pace` (see `measure_pace`)."""
        todo = self.todo(store)
        seconds = 0.0
        for c in todo:
            w, h = c.content.size
            f = c.config.size / max(w, h)
            scoring = pace.per_eval(round(w * f) * round(h * f))  # the seed score of the file
            seconds += run_seconds(pace, c.config, c.content.size, c.config.model) + scoring
        return Estimate(len(self._cells), len(self._cells) - len(todo), seconds, device)

    def run(
        self,
        store: Store,
        executor: Executor | None = None,
        *,
        on_result: Callable[[CellResult], None] | None = None,
        stop: threading.Event | None = None,
        owner: str = "cli",
    ) -> list[CellResult]:
        """Compute the cells not in `store`, coarse grid first, each stored as it is done; returns
        every cell's result (computed now or before) in sheet order. When `stop` is set, the cell
        being computed is dropped and the rest wait for the next run."""
        executor = executor or LocalExecutor()
        results: dict[int, CellResult] = {}

        def take(result: CellResult) -> None:
            results[result.spec.index] = result
            if on_result:
                on_result(result)

        todo = []
        for spec in self._cells:
            found = stored_result(store, spec)
            if found is None:
                todo.append(spec)
            else:
                take(found)
        by_index = {c.index: c for c in todo}
        for outcome in executor.map(todo, stop or threading.Event()):
            if outcome.status != "stopped":
                take(record(store, by_index[outcome.index], outcome, owner))
        return [results[i] for i in sorted(results)]


@dataclass(frozen=True)
class Estimate:
    cells: int
    reused: int  # already in the store
    seconds: float  # to compute the rest, on this machine
    device: str = ""

    def __str__(self) -> str:
        todo = self.cells - self.reused
        per = f" ({self.seconds / todo:.1f} s a cell)" if todo else ""
        on = f" on {self.device}" if self.device else ""
        return (
            f"{self.cells} cells, {self.reused} already computed; {todo} to compute: "
            f"about {self.seconds:.0f} s{per}{on}"
        )


def measure_pace(sweep: Sweep, model: VGGFeatures) -> Pace:
    """This machine's pace for the sweep's runs, timed at up to 256 px (a few seconds on a CPU)."""
    side = max(32, min(256, max(c.config.size for c in sweep.cells())))
    return measure(model, sweep.base.replace(size=side), sizes=(max(32, side // 2), side))


def device_name(device: torch.device) -> str:
    """The device and, for a CPU, its model (every timing names the machine)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        cpu = ""
    return f"{device.type} ({cpu}, {torch.get_num_threads()} threads)" if cpu else device.type


# ---- outputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outputs:
    sheet: Path
    csv: Path
    cells: list[Path]


def cell_filename(spec: CellSpec) -> str:
    values = "-".join(f"{f.removeprefix('w:')}={fmt(v)}" for f, v in spec.values)
    stem = safe_filename(f"{spec.content.stem}-{spec.style.stem}-{values}.png")
    return f"r{spec.row:02d}c{spec.col:02d}-{stem}.png"


def sheet_image(sweep: Sweep, results: Sequence[CellResult], cell_px: int | None = None) -> Image.Image:
    """The grid, each cell labelled with its varied values and seed loss (β and α as such)."""
    cells = []
    for r in results:
        with Image.open(r.image) as im:
            label = f"{r.spec.label}\nloss {fmt(r.seed_loss)}".lstrip("\n")
            cells.append(Cell(r.spec.row, r.spec.col, label, im.convert("RGB"), r.seed_loss))
    lines = max((c.label.count("\n") + 1 for c in cells), default=1)
    cell = cell_px or min(256, max(128, sweep.base.size))
    return grid_sheet(cells, *sweep.shape, cell=cell, title=sweep.title(), max_lines=lines)


def write_outputs(sweep: Sweep, results: Sequence[CellResult], folder: str | Path) -> Outputs:
    """DIR/sheet.png, DIR/results.csv (a row per cell) and DIR/cells/*.png (config embedded)."""
    folder = Path(folder)
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.spec.index)
    files = []
    for r in results:
        files.append(folder / "cells" / cell_filename(r.spec))
        shutil.copyfile(r.image, files[-1])
    sheet = folder / "sheet.png"
    sheet_image(sweep, results).save(sheet)
    table = folder / "results.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "col", "content", "style", *(a.field for a in sweep.axes), *COLUMNS, "file"])
        for r, path in zip(results, files, strict=True):
            cell = [r.spec.row, r.spec.col, r.spec.content.name, r.spec.style.name]
            cell += [v for _, v in r.spec.values] + [getattr(r, n) for n in COLUMNS]
            w.writerow([*cell, path.relative_to(folder)])
    return Outputs(sheet, table, files)


def format_table(sweep: Sweep, results: Sequence[CellResult]) -> str:
    """The results as a plain-text table, in sheet order."""
    several = len(sweep.contents) * len(sweep.styles) > 1
    head = ["row", "col", *(["content", "style"] if several else []), *(a.name for a in sweep.axes)]
    head += ["seed loss", "content", "style", "seconds", "steps", "status"]
    rows = [head]
    for r in sorted(results, key=lambda r: r.spec.index):
        row = [str(r.spec.row), str(r.spec.col)]
        row += [r.spec.content.stem, r.spec.style.stem] if several else []
        row += [fmt(v) for _, v in r.spec.values]
        row += [fmt(r.seed_loss), fmt(r.content_loss), fmt(r.style_loss), f"{r.seconds:.1f}"]
        rows.append([*row, str(r.evals), f"{r.status} (stored)" if r.reused else r.status])
    widths = [max(map(len, col)) for col in zip(*rows, strict=True)]
    return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in rows)
