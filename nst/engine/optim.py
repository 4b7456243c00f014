"""Optimizers that keep the image a valid picture: every pixel stays in [0, 1] during the run.

The file a user gets is the optimized image clamped to [0, 1] and rounded to 8 bits. An optimizer
that wanders outside that box optimizes a picture nobody receives: clamping at the end threw away
most of the work (at 256 px, a written loss 5-17x the optimized one). Both optimizers here work on
the ImageNet-normalized image (as the seed did, so the seed's Adam learning rate keeps its
meaning), where the box is per channel: [-mean/std, (1-mean)/std].

`BoxLBFGS` is L-BFGS with one loss evaluation per step and no line search (its curvature history
persists between calls, so a dashboard can run it a few steps per tick), with L-BFGS-B's idea
for the bounds (Byrd, Lu, Nocedal & Zhu 1995): a pixel at a bound whose gradient points out of
the box is held fixed for that step, the quasi-Newton direction is taken over the free pixels
only, and the step is projected back into the box. The curvature pairs use the step actually
taken (after projection), so clamping never poisons the history.

It is invariant to the scale of the loss: the first step is sized by the gradient's largest entry
and the curvature test is relative, so the seed's 1e9-sized loss and Gatys 2016's 1e-3-sized one
need no rescaling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nst.engine.image import imagenet_stats


def pixel_bounds(device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high), each (1, 3, 1, 1): the box [0, 1] in the normalized space."""
    mean, std = imagenet_stats(device)
    return -mean / std, (1 - mean) / std


def project(x: torch.Tensor) -> torch.Tensor:
    """`x` (normalized image) clamped into the box in place; returns it."""
    lo, hi = pixel_bounds(x.device)
    with torch.no_grad():
        return x.copy_(torch.maximum(torch.minimum(x, hi), lo))


