"""A style per region: a label map over the photo, and for each label a painting, a strength, or
"keep the photo" (Gatys et al. 2017, *Controlling Perceptual Factors*: guided statistics).

The map travels as text (`Config.regions`: JSON holding the labels as a base64 PNG), so a run's
regions are kept wherever its config is: the store, the PNG, the trace, the reproduce command.
Label 0 is the rest of the photo: it takes the run's own paintings (blended) at the run's
strength. Label i takes `regions[i-1]`.

The objective by region (nst.engine.objective): each region's style statistic is a weighted sum
over the positions of each layer, the weights its mask brought to the layer's resolution (area
averages of the feathered mask), matched to its painting's statistic scaled to the region's
area; the content term covers the whole photo. A region weighs as much per pixel as the whole
photo would at its strength. A kept region has no style term and its pixels are not optimized:
they stay the photo's (feathered at the border).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageColor, ImageFilter

MAX_REGIONS = 8
FEATHER = 6  # px at the photo's size: the default width of a border's transition
NEAR = 60  # a label image's pixel within this RGB distance of a region's colour belongs to it


class RegionError(ValueError):
    """Bad regions: one sentence for the user."""


@dataclass(frozen=True)
class Region:
    """What one painted colour asks for: a painting (an index into the run's paintings) at a
    strength (None: the run's), or the photo kept (painting None)."""

    colour: str  # "#rrggbb"
    painting: int | None
    strength: float | None = None

    @property
    def keep(self) -> bool:
        return self.painting is None


@dataclass(frozen=True)
class RegionMap:
    labels: np.ndarray  # (h, w) uint8: 0 the rest, i regions[i - 1]
    regions: tuple[Region, ...]
    feather: int = FEATHER

    # ---- as text --------------------------------------------------------------------------

    def to_text(self) -> str:
        buf = io.BytesIO()
        Image.fromarray(self.labels, "L").save(buf, format="PNG", optimize=True)
        return json.dumps(
            {
                "mask": base64.b64encode(buf.getvalue()).decode("ascii"),
                "feather": self.feather,
                "regions": [
                    {"colour": r.colour, "painting": r.painting, "strength": r.strength}
                    for r in self.regions
                ],
            },
            separators=(",", ":"),
        )

    @staticmethod
    def from_text(text: str) -> RegionMap:
        try:
            d = json.loads(text)
            with Image.open(io.BytesIO(base64.b64decode(d["mask"]))) as im:
                labels = np.array(im.convert("L"))
            regions = tuple(
                Region(
                    str(r["colour"]),
                    None if r.get("painting") is None else int(r["painting"]),
                    None if r.get("strength") is None else float(r["strength"]),
                )
                for r in d["regions"]
            )
            return RegionMap(labels, regions, int(d.get("feather", FEATHER))).checked()
        except RegionError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed text: one sentence
            raise RegionError(f"the regions could not be read ({type(exc).__name__})") from None

    def checked(self, paintings: int | None = None) -> RegionMap:
        """Itself, or a RegionError saying what is wrong."""
        if len(self.regions) > MAX_REGIONS:
            raise RegionError(f"{len(self.regions)} regions: at most {MAX_REGIONS}")
        if self.labels.ndim != 2 or self.labels.size == 0:
            raise RegionError("the region map must be an image")
        if int(self.labels.max()) > len(self.regions):
            raise RegionError("the region map has labels without a region")
        if self.feather < 0:
            raise RegionError("the feather must not be negative")
        for i, r in enumerate(self.regions, 1):
            if not (self.labels == i).any():
                raise RegionError(f"region {r.colour} is empty: paint it, or remove it")
            if paintings is not None and r.painting is not None and not 0 <= r.painting < paintings:
                raise RegionError(
                    f"region {r.colour} asks for painting {r.painting + 1} of {paintings}"
                )
        return self

    # ---- as masks -------------------------------------------------------------------------

    @property
    def whole(self) -> bool:
        """Only the rest (label 0) everywhere: the same as no regions."""
        return not self.labels.any()

    def masks(self, size: tuple[int, int], device) -> torch.Tensor:
        """(1 + regions, 1, h, w) soft masks at `size` (width, height), summing to 1 at every
        pixel: the labels resized (nearest) and feathered (a blur of `feather` px)."""
        w, h = size
        labels = Image.fromarray(self.labels, "L").resize((w, h), Image.Resampling.NEAREST)
        out = []
        for i in range(len(self.regions) + 1):
            m = Image.fromarray(((np.array(labels) == i) * 255).astype(np.uint8), "L")
            if self.feather:
                m = m.filter(ImageFilter.GaussianBlur(self.feather / 2))
            out.append(torch.from_numpy(np.array(m, dtype=np.float32) / 255.0))
        masks = torch.stack(out).unsqueeze(1)
        return (masks / masks.sum(0, keepdim=True).clamp(min=1e-6)).to(device)

    def kept(self, size: tuple[int, int], device) -> torch.Tensor | None:
        """(1, 1, h, w): how much each pixel is held to the photo (1 inside a kept region), or
        None when no region keeps the photo."""
        keep = [i + 1 for i, r in enumerate(self.regions) if r.keep]
        if not keep:
            return None
        return self.masks(size, device)[keep].sum(0, keepdim=True)


def at_layer(mask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A (1, 1, H, W) pixel mask as the weights of a layer's (h, w) positions: area averages."""
    return F.adaptive_avg_pool2d(mask, shape)


def colour_hex(text: str) -> str:
    """A colour as the user writes it ("red", "#f00", "#ff0000") as "#rrggbb"."""
    try:
        r, g, b = ImageColor.getrgb(text.strip())[:3]
    except ValueError:
        raise RegionError(f"{text!r} is not a colour (write a name or #rrggbb)") from None
    return f"#{r:02x}{g:02x}{b:02x}"


def from_label_image(
    image: Image.Image, regions: list[Region], size: tuple[int, int], feather: int = FEATHER
) -> tuple[RegionMap, str]:
    """A map from a painted label image (each region in its colour; any other colour the rest),
    resized to `size` (the photo's) nearest-neighbour. Returns it and a note ("" or what was
    done to the image)."""
    note = ""
    if image.size != size:
        was = f"{image.size[0]}x{image.size[1]}"
        note = f"the region map ({was}) was resized to the photo's {size[0]}x{size[1]}"
        image = image.resize(size, Image.Resampling.NEAREST)
    rgb = np.asarray(image.convert("RGB"), dtype=np.int32)
    labels = np.zeros(rgb.shape[:2], dtype=np.uint8)
    best = np.full(rgb.shape[:2], NEAR**2 + 1, dtype=np.int64)
    for i, r in enumerate(regions, 1):
        c = np.array(ImageColor.getrgb(r.colour)[:3], dtype=np.int32)
        d = ((rgb - c) ** 2).sum(-1)
        closer = d < best
        labels[closer], best[closer] = i, d[closer]
    return RegionMap(labels, tuple(regions), feather).checked(), note
