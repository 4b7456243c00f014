"""How long a run or a grid will take here: the machine's pace, measured, then corrected by the
runs really made here; and the plan.

One evaluation (forward and backward through the network) costs a fixed part plus a part that
grows with the pixels and with how deep the deepest layer in use is. `measure` times a few real
evaluations of a run at two sizes on this machine; `run_seconds` and `grid_seconds` then add up
the evaluations of a plan (every scale of the schedule, every cell of a grid). Bare evaluations
are not what a user waits for: a dashboard's page and its browser share the machine, a server
runs other things. `Calibration` keeps, for the runs really made, what they took against what
the bare pace said, and scales the pace by that: every estimate then says what runs here take.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

from PIL import Image

from nst.engine.config import Config
from nst.engine.model import VGGFeatures, layer_table
from nst.engine.objective import REFERENCE_SIDE
from nst.engine.schedule import Schedule

REFERENCE = "conv5_1"  # depths are fractions of a pass down to this layer
# An evaluation's cost under each notion of style against the Gram's, where a grid mixes them
# (a run's own pace is measured under its notion): see docs/notions.md.
NOTION_COST = {"gram": 1.0, "meancov": 1.2, "patches": 3.5}


@dataclass(frozen=True)
class Pace:
    """Seconds per evaluation: fixed + per_mpx * megapixels * depth (1 = down to conv5_1)."""

    fixed: float
    per_mpx: float

    def per_eval(self, pixels: int, depth: float = 1.0) -> float:
        return self.fixed + self.per_mpx * pixels / 1e6 * depth

    def scaled(self, factor: float) -> Pace:
        return Pace(self.fixed * factor, self.per_mpx * factor)


class Calibration:
    """What runs made here really took against what the bare pace predicted, per machine setting
    (network, device, precision). Thread-safe: the page that sees a run end adds to it, every
    estimate reads it."""

    KEEP = 8  # the latest runs: the machine's load changes
    BOUNDS = (0.5, 8.0)  # a factor beyond these says more about one odd run than the machine

    def __init__(self) -> None:
        self._ratios: dict[tuple, list[float]] = {}
        self._lock = threading.Lock()

    def add(self, key: tuple, predicted: float, real: float) -> None:
        if predicted <= 0 or real <= 0:
            return
        with self._lock:
            ratios = self._ratios.setdefault(key, [])
            ratios.append(real / predicted)
            del ratios[: -self.KEEP]

    def factor(self, key: tuple) -> float:
        """The median ratio of real to predicted time (1 before any run ended here)."""
        with self._lock:
            ratios = list(self._ratios.get(key, ()))
        if not ratios:
            return 1.0
        lo, hi = self.BOUNDS
        return min(hi, max(lo, statistics.median(ratios)))

    def runs(self, key: tuple) -> int:
        with self._lock:
            return len(self._ratios.get(key, ()))


def depth(arch: str, layers: list[str]) -> float:
    """The work of a pass down to the deepest of `layers`, as a fraction of one to conv5_1.

    A convolution's work is in_channels x out_channels x positions; the backward pass costs
    about twice the forward, so the ratio of forward work is the ratio of both.
    """
    total, work, ch, wanted = 0.0, {}, 3, set(layers)
    for t in layer_table(arch):
        if t.kind == "conv":
            total += ch * t.channels / t.stride**2
            ch = t.channels
        work[t.name] = total
    deepest = max((work[name] for name in wanted if name in work), default=0.0)
    return deepest / work[REFERENCE]


def measure(model: VGGFeatures, config: Config, sizes: tuple[int, int] = (128, 256)) -> Pace:
    """Time real evaluations of a run (this model, device and precision) at two sizes."""
    from nst.engine.run import Run  # run imports the engine; this module stays light to import

    img = Image.new("RGB", (sizes[-1], sizes[-1] * 3 // 4), (120, 110, 100))
    points = []
    for size in sizes:
        # An exact β: the pace does not depend on it, and the strength's reference would add
        # passes that are not evaluations. One painting: a blend's others cost targets only
        # (run_seconds counts them), and the config's blend weights would not match.
        cfg = config.replace(
            size=size, steps=10, scales=1, time_budget=None, init="content", beta=1.0, style_blend=None
        )
        run = Run(model, img, [img], cfg)
        run.step(2)  # targets, first steps, warm caches
        per = float("inf")
        for _ in range(2):  # the quicker of two: another job's burst makes one slow, not both
            t0, before = time.perf_counter(), run.evals
            run.step(3)
            per = min(per, (time.perf_counter() - t0) / max(1, run.evals - before))
        w, h = run.size
        points.append((w * h * depth(model.arch, cfg.layers_used), per))
    (p1, t1), (p2, t2) = points
    per_mpx = max(0.0, (t2 - t1) / (p2 - p1) * 1e6)
    fixed = max(0.0, t1 - per_mpx * p1 / 1e6)
    return Pace(fixed, per_mpx)


def output_size(content_size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = content_size
    f = long_side / max(w, h)
    return max(16, round(w * f)), max(16, round(h * f))


def run_seconds(pace: Pace, config: Config, content_size: tuple[int, int], arch: str) -> float:
    """Optimizing seconds of a run with `config` on a photo of `content_size`."""
    if config.time_budget:
        return float(config.time_budget)
    d = depth(arch, config.layers_used)
    plan = Schedule(output_size(content_size, config.size), config)
    seconds, done = 0.0, 0
    paintings = len(config.style_blend or ()) or 1
    # the style strength's reference, measured by every run: about two passes at <= 256 px,
    # and a forward pass (about half an evaluation) of each painting
    w, h = output_size(content_size, min(config.size, REFERENCE_SIDE))
    seconds += (2 + paintings / 2) * pace.per_eval(w * h, d)
    targets = (1 + paintings) / 2  # forward passes of the photo and each painting, per scale
    for s in plan.scales:
        evals = max(0, min(config.steps, s.end_step) - done) + targets
        seconds += evals * pace.per_eval(s.width * s.height, d)
        done = max(done, s.end_step)
    return seconds


def grid_seconds(
    pace: Pace, arch: str, jobs: list, size: int, steps: int, aspect: float = 4 / 3
) -> float:
    """Seconds of a grid of reconstructions: each cell `steps` evaluations at its depth."""
    w, h = (size, round(size / aspect)) if aspect >= 1 else (round(size * aspect), size)
    total = 0.0
    for _, _, _, kw in jobs:
        layers = [*(kw.get("style_layers") or []), kw.get("content_layer") or ""]  # "": none
        cost = NOTION_COST[kw.get("notion", "gram")]
        total += (steps + 2) * cost * pace.per_eval(w * h, depth(arch, layers))
    return total