class BoxLBFGS:
    """Bound-constrained L-BFGS, one closure call (forward + backward) per `step`.

    Args:
        x: the image to optimize (normalized, requires grad); projected into the box at once.
        lr: step length along the quasi-Newton direction (1 is right once the history holds a
            pair; the first step is `first_step` in normalized pixel units instead).
        history: curvature pairs kept (each holds two copies of the image).
        first_step: largest pixel change of the first step, before any curvature is known
            (normalized units; the projection then cuts what leaves the box).
        max_rise: a step whose loss exceeds the previous one by this factor is taken back half
            way (a one-evaluation backtrack; 1.05 tolerates bf16 noise near convergence).
    """

    def __init__(
        self,
        x: torch.Tensor,
        lr: float = 1.0,
        history: int = 20,
        first_step: float = 1.0,
        max_rise: float = 1.05,
        levels: int = 1,
    ):
        self.x = project(x)
        self.levels = levels
        self.lr = lr
        self.history = history
        self.first_step = first_step
        self.max_rise = max_rise
        self.lo, self.hi = pixel_bounds(x.device)
        self._pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / y.s)
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None  # x and gradient last step
        self._gamma = 1.0  # initial inverse-Hessian scale, y.s / y.y of the newest pair
        self._prev_loss = float("inf")

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        x, g = self.x, self.x.grad
        if g is None:
            raise RuntimeError("the closure did not compute a gradient")
        g = g.detach().float()
        f = float(loss)
        if self._prev is not None and f > self._prev_loss * self.max_rise:
            # The last step overshot (no line search; the Gram loss is quartic): go back half way
            # and keep the old gradient and history. Costs this evaluation, saves the run.
            px, pg = self._prev
            x.copy_(px + 0.5 * (x - px))
            return loss
        if self._prev is not None:
            self._remember(x - self._prev[0], g - self._prev[1])
        self._prev_loss = f
        # Pixels at a bound whose gradient would push them out stay put this step.
        held = ((x <= self.lo) & (g > 0)) | ((x >= self.hi) & (g < 0))
        free_g = g.masked_fill(held, 0.0)
        d = self.direction(free_g).masked_fill_(held, 0.0)
        # Without curvature yet: a steepest-descent step of a set size, whatever the loss's scale.
        t = self.lr if self._pairs else self.first_step / max(d.abs().max().item(), 1e-30)
        self._prev = (x.detach().clone(), g.clone())
        x.add_(d, alpha=t)
        torch.maximum(torch.minimum(x, self.hi), self.lo, out=x)
        return loss

    def _remember(self, s: torch.Tensor, y: torch.Tensor) -> None:
        ys = float((y * s).sum())
        yy = float((y * y).sum())
        # Relative curvature test: skip the pair when y.s is not clearly positive (on a
        # nonconvex loss, or when the projection cut the step to nothing).
        if ys <= 1e-10 * max(yy, 1e-30) ** 0.5 * float(s.norm()) or yy == 0.0:
            return
        if len(self._pairs) == self.history:
            self._pairs.pop(0)
        self._pairs.append((s, y, 1.0 / ys))
        self._gamma = ys / float((y * self.precondition(y)).sum()) if self.levels > 1 else ys / yy

    def precondition(self, q: torch.Tensor) -> torch.Tensor:
        """The initial inverse Hessian's shape: q itself, plus (with `levels` > 1) its coarser
        octaves, q + sum_k 4^-k U_k U_k^T q (U_k: bilinear upsampling by 2^k). It is the metric
        of a Laplacian-pyramid parameterization x = sum_k 2^-k U_k(p_k), in which the coarse
        levels move as fast as the fine ones: L-BFGS there is L-BFGS here with this start."""
        if self.levels <= 1:
            return q
        out = q.clone()
        h, w = q.shape[-2:]
        for k in range(1, self.levels):
            small = (-(-h // 2**k), -(-w // 2**k))
            z = torch.zeros(q.shape[:-2] + small, device=q.device, dtype=q.dtype, requires_grad=True)
            with torch.enable_grad():
                up = torch.nn.functional.interpolate(
                    z, size=(h, w), mode="bilinear", align_corners=False
                )
                (down,) = torch.autograd.grad(up, z, q)  # U_k^T q
            out.add_(
                torch.nn.functional.interpolate(
                    down, size=(h, w), mode="bilinear", align_corners=False
                ),
                alpha=4.0**-k,
            )
        return out

    def direction(self, g: torch.Tensor, on_device: bool | None = None) -> torch.Tensor:
        """-H g by the two-loop recursion over the stored pairs. On a GPU its dot products stay
        on the card (a float() per pair would make it wait for each, twice a pair)."""
        if g.is_cuda if on_device is None else on_device:
            return self._direction_on_device(g)
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(self._pairs):
            a = rho * float((s * q).sum())
            alphas.append(a)
            q.add_(y, alpha=-a)
        q = self.precondition(q).mul_(self._gamma)
        for (s, y, rho), a in zip(self._pairs, reversed(alphas), strict=True):
            b = rho * float((y * q).sum())
            q.add_(s, alpha=a - b)
        return q.neg_()

    def _direction_on_device(self, g: torch.Tensor) -> torch.Tensor:
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(self._pairs):
            a = rho * (s * q).sum()  # a 0-dim tensor: no wait for the device
            alphas.append(a)
            q.sub_(y * a)
        q = self.precondition(q).mul_(self._gamma)
        for (s, y, rho), a in zip(self._pairs, reversed(alphas), strict=True):
            b = rho * (y * q).sum()
            q.add_(s * (a - b))
        return q.neg_()


class BoxAdam:
    """Adam (the seed's optimizer) followed by a projection into the box after every step."""

    def __init__(self, x: torch.Tensor, lr: float = 0.003):
        self.x = project(x)
        self._adam = torch.optim.Adam([x], lr=lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._adam.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        self._adam.step()
        project(self.x)
        return loss


def make_optimizer(
    name: str, x: torch.Tensor, lr: float, history: int, levels: int = 1
) -> BoxLBFGS | BoxAdam:
    """The named optimizer over image `x`, bounded to valid pixels (`levels`: L-BFGS's pyramid)."""
    if name == "lbfgs":
        return BoxLBFGS(x, lr=lr, history=history, levels=levels)
    if name == "adam":
        return BoxAdam(x, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")
