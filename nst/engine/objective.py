"""The objective of one scale of a run: the seed's loss functions applied to fixed targets.

`Objective` turns a config, the content photo and the style images at one size into targets
(the photo's activations at the content layer; the paintings' Gram matrices, or their statistic
under another notion of style, nst.engine.style) and scores an image
against them with the seed's vocabulary, called by name through `nst.engine.losses` so that editing
`style_loss` changes what every run optimizes:

    total_loss(content_loss(...), style_loss(...), alpha, beta)  (+ tv_weight * tv_loss)

It knows nothing of optimizers, schedules or history: a `Run` holds one per scale.

The style strength (Config.style_strength) gives β through a `Reference`, measured once per run
on the photo and the paintings: beta = alpha * 10**(strength - STRENGTH_ORIGIN) * C_ref / S_ref,
where C_ref is the content loss of "the painting put in the photo's place" and S_ref the style
loss of "the photo left as it is". At STRENGTH_ORIGIN the two weigh the same. The bounded L-BFGS
is free of the loss's scale, so only this ratio shapes the picture; a raw β's useful range moves
by decades with the pair, the size and the convention, the strength's does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from PIL import Image

from nst.engine import losses, style
from nst.engine.config import STRENGTH_DEFAULT, Config
from nst.engine.image import (
    fit_style,
    luminance_image,
    match_colors,
    resize_long_side,
    resize_to,
    to_tensor,
)
from nst.engine.model import VGGFeatures
from nst.engine.regions import RegionMap, at_layer
from nst.engine.style import Window


@dataclass
class Parts:
    """The pieces of one evaluation, detached (tensors: read them all at once)."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    layers: dict[str, torch.Tensor] = field(default_factory=dict)

    def numbers(self, loss: torch.Tensor, x: torch.Tensor) -> tuple:
        """(loss, content, style, tv, whether x is finite, {layer: term}) as Python numbers,
        in one transfer from the device."""
        names = list(self.layers)
        finite = torch.isfinite(x).all().float()
        values = [loss, self.content, self.style, self.tv, finite, *self.layers.values()]
        loss, content, style, tv, ok, *layers = torch.stack(values).tolist()
        return loss, content, style, tv, bool(ok), dict(zip(names, layers, strict=True))


# The strength at which the two distances weigh the same. Measured (bench/strength.py): the
# written image leaves the photo about 2.5 decades below that balance and stops changing about
# 3.5 above, on every pair tried at 128-512 px; the slider's 0 sits at the first.
STRENGTH_ORIGIN = 2.5

# px: the reference is measured at this long side (or the output's, if smaller), whatever the
# run's size and schedule: a preview and its print get the same balance of the two terms (β
# itself scales with the pixel count, as the seed's style term does), a run and its resume the
# same β.
REFERENCE_SIDE = 256


@dataclass(frozen=True)
class Reference:
    """The two distances that calibrate the style strength, in the units of the output's size.

    content: the content loss of the paintings (blend-weighted) put in the photo's place.
    style:   each style layer's unweighted style loss of the photo itself.
    """

    content: float
    style: dict[str, float]

    def beta(self, config: Config) -> float:
        """The β a config asks for: its exact β, else the one its style strength gives."""
        if config.beta is not None:
            return config.beta
        s = sum(w * self.style.get(name, 0.0) for name, w in config.style_weights if w)
        strength = style.gram_strength(config.style_notion, config.style_strength, STRENGTH_DEFAULT)
        return config.alpha * strength_beta(strength, self.content, s)

    def to_dict(self) -> dict:
        return {"content": self.content, "style": dict(self.style)}


def scale_balance(convention: str, full_pixels: int, pixels: int) -> tuple[float, float]:
    """(content, style) multipliers that give an objective of `pixels` the balance it has at
    `full_pixels`: the seed's style term grows with the pixel count (unnormalized Gram), Gatys
    2016's content term does too (a sum); the normalized convention's terms do not."""
    r = full_pixels / pixels
    return {"seed": (1.0, r), "gatys2016": (r, 1.0)}.get(convention, (1.0, 1.0))


def strength_beta(strength: float, content_ref: float, style_ref: float) -> float:
    """β/α for a style strength, given the two reference distances (see `Reference`)."""
    if not (style_ref > 0 and content_ref > 0):
        return 10 ** (strength - STRENGTH_ORIGIN)  # degenerate inputs: no calibration
    return 10 ** (strength - STRENGTH_ORIGIN) * content_ref / style_ref


