"""Stored runs (nst.store.StoredRun) as the dashboard uses them: a Compare snapshot, the export
files, whether and how a run can go on. No Streamlit here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from PIL import Image

from nst.config import Config
from nst.export import history_csv, png_bytes, safe_filename
from nst.model import VGGFeatures
from nst.run import Event, Record, Run
from nst.store import StoredRun

RESUMABLE = ("interrupted", "paused", "stopped")


def changes(stored: StoredRun) -> list[tuple[int, dict]]:
    """The stored changes as `Run.changes` has them: (step, {field: value}), oldest first."""
    return sorted(((int(c["step"]), dict(c["changes"])) for c in stored.changes), key=lambda c: c[0])


def config_at(stored: StoredRun, step: float = math.inf) -> Config:
    """The config the run had at `step` (by default its last): the one it started with, then
    every change made up to that step."""
    d = dict(stored.config)
    for at, changed in changes(stored):
        if at <= step:
            d.update(changed)
    return Config.from_dict(d)


def final_record(stored: StoredRun) -> Record | None:
    return Record(**stored.history[-1]) if stored.history else None


def snapshot(stored: StoredRun, image: Image.Image) -> dict:
    """The run as the Compare page takes it (the format of `ui.live.remember`)."""
    return {
        "id": f"store:{stored.id}",
        "image": image,
        "config": config_at(stored),
        "status": stored.status,
        "evals": stored.evals,
        "seconds": stored.seconds,
        "final": final_record(stored),
        "changes": changes(stored),
        "content": stored.content_name,
        "styles": list(stored.style_names),
        "store_id": stored.id,
    }


def steps_left(stored: StoredRun) -> bool:
    cfg = config_at(stored, stored.evals)
    spent = bool(cfg.time_budget) and stored.seconds >= cfg.time_budget
    return stored.evals < cfg.steps and not spent


def can_resume(stored: StoredRun, live: set[int]) -> bool:
    """Ended before its budget was spent (interrupted, paused and left, stopped), with an image
    to go on from, and not live in this process."""
    return (
        stored.status in RESUMABLE
        and stored.id not in live
        and stored.thumbnail is not None
        and stored.thumbnail.is_file()
        and steps_left(stored)
    )


def resume_config(stored: StoredRun) -> Config:
    """The config to go on with: the one at the checkpoint's step, at full size only (a
    checkpoint holds one image, so the coarse-to-fine schedule's coarse scales are behind it)."""
    cfg = config_at(stored, stored.evals)
    return cfg.replace(scales=1) if cfg.scale_count > 1 else cfg


def resumed_run(
    stored: StoredRun, model: VGGFeatures, content: Image.Image, styles: list[Image.Image]
) -> Run:
    """A Run that goes on from the stored run's latest image, step count, time, history, events
    and changes. The optimizer restarts: L-BFGS's curvature memory (Adam's moments) is not in a
    checkpoint."""
    cfg = resume_config(stored)
    run = Run(model, content, styles, cfg)
    with Image.open(stored.thumbnail) as im:
        run.start_from(im, stored.evals, stored.seconds)
    run.start_config = Config.from_dict(stored.config)
    run.changes = changes(stored)
    run.history = [Record(**r) for r in stored.history]
    run.events = [Event(int(e["step"]), str(e["text"])) for e in stored.events] + run.events
    lost = "curvature memory" if cfg.optimizer == "lbfgs" else "moment estimates"
    said = f"resumed from the checkpoint at step {stored.evals}; the optimizer restarts ({lost} lost)"
    run.events.append(Event(stored.evals, said))
    return run


def stem(stored: StoredRun) -> str:
    names = (stored.content_name, *stored.style_names)
    name = "_".join(Path(n.removeprefix("upload: ")).stem for n in names)
    return safe_filename(f"run{stored.id}_{name}")[:80]


def export_files(stored: StoredRun) -> dict[str, bytes | str | None]:
    """What the Stylize page's Export gives, for a stored run: the PNG with its start config and
    changes embedded, the JSON trace, the loss history as CSV, the progress GIF if stored."""
    start, timeline = Config.from_dict(stored.config), changes(stored)
    png = None
    if stored.thumbnail is not None and stored.thumbnail.is_file():
        facts = {
            "weights": stored.weights,
            "device": stored.device,
            "evals": stored.evals,
            "seconds": round(stored.seconds, 3),
            "status": stored.status,
            "run": stored.id,
        }
        with Image.open(stored.thumbnail) as im:
            png = png_bytes(im.convert("RGB"), start, facts, timeline)
    trace = {
        "config": config_at(stored).to_dict(),
        "start_config": start.to_dict(),
        "changes": [{"step": step, "set": c} for step, c in timeline],
        "status": stored.status,
        "message": stored.message,
        "device": stored.device,
        "weights": stored.weights,
        "seconds": round(stored.seconds, 4),
        "evals": stored.evals,
        "final_loss": stored.final_loss,
        "content": stored.content_name,
        "styles": list(stored.style_names),
        "events": stored.events,
        "history": stored.history,
    }
    gif = stored.progress.read_bytes() if stored.progress and stored.progress.is_file() else None
    return {
        "stem": stem(stored),
        "png": png,
        "json": json.dumps(trace, indent=1, default=str),
        "csv": history_csv([Record(**r) for r in stored.history]),
        "gif": gif,
    }
