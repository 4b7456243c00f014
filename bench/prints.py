"""A print, measured as the issue asks: time, peak memory, seams, and how it matches the preview.

    python -m bench.prints                                   # golden_gate + the_scream, 4096 px
    python -m bench.prints --photo tubingen.jpg --painting starry_night.jpg --size 4096 --budget 240

One command line run at the print size (`-o print.tif`, the 16-bit TIFF) and one at 256 px with
the same settings (the preview), each in a process of its own with its peak memory (RSS). Then:

  * seams: a column (row) whose mean step across it is more than 2.5x the median column step of
    the print, where the photo's step there is under 1.5x its median (an edge the photo does not
    have), counted over the whole print and at the tile edges;
  * likeness: SSIM of the print reduced to the preview's size against the preview, both as 64 px
    grayscale (the issue's measure).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from bench.__main__ import cpu_name
from bench.common import SHARED
from nst.engine.image import load_image, resize_to

SEAM_RATIO, PHOTO_RATIO = 2.5, 1.5


def run_cli(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GB, stderr) of one `python -m nst` in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "nst", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"nst failed: {p.stderr.strip().splitlines()[-1]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 2**20, p.stderr


def steps(gray: np.ndarray, axis: int) -> np.ndarray:
    """Mean absolute step across each column boundary (axis=1) or row boundary (axis=0)."""
    return np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)


def seams(out: np.ndarray, photo: np.ndarray) -> list[tuple[str, int, float]]:
    """Boundaries where the print steps far more than it does elsewhere and the photo does not."""
    found = []
    for axis, name in ((1, "column"), (0, "row")):
        s_out, s_photo = steps(out, axis), steps(photo, axis)
        r_out, r_photo = s_out / np.median(s_out), s_photo / np.median(s_photo)
        for i in np.nonzero((r_out > SEAM_RATIO) & (r_photo < PHOTO_RATIO))[0]:
            found.append((name, int(i), float(r_out[i])))
    return found


def ssim(a: np.ndarray, b: np.ndarray, k: int = 7) -> float:
    """Mean SSIM of two grayscale images in [0, 255] (uniform k x k windows, the usual constants)."""
    from numpy.lib.stride_tricks import sliding_window_view

    def mean(x):
        return sliding_window_view(x, (k, k)).mean(axis=(-1, -2))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = mean(a), mean(b)
    va, vb = mean(a * a) - ma**2, mean(b * b) - mb**2
    cov = mean(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(s.mean())


def gray64(img: Image.Image) -> np.ndarray:
    w, h = img.size
    small = img.convert("L").resize(
        (64, max(1, round(64 * h / w))) if w >= h else (max(1, round(64 * w / h)), 64), Image.LANCZOS
    )
    return np.asarray(small, dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.prints")
    ap.add_argument("--photo", default="golden_gate.jpg")
    ap.add_argument("--painting", default="the_scream.jpg")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--budget", type=float, default=240)
    ap.add_argument("--preview-budget", type=float, default=15)
    ap.add_argument("--out", default=None, help="folder for the print and the preview")
    args = ap.parse_args()
    folder = Path(args.out or tempfile.mkdtemp(prefix="nst-print-"))
    photo, painting = str(SHARED / "images" / args.photo), str(SHARED / "images" / args.painting)
    common = [photo, painting, "--no-store"]
    tif = folder / "print.tif"
    # the preview first: a child's peak is the largest of all children's so far
    pwall, ppeak, _ = run_cli(
        [
            *common,
            "--quiet",
            "-o",
            str(folder / "preview.png"),
            "--size",
            "256",
            "--time-budget",
            str(args.preview_budget),
        ]
    )
    wall, peak, said = run_cli(
        [*common, "-o", str(tif), "--size", str(args.size), "--time-budget", str(args.budget)]
    )
    data = tifffile.imread(tif)
    out = Image.fromarray((data / 257.0).round().astype(np.uint8))
    preview = Image.open(folder / "preview.png").convert("RGB")
    source = load_image(photo, max_side=max(2048, args.size))
    photo_at = resize_to(source, out.size)
    g_out = np.asarray(out.convert("L"), dtype=np.float64)
    g_photo = np.asarray(photo_at.convert("L"), dtype=np.float64)
    found = seams(g_out, g_photo)
    likeness = ssim(gray64(resize_to(out, preview.size)), gray64(preview))
    out.resize((1024, round(1024 * out.height / out.width)), Image.LANCZOS).save(
        folder / "print_1024.png"
    )
    cpu = cpu_name()
    print(f"{cpu}, {os.cpu_count()} cores; {args.photo} + {args.painting}")
    print(f"| | print {out.width}x{out.height} | preview {preview.width}x{preview.height} |")
    print("|---|---|---|")
    print(f"| time budget s | {args.budget:.0f} | {args.preview_budget:.0f} |")
    print(f"| wall s (load, optimize, write) | {wall:.0f} | {pwall:.0f} |")
    print(f"| peak memory GB | {peak:.2f} | {ppeak:.2f} |")
    print(f"| 16-bit TIFF | {data.dtype} {data.shape} | |")
    print(
        f"seams (step > {SEAM_RATIO}x the median where the photo's < {PHOTO_RATIO}x): {len(found)}"
        + (f", first {found[:5]}" if found else "")
    )
    print(f"SSIM of 64 px grayscale, print reduced vs preview: {likeness:.3f}")
    plan = [line for line in said.splitlines() if "plan" in line]
    if plan:
        print("; ".join(plan))
    print(f"files in {folder}")


if __name__ == "__main__":
    main()
