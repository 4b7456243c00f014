"""Three notions of style, each a small object: a statistic of one layer's features, the
painting's statistic as its target, and the distance between the two.

  gram     Gatys et al. 2016 (the seed's): which channels fire together, F F^T summed over
           positions. Its statistic and distance are the seed's own, in nst.engine.losses.
  meancov  the features' mean and covariance, compared as Gaussians by the Wasserstein-2
           distance (the optimal-transport view of style).
  patches  Li & Wand 2016 (CNNMRF): every 3x3 patch of features replaced by the painting's
           patch most like it; the distance is what remains between the two.

Each statistic is a sum over positions (Gram: F F^T; mean and covariance: the sums of x and of
x x^T; patches: each position's squared distance to its match), so a print's tiles add up to the
whole image's statistic (nst.engine.tiles) and `losses.style_loss` compares it with the target.
A notion builds its target from "partials" of the painting's features (a print's painting comes
in tiles too), merged, then weighted over the paintings of a blend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nst.engine.config import NOTION_NAMES as NOTIONS
from nst.engine.losses import Stat, gram_matrix

# Where each notion's strength sits against the Gram's (docs/notions.md): (shift, slope) so that
# the same strength leaves about as much of the photo under each, and the range 0-6 spans the
# strengths that change the picture. Patches take the photo faster as β grows (every position
# is pulled to a painting patch) and over fewer decades of β: their strength counts from a higher
# balance and each unit is a smaller step of β.
STRENGTH_SCALE = {"gram": (0.0, 1.0), "meancov": (0.0, 1.0), "patches": (0.75, 0.6)}


def gram_strength(notion: str, strength: float, pivot: float) -> float:
    """The Gram's strength that weighs like `strength` under `notion`: the two agree at `pivot`
    (the default strength) less the notion's shift, and move `slope` Gram units per unit."""
    shift, slope = STRENGTH_SCALE[notion]
    return strength - shift + (slope - 1.0) * (strength - pivot)  # the Gram's own: exact


PATCH = 3  # a patch is PATCH x PATCH positions of a layer
BANK = 512  # the most painting patches kept per layer (on a grid over the painting)
SEARCH_DIMS = 64  # patches are matched in a random projection to this many dimensions


@dataclass(frozen=True)
class Window:
    """The positions of a feature map that count (a print's tile; the whole map when untiled):
    rows and columns of the map given, where its first counted one lies in the whole layer, and
    the whole layer's size."""

    rows: slice
    cols: slice
    top: int
    left: int
    height: int
    width: int
    # (1, 1, rows, cols): how much each counted position counts (a region's mask); None: fully
    weights: torch.Tensor | None = None
    count: float | None = None  # the weights' sum, when known (no wait for a GPU)

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return f[..., self.rows, self.cols]

    def positions(self, f: torch.Tensor) -> float:
        """How many positions `f` (this window of a map) counts: the sum of the weights."""
        if self.weights is None:
            return f.shape[-1] * f.shape[-2]
        return self.count if self.count is not None else float(self.weights.sum())

    @staticmethod
    def whole(f: torch.Tensor, weights=None, count: float | None = None) -> Window:
        return Window(slice(None), slice(None), 0, 0, f.shape[-2], f.shape[-1], weights, count)


def extent(convention: str, positions: int) -> float:
    """How a per-position distance grows with the image, as the convention's Gram term does:
    the seed's unnormalized Gram term grows with the positions, the others' do not."""
    return float(positions) if convention == "seed" else 1.0


# ---- gram ---------------------------------------------------------------------------------


class Gram:
    """The seed's notion: the target is the painting's Gram matrix itself (a tensor), which
    `losses.style_loss` compares with the seed's expression."""

    name = "gram"

    def painting(self, f: torch.Tensor, window: Window) -> torch.Tensor:
        return gram_matrix(window(f)).float()

    def target(self, parts: list[tuple[float, float, torch.Tensor]]) -> torch.Tensor:
        # The unnormalized Gram sums over positions: each is rescaled to the output's pixel
        # count (`ratio`), so a painting of another size (style_scale) asks for the same
        # statistics, and weighted by its share of the blend.
        total = float(sum(weight for weight, _, _ in parts))
        out = None
        for weight, ratio, g in parts:
            g = g * (ratio * weight / total)
            out = g if out is None else out + g
        return out


# ---- mean and covariance ------------------------------------------------------------------


def _moments(f: torch.Tensor, window: Window | None, shift: torch.Tensor | None = None) -> Stat:
    """The sums of x - shift and of its outer products over the positions (fp32). Shifted by
    about the mean, the covariance later taken from them does not lose its digits to the mean's."""
    f = (f if window is None else window(f)).float()
    c = f.shape[-3]
    if shift is not None:
        f = f - shift.reshape(1, c, 1, 1)
    w = None if window is None else window.weights
    if w is not None:  # a region's: sums weighted by its mask
        n = window.positions(f)
        return Stat(((f * w).sum(dim=(-2, -1)).reshape(c), gram_matrix(f * w.sqrt())), c, n)
    sums = f.sum(dim=(-2, -1)).reshape(c)
    return Stat((sums, gram_matrix(f)), c, f.shape[-1] * f.shape[-2])


