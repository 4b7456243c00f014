"""A class on one server, at the compute worker (nst.compute.stepper): K students press Start
together with the default settings. Throughput of all runs against one alone, the command
line's pace on the same run, the queue's order, and how true the "starts in about" estimate is.

    python -m bench.class_worker                  # 6 students, 256 px, 40 steps each
    python -m bench.class_worker --students 6 --size 256 --steps 40 --repeat 3

It drives the worker the dashboard uses, in this process, with real VGG-16 features (the pages'
answer times are the browser suite's class journey; see docs/scaling.md).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

from bench.__main__ import table
from bench.common import SHARED, model
from nst.compute.seats import lane_seats
from nst.compute.stepper import Stepper, lane_of
from nst.engine.config import Config
from nst.engine.image import load_image
from nst.lab.estimate import measure, run_seconds
from nst.lab.sweep import device_name


def cli_pace(size: int, steps: int) -> float:
    """Evaluations/s of the command line's way (one run stepped in a loop in the main thread)."""
    net = model()
    photo, painting = inputs()
    cfg = config(net, size, steps)
    from nst.engine.run import Run

    warm = Run(net, photo, [painting], cfg.replace(steps=3))
    while not warm.finished:
        warm.step(1)
    cli = Run(net, photo, [painting], cfg)
    t0 = time.perf_counter()
    while not cli.finished:
        cli.step(1)
    return cli.evals / (time.perf_counter() - t0)


def inputs():
    folder = SHARED / "images"
    return load_image(folder / "tubingen.jpg"), load_image(folder / "starry_night.jpg")


def config(net, size: int, steps: int) -> Config:
    return Config(size=size, steps=steps, scales=1, model=net.arch, weights=net.weights_source)


def follow(worker: Stepper, runs: list, t0: float) -> tuple[dict, dict]:
    """When each run started and ended (s after t0), seen every 0.05 s while each student's page
    asks the worker for its run every 0.5 s, the same for one alone and for a class."""
    started: dict[int, float] = {}
    ended: dict[int, float] = {}
    ticked = 0.0
    while len(ended) < len(runs):
        now = time.perf_counter() - t0
        tick = now - ticked >= 0.5
        ticked = now if tick else ticked
        for r in runs:
            if tick and not r.finished:
                worker.want(r)
            if r.evals and r.id not in started:
                started[r.id] = now
            if r.finished and r.id not in ended:
                ended[r.id] = now
        time.sleep(0.05)
    return started, ended


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.class_worker")
    ap.add_argument("--students", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument(
        "--repeat", type=int, default=3, help="one run alone this many times (the median is used)"
    )
    ap.add_argument("--cli-pace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cli_pace:
        print(cli_pace(args.size, args.steps))
        return
    # The command line's pace in a process of its own, as a user runs it. Here, as in the
    # dashboard's server, the main thread computes nothing: every tensor operation is on the
    # worker's lane (a second thread computing with torch would make both slower, see
    # nst.compute.stepper), and the main thread only asks, as the pages do.
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.class_worker",
            "--cli-pace",
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cli_pace_ = float(cli.stdout.split()[-1])
    worker = Stepper(lambda lane: lane_seats(lane.split(":")[1]))
    lane = "local:cpu"
    net = worker.call(lane, model)
    lane = f"local:{net.mean.device}"
    photo, painting = inputs()
    cfg = config(net, args.size, args.steps)
    from nst.engine.run import Run

    def new_run(c=cfg):
        return worker.call(lane, Run, net, photo, [painting], c)

    warm = new_run(cfg.replace(steps=3))
    worker.want(warm)
    while not warm.finished:
        time.sleep(0.05)

    # One student alone, through the worker: the median of a few (one 40-step run varies ~8%).
    paces = []
    for _ in range(max(1, args.repeat)):
        alone = new_run()
        t0 = time.perf_counter()
        worker.want(alone)
        _, ended = follow(worker, [alone], t0)
        paces.append(alone.evals / ended[alone.id])
    alone_pace = statistics.median(paces)

    # A class: everyone presses Start at once.
    pace = worker.call(lane, measure, net, cfg)
    runs = [new_run() for _ in range(args.students)]
    t0 = time.perf_counter()
    for r in runs:
        worker.want(r)
    predicted = {
        r.id: worker.seconds_to_turn(r, lambda x: run_seconds(pace, x.config, photo.size, net.arch))
        for r in runs
    }
    started, ended = follow(worker, runs, t0)
    wall = max(ended.values())
    total = sum(r.evals for r in runs) / wall
    order = sorted(runs, key=lambda r: started[r.id])
    rows = [
        [i + 1, f"{predicted[r.id]:.1f}", f"{started[r.id]:.1f}", f"{ended[r.id]:.1f}"]
        for i, r in enumerate(order)
    ]
    seats = worker.capacity(lane_of(runs[0]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{device_name(net.mean.device)}, {net.arch}, {args.size} px, "
        f"{args.steps} steps a run, {seats} seat(s)"
    )
    table(
        "One run: the command line's loop against the dashboard's worker",
        ["way", "evaluations/s"],
        [
            ["command line (Run.step in a loop, its own process)", f"{cli_pace_:.2f}"],
            [
                f"dashboard worker, alone (median of {len(paces)}: "
                + ", ".join(f"{p:.2f}" for p in paces)
                + ")",
                f"{alone_pace:.2f}",
            ],
            ["ratio worker / command line", f"{alone_pace / cli_pace_:.2f}"],
        ],
    )
    table(
        f"{args.students} students press Start at once",
        ["in line", "predicted wait s", "started at s", "done at s"],
        rows,
    )
    print(
        f"all runs together: {total:.2f} evaluations/s = {total / alone_pace:.2f}x one run alone; "
        f"queue order kept: {[r.id for r in order] == [r.id for r in runs]}; "
        f"all done in {wall:.0f} s; peak memory of this process {rss:.0f} MB"
    )
    worker.close()


if __name__ == "__main__":
    main()
