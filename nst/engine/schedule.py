"""The coarse-to-fine schedule of a run: which sizes, and when each one ends.

The sizes are fixed when a run starts (an image of one size cannot become a record of another);
a changed step count or time budget moves only where each scale ends (`replan`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nst.engine.config import Config

COARSE_STEPS = 0.5  # of the steps, shared by the coarse scales (far cheaper per step)
COARSE_TIME = 0.3  # of a time budget, shared by the coarse scales (20% and 40% did worse at 512 px)


def scale_sizes(size: int, scales: int) -> list[int]:
    """Long sides of the coarse-to-fine schedule: halving from `size`, coarsest first."""
    return [max(32, round(size / 2**k)) for k in reversed(range(scales))]


@dataclass(frozen=True)
class Scale:
    width: int
    height: int
    end_step: int
    end_fraction: float  # of the time budget


class Schedule:
    """The scales of one run, for an output of `final` (width, height)."""

    def __init__(self, final: tuple[int, int], config: Config):
        w, h = final
        self.dims = []
        for long_side in scale_sizes(config.size, config.scale_count):
            f = long_side / max(w, h)
            self.dims.append((max(16, round(w * f)), max(16, round(h * f))))
        self.replan(config)

    def replan(self, config: Config) -> None:
        """Where each scale ends under `config`'s step count and time budget."""
        steps, n = config.steps, len(self.dims)
        self.scales = []
        for i, (w, h) in enumerate(self.dims):
            if i == n - 1:
                self.scales.append(Scale(w, h, steps, 1.0))
            else:
                share = (i + 1) / (n - 1)
                end = round(steps * COARSE_STEPS * share)
                self.scales.append(Scale(w, h, end, COARSE_TIME * share))

    def __len__(self) -> int:
        return len(self.scales)

    def __getitem__(self, index: int) -> Scale:
        return self.scales[index]

    def due(self, index: int, evals: int, seconds: float, budget: float | None) -> bool:
        """Should the run move on from scale `index` to the next?"""
        if index + 1 >= len(self.scales):
            return False
        s = self.scales[index]
        return evals >= s.end_step or (bool(budget) and seconds >= budget * s.end_fraction)

    def seconds_left(
        self, index: int, evals: int, seconds: float, per_eval: float, config: Config
    ) -> float:
        """Seconds of optimization left from scale `index` after `evals` evaluations: `per_eval`
        (the pace at this scale) for the rest of it, and for the scales still to come that pace
        times their share of pixels (a step costs about its pixels)."""
        now = self.scales[index]
        left, done = 0.0, evals
        for i, s in enumerate(self.scales[index:], index):
            end = config.steps if i == len(self.scales) - 1 else min(config.steps, s.end_step)
            left += max(0, end - done) * per_eval * (s.width * s.height) / (now.width * now.height)
            done = max(done, end)
        if config.time_budget:
            left = min(left, max(0.0, config.time_budget - seconds))
        return left
