"""A class on one machine: K dashboard runs at once, each in its own Ray actor, as K students
pressing Start together. How many evaluations per second does each get?

    python -m bench.class_load                      # 1, 2 runs at 128 px (a 2-core CPU)
    python -m bench.class_load --size 512 --runs 1 2 4 8 16 --seconds 20   # a GPU box

Each run asks the scheduler for 1/K of a GPU when the cluster has GPUs (NST_RAY_GPU_SHARE), else
one CPU; so on a CPU machine K is at most its CPU count. The table gives each run's pace and the
total; a demo looks live at about 5 evaluations per second (Step's 10 steps in 2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from bench.__main__ import table
from bench.common import SHARED
from nst.compute import cluster, remote
from nst.engine.config import Config, from_environment
from nst.engine.image import load_image

LIVE_PACE = 5.0  # evaluations per second that still look live in front of a class


def pace_of(k: int, size: int, seconds: float, base: Config) -> list[float]:
    """K runs stepped at once for `seconds` (after their first step); evaluations/s of each."""
    os.environ[cluster.GPU_SHARE_ENV] = str(1 / k)
    photo = load_image(SHARED / "images" / "tubingen.jpg")
    painting = load_image(SHARED / "images" / "starry_night.jpg")
    cfg = base.replace(size=size, steps=10_000, scales=1)
    runs = [remote.RemoteRun(photo, [painting], cfg) for _ in range(k)]
    for r in runs:
        r.step(1)  # warm: kernels chosen, buffers allocated
    counts = [0] * k
    start = threading.Barrier(k)

    def drive(i: int) -> None:
        start.wait()
        t_end = time.perf_counter() + seconds
        before = runs[i].evals
        while time.perf_counter() < t_end:
            runs[i].step(5)  # a tick, as the page's: a few steps and a reply with the image
        counts[i] = runs[i].evals - before

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(k)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for r in runs:
        r.close()
    return [c / wall for c in counts]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--runs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    base = from_environment(Config())
    cluster.connect()
    have = cluster.resources()
    where = f"{cluster.describe()}; {base.model} {base.weights}, precision {base.precision}"
    print(f"# {len(args.runs)} class sizes at {args.size} px on {where}")
    rows = []
    for k in args.runs:
        if not have["GPU"] and k > have["CPU"]:
            rows.append([k, "–", "–", "–", f"needs {k} CPUs"])
            continue
        each = pace_of(k, args.size, args.seconds, base)
        live = "yes" if min(each) >= LIVE_PACE else "no"
        rows.append([k, f"{statistics.mean(each):.1f}", f"{min(each):.1f}", f"{sum(each):.1f}", live])
    table(
        f"Runs at once at {args.size} px: evaluations per second",
        ["runs", "each (mean)", "slowest", "all together", f"all ≥ {LIVE_PACE:g}/s"],
        rows,
    )


if __name__ == "__main__":
    main()
