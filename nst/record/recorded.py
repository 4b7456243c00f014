"""A run's life in the run store, written once: begun, checkpointed, finished, resumed, exported.

The command line, the dashboard, sweeps and the dashboard's registry all keep runs through
`RecordedRun`; none of them calls the store's writers itself. The store's trouble never costs a
run: every writer here returns a sentence for the user (or None) instead of raising, and the run
goes on unsaved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PIL import Image

from nst.engine.config import Config
from nst.engine.contract import Change, LiveRun, Status
from nst.engine.image import MAX_INPUT_SIDE, load_image
from nst.engine.model import VGGFeatures
from nst.engine.records import Event, LossRecord
from nst.record.schema import LIVE, StoredRun
from nst.record.store import ImageLike, Store
from nst.record.trace import ExportFiles, progress_gif, stored_files

RESUMABLE = ("interrupted", "paused", "stopped")  # what the Gallery offers to go on with


class ResumeError(ValueError):
    """Why a stored run cannot go on, in one sentence."""


def steps_left(stored: StoredRun) -> bool:
    """Whether a stored run's budget (steps, or time) has room left."""
    cfg = stored.config_at(stored.evals)
    spent = bool(cfg.time_budget) and stored.seconds >= cfg.time_budget
    return stored.evals < cfg.steps and not spent


def has_checkpoint(stored: StoredRun) -> bool:
    return stored.thumbnail is not None and stored.thumbnail.is_file()


def why_not_resume(stored: StoredRun, live_here: set[int] | None = None) -> str | None:
    """Why `stored` cannot be resumed, or None. `live_here`: the ids live in this process (a
    paused run of another process's dashboard is then fair game once it is not among them)."""
    run_id = stored.id
    if stored.status == "done":
        return f"run {run_id} is done: nothing to resume"
    if stored.status == "running" or (stored.status in LIVE and live_here is None):
        return f"run {run_id} is {stored.status} in another process; stop it there first"
    if live_here is not None and run_id in live_here:
        return f"run {run_id} is live in this session already"
    if not steps_left(stored):
        cfg = stored.config_at(stored.evals)
        return f"run {run_id} has no steps left to run ({stored.evals} of {cfg.steps} done)"
    return None


def can_resume(stored: StoredRun, live_here: set[int]) -> bool:
    """What the Gallery offers: ended before its budget was spent (interrupted, paused and left,
    stopped), with an image to go on from, and not live in this process."""
    return (
        stored.status in RESUMABLE
        and has_checkpoint(stored)
        and why_not_resume(stored, live_here) is None
    )


def resume_config(stored: StoredRun) -> Config:
    """The config to go on with: the one at the checkpoint's step, at full size only (a
    checkpoint holds one image, so the coarse-to-fine schedule's coarse scales are behind it)."""
    cfg = stored.config_at(stored.evals if has_checkpoint(stored) else 0)
    return cfg.replace(scales=1) if cfg.scale_count > 1 else cfg


@dataclass
class Resumed:
    """A stored run made live again."""

    recorded: RecordedRun
    run: LiveRun
    pending: list[Change]  # changes after the checkpoint's step, for the driver to apply
    said: str  # what happened, for the user