class Objective:
    """Config + photo + paintings at one size -> loss(x) for normalized images x of that size.

    Args:
        model: the shared, read-only feature extractor.
        config: the settings whose losses, layers, weights and pooling apply.
        content: the photo, resized to this scale.
        styles: the paintings as given (fitted to this scale here).
        bf16: run the network in bf16 (the losses are summed in fp32 either way).
        balance: multipliers (content, style) that give a coarse scale the full size's balance.
        reference: the run's calibration of the style strength (measured here when not given).
    """

    def __init__(
        self,
        model: VGGFeatures,
        config: Config,
        content: Image.Image,
        styles: list[Image.Image],
        bf16: bool,
        balance: tuple[float, float] = (1.0, 1.0),
        reference: Reference | None = None,
    ):
        self.model, self.config, self.content, self.bf16 = model, config, content, bf16
        self.capture = True  # an evaluation may run as a captured CUDA graph (nst.engine.capture)
        self.balance = balance
        self.device = model.mean.device
        self.sources = styles
        self.styles = [self._prepare(s) for s in styles]
        self.notion = style.notion(config.style_notion)
        # each style layer's target: for the seed's notion, the paintings' Gram matrix
        self.content_target, self.targets = self._targets()
        self.reference = reference or self._reference()
        regions = RegionMap.from_text(config.regions).checked(len(styles)) if config.regions else None
        self.regions = None if regions is None or regions.whole else regions
        self.terms = self._region_terms() if self.regions else None  # a style term per region
        kept = self.regions.kept(content.size, self.device) if self.regions else None
        self.free = None if kept is None else 1.0 - kept  # 0 where the photo is kept
        self._photo = None  # the photo, normalized, once a kept region needs it

    @property
    def beta(self) -> float:
        """The β this objective weighs the style loss with."""
        return self.reference.beta(self.config)

    def _reference(self, blend=None) -> Reference:
        """The Reference of this objective's photo, in this objective's units (against the
        paintings `blend` weighs: the config's by default)."""
        cfg = self.config if blend is None else self.config.replace(style_blend=tuple(blend))
        ref = measure_reference(self.model, cfg, self.content, self.sources)
        kc, ks = self.balance
        return Reference(kc * ref.content, {n: ks * v for n, v in ref.style.items()})

    def _prepare(self, style: Image.Image) -> Image.Image:
        """The painting as this scale asks for it: fitted to the photo, colour-preserved."""
        style = fit_style(style, self.content.size, self.config.style_scale, self.config.style_fit)
        if self.config.preserve_color == "histogram":
            return match_colors(style, self.content)
        if self.config.preserve_color == "luminance":
            return luminance_image(style, self.content)
        return style

    def features(self, x: torch.Tensor, layers: list[str], normalized: bool) -> dict:
        """Activations, computed in bf16 (channels-last) when that is faster here.

        On the bf16 path the style layers stay bf16, so their Gram products run in bf16 too (on
        AMX a fifth of the fp32 time; the loss then subtracts in fp32); the content layer is
        returned in fp32, as are all activations on the fp32 path.
        """
        pooling = self.config.pooling
        dtype = torch.bfloat16 if self.bf16 else None
        out = None
        if normalized and self.capture:  # an evaluation: captured and replayed on a GPU
            out = self.model.captured.features(self.model, x, layers, pooling, dtype)
        if out is None:
            out = self.model(x, layers, pooling=pooling, normalized=normalized, dtype=dtype)
        if not self.bf16:
            return out
        return {k: v.float() if k == self.config.content_layer else v for k, v in out.items()}

    @torch.no_grad()
    def _targets(self) -> tuple[torch.Tensor, dict]:
        """The photo's content-layer activations, and each style layer's target under the
        config's notion of style (nst.engine.style): for the seed's, the painting's Gram matrix."""
        content = self._content_of(to_tensor(self.content, self.device))
        blend = self.config.style_blend or (1.0,) * len(self.styles)
        parts = self._parts(blend)
        return content.detach(), {name: self.notion.target(p) for name, p in parts.items()}

    def _parts(self, blend, area: dict | None = None) -> dict[str, list]:
        """Each style layer's (weight, ratio, partial statistic) of each painting the blend
        weighs: `ratio` rescales a sum over the painting's positions to the photo's (or to a
        region's, `area`: its share of each layer)."""
        style_layers = [n for n, _ in self.config.style_weights]  # all, so weights can change live
        pixels = self.content.size[0] * self.content.size[1]
        parts: dict[str, list] = {name: [] for name in style_layers}
        for weight, painting in zip(blend, self.styles, strict=True):
            if weight == 0:
                continue
            ratio = pixels / (painting.size[0] * painting.size[1])
            image = to_tensor(painting, self.device)
            for name, part in self._paintings_of(image, style_layers).items():
                parts[name].append((weight, ratio * (area[name] if area else 1.0), part))
        return parts

    @torch.no_grad()
    def _region_terms(self) -> list[RegionTerm]:
        """A style term per region that has a painting (the rest, label 0, has the run's)."""
        cfg, (w, h) = self.config, self.content.size
        masks = self.regions.masks((w, h), self.device)
        blend = cfg.style_blend or (1.0,) * len(self.styles)
        terms = []
        for i, mask in enumerate(masks):
            region = self.regions.regions[i - 1] if i else None
            if region is not None and region.keep:
                continue
            layers = {
                n: at_layer(mask[None], (h // stride(n), w // stride(n))) for n, _ in cfg.style_weights
            }
            area = {n: float(m.mean()) for n, m in layers.items()}
            if max(area.values()) == 0:
                continue  # the rest is all painted over
            own = blend if region is None else [float(j == region.painting) for j in range(len(blend))]
            parts = self._parts(own, area)
            targets = {n: self.notion.target(p) for n, p in parts.items()}
            ref = self.reference
            if region is not None:
                ref = self._reference(own)
            strength = None if region is None else region.strength
            at = cfg if strength is None else cfg.replace(style_strength=strength)
            # normalized conventions do not grow with the positions: a region weighs its share
            share = {n: 1.0 if cfg.convention == "seed" else a for n, a in area.items()}
            name = "the rest of the photo" if region is None else f"region {i} ({region.colour})"
            ratio = ref.beta(at) / self.beta
            terms.append(RegionTerm(name, layers, targets, ratio, share, tuple(own)))
        return terms

    def _content_of(self, photo: torch.Tensor) -> torch.Tensor:
        """The content layer's activations of a [0, 1] image (nst.engine.tiles: by tiles)."""
        layer = self.config.content_layer
        return self.features(photo, [layer], normalized=False)[layer]

    def _paintings_of(self, image: torch.Tensor, layers: list[str]) -> dict:
        """Each layer's partial of a [0, 1] painting, from which the notion of style makes its
        target (nst.engine.tiles: summed over tiles)."""
        feats = self.features(image, layers, normalized=False)
        return {name: self.notion.painting(feats[name], Window.whole(feats[name])) for name in layers}

    def style_by_region(self, feats: dict, layers: dict) -> torch.Tensor:
        """The style loss by region: each region's `RegionTerm.style_loss` weighed by its β
        against the objective's; `layers` receives each layer's sum over the regions."""
        total = None
        for term in self.terms:
            own: dict[str, torch.Tensor] = {}
            s = term.beta_ratio * term.style_loss(self.config, feats, own)
            total = s if total is None else total + s
            for name, v in own.items():
                layers[name] = layers.get(name, 0) + term.beta_ratio * v
        return total if total is not None else torch.zeros((), device=self.device)

    def hold(self, grad: torch.Tensor) -> torch.Tensor:
        """The gradient with the kept regions' pixels held (the photo kept there)."""
        return grad if self.free is None else grad * self.free

    def keep_photo(self, x: torch.Tensor) -> None:
        """Put the photo (normalized) into the kept regions of `x`, in place."""
        if self.free is not None:
            if self._photo is None:
                photo = self.model.normalize(to_tensor(self.content, self.device))
                self._photo = photo * (1.0 - self.free)
            with torch.no_grad():
                x.mul_(self.free).add_(self._photo)

    def palette(self) -> Image.Image:
        """The painting whose colours a recoloured start takes (the most weighted one)."""
        blend = self.config.style_blend or (1.0,) * len(self.styles)
        return self.styles[blend.index(max(blend))]

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        """The total loss of `x` (detached) and its parts, its gradient added to `x.grad`: one
        evaluation of the optimizer (nst.engine.tiles does the same tile by tile)."""
        loss, parts = self(x)
        # A non-finite loss gives non-finite gradients; the run's guard then restores the last
        # finite image. No test here: each would wait for the GPU.
        loss.backward()
        return loss.detach(), parts

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        """The total loss of normalized image `x` (differentiable) and its parts."""
        return self.loss_of(self.features(x, self.config.layers_used, normalized=True), x)

    def loss_of(self, feats: dict, x: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        """The total loss and its parts given `x`'s activations (`features`; nst.engine.together
        hands each run its slice of a batch's)."""
        cfg = self.config
        content = feats[cfg.content_layer].float()  # fp32 already, unless from a bf16 batch
        c = losses.content_loss(content, self.content_target, cfg.convention)
        layers: dict[str, torch.Tensor] = {}
        if self.terms is None:
            s = losses.style_loss(dict(cfg.style_weights), feats, self.targets, cfg.convention, layers)
        else:
            s = self.style_by_region(feats, layers)
        kc, ks = self.balance
        total = losses.total_loss(kc * c, ks * s, cfg.alpha, self.beta)
        tv = losses.tv_loss(x) if cfg.tv_weight else torch.zeros((), device=x.device)
        if cfg.tv_weight:
            total = total + cfg.tv_weight * tv
        parts = Parts(c.detach(), s.detach(), tv.detach(), {k: v.detach() for k, v in layers.items()})
        return total, parts


@dataclass
class RegionTerm:
    """One region's style term: each layer's weights over its positions (1, 1, h, w), targets,
    the region's β against the objective's, and each layer's share (its area under a
    normalized convention)."""

    name: str
    weights: dict[str, torch.Tensor]
    targets: dict[str, object]
    beta_ratio: float
    share: dict[str, float]
    blend: tuple[float, ...]  # the paintings its targets weigh
    counts: dict[str, float] = field(init=False)  # each layer's weights summed, once

    def __post_init__(self) -> None:
        self.counts = {n: float(w.sum()) for n, w in self.weights.items()}

    def window(self, layer: str, f: torch.Tensor) -> Window:
        """The region's positions of `f` (a layer's whole map), weighted by its mask."""
        return Window.whole(f, self.weights[layer], self.counts[layer])

    def style_loss(self, config: Config, feats: dict, per_layer: dict) -> torch.Tensor:
        """The seed's `style_loss` of the region's weighted statistics (before its β ratio)."""
        stats = {}
        for name, w in config.style_weights:
            if w:
                f = feats[name]
                stats[name] = losses.style_statistic(f, self.targets[name], self.window(name, f))
        weights = {n: w * self.share[n] for n, w in config.style_weights}
        return losses.style_loss(weights, stats, self.targets, config.convention, per_layer)


def stride(layer: str) -> int:
    """A layer's positions are the image's pixels over this (conv1_x: 1 ... conv5_x: 16)."""
    return 2 ** (int(layer[4]) - 1)


@torch.no_grad()
def measure_reference(
    model: VGGFeatures, config: Config, content: Image.Image, styles: list[Image.Image]
) -> Reference:
    """The Reference of `content` at its size, measured at REFERENCE_SIDE (cheap at any size):
    over the whole photo (a region's is measured against its own painting, nst.engine.regions)."""
    cfg = config.replace(regions=None) if config.regions else config
    small = resize_long_side(content, REFERENCE_SIDE) if max(content.size) > REFERENCE_SIDE else content
    # in the output's units, as nst.engine.run balances a coarser scale
    balance = scale_balance(
        cfg.convention, content.size[0] * content.size[1], small.size[0] * small.size[1]
    )
    # fp32 whatever the run's precision: bf16 rounds differently between machines, and a run,
    # its reproduction and its resume must get the same β (it is cheap at this size)
    at = Objective(model, cfg, small, styles, False, balance, Reference(1.0, {}))
    kc, ks = at.balance
    layers = [n for n, _ in cfg.style_weights]
    feats = at.features(to_tensor(at.content, at.device), layers, normalized=False)
    unweighted = {n: losses.style_loss({n: 1.0}, feats, at.targets, cfg.convention) for n in layers}
    blend = cfg.style_blend or (1.0,) * len(styles)
    c = 0.0
    for weight, painting in zip(blend, styles, strict=True):
        if weight == 0:
            continue
        x = to_tensor(resize_to(painting.convert("RGB"), at.content.size), at.device)
        f = at.features(x, [cfg.content_layer], normalized=False)[cfg.content_layer]
        c += weight * float(losses.content_loss(f, at.content_target, cfg.convention))
    c /= float(sum(blend))
    terms = {n: ks * float(v) for n, v in unweighted.items()}
    return Reference(kc * c, {n: v if math.isfinite(v) else 0.0 for n, v in terms.items()})
