"""Print sizes in bounded memory: one scale's objective computed tile by tile, exactly.

The network's activations of a 4096 px image do not fit a laptop (conv1 alone holds 64 values per
pixel). But both terms of the seed's loss are sums over positions before they are squared or
compared: the content loss sums (F - F_c)^2 over positions, and a Gram matrix F F^T sums over
positions too, so the whole image's Gram is the sum of its tiles' Grams. So an evaluation is two
passes over the tiles:

  1. without gradients: every tile's Grams, summed into the image's G_l; from those the style
     loss through the seed's `style_loss` and its gradient dL/dG_l;
  2. with gradients, tile by tile: <G_l(tile), dL/dG_l> for every style layer plus the tile's
     share of the content loss (the seed's `content_loss` on the tile, weighted by its share of
     the positions), backward into the image's gradient; the tile's graph is freed before the next.

The sum of the tiles' gradients is the gradient of the whole image's loss. A tile is computed on a
crop with a margin (HALO) as wide as the deepest layer's reach, aligned to the network's largest
stride, and only the positions inside the tile count: the features there are the whole image's
own, so there is no seam to hide (tested against the untiled objective).

Every notion of style (nst.engine.style) has such a statistic, a sum over positions, so a print
tiles with each the same way: G_l above stands for the notion's statistic.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from nst.engine import losses
from nst.engine.objective import Objective, Parts, stride
from nst.engine.style import Window

ALIGN = 16  # the network's largest stride (four poolings): tile edges on it keep positions whole
HALO = 96  # px of context around a tile: beyond conv5_1's reach (66 px VGG-16, 78 VGG-19)


@dataclass(frozen=True)
class Tile:
    """An inner box (the positions it counts) and the crop computed for it, in pixels."""

    top: int
    left: int
    bottom: int
    right: int
    crop_top: int
    crop_left: int
    crop_bottom: int
    crop_right: int

    def inner(self, layer: str, feature: torch.Tensor) -> torch.Tensor:
        """The positions of `feature` (the crop's, at `layer`) inside the tile."""
        return self.window(layer, feature, (0, 0))(feature)

    def window(self, layer: str, feature: torch.Tensor, image: tuple[int, int]) -> Window:
        """The tile's positions in `feature` (the crop's, at `layer`), in an image of
        `image` (height, width) px."""
        s = stride(layer)
        t = (self.top - self.crop_top) // s
        l_ = (self.left - self.crop_left) // s
        h = (self.bottom - self.top) // s if self.bottom % s == 0 else None
        w = (self.right - self.left) // s if self.right % s == 0 else None
        rows = slice(t, t + h) if h is not None else slice(t, None)  # at the image's edge: to the end
        cols = slice(l_, l_ + w) if w is not None else slice(l_, None)
        return Window(rows, cols, self.top // s, self.left // s, image[0] // s, image[1] // s)


def tiles(height: int, width: int, side: int, halo: int = HALO) -> list[Tile]:
    """Tiles of at most `side` px (a multiple of ALIGN) covering an image, with their crops."""
    side = max(ALIGN, side // ALIGN * ALIGN)
    out = []
    for top in range(0, height, side):
        for left in range(0, width, side):
            bottom, right = min(height, top + side), min(width, left + side)
            out.append(
                Tile(
                    top,
                    left,
                    bottom,
                    right,
                    max(0, top - halo),
                    max(0, left - halo),
                    min(height, bottom + halo),
                    min(width, right + halo),
                )
            )
    return out


def tile_side(pixels_per_tile: int) -> int:
    """The side of a square tile (its crop included) of about this many pixels, on ALIGN."""
    inner = math.isqrt(max(1, pixels_per_tile)) - 2 * HALO
    return max(4 * ALIGN, inner // ALIGN * ALIGN)


class TiledObjective(Objective):
    """An `Objective` whose targets and evaluation go tile by tile (see the module's doc).

    `tile_pixels`: the most pixels one crop may have (the caller sizes it to the memory there is).
    Its `evaluate` is the untiled one's, in bounded memory; `__call__` (a whole-image forward)
    is left to images small enough for it.
    """

    def __init__(self, *args, tile_pixels: int, **kwargs):
        self.side = tile_side(tile_pixels)
        super().__init__(*args, **kwargs)
        self.capture = False  # every tile's crop has its own shape: nothing to replay

    def _layout(self, x: torch.Tensor) -> list[Tile]:
        return tiles(x.shape[-2], x.shape[-1], self.side)

    def _content_of(self, photo: torch.Tensor) -> torch.Tensor:
        """The photo's content-layer activations, put together from the tiles (1/64 of the
        pixels at conv4_2, so they fit where the network's whole activations would not)."""
        layer = self.config.content_layer
        parts = []
        for t in self._layout(photo):
            crop = photo[..., t.crop_top : t.crop_bottom, t.crop_left : t.crop_right]
            f = self.features(crop, [layer], normalized=False)[layer]
            parts.append((t, t.inner(layer, f)))
        return _assemble(parts)

    def _paintings_of(self, image: torch.Tensor, layers: list[str]) -> dict:
        out: dict = {}
        size = image.shape[-2:]
        for t in self._layout(image):
            crop = image[..., t.crop_top : t.crop_bottom, t.crop_left : t.crop_right]
            feats = self.features(crop, layers, normalized=False)
            for name in layers:
                part = self.notion.painting(feats[name], t.window(name, feats[name], size))
                out[name] = out[name] + part if name in out else part
        return out

    def _groups(self) -> list[tuple[dict, dict | None, float, dict]]:
        """The style terms: (targets, each layer's mask over its whole map or None, β ratio,
        layer weights): one for the whole photo, or one per region (nst.engine.regions)."""
        weights = {n: w for n, w in self.config.style_weights if w}
        if self.terms is None:
            return [(self.targets, None, 1.0, weights)]
        return [
            (t.targets, t.weights, t.beta_ratio, {n: w * t.share[n] for n, w in weights.items()})
            for t in self.terms
        ]

    @staticmethod
    def _window(t: Tile, name: str, f: torch.Tensor, size, masks: dict | None) -> Window:
        """The tile's positions of `f` at layer `name`, weighted by a region's mask if any."""
        window = t.window(name, f, size)
        if masks is None:
            return window
        h, w = window(f).shape[-2:]
        m = masks[name][..., window.top : window.top + h, window.left : window.left + w]
        return dataclasses.replace(window, weights=m)

    @torch.no_grad()
    def _statistics(self, x: torch.Tensor, layers: list[str]) -> list[dict[str, losses.Stat]]:
        """The normalized image's style statistics per style term, summed over its tiles."""
        groups = self._groups()
        out: list[dict[str, losses.Stat]] = [{} for _ in groups]
        for t in self._layout(x):
            crop = x[..., t.crop_top : t.crop_bottom, t.crop_left : t.crop_right]
            feats = self.features(crop, layers, normalized=True)
            for sums, (targets, masks, _, _) in zip(out, groups, strict=True):
                for name in layers:
                    window = self._window(t, name, feats[name], x.shape[-2:], masks)
                    stat = losses.style_statistic(feats[name], targets[name], window)
                    stat = losses.Stat(
                        tuple(v.float() for v in stat.values), stat.channels, stat.positions
                    )
                    sums[name] = sums[name] + stat if name in sums else stat
        return out

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        cfg = self.config
        weights = {n: w for n, w in cfg.style_weights if w}
        kc, ks = self.balance
        beta = self.beta
        groups = self._groups()
        # 1. the image's style statistics, the style loss (the seed's `style_loss`, whatever the
        # notion, per region if any) and its gradient with respect to each statistic
        leaves = [
            {
                n: losses.Stat(
                    tuple(v.requires_grad_(True) for v in st.values), st.channels, st.positions
                )
                for n, st in stats.items()
            }
            for stats in self._statistics(x.detach(), list(weights))
        ]
        terms: dict[str, torch.Tensor] = {}
        with torch.enable_grad():
            s = torch.zeros((), device=x.device)
            for own, (targets, _, ratio, layer_weights) in zip(leaves, groups, strict=True):
                per: dict[str, torch.Tensor] = {}
                s = s + ratio * losses.style_loss(layer_weights, own, targets, cfg.convention, per)
                for name, v in per.items():
                    terms[name] = terms.get(name, 0) + ratio * v
            flat = [v for own in leaves for st in own.values() for v in st.values]
            grads = iter(torch.autograd.grad(beta * ks * s, flat, allow_unused=True))
        d_stats = [{n: [next(grads) for _ in st.values] for n, st in own.items()} for own in leaves]
        # 2. tile by tile: the surrogate whose gradient is the tile's share of the whole's
        c_total = torch.zeros((), device=x.device)
        full = self.content_target
        layers_used = cfg.layers_used
        for t in self._layout(x):
            crop = x[..., t.crop_top : t.crop_bottom, t.crop_left : t.crop_right]
            feats = self.features(crop, layers_used, normalized=True)
            f_c = t.inner(cfg.content_layer, feats[cfg.content_layer])
            target = _window(full, t, cfg.content_layer, f_c.shape[-2:])
            share = f_c.shape[-1] * f_c.shape[-2] / (full.shape[-1] * full.shape[-2])
            if cfg.convention == "gatys2016":
                share = 1.0  # a sum, not a mean: every tile's part counts whole
            if f_c.numel():
                c = losses.content_loss(f_c, target, cfg.convention) * share
            else:  # a strip at the image's edge narrower than the content layer's stride
                c = torch.zeros((), device=x.device)
            surrogate = cfg.alpha * kc * c
            for d_own, (targets, masks, _, _) in zip(d_stats, groups, strict=True):
                for name in weights:
                    window = self._window(t, name, feats[name], x.shape[-2:], masks)
                    part = losses.style_statistic(feats[name], targets[name], window)
                    for v, d in zip(part.values, d_own[name], strict=True):
                        if d is not None:
                            surrogate = surrogate + (v.float() * d).sum()
            surrogate.backward()
            c_total = c_total + c.detach()
            del feats, surrogate
        total = losses.total_loss(kc * c_total, ks * s.detach(), cfg.alpha, beta)
        tv = torch.zeros((), device=x.device)
        if cfg.tv_weight:
            with torch.enable_grad():
                tv_t = losses.tv_loss(x)
                (cfg.tv_weight * tv_t).backward()
            tv = tv_t.detach()
            total = total + cfg.tv_weight * tv
        parts = Parts(c_total, s.detach(), tv, {k: v.detach() for k, v in terms.items()})
        return total.detach(), parts


def _each(stat: losses.Stat, fn) -> losses.Stat:
    return losses.Stat(tuple(fn(v) for v in stat.values), stat.channels, stat.positions)


def _assemble(parts: list) -> torch.Tensor:
    """The whole feature map from its tiles' inner parts."""
    rows: dict[int, list] = {}
    for t, f in parts:
        rows.setdefault(t.top, []).append((t.left, f))
    return torch.cat(
        [
            torch.cat([f for _, f in sorted(row, key=lambda r: r[0])], dim=-1)
            for _, row in sorted(rows.items())
        ],
        dim=-2,
    )


def _window(full: torch.Tensor, t: Tile, layer: str, shape) -> torch.Tensor:
    s = stride(layer)
    top, left = t.top // s, t.left // s
    return full[..., top : top + shape[0], left : left + shape[1]]
