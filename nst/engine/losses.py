"""The objective: the seed's loss functions by name, and the other conventions as options.

The seed (the course project this started from) defines, for features F of shape (c, h*w):
    gram_matrix(F)  = F F^T                       (not normalized)
    content_loss    = mean((F_target - F_content)^2)
    style_loss      = sum_l w_l * mean((G_target - G_style)^2) / (c*h*w)
    total_loss      = alpha * content_loss + beta * style_loss

The same Gram differences, normalized otherwise, give the other conventions. With N = c channels
and M = h*w positions, each layer's style term is a constant times sum((G_t - G_s)^2):
    seed        1 / (N^3 M)          (mean over N^2 entries, then / (N M))
    gatys2016   1 / (4 N^2 M^2)      (Gatys et al. 2016, eq. 4)
    normalized  1 / (N^4 M^2)        (Gram / (N M), then mean: the PyTorch tutorial)
and the content term a constant times sum((F_t - F_c)^2):
    seed, normalized  1 / (N M)      gatys2016  1/2   (eq. 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


def gram_matrix(t: torch.Tensor) -> torch.Tensor:
    """F F^T of the (c, h*w) feature matrix, not normalized. (1, c, h, w) or (c, h, w) -> (c, c)."""
    c = t.shape[-3]
    if t.dim() == 4 and t.stride(1) == 1 and c > 1:
        # channels last (the network's layout): F^T as (h*w, c) rows, a view of the whole map or
        # a copy of whole rows for a tile's window; reshape(c, -1) would transpose it in memory
        f = t.permute(0, 2, 3, 1).reshape(-1, c).t()
    else:
        f = t.reshape(c, -1)
    if not (torch.is_grad_enabled() and f.requires_grad):
        return f @ f.t()
    return _Gram.apply(f)


class _Gram(torch.autograd.Function):
    """F F^T with a one-product backward: dF = (dG + dG^T) F.

    Autograd would differentiate F and F^T separately (two products, then a sum of two
    (c, h*w) tensors); this does one product, in the memory layout of F, so the gradient joins
    the network's channels-last gradient without a conversion.
    """

    @staticmethod
    def forward(ctx, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        return f @ f.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (f,) = ctx.saved_tensors
        sym = (grad + grad.t()).to(f.dtype)
        if f.stride(0) == 1 and f.shape[1] > 1:  # F is the transpose of a row-major (h*w, c)
            return (f.t() @ sym).t()
        return sym @ f


def style_factor(convention: str, channels: int, positions: int) -> float:
    """The constant that turns sum((G_t - G_s)^2) into one layer's style loss."""
    n, m = float(channels), float(positions)
    if convention == "seed":
        return 1.0 / (n**3 * m)
    if convention == "gatys2016":
        return 1.0 / (4.0 * n**2 * m**2)
    if convention == "normalized":
        return 1.0 / (n**4 * m**2)
    raise ValueError(f"unknown loss convention {convention!r}")


def content_factor(convention: str, channels: int, positions: int) -> float:
    """The constant that turns sum((F_t - F_c)^2) into the content loss."""
    if convention in ("seed", "normalized"):
        return 1.0 / (channels * positions)
    if convention == "gatys2016":
        return 0.5
    raise ValueError(f"unknown loss convention {convention!r}")


def content_loss(
    target_conv4_2: torch.Tensor, content_conv4_2: torch.Tensor, convention: str = "seed"
) -> torch.Tensor:
    """Mean of squared differences between the target's and the content's features."""
    diff2 = (target_conv4_2 - content_conv4_2) ** 2
    if convention in ("seed", "normalized"):
        return torch.mean(diff2)
    return content_factor(convention, 1, 1) * torch.sum(diff2)


@dataclass
class Stat:
    """A layer's style statistic of some positions: a sum over them (`values`, a tuple of
    tensors), so the statistics of disjoint positions add up (a print's tiles: nst.engine.tiles).
    The seed's is the Gram matrix, (F F^T,); nst.engine.style has the others."""

    values: tuple[torch.Tensor, ...]
    channels: int
    positions: int

    def __add__(self, other: Stat) -> Stat:
        values = tuple(a + b for a, b in zip(self.values, other.values, strict=True))
        return Stat(values, self.channels, self.positions + other.positions)


def style_statistic(features, target, window=None) -> Stat:
    """The statistic that `target` (a painting's, for one layer) is compared with, of the
    `features` (1, c, h, w) at the positions `window` keeps (all when None). A `Stat` passes
    through: a print's is summed over its tiles before it reaches `style_loss`."""
    if isinstance(features, Stat):
        return features
    if not isinstance(target, torch.Tensor):  # another notion of style (nst.engine.style)
        return target.statistic(features, window)
    f = features if window is None else window(features)
    weights = getattr(window, "weights", None)
    if weights is not None:  # a region's positions, weighted by its mask: sum of w F F^T
        return Stat((gram_matrix(f * weights.sqrt()),), f.shape[-3], window.positions(f))
    return Stat((gram_matrix(f),), f.shape[-3], f.shape[-1] * f.shape[-2])


def layer_style_losses(
    style_weights: Mapping[str, float],
    target_features: Mapping[str, torch.Tensor | Stat],
    style_grams: Mapping[str, torch.Tensor],
    convention: str = "seed",
) -> dict[str, torch.Tensor]:
    """Each style layer's weighted term w_l * E_l; their sum is `style_loss`.

    A target that is a tensor is the painting's Gram matrix (the seed's notion of style); any
    other is a target of nst.engine.style, which measures its own distance.
    """
    terms = {}
    for layer, weight in style_weights.items():
        if weight == 0:
            continue
        target = style_grams[layer]
        stat = style_statistic(target_features[layer], target)
        if not isinstance(target, torch.Tensor):
            terms[layer] = weight * target.distance(stat, convention)
            continue
        c, m = stat.channels, stat.positions
        diff = stat.values[0] - target
        if convention == "seed":  # exactly the seed's expression: mean / (c * h * w)
            terms[layer] = weight * torch.mean(diff**2) / (c * m)
        else:
            terms[layer] = weight * style_factor(convention, c, m) * torch.sum(diff**2)
    return terms


def style_loss(
    style_weights: Mapping[str, float],
    target_features: Mapping[str, torch.Tensor | Stat],
    style_grams: Mapping[str, torch.Tensor],
    convention: str = "seed",
    per_layer: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Sum over style layers of w_l * mean((G_target - G_style)^2) / (c*h*w) (the seed's).

    `target_features`: each layer's feature map, or its statistic summed over a print's tiles.
    `style_grams`: each layer's target, the painting's Gram matrix (or another notion's target).
    `per_layer`, when given, receives each layer's weighted term (for the charts).
    """
    terms = layer_style_losses(style_weights, target_features, style_grams, convention)
    if per_layer is not None:
        per_layer.update(terms)
    if not terms:  # every style weight zero (a content reconstruction)
        return torch.zeros(())
    return torch.stack(list(terms.values())).sum()


def total_loss(
    c_loss: torch.Tensor, s_loss: torch.Tensor, alpha: float = 1.0, beta: float = 1e5
) -> torch.Tensor:
    """alpha * content + beta * style."""
    return alpha * c_loss + beta * s_loss


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between vertical plus horizontal neighbours."""
    dy = img[..., 1:, :] - img[..., :-1, :]
    dx = img[..., :, 1:] - img[..., :, :-1]
    return torch.mean(dy**2) + torch.mean(dx**2)
