"""Three notions of style side by side: does each make its own picture, and keep the photo?

For each photo/painting pair, runs the default settings under each notion of style
(Config.style_notion), writes the 8-bit PNG, and prints the seed's content term of the written
file (nst.lab.score: how much of the photo's layout is left), the seconds, and the SSIM of every
two notions' images as 64 px grayscale (bench.strength.ssim64). The goal: any two differ
(SSIM < 0.95) and each keeps the photo (its content term within 3x of the Gram's).

    python -m bench.notions [--size 256] [--steps 80] [--pairs cat+waves,...] [--sheet FILE]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from PIL import Image, ImageDraw

from bench.common import model
from bench.strength import all_pairs, ssim64
from nst import fonts
from nst.engine.config import NOTION_LABELS, NOTION_NAMES, Config
from nst.engine.run import Run
from nst.lab.score import SeedScore

# pairs none of the notions was tuned on
PAIRS = "golden_gate+waves,astronaut+the_scream,cat+starry_night"


def sheet(
    rows: list[tuple[str, Image.Image, Image.Image, list[Image.Image]]], cell: int
) -> Image.Image:
    """One row per pair: photo, painting, then each notion's written image, labelled."""
    heads = ["photo", "painting", *(NOTION_LABELS[n] for n in NOTION_NAMES)]
    font, _ = fonts.fit("x", cell, 14, 1)
    line = fonts.line_height(font) + 6
    out = Image.new("RGB", (cell * len(heads), line + cell * len(rows)), "white")
    draw = ImageDraw.Draw(out)
    for i, head in enumerate(heads):
        draw.text((i * cell + 4, 3), head, font=font, fill="black")
    for r, (_, photo, painting, images) in enumerate(rows):
        for i, im in enumerate([photo, painting, *images]):
            im = im.copy()
            im.thumbnail((cell - 4, cell - 4), Image.Resampling.LANCZOS)
            out.paste(im, (i * cell + 2, line + r * cell + 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=Config.steps)
    ap.add_argument("--pairs", default=PAIRS, help="comma-separated 'photo+painting' names")
    ap.add_argument("--sheet", help="write the side-by-side figure to this file")
    ap.add_argument("--out", help="keep each written PNG in this folder")
    args = ap.parse_args()
    net = model()
    chosen = {p.strip() for p in args.pairs.split(",") if p.strip()}
    pairs = [p for p in all_pairs() if p[0].replace(" ", "") in chosen]
    if len(pairs) != len(chosen):
        raise SystemExit(f"bench.notions: not every pair of {sorted(chosen)} was found")
    print(f"# {net.arch}, {args.size} px, {args.steps} steps, default strength")
    names = list(NOTION_NAMES)
    couples = list(itertools.combinations(range(len(names)), 2))
    print(
        "| pair | "
        + " | ".join(f"{n} content (s)" for n in names)
        + " | "
        + " | ".join(f"SSIM {names[a]}/{names[b]}" for a, b in couples)
        + " |"
    )
    print("|---" * (1 + len(names) + len(couples)) + "|")
    rows = []
    for label, photo, painting in pairs:
        images, cells = [], []
        score = None
        for notion in names:
            cfg = Config(size=args.size, steps=args.steps, model=net.arch, style_notion=notion)
            t0 = time.perf_counter()
            run = Run(net, photo, [painting], cfg)
            while not run.finished:
                run.step(20)
            seconds = time.perf_counter() - t0
            img = run.image()  # 8-bit RGB: the written file
            if args.out:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                img.save(Path(args.out) / f"{label.replace(' + ', '_')}_{notion}.png")
            score = score or SeedScore(net, photo, painting, max(img.size))
            cells.append(f"{score.content_term_of(img):.3g} ({seconds:.0f})")
            images.append(img)
        ssims = [f"{ssim64(images[a], images[b]):.3f}" for a, b in couples]
        print(f"| {label} | " + " | ".join(cells + ssims) + " |", flush=True)
        rows.append((label, photo, painting, images))
    if args.sheet:
        sheet(rows, 200).save(args.sheet, quality=88)


if __name__ == "__main__":
    main()
