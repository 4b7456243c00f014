"""Stored runs (nst.record.store.StoredRun) as the dashboard uses them: a Compare snapshot, the export
files, whether and how a run can go on. No Streamlit here.
"""

from __future__ import annotations

from PIL import Image

from nst.compute import backend
from nst.engine.config import Config
from nst.engine.model import VGGFeatures
from nst.engine.run import Event, Record, Run
from nst.record.store import StoredRun

RESUMABLE = ("interrupted", "paused", "stopped")


def final_record(stored: StoredRun) -> Record | None:
    return Record(**stored.history[-1]) if stored.history else None


def snapshot(stored: StoredRun, image: Image.Image) -> dict:
    """The run as the Compare page takes it (the format of `ui.live.remember`)."""
    return {
        "id": f"store:{stored.id}",
        "image": image,
        "config": stored.config_at(),
        "status": stored.status,
        "evals": stored.evals,
        "seconds": stored.seconds,
        "final": final_record(stored),
        "changes": stored.timeline(),
        "content": stored.content_name,
        "styles": list(stored.style_names),
        "store_id": stored.id,
    }


def steps_left(stored: StoredRun) -> bool:
    cfg = stored.config_at(stored.evals)
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
    cfg = stored.config_at(stored.evals)
    return cfg.replace(scales=1) if cfg.scale_count > 1 else cfg


def resumed_run(
    stored: StoredRun, model: VGGFeatures, content: Image.Image, styles: list[Image.Image]
) -> Run:
    """A Run that goes on from the stored run's latest image, step count, time, history, events
    and changes. The optimizer restarts: L-BFGS's curvature memory (Adam's moments) is not in a
    checkpoint."""
    cfg = resume_config(stored)
    run = backend.new_run(model, content, styles, cfg)
    with Image.open(stored.thumbnail) as im:
        run.start_from(im, stored.evals, stored.seconds)
    run.start_config = Config.from_dict(stored.config)
    run.changes = stored.timeline()
    run.history = [Record(**r) for r in stored.history]
    run.events = [Event(int(e["step"]), str(e["text"])) for e in stored.events] + run.events
    lost = "curvature memory" if cfg.optimizer == "lbfgs" else "moment estimates"
    said = f"resumed from the checkpoint at step {stored.evals}; the optimizer restarts ({lost} lost)"
    run.events.append(Event(stored.evals, said))
    return run
