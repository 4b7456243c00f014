"""How much memory a run will take, planned before it starts (prints: nst.engine.tiles).

A run's peak is the network and the process (BASE), the copies of the image it keeps (the
image, its gradient, the last scored and evaluated copies, two per L-BFGS curvature pair, the
photo's content activations: IMAGE_BYTES per pixel plus PAIR_BYTES per pair), and the activations
of one forward and backward pass (ACTIVATION_BYTES per pixel of what is computed at once: the
whole image, or one tile's crop). Measured on a CPU with VGG-16 (peak RSS of one evaluation at
512 and 1024 px): 2.2-2.4 KB per pixel in fp32, 1.3-1.6 KB in bf16; the figures here are the high
ends, so a plan errs on the safe side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nst.engine.tiles import HALO, tile_side

BASE = 1.2 * 2**30  # bytes: the process, torch and the network's weights
ACTIVATION_BYTES = {"fp32": 2400, "bf16": 1600}  # per pixel of one forward + backward
IMAGE_BYTES = 5 * 12 + 40  # per pixel: five fp32 copies of the image, the content target
PAIR_BYTES = 2 * 12  # per pixel and L-BFGS curvature pair
MARGIN = 0.85  # of the free memory a default limit allows
SMALLEST_CROP = (4 * 16 + 2 * HALO) ** 2  # px: below this a tile is mostly margin
ONE_PASS_PIXELS = 2048 * 2048  # px: larger images go tile by tile
CROP_PIXELS = (1024 + 2 * HALO) ** 2  # px: larger crops are no faster, only bigger
TILED_HISTORY = 8  # L-BFGS pairs kept when tiling


class MemoryPlanError(ValueError):
    """The size cannot fit the limit (the message says the largest that can)."""


@dataclass(frozen=True)
class Plan:
    width: int
    height: int
    peak: int  # bytes, predicted
    tile_pixels: int | None  # None: the image in one pass
    tiles: int  # 1 when untiled
    history: int  # the curvature pairs kept

    def describe(self) -> str:
        how = "in one pass" if self.tiles == 1 else f"in {self.tiles} tiles"
        return f"{self.width}x{self.height} {how}, about {self.peak / 2**30:.1f} GB at its peak"


def free_bytes() -> int:
    """Memory free for a run here now (MemAvailable; 8 GB where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def default_limit() -> int:
    return int(free_bytes() * MARGIN)


def peak(width: int, height: int, precision: str, history: int, crop_pixels: int) -> int:
    px = width * height
    return int(
        BASE + px * (IMAGE_BYTES + PAIR_BYTES * history) + ACTIVATION_BYTES[precision] * crop_pixels
    )


def plan(width: int, height: int, precision: str, history: int, limit: int) -> Plan:
    """The largest crops (or the whole image) and the longest history that fit `limit`."""
    px = width * height
    if px <= ONE_PASS_PIXELS and peak(width, height, precision, history, px) <= limit:
        return Plan(width, height, peak(width, height, precision, history, px), None, 1, history)
    # Tiled: a print's budget leaves its largest scale few evaluations, so few curvature pairs
    # (each two copies of the image) are lost there; the crops stay at CROP_PIXELS at most.
    for h in sorted({min(history, TILED_HISTORY), min(history, 4)}, reverse=True):
        room = limit - peak(width, height, precision, h, 0)
        crop = min(CROP_PIXELS, room // ACTIVATION_BYTES[precision])
        if crop >= SMALLEST_CROP:
            side = tile_side(crop)
            count = math.ceil(height / side) * math.ceil(width / side)
            crop = (side + 2 * HALO) ** 2
            return Plan(width, height, peak(width, height, precision, h, crop), crop, count, h)
    # the largest long side whose image copies and smallest tiles fit
    aspect = max(width, height) / min(width, height)
    fixed = BASE + ACTIVATION_BYTES[precision] * SMALLEST_CROP
    per_px = IMAGE_BYTES + PAIR_BYTES * min(history, 4)
    most_px = max(0.0, (limit - fixed) / per_px)
    longest = int(math.sqrt(most_px * aspect)) // 16 * 16
    raise MemoryPlanError(
        f"{width}x{height} needs more than {limit / 2**30:.1f} GB here even in tiles; "
        f"the largest that fits is about {longest} px on the long side (or raise --max-memory)"
    )