def _trace_sqrt(m: torch.Tensor) -> torch.Tensor:
    """tr(M^1/2) of a symmetric positive semi-definite M, differentiable."""
    lam = torch.linalg.eigvalsh((m + m.t()) / 2)
    eps = 1e-6 * lam.detach().abs().mean() + 1e-12
    return (lam.clamp(min=0) + eps).sqrt().sum()


@dataclass
class MeanCovTarget:
    """A painting's features as a Gaussian: their mean, covariance and its square root."""

    mean: torch.Tensor
    cov: torch.Tensor
    root: torch.Tensor  # cov^1/2

    def statistic(self, f: torch.Tensor, window: Window | None = None) -> Stat:
        """The moments of the features about the painting's mean."""
        return _moments(f, window, self.mean)

    def gaussian(self, stat: Stat) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and covariance (float64) of the positions summed in `stat`."""
        sums, second = (v.double() / stat.positions for v in stat.values)
        return self.mean.double() + sums, second - torch.outer(sums, sums)

    def distance(self, stat: Stat, convention: str) -> torch.Tensor:
        """W2^2 = |mu - mu_s|^2 + tr C + tr C_s - 2 tr (C_s^1/2 C C_s^1/2)^1/2, per channel."""
        mean, cov = self.gaussian(stat)
        root = self.root.double()
        cross = _trace_sqrt(root @ cov @ root)
        shift = ((mean - self.mean.double()) ** 2).sum()
        w2 = shift + cov.trace() + self.cov.double().trace() - 2 * cross
        return (extent(convention, stat.positions) * w2 / stat.channels).float()


class MeanCov:
    name = "meancov"

    def painting(self, f: torch.Tensor, window: Window) -> Stat:
        return _moments(f, window)

    def target(self, parts: list[tuple[float, float, Stat]]) -> MeanCovTarget:
        # a blend is the mixture of the paintings' Gaussians: its first two moments are the
        # weighted means of theirs
        total = float(sum(weight for weight, _, _ in parts))
        mean = sum(w / total * s.values[0] / s.positions for w, _, s in parts)
        second = sum(w / total * s.values[1] / s.positions for w, _, s in parts)
        cov = second - torch.outer(mean, mean)
        lam, vec = torch.linalg.eigh((cov + cov.t()) / 2)
        root = vec @ torch.diag(lam.clamp(min=0).sqrt()) @ vec.t()
        return MeanCovTarget(mean, cov, root)


# ---- patches ------------------------------------------------------------------------------


def patch_map(f: torch.Tensor) -> torch.Tensor:
    """(1, c, h, w) -> (1, c*PATCH^2, h, w): each position's patch of features around it (zero
    beyond the image's edge)."""
    h, w = f.shape[-2:]
    cols = F.unfold(f.float(), PATCH, padding=PATCH // 2)
    return cols.reshape(1, -1, h, w)


def projection(channels: int, device) -> torch.Tensor:
    """The fixed random projection in which patches are matched (the same on every machine)."""
    gen = torch.Generator().manual_seed(channels)
    dims = channels * PATCH * PATCH
    return (torch.randn(SEARCH_DIMS, dims, generator=gen) / math.sqrt(dims)).to(device)


@dataclass
class PatchBank:
    """Some painting patches of one layer on a grid: their place (row, col in the layer) too."""

    where: torch.Tensor  # (k, 2) long
    patches: torch.Tensor  # (c*PATCH^2, k)
    height: int
    width: int

    def __add__(self, other: PatchBank) -> PatchBank:
        return PatchBank(
            torch.cat([self.where, other.where]),
            torch.cat([self.patches, other.patches], dim=1),
            self.height,
            self.width,
        )


@dataclass
class PatchTarget:
    """The painting's patches of one layer, and the same patches in the matching projection."""

    bank: torch.Tensor  # (k, c*PATCH^2): a patch a row, so a match is a contiguous gather
    keys: torch.Tensor  # (k, SEARCH_DIMS), unit length
    proj: torch.Tensor  # (SEARCH_DIMS, c*PATCH^2)
    where: torch.Tensor  # (k, 3): painting index, row, col
    sizes: list[tuple[int, int]]  # each painting's layer size (height, width)

    def match(self, cols: torch.Tensor) -> torch.Tensor:
        """The index into the bank of the patch most like each column of `cols` (normalized
        cross-correlation, in the projection)."""
        with torch.no_grad():  # a position a row throughout: the reductions run along memory
            q = F.normalize(cols.t() @ self.proj.t(), dim=1)
            return (q @ self.keys.t()).argmax(dim=1)

    def statistic(self, f: torch.Tensor, window: Window | None = None) -> Stat:
        p = patch_map(f)
        p = p if window is None else window(p)
        cols = p.reshape(p.shape[1], -1)
        matched = self.bank[self.match(cols)].t()
        w = None if window is None else window.weights
        if w is not None:  # a region's: each position's distance weighted by its mask
            root = w.reshape(1, -1).sqrt()
            d = _SquaredDistance.apply(cols * root, matched * root)
            return Stat((d,), f.shape[-3], window.positions(p))
        return Stat((_SquaredDistance.apply(cols, matched),), f.shape[-3], cols.shape[1])

    def distance(self, stat: Stat, convention: str) -> torch.Tensor:
        dims = stat.channels * PATCH * PATCH
        return extent(convention, stat.positions) * stat.values[0] / (stat.positions * dims)


class _SquaredDistance(torch.autograd.Function):
    """sum((a - b)^2) for a constant b, in one pass each way: the difference is kept for the
    gradient 2 (a - b) (autograd's pow and mse_loss walk a transposed b several times)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d = a - b
        ctx.save_for_backward(d)
        return d.square().sum()  # a cascaded sum: a tile's and the whole's agree to 1e-4

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (d,) = ctx.saved_tensors
        return d * (2 * grad), None


class Patches:
    name = "patches"

    def painting(self, f: torch.Tensor, window: Window) -> PatchBank:
        """The patches of `window` that lie on the grid (a grid over the whole layer, so a
        painting's tiles give the patches its whole map would)."""
        step = max(1, math.ceil(math.sqrt(window.height * window.width / BANK)))
        p = window(patch_map(f))[0]
        rows = torch.arange(p.shape[-2]) + window.top
        cols = torch.arange(p.shape[-1]) + window.left
        r, c = rows[rows % step == 0], cols[cols % step == 0]
        grid = p[:, r - window.top][:, :, c - window.left]
        where = torch.cartesian_prod(r, c)
        return PatchBank(where, grid.reshape(grid.shape[0], -1), window.height, window.width)

    def target(self, parts: list[tuple[float, float, PatchBank]]) -> PatchTarget:
        top = max(weight for weight, _, _ in parts)
        banks, places, sizes = [], [], []
        for i, (weight, _, b) in enumerate(parts):
            order = torch.argsort(b.where[:, 0] * b.width + b.where[:, 1])  # as the whole map
            keep = max(1, round(len(order) * weight / top))
            if keep < len(order):  # a blend: each painting's patches in its weight's proportion
                order = order[torch.linspace(0, len(order) - 1, keep).round().long()]
            banks.append(b.patches[:, order])
            idx = torch.full((len(order), 1), i, dtype=torch.long)
            places.append(torch.cat([idx, b.where[order]], dim=1))
            sizes.append((b.height, b.width))
        bank = torch.cat(banks, dim=1).t().contiguous()
        proj = projection(bank.shape[1] // (PATCH * PATCH), bank.device)
        keys = F.normalize(bank @ proj.t(), dim=1)
        return PatchTarget(bank, keys, proj, torch.cat(places), sizes)


def per_position(target, stat: Stat) -> float:
    """How far a statistic is from its target, in the units of one position: the root-mean-
    square Gram difference per position, the W2 distance per channel, or the root-mean-square
    difference of a patch's entries from its match."""
    if isinstance(target, torch.Tensor):
        return float((stat.values[0].float() - target).pow(2).mean().sqrt()) / stat.positions
    if isinstance(target, MeanCovTarget):
        return math.sqrt(max(0.0, float(target.distance(stat, "normalized"))))
    dims = stat.channels * PATCH * PATCH
    return math.sqrt(float(stat.values[0]) / (stat.positions * dims))


def lay_out(where: torch.Tensor, shape, paintings: list, sizes: list) -> Image.Image:
    """An image of the layer's `shape` (rows, cols) positions, each the piece of the painting
    that `where` (painting, row, col per position, row-major) points to: the painting's
    patches put where they were matched."""
    rows, cols = int(shape[0]), int(shape[1])
    cell = max(1, 256 // max(rows, cols))  # about 256 px whatever the layer
    out = np.zeros((rows * cols, cell, cell, 3), dtype=np.uint8)
    where = where.numpy()
    for k, (painting, (h, w)) in enumerate(zip(paintings, sizes, strict=True)):
        # the painting cut into one block of cell x cell px per position of its layer
        px = np.asarray(painting.convert("RGB").resize((w * cell, h * cell), Image.Resampling.BOX))
        blocks = px.reshape(h, cell, w, cell, 3).transpose(0, 2, 1, 3, 4)
        mine = where[:, 0] == k
        out[mine] = blocks[where[mine, 1], where[mine, 2]]
    grid = out.reshape(rows, cols, cell, cell, 3).transpose(0, 2, 1, 3, 4)
    return Image.fromarray(np.ascontiguousarray(grid).reshape(rows * cell, cols * cell, 3))


def notion(name: str) -> Gram | MeanCov | Patches:
    """The notion of style called `name` (Config.style_notion)."""
    table = {"gram": Gram, "meancov": MeanCov, "patches": Patches}
    if name not in table:
        raise ValueError(f"unknown notion of style {name!r}: one of {', '.join(NOTIONS)}")
    return table[name]()
