"""A sweep's cells: its inputs, what one cell is, computing it, and keeping it in the run store.

A cell is an ordinary run with the sweep's step count or time budget, identified by a hash of its
input images' bytes and its full config (`cell_key`), so a rerun of the sweep finds it. An
`Executor` computes cells (`LocalExecutor`: one after another in this process;
nst.compute.cluster.RayExecutor on a cluster) and the driver (nst.lab.sweep.Sweep.run) keeps each
outcome with `record`, through nst.record.recorded.RecordedRun.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image

from nst import samples
from nst.compute.seats import lane_seats
from nst.engine.config import MAX_STEPS, Config
from nst.engine.image import MAX_INPUT_SIDE, ImageInputError, load_image, preprocess, resize_to
from nst.engine.losses import total_loss
from nst.engine.model import VGGFeatures, load_model, pick_device
from nst.engine.run import Run
from nst.engine.together import step_together
from nst.lab.score import SEED, SeedScore
from nst.record.export import png_bytes
from nst.record.recorded import RecordedRun
from nst.record.store import Store

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


# ---- inputs and cells ---------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """A photo or painting: its name as given and its file's bytes (they travel to a cluster)."""

    name: str
    data: bytes = field(repr=False)
    size: tuple[int, int] = (0, 0)  # (width, height) as read, for the estimate

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def image(self, side: int = MAX_INPUT_SIDE) -> Image.Image:
        return load_image(self.data, max_side=side, name=self.name)


def read_inputs(source: str | Path) -> list[Input]:
    """A sample name, an image file, or a folder (its images, by file name)."""
    path = Path(samples.resolve(str(source)))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ImageInputError(f"{source}: the folder holds no images")
        names = [str(p) for p in files]
    elif path.is_file():
        files, names = [path], [str(source)]
    else:
        raise ImageInputError(f"{source}: no such file or folder")
    inputs = []
    for name, p in zip(names, files, strict=True):
        data = p.read_bytes()
        inputs.append(Input(name, data, load_image(data, max_side=MAX_INPUT_SIDE, name=name).size))
    return inputs


@dataclass(frozen=True)
class CellSpec:
    """One cell of a sweep: everything needed to compute it, picklable."""

    index: int  # place on the sheet, row by row
    row: int
    col: int
    content: Input
    style: Input
    config: Config
    values: tuple[tuple[str, Any], ...]  # (field, value) of each varied setting
    label: str
    key: str  # identity: hash of the images' bytes and the config
    level: int  # 0 for the grid's corners, more for the points between (the order of work)


