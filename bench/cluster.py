"""What the Ray backend costs and gives on this machine, against the local executor.

    python -m bench.cluster            (about 3 minutes on a 2-core CPU)

Three tables:
  1. starting: a local Ray cluster (ray.init), and the first cells (workers start, receive the
     `nst` package and load the network);
  2. overhead per cell: cells of one step at 32 px, where the work is nothing and the cost is the
     machinery (local: a run and its scoring; Ray: that plus a task, its arguments and the reply);
  3. real cells: 2 photos x 2 paintings x 2 style weights at 192 px, 40 steps, the seed loss of
     each written file, local (one cell at a time, every core) against Ray (one cell per CPU).

Real features (NST_MODEL / NST_WEIGHTS, as the CLI reads them); every cell in a fresh store.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.__main__ import table
from bench.common import SHARED
from nst.compute import cluster
from nst.engine.config import Config, from_environment
from nst.lab.cells import LocalExecutor, read_inputs
from nst.lab.sweep import Sweep, device_name, parse_vary
from nst.record.store import Store


def images(names: list[str]):
    folder = SHARED / "images"
    return [s for n in names for s in read_inputs(folder / n if (folder / n).is_file() else n[:-4])]


def timed(sweep: Sweep, executor) -> tuple[float, list]:
    with tempfile.TemporaryDirectory() as home, Store(Path(home)) as store:
        t0 = time.perf_counter()
        results = sweep.run(store, executor, stop=threading.Event())
        return time.perf_counter() - t0, results


def main() -> None:
    base = from_environment(Config())
    cpu = device_name(__import__("torch").device("cpu"))
    print(
        f"# Ray backend against local, {cpu}, {platform.python_version()}, {base.model} {base.weights}"
    )
    photos = images(["tubingen.jpg", "golden_gate.jpg"])
    paintings = images(["starry_night.jpg", "the_scream.jpg"])

    t0 = time.perf_counter()
    cluster.connect("local")
    started = time.perf_counter() - t0
    ray_exec = cluster.RayExecutor()
    tiny = base.replace(size=32, steps=1, scales=1)
    warm = Sweep(photos[:1], paintings[:1], tiny, [parse_vary("beta=1,2,3,4")])
    first, _ = timed(warm, ray_exec)
    table(
        "Starting the Ray backend",
        ["step", "seconds"],
        [["ray.init: a local cluster of this machine", f"{started:.1f}"],
         [f"first 4 cells: {ray_exec.slots} workers start, get nst, load the network",
          f"{first:.1f}"]],
    )  # fmt: skip

    many = Sweep(photos[:1], paintings[:1], tiny, [parse_vary("beta=1..1e3 log 24")])
    local_exec = LocalExecutor()
    timed(warm, local_exec)  # the local model loaded, as the workers' are
    rows = []
    for name, ex in (("local", local_exec), ("ray", ray_exec)):
        seconds, results = timed(many, ex)
        work = statistics.mean(r.seconds for r in results)
        rows.append([name, ex.slots, f"{seconds:.2f}", f"{seconds / len(many) * 1000:.0f}",
                     f"{work * 1000:.0f}"])  # fmt: skip
    table(
        f"Overhead per cell: {len(many)} cells of 1 step at 32 px",
        ["executor", "at once", "wall s", "wall ms per cell", "of it optimizing, ms"],
        rows,
    )

    real = Sweep(photos, paintings, base.replace(size=192, steps=40), [parse_vary("beta=1e3,1e6")])
    rows, losses = [], {}
    for name, ex in (("local", local_exec), ("ray", ray_exec)):
        seconds, results = timed(real, ex)
        losses[name] = [r.seed_loss for r in results]
        per = statistics.mean(r.seconds for r in results)
        rows.append([name, ex.slots, f"{seconds:.1f}", f"{seconds / len(real):.2f}", f"{per:.2f}"])
    rel = max(abs(a - b) / a for a, b in zip(losses["local"], losses["ray"], strict=True))
    table(
        f"Real cells: {len(real)} cells (2 photos x 2 paintings x β 1e3, 1e6) at 192 px, 40 steps",
        ["executor", "at once", "wall s", "wall s per cell", "optimizing s per cell"],
        rows,
    )
    print(f"\nlargest relative difference of a cell's seed loss, local vs ray: {rel:.2e}")


if __name__ == "__main__":
    main()
