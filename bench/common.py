"""Shared pieces of the benchmarks: inputs, the yardstick loops, and the common score.

Every contender's output is scored the same way: the seed's total loss (alpha 1, beta 1e5,
unnormalized Gram, seed layer weights, max pooling) computed in fp32 at the output's size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nst.config import Config
from nst.image import load_image, preprocess, resize_long_side, resize_to
from nst.losses import content_loss, gram_matrix, style_loss, total_loss
from nst.model import VGGFeatures, load_model
from nst.run import Run

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = Config()  # the seed's objective: layers, weights, alpha, beta are the defaults
CHECKPOINTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120)


def inputs():
    """tubingen + starry_night from ../shared/images, else the bundled cat + swirls."""
    folder = Path(os.environ.get("NST_BENCH_IMAGES", SHARED / "images"))
    c, s = folder / "tubingen.jpg", folder / "starry_night.jpg"
    if c.is_file() and s.is_file():
        return load_image(c), load_image(s), "tubingen + starry_night"
    from nst.samples import PHOTOS, STYLES

    return load_image(PHOTOS["cat"]), load_image(STYLES["swirls"]), "cat + swirls (samples)"


def model(device: str = "cpu") -> VGGFeatures:
    weights = os.environ.get("NST_WEIGHTS") or str(SHARED / "weights" / "vgg16_features_imagenet.pth")
    arch = os.environ.get("NST_MODEL") or "vgg16"
    return load_model(arch, weights, device)


class Scorer:
    """The seed's total loss of an image at one size, in fp32, for any contender."""

    def __init__(self, m: VGGFeatures, content, style, size: int):
        self.m = m
        dev = m.mean.device
        self.content = resize_long_side(content, size)
        self.size = self.content.size
        self.layers = SEED.layers_used
        with torch.no_grad():
            self.c_t = m(preprocess(self.content, dev), ["conv4_2"], normalized=True)["conv4_2"]
            sf = m(preprocess(resize_to(style, self.size), dev), SEED.style_layers, normalized=True)
            self.grams = {k: gram_matrix(v) for k, v in sf.items()}

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        f = self.m(x, self.layers, normalized=True)
        c = content_loss(f["conv4_2"], self.c_t)
        s = style_loss(dict(SEED.style_weights), f, self.grams)
        return total_loss(c, s, SEED.alpha, SEED.beta)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> float:
        x = x.detach().float()
        if x.shape[-2:] != self.c_t.shape[-2:] and x.shape[-1] != self.size[0]:
            # a coarse-scale snapshot: judged as the image it would give, upsampled
            x = torch.nn.functional.interpolate(
                x, size=(self.size[1], self.size[0]), mode="bicubic", align_corners=False
            )
        return float(self.loss(x))

    def start(self) -> torch.Tensor:
        return preprocess(self.content, self.m.mean.device)


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


def plain_loop(sc: Scorer, budget: float, checkpoints=None):
    """Yardstick: one forward/backward per step, L-BFGS (history 100), content init, fp32.

    The loss is divided by its starting value: L-BFGS's first step and curvature test break on
    the seed's ~1e9 loss otherwise (same minimizer).
    """
    x = sc.start().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0
    )
    scale = []

    def closure():
        opt.zero_grad()
        loss = sc.loss(x)
        if not scale:
            scale.append(1.0 / loss.item())
        (loss * scale[0]).backward()
        return loss

    return timed_loop(lambda: opt.step(closure), x, budget, checkpoints)


def seed_loop(sc: Scorer, budget: float):
    """Yardstick: the seed's loop, Adam lr 0.003 on the normalized image, content init."""
    x = sc.start().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.003)

    def step():
        opt.zero_grad()
        sc.loss(x).backward()
        opt.step()

    return timed_loop(step, x, budget)


def nst_run(m: VGGFeatures, content, style, cfg: Config, budget: float, checkpoints=None):
    """The project's Run with a time budget, snapshotted at the checkpoints."""
    run = Run(m, content, [style], cfg.replace(steps=10_000, time_budget=budget))
    snaps, marks = [], [t for t in (checkpoints or CHECKPOINTS) if t <= budget]
    while not run.finished:
        run.step(1)
        while marks and run.seconds >= marks[0]:
            snaps.append((marks.pop(0), run._x.detach().clone()))
    for t in marks:  # the budget ended between checkpoints
        snaps.append((t, run._x.detach().clone()))
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
