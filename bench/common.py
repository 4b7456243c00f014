"""Shared pieces of the benchmarks: inputs, the yardstick loops, and the common score.

Every contender's output is scored the same way (nst.lab.score): as the 8-bit image it would be
written as, by the seed's total loss (alpha 1, beta 1e5, unnormalized Gram, seed layer weights,
max pooling) computed in fp32 at the output's size.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nst.engine.config import Config, from_environment
from nst.engine.image import load_image, preprocess
from nst.engine.model import VGGFeatures, load_model
from nst.engine.optim import project
from nst.engine.run import Run
from nst.lab.score import SeedScore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
# seconds at which every contender's image is snapshot and scored
# fmt: off
CHECKPOINTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200,
               250, 300, 400, 500, 600)
# fmt: on


# The ../shared pairs, then the bundled samples' (nst/samples): every photo and painting of both.
PAIRS = (
    ("tubingen.jpg", "starry_night.jpg"),
    ("golden_gate.jpg", "the_scream.jpg"),
    ("tubingen.jpg", "the_scream.jpg"),
    ("cat.jpg", "mosaic.jpg"),
    ("astronaut.jpg", "swirls.jpg"),
    ("tubingen.jpg", "waves.jpg"),
)


def _find(name: str) -> Path | None:
    """An image by file name: in ../shared/images (or NST_BENCH_IMAGES), else the samples."""
    from nst.samples import ALL

    folder = Path(os.environ.get("NST_BENCH_IMAGES", SHARED / "images"))
    if (folder / name).is_file():
        return folder / name
    sample = ALL.get(Path(name).stem)
    return Path(sample) if sample else None


def pairs(limit: int | None = None, only: list[str] | None = None) -> list:
    """(photo, painting, "photo + painting") for PAIRS (or `only`: "cat+mosaic", ...) whose
    images are here."""
    wanted = PAIRS
    if only:
        wanted = [tuple(f"{n.strip()}.jpg" for n in pair.split("+")) for pair in only]
        for pair, names in zip(only, wanted, strict=True):
            missing = [n for n in names if _find(n) is None]
            if len(names) != 2 or missing:
                why = ", ".join(missing) + " not found" if missing else "not photo+painting"
                print(f"bench: --pairs {pair!r}: {why}", file=sys.stderr)
                raise SystemExit(2)  # a user error: one line, no traceback
    out = []
    for c, s in wanted:
        fc, fs = _find(c), _find(s)
        if fc is not None and fs is not None:
            out.append((load_image(fc), load_image(fs), f"{c[:-4]} + {s[:-4]}"))
    return out[:limit]


def inputs():
    """The first pair."""
    return pairs(1)[0]


def model(device: str = "cpu") -> VGGFeatures:
    here = Config(model="vgg16", weights=str(SHARED / "weights" / "vgg16_features_imagenet.pth"))
    cfg = from_environment(here)  # NST_MODEL / NST_WEIGHTS, else this machine's VGG-16
    arch, weights = cfg.model, cfg.weights
    return load_model(arch, weights, device)


class Scorer(SeedScore):
    """The seed's total loss of the written (8-bit) image, for any contender."""

    def start(self) -> torch.Tensor:
        return preprocess(self.content, self.model.mean.device)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed_loop(
    step: Callable[[], None], x: torch.Tensor, budget: float, checkpoints=CHECKPOINTS
) -> tuple[list[tuple[float, torch.Tensor]], int]:
    """Call `step` until `budget` seconds; snapshot x at each checkpoint (snapshots not timed)."""
    snaps, spent, evals = [], 0.0, 0
    marks = [t for t in (checkpoints or CHECKPOINTS) if t <= budget]
    while spent < budget:
        _sync(x.device)
        t0 = time.perf_counter()
        step()
        _sync(x.device)
        spent += time.perf_counter() - t0
        evals += 1
        while marks and spent >= marks[0]:
            snaps.append((marks.pop(0), x.detach().clone()))
    return snaps, evals


def plain_stepper(sc: Scorer) -> tuple[Callable[[], None], torch.Tensor]:
    """Yardstick: the PyTorch tutorial's loop. L-BFGS (history 100), one forward/backward per
    step, content init, fp32, one scale, the image clamped into [0, 1] after every step.
    Returns (step, image).

    torch's L-BFGS takes a first step of lr / |g|_1 and skips curvature pairs with y.s < 1e-10,
    so the loss's scale matters: it is multiplied by one constant, chosen so that the first
    gradient's largest entry is 1 (same minimizer). Dividing by the starting loss instead left
    the loop stuck at its first image at 1024 px (tubingen + starry_night, on an H200).
    """
    x = sc.start().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0
    )
    (g,) = torch.autograd.grad(sc.loss(x), x)
    scale = 1.0 / max(g.abs().max().item(), 1e-30)

    def closure():
        opt.zero_grad()
        loss = sc.loss(x)
        (loss * scale).backward()
        return loss

    def step():
        opt.step(closure)
        project(x)

    return step, x


def plain_loop(sc: Scorer, budget: float, checkpoints=None):
    """The tutorial's loop (`plain_stepper`) for `budget` seconds, snapshotted."""
    step, x = plain_stepper(sc)
    return timed_loop(step, x, budget, checkpoints)


def seed_loop(sc: Scorer, budget: float):
    """Yardstick: the seed's loop, Adam lr 0.003 on the normalized image, content init."""
    x = sc.start().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.003)

    def step():
        opt.zero_grad()
        sc.loss(x).backward()
        opt.step()
        project(x)

    return timed_loop(step, x, budget)


def nst_run(m: VGGFeatures, content, style, cfg: Config, budget: float, checkpoints=None):
    """The project's Run with a time budget, snapshotted at the checkpoints."""
    run = Run(m, content, [style], cfg.replace(steps=10_000, time_budget=budget))
    snaps, marks = [], [t for t in (checkpoints or CHECKPOINTS) if t <= budget]
    while not run.finished:
        run.step(1)
        while marks and run.seconds >= marks[0]:
            snaps.append((marks.pop(0), run.result_tensor().clone()))
    for t in marks:  # the budget ended (within half an evaluation) between checkpoints
        snaps.append((t, run.result_tensor().clone()))
    return snaps, run.evals


def first_time_below(series: list[tuple[float, float]], target: float) -> float | None:
    """Seconds at which a (seconds, loss) series first reaches `target` (linear in log loss)."""
    import math

    prev = None
    for t, loss in series:
        if loss <= target:
            if prev is None or prev[1] <= target:
                return t
            t0, l0 = prev
            f = (math.log(l0) - math.log(target)) / (math.log(l0) - math.log(loss))
            return t0 + f * (t - t0)
        prev = (t, loss)
    return None