def cell_key(content: Input, style: Input, config: Config) -> str:
    ident = {"content": content.digest, "styles": [style.digest], "config": config.to_dict()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


# ---- computing a cell ---------------------------------------------------------------------


@dataclass(frozen=True)
class CellOutcome:
    """What an executor hands back for one cell (picklable)."""

    index: int
    status: str  # done, failed (the last good image is kept) or stopped (dropped)
    message: str
    png: bytes = field(repr=False)  # the written 8-bit image, config and facts embedded
    scores: dict  # seed_loss, content_loss, style_loss (of the written file), run_loss
    seconds: float
    evals: int
    history: list = field(repr=False)
    device: str
    weights: str


def compute_cell(
    spec: CellSpec, model: VGGFeatures, stop: threading.Event | None = None
) -> CellOutcome:
    """Run one cell to its end (or until `stop`) and score the file it writes."""
    run, content, style = start_cell(spec, model)
    while not run.finished:
        if stop is not None and stop.is_set():
            run.stop()
        else:
            run.step(5)
    return end_cell(spec, model, run, content, style)


def compute_together(
    specs: Sequence[CellSpec], model: VGGFeatures, slots: int, stop: threading.Event
) -> Iterator[CellOutcome]:
    """Cells `slots` at a time, stepped together (those of one size as one batch,
    nst.engine.together); each outcome as its cell ends, the next cell taking its place."""
    waiting, going = list(specs), []
    while waiting or going:
        if stop.is_set():
            waiting.clear()  # unstarted cells are dropped
        while waiting and len(going) < slots:
            spec = waiting.pop(0)
            going.append((spec, *start_cell(spec, model)))
        if stop.is_set():
            for _spec, run, *_ in going:
                run.stop()
        else:
            errors = step_together([run for _spec, run, *_ in going])
            for (_spec, run, *_), exc in zip(going, errors, strict=True):
                if exc is not None:
                    run.fail(f"the run stopped on an error: {exc}")
        for cell in [c for c in going if c[1].finished]:
            going.remove(cell)
            yield end_cell(cell[0], model, *cell[1:])


def start_cell(spec: CellSpec, model: VGGFeatures) -> tuple[Run, Image.Image, Image.Image]:
    """The cell's run, and its photo and painting."""
    cfg = spec.config
    side = max(MAX_INPUT_SIDE, cfg.size)
    content, style = spec.content.image(side), spec.style.image(side)
    run = Run(model, content, [style], cfg, frame_every=MAX_STEPS)  # no animation frames
    return run, content, style


def end_cell(spec: CellSpec, model: VGGFeatures, run: Run, content, style) -> CellOutcome:
    """The outcome of a cell's ended run: its written file, scored as written."""
    cfg = spec.config
    device = str(model.mean.device)
    if run.status == "stopped":
        return CellOutcome(spec.index, "stopped", "", b"", {}, run.seconds, run.evals, [], device, "")
    meta = {"weights": run.weights_source, "device": device, "evals": run.evals}
    meta |= {"seconds": round(run.seconds, 3), "status": run.status, "cell": spec.label}
    meta["beta"] = run.beta
    png = png_bytes(run.image(), cfg, meta)
    with Image.open(io.BytesIO(png)) as im:  # scored as written: the file, read back
        written = im.convert("RGB")
    score = SeedScore(model, content, style, cfg.size)
    with torch.no_grad():
        c, s = (float(t) for t in score.terms(preprocess(resize_to(written, score.size), device)))
    scores = {
        "seed_loss": float(total_loss(c, s, SEED.alpha, SEED.beta)),
        "content_loss": c,
        "style_loss": s,
        "run_loss": run.history[-1].total if run.history else math.nan,
    }
    history = [dataclasses.asdict(r) for r in run.history]
    facts = (run.seconds, run.evals, history, device, run.weights_source)
    return CellOutcome(spec.index, run.status, run.message, png, scores, *facts)


class Executor(Protocol):
    """Computes cells and yields their outcomes as they are done, in any order; stops early
    (dropping unfinished cells) once `stop` is set. The driver stores what it yields.
    `where` names where the cells compute; `slots` is how many it computes at once."""

    where: str
    slots: int

    def map(self, specs: Sequence[CellSpec], stop: threading.Event) -> Iterator[CellOutcome]: ...


class LocalExecutor:
    """One cell after another, in the calling thread. `model` (the dashboard's cached one) serves
    every cell of its architecture; other networks are loaded once per executor."""

    where = "this machine"

    def __init__(self, model: VGGFeatures | None = None, slots: int | None = None):
        self.model = model
        self._models: dict[tuple[str, str, str], VGGFeatures] = {}
        # cells computed at once: a lane's seats (one on a CPU, the card's on a GPU)
        device = model.mean.device.type if model is not None else "cpu"
        self.slots = slots or lane_seats(device)

    def model_for(self, cfg: Config) -> VGGFeatures:
        if self.model is not None and self.model.arch == cfg.model:
            return self.model
        key = (cfg.model, cfg.weights, cfg.device)
        if key not in self._models:
            self._models[key] = load_model(cfg.model, cfg.weights, pick_device(cfg.device))
        return self._models[key]

    def map(self, specs: Sequence[CellSpec], stop: threading.Event) -> Iterator[CellOutcome]:
        if self.slots == 1:
            for spec in specs:
                if stop.is_set():
                    return
                yield compute_cell(spec, self.model_for(spec.config), stop)
            return
        by_model: dict[int, list[CellSpec]] = {}  # cells of one network go together
        for spec in specs:
            by_model.setdefault(id(self.model_for(spec.config)), []).append(spec)
        for group in by_model.values():
            if stop.is_set():
                return
            yield from compute_together(group, self.model_for(group[0].config), self.slots, stop)


# ---- results and the store ----------------------------------------------------------------


@dataclass(frozen=True)
class CellResult:
    """One computed cell, as the sheet, the CSV and a page show it."""

    spec: CellSpec = field(repr=False)
    status: str
    seed_loss: float  # the seed's total loss of the written 8-bit image (nst.lab.score)
    content_loss: float  # its seed content and style terms, before alpha and beta
    style_loss: float
    run_loss: float  # the run's own total at its last step, in its own settings
    seconds: float  # of optimization
    evals: int
    run_id: int
    image: Path  # the stored file (config and facts embedded)
    reused: bool  # computed by an earlier run of the sweep
    message: str = ""


def record(store: Store, spec: CellSpec, outcome: CellOutcome, owner: str = "cli") -> CellResult:
    """Keep a computed cell in the store, findable by its key."""
    names = {"content_name": spec.content.name, "style_names": [spec.style.name]}
    machine = {"device": outcome.device, "weights": outcome.weights, "cell_key": spec.key}
    inputs = (spec.content.data, [spec.style.data], spec.config)
    recorded = RecordedRun.create(store, *inputs, source="sweep", owner=owner, **names, **machine)
    status = outcome.status if outcome.status in ("done", "failed") else "failed"
    recorded.finish_cell(
        status,
        outcome.png,
        outcome.history,
        outcome.evals,
        outcome.seconds,
        outcome.message,
        outcome.scores,
    )
    result = _from_store(store, spec, recorded.id, reused=False)
    if result is None:
        raise OSError(f"the cell could not be stored: {store.stopped or 'unknown trouble'}")
    return result


def stored_result(store: Store, spec: CellSpec) -> CellResult | None:
    """The cell as an earlier run of the sweep stored it, if it did."""
    run_id = store.find_cell(spec.key)
    return None if run_id is None else _from_store(store, spec, run_id, reused=True)


def _from_store(store: Store, spec: CellSpec, run_id: int, reused: bool) -> CellResult | None:
    s = store.get_run(run_id, None)
    if not s.scores or s.thumbnail is None or not s.thumbnail.is_file():
        return None
    facts = {"seconds": s.seconds, "evals": s.evals, "image": s.thumbnail, "message": s.message}
    return CellResult(spec, s.status, **s.scores, run_id=run_id, reused=reused, **facts)
