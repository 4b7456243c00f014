"""Make the embedded sample images in nst/samples/.

Styles are drawn here, from nothing but seeded random numbers, so the project owns them (CC0):
  swirls  brush strokes that follow a swirling flow field, night blues and star yellows
  mosaic  stained glass: Voronoi cells in saturated colours with dark leading
  waves   layered ocean bands with foam crests, in the manner of a woodblock print

Photos are copied from scikit-image's bundled data (both free of copyright restrictions):
  cat        skimage/data/chelsea.png, CC0 by the photographer (Stefan van der Walt)
  astronaut  skimage/data/astronaut.png, Eileen Collins, NASA, public domain

Usage: python tools/make_samples.py [PATH_TO_SKIMAGE_DATA]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "nst" / "samples"
W, H = 512, 512


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Value noise: a coarse random grid upsampled smoothly to `shape`, in [-1, 1]."""
    grid = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    img = Image.fromarray(grid, "F").resize(shape[::-1], Image.Resampling.BICUBIC)
    return np.asarray(img)


def swirls(seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (W, H), (18, 32, 78))
    draw = ImageDraw.Draw(img)
    angle = (_smooth_noise(rng, (H, W), 4) + 0.6 * _smooth_noise(rng, (H, W), 9)) * np.pi * 1.6
    # whirl centres bend the flow into circles, like a night sky's eddies
    yy, xx = np.mgrid[0:H, 0:W]
    for cx, cy in rng.uniform(60, 450, (4, 2)):
        r2 = (xx - cx) ** 2 + (yy - cy) ** 2
        angle += np.exp(-r2 / (2 * 70.0**2)) * (np.arctan2(yy - cy, xx - cx) + np.pi / 2 - angle)
    palette = [
        (30, 60, 140),
        (50, 95, 180),
        (90, 140, 210),
        (230, 200, 70),
        (250, 235, 150),
        (20, 40, 100),
        (140, 180, 220),
        (240, 170, 40),
    ]
    for _ in range(2600):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        col = palette[rng.integers(len(palette))]
        width = int(rng.integers(3, 8))
        pts = [(x, y)]
        for _ in range(int(rng.integers(8, 22))):
            a = angle[int(y) % H, int(x) % W]
            x, y = x + 4 * np.cos(a), y + 4 * np.sin(a)
            pts.append((x, y))
        draw.line(pts, fill=col, width=width, joint="curve")
    for cx, cy in rng.uniform(40, 470, (7, 2)):  # stars with halos
        for r, col in ((26, (200, 190, 90)), (16, (240, 220, 110)), (8, (255, 250, 210))):
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
    return img.filter(ImageFilter.SMOOTH)


def mosaic(seed: int = 2) -> Image.Image:
    rng = np.random.default_rng(seed)
    n = 90
    pts = rng.uniform(0, [W, H], (n, 2))
    yy, xx = np.mgrid[0:H, 0:W]
    d = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2
    order = np.argsort(d, axis=2)
    nearest = order[..., 0]
    d_sorted = np.take_along_axis(d, order[..., :2], axis=2)
    edge = np.sqrt(d_sorted[..., 1]) - np.sqrt(d_sorted[..., 0]) < 5.0
    hues = np.array(
        [
            (200, 30, 40),
            (30, 80, 190),
            (240, 180, 20),
            (20, 140, 90),
            (130, 40, 150),
            (230, 100, 30),
            (60, 160, 210),
            (180, 200, 60),
        ],
        float,
    )
    colors = hues[rng.integers(len(hues), size=n)] * rng.uniform(0.7, 1.1, (n, 1))
    arr = colors[nearest]
    shade = 0.85 + 0.15 * _smooth_noise(rng, (H, W), 20)[..., None]  # uneven glass
    arr = np.clip(arr * shade, 0, 255)
    arr[edge] = (25, 20, 20)
    return Image.fromarray(arr.astype(np.uint8), "RGB").filter(ImageFilter.SMOOTH_MORE)


def waves(seed: int = 3) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (W, H), (236, 226, 200))  # paper
    draw = ImageDraw.Draw(img)
    blues = [(20, 45, 90), (35, 80, 140), (70, 120, 170), (120, 165, 200)]
    xs = np.arange(0, W + 8, 4)
    for band in range(16):
        base = 60 + band * 30
        amp, freq, phase = rng.uniform(8, 26), rng.uniform(0.015, 0.04), rng.uniform(0, 6.3)
        crest = base + amp * np.sin(xs * freq + phase) + 6 * np.sin(xs * freq * 3.1 + phase)
        col = blues[band % len(blues)]
        draw.polygon([*zip(xs, crest, strict=True), (W, H), (0, H)], fill=col)
        for x, y in zip(xs[::3], crest[::3], strict=True):  # foam: white claws on the crest
            if rng.random() < 0.55:
                r = rng.uniform(2, 5)
                draw.ellipse((x - r, y - r - 2, x + r, y + r - 2), fill=(248, 246, 236))
        draw.line([*zip(xs, crest, strict=True)], fill=(15, 30, 60), width=2)
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, fn in (("swirls", swirls), ("mosaic", mosaic), ("waves", waves)):
        fn().save(OUT / f"{name}.jpg", quality=90)
    if len(sys.argv) > 1:
        data = Path(sys.argv[1])
        for src, dst in (("chelsea.png", "cat.jpg"), ("astronaut.png", "astronaut.jpg")):
            img = Image.open(data / src).convert("RGB")
            img.thumbnail((512, 512))
            img.save(OUT / dst, quality=90)


if __name__ == "__main__":
    main()
