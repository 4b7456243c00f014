"""The yardstick every result is judged by: the seed's total loss of the image a user gets.

A stylized image is judged as the file that is written (clamped to [0, 1], rounded to 8 bits),
by the seed's objective (alpha 1, beta 1e5, unnormalized Gram, the seed's layer weights, max
pooling) computed in fp32 at the image's size, whatever settings made it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from nst.engine.config import Config
from nst.engine.image import deprocess, preprocess, resize_long_side, resize_to
from nst.engine.model import VGGFeatures
from nst.engine.objective import Objective, Reference

SEED = Config(alpha=1.0, beta=1e5, precision="fp32")  # the seed's objective: its layers and weights
NO_CALIBRATION = Reference(1.0, {})  # SEED's β is exact: nothing to measure


class SeedScore:
    """The seed's total loss at one size, for a content photo and a painting: the run's own
    Objective (nst.engine.objective) under the seed's settings, in fp32, so the yardstick and
    the run build their targets and losses the same way."""

    def __init__(self, model: VGGFeatures, content: Image.Image, style: Image.Image, size: int):
        self.model = model
        self.content = resize_long_side(content, size)
        self.size = self.content.size
        # The painting squashed to the photo's shape (SEED's style_fit, "stretch"), as the seed
        # did; β is the seed's own (an exact β: no strength to calibrate).
        self.objective = Objective(model, SEED, self.content, [style], False, reference=NO_CALIBRATION)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The seed's total loss of normalized image `x`, differentiable."""
        return self.objective(x)[0]

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content loss, style loss) of normalized image `x`, before alpha and beta."""
        _, parts = self.objective(x)
        return parts.content, parts.style

    @torch.no_grad()
    def content_term(self, x: torch.Tensor) -> float:
        """The content loss of the 8-bit picture of `x`: how much of the photo's layout is left
        (a low total loss bought by copying the painting shows here)."""
        img = deprocess(self._at_size(x))
        return float(self.terms(preprocess(img, self.model.mean.device))[0])

    @torch.no_grad()
    def content_term_of(self, img: Image.Image) -> float:
        """The content loss of an RGB picture (a written file, read back) at this size."""
        x = preprocess(resize_to(img.convert("RGB"), self.size), self.model.mean.device)
        return float(self.terms(x)[0])

    def _at_size(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().float()
        if tuple(x.shape[-2:]) != (self.size[1], self.size[0]):
            # a coarse-scale snapshot: judged as the image it would give, upsampled
            x = F.interpolate(x, size=(self.size[1], self.size[0]), mode="bicubic", align_corners=False)
        return x

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> float:
        """The loss of the 8-bit picture that normalized image `x` would be written as."""
        return self.image(deprocess(self._at_size(x)))

    @torch.no_grad()
    def image(self, img: Image.Image) -> float:
        """The loss of an RGB picture (a written file, read back), resized to this size."""
        x = preprocess(resize_to(img.convert("RGB"), self.size), self.model.mean.device)
        return float(self.loss(x))
