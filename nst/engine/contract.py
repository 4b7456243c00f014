"""What a page or a command may ask of a run, declared once.

`Status` names the states of a run (the store keeps the same words, plus `interrupted` for a run
whose process died). `LiveRun` is the surface the dashboard uses; both nst.engine.run.Run (computed in
this process) and nst.compute.remote.RemoteRun (computed by a Ray actor) satisfy it, and a test checks
that with `isinstance` over this Protocol, not over source text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from nst.engine.config import Config
    from nst.engine.frames import Frames
    from nst.engine.objective import Objective, Reference
    from nst.engine.run import Event, LossRecord


class Status(StrEnum):
    """A run's state; compares equal to its word ("running" == Status.RUNNING)."""

    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({Status.DONE, Status.STOPPED, Status.FAILED})  # a run in one goes no further


class Change(NamedTuple):
    """Settings changed during a run: at `step`, these `values` ({field: value}) took effect.
    A tuple, so `for step, values in run.changes` reads it; stored and exported as
    {"step": ..., "set": {...}} (`to_dict`)."""

    step: int
    values: dict[str, Any]

    def to_dict(self) -> dict:
        return {"step": self.step, "set": dict(self.values)}

    @classmethod
    def from_dict(cls, d: dict) -> Change:
        # "changes": the key run stores written before the trace had one format
        return cls(int(d["step"]), dict(d["set"] if "set" in d else d["changes"]))

    @classmethod
    def of(cls, item: Change | tuple | dict) -> Change:
        """A Change from any form it has been kept in: a Change, (step, values) or a dict."""
        return cls.from_dict(item) if isinstance(item, dict) else cls(int(item[0]), dict(item[1]))


@runtime_checkable
class LiveRun(Protocol):
    """A stylization run as the dashboard drives and shows it."""

    id: int
    config: Config
    start_config: Config
    status: str  # a Status word
    message: str
    evals: int
    seconds: float
    history: list[LossRecord]
    events: list[Event]
    changes: list[Change]
    frames: Frames
    content_src: Image.Image
    styles_src: list[Image.Image]
    reference: Reference | None
    device: object  # where it computes (a torch.device, or its name for a remote run)
    weights_source: str

    @property
    def steps(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    @property
    def size(self) -> tuple[int, int]: ...
    @property
    def beta(self) -> float: ...
    @property
    def location(self) -> str: ...

    # The run's objective now and the normalized image its last record scored, for the views of
    # nst.lab.view; None where the run computes elsewhere (a view then builds the same objective).
    objective_now: Objective | None

    def step(self, n: int = 1) -> int: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...
    def update(self, config: Config) -> list[str]: ...
    def start_from(self, image: Image.Image, evals: int = 0, seconds: float = 0.0) -> None: ...
    def image(self) -> Image.Image: ...
    def result_tensor(self) -> torch.Tensor | None: ...
    def progress(self) -> float: ...
    def eta_seconds(self) -> float | None: ...
    def evals_per_second(self, window: int = 10) -> float: ...
    def close(self) -> None: ...
