"""What a run reports: a LossRecord per evaluation, Events on the way, an Iterate to its callback."""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class LossRecord:
    """The losses of one evaluation. Content and style are before alpha and beta."""

    step: int
    scale: int
    width: int
    height: int
    total: float
    content: float
    style: float
    style_layers: dict[str, float]
    tv: float
    seconds: float  # optimizing time so far, model loading and drawing excluded
    beta: float | None = None  # the style weight of this evaluation (None: records made before it)


@dataclass(frozen=True)
class Event:
    step: int
    text: str


@dataclass(frozen=True)
class Iterate:
    """What the callback receives after every evaluation."""

    step: int
    steps: int
    record: LossRecord
    status: str
    progress: float  # of the budget, steps or time, whichever is nearer its end


_RUN_IDS = itertools.count(1)


def new_run_id() -> int:
    """An id for a run of this process, never reused (id() of a dead run can be)."""
    return next(_RUN_IDS)


def evals_per_second(history: list[LossRecord], window: int = 10) -> float:
    """The pace of the last `window` evaluations of a history (0 when it can't be told)."""
    recent = history[-window - 1 :]
    if len(recent) < 2:
        return 0.0
    dt = recent[-1].seconds - recent[0].seconds
    return (len(recent) - 1) / dt if dt > 0 else 0.0


def format_value(name: str, v) -> str:
    """A setting's value as a run's events write it (`Run.update`): "from the strength" for β None."""
    if v is None:
        return {"beta": "from the strength", "time_budget": "no limit"}.get(name, "none")
    if isinstance(v, float):
        return f"{v:g}"
    if name == "regions":  # a label map as text: say what it holds, not its bytes
        from nst.engine.regions import RegionError, RegionMap

        try:
            regions = RegionMap.from_text(v).regions
        except RegionError:
            return "unreadable"
        what = [f"{r.colour} {'keep' if r.keep else f'painting {r.painting + 1}'}" for r in regions]
        return f"{len(regions)} painted ({', '.join(what)})"
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):
        return ",".join(f"{k}={w:g}" for k, w in v)
    return str(v)
