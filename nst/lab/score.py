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
from nst.engine.losses import content_loss, gram_matrix, style_loss, total_loss
from nst.engine.model import VGGFeatures

SEED = Config(alpha=1.0, beta=1e5)  # the seed's objective: its layers and weights are the defaults


class SeedScore:
    """The seed's total loss at one size, for a content photo and a painting."""

    def __init__(self, model: VGGFeatures, content: Image.Image, style: Image.Image, size: int):
        self.model = model
        dev = model.mean.device
        self.content = resize_long_side(content, size)
        self.size = self.content.size
        cl = SEED.content_layer
        with torch.no_grad():
            self.content_target = model(preprocess(self.content, dev), [cl], normalized=True)[cl]
            feats = model(
                preprocess(resize_to(style, self.size), dev), SEED.style_layers, normalized=True
            )
            self.grams = {k: gram_matrix(v) for k, v in feats.items()}

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The seed's total loss of normalized image `x`, differentiable."""
        return total_loss(*self.terms(x), SEED.alpha, SEED.beta)

    def terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(content loss, style loss) of normalized image `x`, before alpha and beta."""
        f = self.model(x, SEED.layers_used, normalized=True)
        c = content_loss(f[SEED.content_layer], self.content_target)
        return c, style_loss(dict(SEED.style_weights), f, self.grams)

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
