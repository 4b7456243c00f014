"""Does the style strength move the picture over its whole range? (issue: controls that teach)

For each photo/painting pair, runs the default preset at each strength and prints the content
term of the written 8-bit image (nst.lab.score: the seed's content loss at conv4_2, how much of the
photo's layout is left) with the ratio to the strength below. A live control rises all along its
range: no neighbouring pair within 15% but at most one, and >= 20x end to end.

    python -m bench.strength [--size 256] [--steps 80] [--points 7] [--sheet DIR]
    python -m bench.strength --preview 256,1024 --pairs tubingen+mosaic   (preview = print)

`--preview A,B` instead runs the default settings at two sizes and prints the SSIM of the two
written images, reduced to 64 px grayscale: does the preview look like the print?
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from bench.common import SHARED, model
from nst.engine.config import STRENGTH_RANGE, Config
from nst.engine.image import load_image
from nst.engine.run import Run
from nst.lab.score import SeedScore
from nst.samples import PHOTOS, STYLES


def all_pairs() -> list[tuple[str, Image.Image, Image.Image]]:
    """Every bundled and ../shared photo against every painting, de-duplicated by name."""
    photos = {Path(p).stem: p for p in PHOTOS.values()}
    paintings = {Path(p).stem: p for p in STYLES.values()}
    for f in sorted((SHARED / "images").glob("*.jpg")):
        (photos if f.stem in ("tubingen", "golden_gate") else paintings)[f.stem] = f
    return [
        (f"{c} + {s}", load_image(photos[c]), load_image(paintings[s]))
        for c, s in itertools.product(photos, paintings)
    ]


def ssim64(a: Image.Image, b: Image.Image) -> float:
    """SSIM (Wang et al. 2004; 7x7 uniform windows) of two images as 64 px grayscale."""
    size = (64, max(1, round(64 * a.height / a.width)))
    x, y = (
        torch.tensor(list(im.convert("L").resize(size, Image.Resampling.LANCZOS).tobytes()))
        .float()
        .reshape(1, 1, size[1], size[0])
        for im in (a, b)
    )

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, 7, 1)

    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def preview(net, pairs, sizes: list[int], steps: int) -> None:
    print(f"# preview = print: default settings, {steps} steps, SSIM of 64 px grayscale")
    print("| pair | " + " vs ".join(f"{s} px" for s in sizes) + " |\n|---|---|")
    for name, photo, painting in pairs:
        images = []
        for size in sizes:
            run = Run(net, photo, [painting], Config(size=size, steps=steps, model=net.arch))
            while not run.finished:
                run.step(20)
            images.append(run.image())
        print(f"| {name} | {ssim64(images[0], images[1]):.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=Config.steps)
    ap.add_argument("--points", type=int, default=7)
    ap.add_argument(
        "--pairs", default="", help="comma-separated 'photo+painting' names; default a spread"
    )
    ap.add_argument("--sheet", help="write one row of images per pair into this folder")
    ap.add_argument("--notion", default="gram", help="the notion of style (Config.style_notion)")
    ap.add_argument("--preview", help="two sizes, e.g. 256,1024: SSIM of their images instead")
    args = ap.parse_args()
    net = model()
    lo, hi = STRENGTH_RANGE
    strengths = [lo + (hi - lo) * i / (args.points - 1) for i in range(args.points)]
    chosen = {p.replace(" ", "") for p in args.pairs.split(",") if p}
    pairs = all_pairs()
    if chosen:
        pairs = [p for p in pairs if p[0].replace(" ", "") in chosen]
    else:  # a spread: every photo and every painting at least once
        pairs = pairs[:: max(1, len(pairs) // 6)]
    if args.preview:
        preview(net, pairs, [int(v) for v in args.preview.split(",")], args.steps)
        return
    print(f"# {net.arch}, {args.size} px, {args.steps} steps, {args.notion}, strengths {strengths}")
    print("| pair | " + " | ".join(f"{s:g}" for s in strengths) + " | end/start | flat pairs |")
    print("|---" * (len(strengths) + 3) + "|")
    for name, photo, painting in pairs:
        score = None
        terms, images = [], []
        t0 = time.time()
        for s in strengths:
            cfg = Config(
                size=args.size,
                steps=args.steps,
                style_strength=s,
                model=net.arch,
                style_notion=args.notion,
            )
            run = Run(net, photo, [painting], cfg)
            while not run.finished:
                run.step(20)
            img = run.image()
            if score is None:
                score = SeedScore(net, photo, painting, max(img.size))
            terms.append(score.content_term_of(img))
            images.append(img)
        flat = sum(1 for a, b in itertools.pairwise(terms) if b < 1.15 * a)
        cells = " | ".join(f"{t:.3g}" for t in terms)
        print(
            f"| {name} | {cells} | {terms[-1] / terms[0]:.1f}x | {flat} |  ({time.time() - t0:.0f} s)"
        )
        if args.sheet:
            w, h = images[0].size
            sheet = Image.new("RGB", (w * len(images), h), "white")
            for i, im in enumerate(images):
                sheet.paste(im, (i * w, 0))
            Path(args.sheet).mkdir(parents=True, exist_ok=True)
            sheet.save(Path(args.sheet) / f"{name.replace(' + ', '_')}_{args.size}.jpg", quality=88)


if __name__ == "__main__":
    main()