class RecordedRun:
    """A run kept in the run store under `run_id`."""

    def __init__(self, store: Store, run_id: int):
        self.store, self.id = store, run_id
        self.deleted = False  # deleted from the store meanwhile (another page): saves stop

    # ---- begin -------------------------------------------------------------------------

    @classmethod
    def begin(
        cls,
        store: Store,
        run: LiveRun,
        content: ImageLike,
        styles: Iterable[ImageLike],
        *,
        content_name: str,
        style_names: Iterable[str],
        source: str,
        owner: str,
    ) -> RecordedRun:
        """A new stored run for `run` (just made), with its inputs as given (file bytes are
        stored as they came). Raises what the store raises: the caller decides to go on."""
        return cls.create(
            store,
            content,
            list(styles),
            run.start_config,
            owner=owner,
            source=source,
            content_name=content_name,
            style_names=list(style_names),
            device=str(run.device),
            weights=run.weights_source,
        )

    @classmethod
    def create(
        cls, store: Store, content: ImageLike, styles: list[ImageLike], config: Config, **facts
    ) -> RecordedRun:
        """A new stored run without a live run (a sweep cell computed elsewhere): `facts` as
        `Store.create_run` takes them."""
        return cls(store, store.create_run(content, styles, config, **facts))

    # ---- while it goes, and at its end -------------------------------------------------

    def due(self) -> bool:
        """Whether a routine checkpoint is due (every few seconds)."""
        return self.store.due(self.id)

    @staticmethod
    def fields(run: LiveRun) -> dict:
        """What a checkpoint keeps of a run besides its image and status."""
        return {
            "history": run.history,
            "events": [dataclasses.asdict(e) for e in run.events],
            "evals": run.evals,
            "seconds": run.seconds,
            "config": run.start_config,
            "changes": [Change.of(c).to_dict() for c in run.changes],
            "message": run.message,
        }

    def save(
        self, run: LiveRun, *, image: bool = True, status: str | None = None, message: str | None = None
    ) -> str | None:
        """Save the run as it is now: a checkpoint while it is live (as `status`, by default its
        own), its end once it has ended. Returns trouble to tell the user, or None."""
        if self.deleted:
            return None
        if run.finished:
            return self._write(
                status or run.status,
                run.image() if image else None,
                final=True,
                progress=progress_gif(run),
                **{**self.fields(run), "message": message if message is not None else run.message},
            )
        live = status or (run.status if run.status in LIVE else Status.RUNNING)
        fields = self.fields(run)
        if message is not None:
            fields["message"] = message
        return self._write(str(live), run.image() if image else None, **fields)

    def fail(self, run: LiveRun, message: str) -> str | None:
        """End a run that could not go on (a change it cannot take) as failed."""
        return self._write(
            "failed",
            run.image(),
            final=True,
            progress=progress_gif(run),
            **{**self.fields(run), "message": message},
        )

    def finish_cell(
        self,
        status: str,
        png: bytes,
        history: list,
        evals: int,
        seconds: float,
        message: str,
        scores: dict,
    ) -> str | None:
        """The end of a sweep cell computed elsewhere (its outcome, not a live run)."""
        state = {"history": history, "evals": evals, "seconds": seconds, "message": message}
        return self._write(status, png, final=True, scores=scores, **state)

    def _write(
        self, status: str, image: Image.Image | bytes | None, final: bool = False, **fields
    ) -> str | None:
        """The one writer of a stored run's state."""
        try:
            if final:
                return self.store.finish(self.id, status, image, **fields)
            if self.store.checkpoint(self.id, image, status=status, **fields):
                return None
        except Exception as exc:  # noqa: BLE001 - a store bug must not cost the user the run
            return f"The run could not be stored ({exc}); it goes on unsaved."
        if self.store.stopped:
            return self.store.stopped
        self.deleted = True
        return f"Run {self.id} was deleted from the store; it goes on unsaved."

    # ---- later -------------------------------------------------------------------------

    def stored(self) -> StoredRun:
        return self.store.get_run(self.id, None)

    def export(self) -> ExportFiles:
        """The stored run's files, as every export writes them."""
        return stored_files(self.stored())

    @classmethod
    def resume(
        cls,
        store: Store,
        run_id: int,
        model_for: Callable[[Config], VGGFeatures],
        new_run: Callable[..., LiveRun],
        *,
        owner: str | None = None,
        live_here: set[int] | None = None,
    ) -> Resumed:
        """Make a stored run live again from its last checkpoint image, step count, time,
        history, events and changes (from the start, with its changes to replay, when it has no
        checkpoint). The optimizer restarts: L-BFGS's curvature memory (Adam's moments) is not
        in a checkpoint. Raises ResumeError with the reason when it cannot go on."""
        s = store.get_run(run_id, owner)
        if why := why_not_resume(s, live_here):
            raise ResumeError(why)
        checkpoint = has_checkpoint(s)
        done = s.evals if checkpoint else 0
        cfg = resume_config(s)
        model = model_for(cfg)
        side = max(MAX_INPUT_SIDE, cfg.size)  # read as the run read them
        content = load_image(store.image_path(s.content), max_side=side, name=s.content_name)
        styles = [
            load_image(store.image_path(h), max_side=side, name=name)
            for name, h in zip(s.style_names, s.styles, strict=False)
        ]
        run = new_run(model, content, styles, cfg)
        timeline = s.timeline()
        lost = "curvature memory is" if cfg.optimizer == "lbfgs" else "moment estimates are"
        if checkpoint:
            with Image.open(s.thumbnail) as im:
                run.start_from(im, s.evals, s.seconds)
            run.start_config = Config.from_dict(s.config)
            run.changes = [c for c in timeline if c.step <= done]
            run.history = [LossRecord(**r) for r in s.history]
            said = (
                f"resumed from its last checkpoint at step {done}; "
                f"the optimizer restarts (its {lost} lost)"
            )
        else:
            said = "had no checkpoint: it starts over"
        run.events = [Event(int(e["step"]), str(e["text"])) for e in s.events] + run.events
        run.events.append(Event(done, said))
        pending = [c for c in timeline if c.step > done]
        return Resumed(cls(store, run_id), run, pending, f"run {run_id} {said}")
