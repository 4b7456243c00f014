"""What the exploration pages look into: the run's own objective, or the sidebar's inputs.

A `View` holds one `Objective` (the photo at the run's current scale, the paintings after blend,
shape, scale and colour preservation, the run's layers, weights, convention and β) and the image
it scores. With a run, that is the run's objective now and the image its last record scored, so a
page's per-layer numbers are the run's; with no run, an objective built from the sidebar's inputs
at a small size, scoring the photo. The Gram matrices, Feature maps and Layer lab pages all read
one, so none of them describes another objective than the run's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from nst.engine import losses
from nst.engine.config import Config
from nst.engine.image import preprocess, resize_long_side, resize_to
from nst.engine.model import VGGFeatures
from nst.engine.objective import Objective, measure_reference, scale_balance
from nst.engine.style import lay_out, patch_map, per_position

EXPLORE_SIDE = 256  # px: the long side of a view with no run


@dataclass(frozen=True)
class LayerShare:
    """One style layer of a view, as the run's chart records it."""

    layer: str
    weight: float
    term: float  # w_l * E_l in the run's convention, before beta: the run's record's number
    share: float  # of the style loss
    distance: float  # how far, per position, under the notion (nst.engine.style.per_position)


class View:
    """An objective and the image it scores, with the numbers the pages show."""

    def __init__(
        self,
        objective: Objective,
        x: torch.Tensor,
        output: Image.Image | None,
        origin: str,
        photo: Image.Image | None = None,
    ):
        self.objective, self.x, self.output, self.origin = objective, x, output, origin
        self.photo = photo or objective.content  # the photo as given
        self._memo: dict = {}  # numbers already computed for this view (it never changes)
        self.term = None  # with a style per region: the region this view looks at (`region`)

    @property
    def regions(self) -> list[str]:
        """The names of the objective's style terms by region ([] without regions)."""
        return [t.name for t in self.objective.terms] if self.objective.terms else []

    def region(self, name: str | None) -> View:
        """This view, looking at the region named `name` (one of `regions`); itself for None (all
        of them together) or a region this objective does not have (any more)."""
        if name not in self.regions:
            return self
        index = self.regions.index(name)
        key = ("region", index)
        if key not in self._memo:
            other = View(self.objective, self.x, self.output, self.origin, self.photo)
            other.term = self.objective.terms[index]
            self._memo[key] = other
        return self._memo[key]

    def _targets(self) -> dict:
        """Each layer's target: the region's when the view looks at one (else the first's)."""
        terms = self.objective.terms
        term = self.term or (terms[0] if terms else None)
        return self.objective.targets if term is None else term.targets

    def _window(self, layer: str, f: torch.Tensor):
        terms = self.objective.terms
        term = self.term or (terms[0] if terms else None)
        return None if term is None else term.window(layer, f)

    @classmethod
    def of_run(cls, run, model: VGGFeatures) -> View:
        """The run's objective at the scale it is at, scoring its newest recorded image.

        A run computed elsewhere (nst.compute.cluster) has no objective here: the same one is built from
        its inputs, settings and calibration, and scores its latest image."""
        w, h = run.size
        origin = f"this run, at {w}x{h} px"
        objective = run.objective_now
        if objective is not None:
            return cls(objective, run.result_tensor(), run.image(), origin, run.content_src)
        output = run.image()
        content = resize_to(run.content_src, (w, h))
        objective = Objective(
            model, run.config, content, run.styles_src, False, reference=run.reference
        )
        return cls(objective, preprocess(output, model.mean.device), output, origin, run.content_src)

    @classmethod
    def of_inputs(
        cls, model: VGGFeatures, config: Config, photo: Image.Image, paintings: list[Image.Image]
    ) -> View:
        """No run: the sidebar's settings on its photo and paintings, at EXPLORE_SIDE."""
        photo = photo.convert("RGB")
        final = resize_long_side(photo, config.size)
        content = resize_long_side(photo, min(EXPLORE_SIDE, config.size))
        styles = [p.convert("RGB") for p in paintings]
        reference = measure_reference(model, config, final, styles)
        # in the units of a run at the sidebar's size, as nst.engine.run balances a coarser scale
        balance = scale_balance(
            config.convention, final.size[0] * final.size[1], content.size[0] * content.size[1]
        )
        objective = Objective(model, config, content, styles, False, balance, reference)
        x = preprocess(content, model.mean.device)
        w, h = final.size
        origin = f"the sidebar's inputs (no run yet; β as a {w}x{h} run gets it)"
        return cls(objective, x, None, origin, photo)

    # ---- what the pages show ------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.objective.config

    @property
    def target_name(self) -> str:
        return "output" if self.output is not None else "content"

    def images(self) -> dict[str, Image.Image]:
        """content (at this scale), each painting as the objective uses it, and the output."""
        out = {"content": self.objective.content}
        blend = self.config.style_blend or (1.0,) * len(self.objective.styles)
        many = len(self.objective.styles) > 1
        for i, (style, weight) in enumerate(zip(self.objective.styles, blend, strict=True)):
            out[f"style {i + 1} (blend {weight:g})" if many else "style"] = style
        if self.output is not None:
            out["output"] = self.output
        return out

    @torch.no_grad()
    def layer_shares(self) -> list[LayerShare]:
        """Each weighted style layer's term and share, as the objective scores the view's image
        (the run's `style_loss` per layer: the numbers of its last record)."""
        if "shares" in self._memo:
            return self._memo["shares"]
        cfg, obj = self.config, self.objective
        weights = {n: w for n, w in cfg.style_weights if w}
        feats = obj.features(self.x, list(weights), normalized=True)
        targets = self._targets()
        stats = {
            n: losses.style_statistic(feats[n], targets[n], self._window(n, feats[n])) for n in weights
        }
        terms = {k: float(v) for k, v in self._style_terms(obj, feats).items()}
        total = sum(terms.values()) or 1.0
        rows = []
        for layer, term in terms.items():
            distance = per_position(targets[layer], stats[layer])
            rows.append(LayerShare(layer, weights[layer], term, term / total, distance))
        self._memo["shares"] = rows
        return rows

    def _style_terms(self, obj: Objective, feats: dict) -> dict[str, torch.Tensor]:
        """Each weighted style layer's term of `obj` (this view's objective, or the same at
        another size) as the run weighs it: the view's region's, or every region's summed."""
        cfg, per_layer = obj.config, {}
        if self.term is not None:  # one region: its term, weighed as the run weighs it
            # by name: a region too small for `obj`'s size has no term there
            term = next((t for t in obj.terms or [] if t.name == self.term.name), None)
            if term is None:
                return {}
            term.style_loss(cfg, feats, per_layer)
            return {k: term.beta_ratio * v for k, v in per_layer.items()}
        if obj.terms:  # every region: the run's style loss by region
            obj.style_by_region(feats, per_layer)
        else:
            weights = {n: w for n, w in cfg.style_weights if w}
            losses.style_loss(weights, feats, obj.targets, cfg.convention, per_layer)
        return per_layer

    def _statistic(self, layer: str) -> losses.Stat:
        """The view's image's statistic at `layer`, under the objective's notion of style."""
        key = ("stat", layer)
        if key not in self._memo:
            with torch.no_grad():
                f = self.objective.features(self.x, [layer], normalized=True)[layer]
                window = self._window(layer, f)
                self._memo[key] = losses.style_statistic(f, self._targets()[layer], window)
        return self._memo[key]

    def grams(self, layer: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(the target Gram of the paintings after blend, the view's image's Gram, M) at `layer`.

        The target is the one the objective matches (rescaled to this scale's pixel count)."""
        stat = self._statistic(layer)
        target = self._targets()[layer]
        return _np(target), _np(stat.values[0]), stat.positions

    def gaussians(self, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(the paintings' mean, their covariance, the image's mean, its covariance) at `layer`:
        what the mean-and-covariance notion matches."""
        target = self._targets()[layer]
        mean, cov = target.gaussian(self._statistic(layer))
        return _np(target.mean), _np(target.cov), _np(mean), _np(cov)

    def matches(self, layer: str) -> Image.Image:
        """The image rebuilt from the paintings: at each position of `layer`, the patch of the
        painting that the patches notion matched it with (the painting's pixels under it)."""
        key = ("matches", layer)
        if key not in self._memo:
            with torch.no_grad():
                f = self.objective.features(self.x, [layer], normalized=True)[layer]
                target = self._targets()[layer]
                cols = patch_map(f)[0].reshape(-1, f.shape[-1] * f.shape[-2])
                where = target.where[target.match(cols)].cpu()
            term = self.term or (self.objective.terms[0] if self.objective.terms else None)
            blend = term.blend if term else self.config.style_blend
            blend = blend or (1.0,) * len(self.objective.styles)
            used = [s for s, w in zip(self.objective.styles, blend, strict=True) if w]
            self._memo[key] = lay_out(where, f.shape[-2:], used, target.sizes)
        return self._memo[key]

    def gradient_maps(self, side: int = 192) -> dict[str, np.ndarray]:
        """|d term / d pixel| summed over colour, per weighted style layer and for the content
        term, of the run's own objective at the view's image (shrunk to `side` px at most, the
        targets with it): where in the picture each term pushes the pixels."""
        key = ("grads", side)
        if key not in self._memo:
            self._memo[key] = self._gradient_maps(side)
        return self._memo[key]

    def _gradient_maps(self, side: int) -> dict[str, np.ndarray]:
        obj = self.objective
        x = self.x.detach()
        if max(x.shape[-2:]) > side:
            h, w = x.shape[-2:]
            k = side / max(h, w)
            size = (max(1, round(h * k)), max(1, round(w * k)))
            x = torch.nn.functional.interpolate(x, size=size, mode="area")
            photo = resize_to(obj.content, (size[1], size[0]))
            obj = Objective(
                obj.model, obj.config, photo, obj.sources, obj.bf16, reference=obj.reference
            )
        x = x.clone().requires_grad_(True)
        cfg = obj.config
        feats = obj.features(x, cfg.layers_used, normalized=True)
        terms = self._style_terms(obj, feats)
        terms[f"content {cfg.content_layer}"] = losses.content_loss(
            feats[cfg.content_layer], obj.content_target, cfg.convention
        )
        out = {}
        names = list(terms)
        for i, name in enumerate(names):
            (grad,) = torch.autograd.grad(terms[name], x, retain_graph=i < len(names) - 1)
            grad = obj.hold(grad)  # a kept region's pixels stay the photo's: no push there
            out[name] = grad[0].abs().sum(0).float().cpu().numpy()
        return out

    def gram_channels(self, layer: str, k: int, by: str = "variance") -> list[int]:
        """k channels that carry most of the target style: by variance (blend-weighted over the
        paintings as the objective uses them) or energy (the target Gram's diagonal)."""
        key = ("channels", layer, by)
        if key not in self._memo:
            if by == "energy":
                score = np.diag(self.grams(layer)[0])
            else:
                blend = self.config.style_blend or (1.0,) * len(self.objective.styles)
                score = np.zeros(self._statistic(layer).channels)
                with torch.no_grad():
                    for style, weight in zip(self.objective.styles, blend, strict=True):
                        if weight:
                            x = preprocess(style, self.x.device)
                            f = self.objective.features(x, [layer], normalized=True)[layer]
                            flat = f.float()[0].reshape(f.shape[1], -1).double().cpu().numpy()
                            score += weight * flat.var(1)
            self._memo[key] = [int(i) for i in np.argsort(-score, kind="stable")]
        return self._memo[key][:k]

    def sources(self) -> tuple[Image.Image, Image.Image]:
        """The photo and the most weighted painting as given (before any fitting): what the
        paper's grids reconstruct from, at their own settings."""
        blend = self.config.style_blend or (1.0,) * len(self.objective.sources)
        return self.photo, self.objective.sources[blend.index(max(blend))]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()
