"""A stylization run that a UI can drive a tick at a time.

`Run` owns the optimized image, the loss targets and the optimizer, and advances by `step(n)`
loss evaluations (one forward + backward pass each), so the dashboard can call it a few steps per
tick, pause by not calling it, change settings in between (`update`), and resume. It reports only
through its `history`, `events` and an optional callback of `Iterate`: it knows nothing of any UI.

Deviations from Gatys et al. 2016, each a choice of this project:
  * The optimizer works on the ImageNet-normalized image (the seed's Adam rate keeps its meaning).
  * Every pixel stays in [0, 1] (nst.engine.optim): the curves score the image one would download.
  * L-BFGS runs one evaluation per optimizer call (no line search): its curvature history
    persists between calls, so ticking is free and every evaluation is recorded.
  * Coarse-to-fine scales re-weight the objective so the style/content balance at a coarse scale
    equals the one at full size (the unnormalized Gram grows with the pixel count).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from PIL import Image

from nst.engine.config import LIVE_FIELDS, Config
from nst.engine.contract import FINAL, Change, Status
from nst.engine.frames import Frames
from nst.engine.image import (
    combine_luminance,
    deprocess,
    match_colors,
    preprocess,
    resize_long_side,
    resize_to,
    upsample_with_detail,
    white_noise,
)
from nst.engine.memory import ONE_PASS_PIXELS  # larger scales go tile by tile unless told
from nst.engine.model import VGGFeatures, fast_bf16
from nst.engine.objective import Objective, measure_reference, scale_balance
from nst.engine.optim import BoxAdam, BoxLBFGS, make_optimizer, project
from nst.engine.records import Event, Iterate, LossRecord, evals_per_second, format_value, new_run_id
from nst.engine.schedule import Scale, Schedule
from nst.engine.tiles import TiledObjective

FINAL_STATES = tuple(sorted(FINAL))  # ("done", "failed", "stopped"): see nst.engine.contract
# Settings that change the targets the style strength is calibrated on: a change re-measures it.
REFERENCE_FIELDS = {"style_blend", "preserve_color", "content_layer", "convention", "pooling"} | {
    "style_notion"
}


class Run:
    """One stylization: content + style images + Config -> an image, one evaluation at a time."""

    def __init__(
        self,
        model: VGGFeatures,
        content: Image.Image,
        styles: list[Image.Image],
        config: Config | None = None,
        *,
        callback: Callable[[Iterate], None] | None = None,
        frame_every: int | None = None,
        max_frames: int = 80,
        tile_pixels: int | None = None,
    ):
        started = time.perf_counter()
        self.config = (config or Config()).validated()
        self.config.check_inputs(model.arch, model.layer_names, len(styles))
        self.model, self.device, self.callback = model, model.mean.device, callback
        # A scale of more pixels is computed tile by tile, each crop at most this big (memory.py)
        self.tile_pixels = tile_pixels or ONE_PASS_PIXELS
        self.content_src = content.convert("RGB")
        self.styles_src = [s.convert("RGB") for s in styles]
        self.history: list[LossRecord] = []
        self.events: list[Event] = []  # what happened on the way (changes, scales, troubles)
        # What the run started with and every later change: together they reproduce the run.
        self.start_config = self.config
        self.changes: list[Change] = []
        # About 30-60 frames for the GIF (a time budget's: dense at first, thinned as it goes).
        every = 2 if self.config.time_budget else max(1, self.config.steps // 30)
        self.frames = Frames(frame_every or every, max_frames)
        self.status, self.message = str(Status.READY), ""
        self.seconds, self.evals = 0.0, 0
        self._last_eval = 0.0  # seconds the last evaluation took
        self.weights_source = model.weights_source
        self._image_cache: tuple | None = None
        self._noticed = False  # the fast path's fallback was told (once)
        self.id = new_run_id()
        self._bf16 = self.config.precision == "bf16" or (
            self.config.precision == "auto" and fast_bf16(self.device)
        )
        self._final_size = resize_long_side(self.content_src, self.config.size, "content image").size
        # The style strength's calibration, measured once: every scale and change shares it.
        self.reference = measure_reference(
            model, self.config, resize_to(self.content_src, self._final_size), self.styles_src
        )
        self._scales = Schedule(self._final_size, self.config)  # fixed sizes; changes move ends
        # The state of the scale being optimized, set by `_enter_scale`:
        self._scale_index = -1
        self._content_img: Image.Image  # the photo at this scale
        self._objective: Objective  # this scale's loss (tiled at a print's scales)
        self._x: torch.Tensor | None = None  # the image being optimized (normalized)
        self._scored: torch.Tensor  # the newest image whose loss is known: what is shown
        self._optimizer: BoxLBFGS | BoxAdam
        self._enter_scale(0)
        self.frames.add(self.evals, self.image())
        self.setup_seconds = time.perf_counter() - started  # calibration and first targets

    # ---- public API --------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.config.steps

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def beta(self) -> float:
        """The style weight β the run optimizes with now (its exact β, or its strength's)."""
        return self.reference.beta(self.config)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image being optimized now."""
        return self._scales[self._scale_index].width, self._scales[self._scale_index].height

    def step(self, n: int = 1, evaluated: tuple | None = None) -> int:
        """Run up to `n` evaluations; returns how many ran. Ends the run when its budget is spent.
        `evaluated`: the first one's (loss, parts, seconds), its gradient already in `x.grad`,
        computed in a batch with other runs (nst.engine.together)."""
        if self.finished:
            return 0
        self.status = "running"
        ran = 0
        for _ in range(n):
            if (evaluated is None and not self.ready()) or not self._evaluate(evaluated):
                break
            evaluated = None  # computed for one evaluation only
            ran += 1
            if self.frames.due(self.evals):
                t0 = time.perf_counter()
                self.frames.add(self.evals, self.image())
                self.seconds += time.perf_counter() - t0
        if not self.finished and self._budget_spent():
            self._finish("done")
        return ran

    def ready(self) -> bool:
        """Ready for one more evaluation (a new scale entered when due); False once it ends."""
        if self.finished:
            return False
        if self._budget_spent():
            self._finish("done")
            return False
        t0 = time.perf_counter()  # a new scale's targets are the run's time too
        if self._scales.due(self._scale_index, self.evals, self.seconds, self.config.time_budget):
            self._enter_scale(self._scale_index + 1)
        self.seconds += time.perf_counter() - t0
        return True

    @property
    def x(self) -> torch.Tensor:
        """The image the next evaluation scores (normalized; requires grad)."""
        return self._x

    def batch_key(self) -> tuple | None:
        """Runs whose keys are equal can be evaluated as one batch: one network, size,
        precision and pooling (nst.engine.together). None: alone (a print's tiled scale)."""
        if isinstance(self._objective, TiledObjective):
            return None
        return (id(self.model), self.size, self._bf16, self.config.pooling, str(self.device))

    def pause(self) -> None:
        if not self.finished:
            self.status = "paused"

    def resume(self) -> None:
        """Mark a paused run as running again (the next `step` would too)."""
        if not self.finished:
            self.status = "running"

    def stop(self) -> None:
        """End the run now; its image, history and config stay available."""
        if not self.finished:
            self._finish("stopped")

    def update(self, config: Config) -> list[str]:
        """Apply changed settings to the rest of a paused run. Returns the changes, as text.

        Changes outside LIVE_FIELDS (size, scales, init, seed, model ...) need a new run.
        """
        config = config.validated()
        config.check_inputs(self.model.arch, self.model.layer_names, len(self.styles_src))
        was, now = self.config.to_dict(), config.to_dict()
        changed = [name for name in now if now[name] != was[name]]
        if not changed:
            return []
        frozen = [name for name in changed if name not in LIVE_FIELDS]
        if frozen:
            raise ValueError(f"changing {', '.join(frozen)} needs a new run (reset)")
        blend = config.style_blend
        if len(self.styles_src) > 1 and blend is not None and len(blend) != len(self.styles_src):
            raise ValueError(f"{len(self.styles_src)} style images need as many blend weights")
        texts = [
            f"{name}: {format_value(name, getattr(self.config, name))} -> "
            f"{format_value(name, getattr(config, name))}"
            for name in changed
        ]
        self.changes.append(Change(self.evals, {name: now[name] for name in changed}))
        beta_before = self.beta
        self.config = config
        new_layers = {n for n, _ in config.style_weights} - set(self.reference.style)
        if set(changed) & REFERENCE_FIELDS or new_layers:
            self.reference = measure_reference(
                self.model, config, resize_to(self.content_src, self._final_size), self.styles_src
            )
        if config.beta is None and self.beta != beta_before:
            texts.append(f"β: {beta_before:.3g} -> {self.beta:.3g}")
        self._scales.replan(config)
        self._objective = self._make_objective()
        self._objective.keep_photo(self._x)  # a region newly kept goes back to the photo
        self._optimizer = self._make_optimizer()  # a changed objective makes old curvature stale
        self.events.append(Event(self.evals, "; ".join(texts)))
        if self.status in ("done", "failed") and not self._budget_spent():
            self.status = "paused"
        return texts

    def result_tensor(self) -> torch.Tensor:
        """The normalized image that the last record scored: what `image()` shows and exports.

        The optimizer has already stepped past it (its next image has no loss yet), so this is
        the newest image whose loss is known: the curves and the file always agree.
        """
        return self._scored

    def image(self) -> Image.Image:
        """The current output as an RGB image (with colour preservation applied). Made once
        per state of the image: a dashboard tick and the GIF frame of the same step share it."""
        key = (id(self._scored), self._scale_index, self.evals, self.config.preserve_color)
        if self._image_cache is None or self._image_cache[0] != key:
            img = deprocess(self._scored)
            if self.config.preserve_color == "luminance":
                img = combine_luminance(img, self._content_img)
            self._image_cache = (key, img)
        return self._image_cache[1].copy()

    def progress(self) -> float:
        """Fraction of the budget (steps or time, whichever is nearer its end) spent."""
        frac = self.evals / max(1, self.config.steps)
        if self.config.time_budget:
            frac = max(frac, self.seconds / self.config.time_budget)
        return min(1.0, frac)

    def eta_seconds(self) -> float | None:
        """Seconds of optimization left (nst.engine.schedule.Schedule.seconds_left), at the
        recent pace."""
        if not self.history or self.finished:
            return 0.0 if self.finished else None
        eps = self.evals_per_second()
        per_eval = 1 / eps if eps else self.seconds / max(1, self.evals)
        return self._scales.seconds_left(
            self._scale_index, self.evals, self.seconds, per_eval, self.config
        )

    def evals_per_second(self, window: int = 10) -> float:
        return evals_per_second(self.history, window)

    @property
    def location(self) -> str:
        """Where the run computes, as the page says it."""
        return f"this server ({self.device})"

    def close(self) -> None:
        """Let go of what the run holds outside this object (nothing here; a RemoteRun's actor)."""

    @property
    def precision(self) -> str:
        """The network's precision in this run: "bf16" or "fp32"."""
        return "bf16" if self._bf16 else "fp32"

    def details(self) -> dict:
        """What only a run of this process tells (nst.record.trace.metrics adds it to the
        trace): the strength's calibration, the precision, the scales, the network."""
        return {
            "reference": self.reference.to_dict(),
            "precision": self.precision,
            "scales": [f"{s.width}x{s.height}" for s in self._scales],
            "model": self.model.arch,
        }

    # ---- internals ---------------------------------------------------------------------

    def _budget_spent(self) -> bool:
        """The steps are done, or the time budget is nearer now than after one more evaluation
        (a print's take tens of seconds: its run ends within half of one of the budget)."""
        budget = self.config.time_budget
        if self.evals >= self.config.steps:
            return True
        return bool(budget) and self.seconds + self._last_eval / 2 >= budget

    def _enter_scale(self, index: int) -> None:
        s = self._scales[index]
        self._content_img = resize_to(self.content_src, (s.width, s.height))
        self._scale_index = index
        self._objective = self._make_objective()
        prev = self._x
        x = self._initial_image(s) if prev is None else self._upsample(prev.detach(), s)
        self._x = self._own(x.detach().clone())
        self._scored = self._x.detach().clone()
        self._optimizer = self._make_optimizer()
        if index > 0:
            self.events.append(
                Event(self.evals, f"scale {index + 1}/{len(self._scales)}: {s.width}x{s.height}")
            )

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """`x` as the image optimized: the photo in kept regions, their pixels held."""
        self._objective.keep_photo(x)
        x.requires_grad_(True).register_hook(lambda g: self._objective.hold(g))
        return x

    def _upsample(self, prev: torch.Tensor, s: Scale) -> torch.Tensor:
        """The coarse result at the next size (nst.engine.image.upsample_with_detail): with the
        photo's finest octave added back when the run started from the photo."""
        from_photo = self.config.init in ("content", "recolored")
        photo = preprocess(self._content_img, self.device) if from_photo else None
        return upsample_with_detail(prev, (s.width, s.height), photo)

    def _initial_image(self, s: Scale) -> torch.Tensor:
        init = self.config.init
        if init == "content":
            return preprocess(self._content_img, self.device)
        if init == "recolored":
            # The photo with the painting's colour mean and covariance: the first layers' Grams
            # (colour statistics) start close, so the run spends its evaluations on texture
            # (docs/performance.md).
            return preprocess(match_colors(self._content_img, self._objective.palette()), self.device)
        if init == "style":
            return preprocess(resize_to(self.styles_src[0], (s.width, s.height)), self.device)
        return white_noise(s.width, s.height, self.config.random_seed, self.device)

    def _make_optimizer(self) -> BoxLBFGS | BoxAdam:
        cfg = self.config
        return make_optimizer(cfg.optimizer, self._x, cfg.lr, cfg.history, cfg.pyramid)

    def _make_objective(self) -> Objective:
        """The current scale's objective under the current config."""
        w, h = self._final_size
        cw, ch = self._content_img.size
        balance = scale_balance(self.config.convention, w * h, cw * ch)
        args = (self.model, self.config, self._content_img, self.styles_src, self._bf16, balance)
        if cw * ch > self.tile_pixels:
            return TiledObjective(*args, self.reference, tile_pixels=self.tile_pixels)
        return Objective(*args, self.reference)

    @property
    def objective_now(self) -> Objective:
        """The current scale's objective: its targets (`content_target`, `targets`) and loss."""
        return self._objective

    def _evaluate(self, given: tuple | None = None) -> bool:
        """One evaluation: the closure, the optimizer's step, the record, the callback."""
        found: list = []
        t0 = time.perf_counter()

        def closure() -> torch.Tensor:
            if given is not None:  # computed in a batch
                found[:] = given[:2]
                return found[0]
            self._optimizer.zero_grad(set_to_none=True)
            # the gradient goes to self._x.grad (tile by tile at a print's scales)
            found[:] = self._objective.evaluate(self._x)
            return found[0]

        evaluated = self._x.detach().clone()
        try:
            self._optimizer.step(closure)
            self._objective.keep_photo(self._x)  # the pyramid's step reaches into kept regions
            loss, parts = found
            numbers = parts.numbers(loss, self._x)  # one transfer: each float() waits for a GPU
        except RuntimeError as exc:  # torch.OutOfMemoryError is one
            if not isinstance(exc, torch.OutOfMemoryError) and "out of memory" not in str(exc):
                raise
            self.seconds += time.perf_counter() - t0
            self._restore()
            w, h = self.size
            return self.fail(f"out of memory at {w}x{h}; choose a smaller size")
        self._last_eval = time.perf_counter() - t0 + (given[2] if given else 0.0)
        self.seconds += self._last_eval
        loss, content, style, tv, x_finite, layers = numbers
        if not math.isfinite(loss) or not x_finite:
            self._restore()
            what = "NaN" if math.isnan(loss) else "infinite" if math.isinf(loss) else "non-finite"
            self.message = (
                f"the loss became {what} at step {self.evals + 1}: the optimization "
                "diverged. The last finite image is kept. Lower the learning rate or "
                "the weights, then resume."
            )
            self.events.append(Event(self.evals, "diverged; last finite image kept"))
            self._finish("failed")
            return False
        self._scored = evaluated
        self.evals += 1
        notice = self.model.packed.notice or self.model.captured.notice
        if notice and not self._noticed:  # the fast path or the capture fell back: say so
            self._noticed = True
            self.events.append(Event(self.evals, notice))
        w, h = self.size
        beta = self._objective.beta
        rec = LossRecord(
            self.evals, self._scale_index, w, h, loss, content, style, layers, tv, self.seconds, beta
        )
        self.history.append(rec)
        if self.callback:
            self.callback(Iterate(self.evals, self.config.steps, rec, self.status, self.progress()))
        return True

    def _restore(self) -> None:
        with torch.no_grad():
            self._x.copy_(self._scored)
        self._optimizer = self._make_optimizer()

    def fail(self, message: str) -> bool:
        """End the run as failed, saying why (its image so far is kept). Returns False."""
        self.message = message
        self.events.append(Event(self.evals, message))
        self._finish("failed")
        return False

    def _finish(self, status: str) -> None:
        self.status = status
        self.frames.add(self.evals, self.image())

    def start_from(self, image: Image.Image, evals: int = 0, seconds: float = 0.0) -> None:
        """Go on from `image` (an earlier run's checkpoint) as if `evals` evaluations taking
        `seconds` had run: it becomes the current image, resized to this scale and kept in
        range. The optimizer starts afresh: an L-BFGS curvature memory is not in a checkpoint."""
        s = self._scales[self._scale_index]
        x = project(preprocess(resize_to(image.convert("RGB"), (s.width, s.height)), self.device))
        self._x = self._own(x)
        self._scored = self._x.detach().clone()
        self._optimizer = self._make_optimizer()
        self.evals, self.seconds = evals, seconds
        self.frames = Frames(self.frames.every, self.frames.limit)
        self.frames.add(self.evals, self.image())
