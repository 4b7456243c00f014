"""One GPU serving a class, timed: runs of one size evaluated together, the worker with a class,
the time to the tutorial loop's 10 s loss, peak memory. Prints markdown tables.

    python -m bench.gpu              (on a card: about 4 minutes)
    python -m bench.gpu --quick      (on a CPU: the batching's effect there, smaller sizes)

On a CPU it prints what batching does there (it must not slow a class): a lane's seats stay one
unless NST_MAX_RUNS says otherwise, and the rows compare six runs in turn with six together.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import Scorer, first_time_below, model, nst_run, pairs, plain_loop
from nst.compute.seats import card_seats, lane_seats
from nst.compute.stepper import Stepper
from nst.engine.config import Config
from nst.engine.run import Run
from nst.engine.together import step_together
from nst.lab.sweep import device_name


def table(title, header, rows):
    print(f"\n### {title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |", flush=True)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def peak_mib(dev: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if dev.type == "cuda" else "–"


def batched(net, photo, painting, size: int, n: int, rounds: int) -> float:
    """Seconds per evaluation of one run (a whole step: forward, backward, optimizer, record)
    when `n` runs of one size step together."""
    cfg = Config(size=size, steps=10_000, scales=1, model=net.arch)
    runs = [Run(net, photo, [painting], cfg) for _ in range(n)]
    for _ in range(3):  # the history starts filling; kernels warm up
        step_together(runs)
    sync(net.mean.device)
    t0 = time.perf_counter()
    for _ in range(rounds):
        errors = step_together(runs)
        assert not any(errors), errors
    sync(net.mean.device)
    return (time.perf_counter() - t0) / (rounds * n)


def class_pace(net, photo, painting, size: int, steps: int, students: int, seats: int) -> float:
    """Evaluations per second of a class pressing Start at once, through the compute worker."""
    worker = Stepper(lambda _lane: seats)
    cfg = Config(size=size, steps=steps, scales=1, model=net.arch)
    runs = [Run(net, photo, [painting], cfg) for _ in range(students)]
    t0 = time.perf_counter()
    while not all(r.finished for r in runs):
        for r in runs:
            worker.want(r)  # each student's page ticks
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    worker.close()
    return sum(r.evals for r in runs) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU sizes: 128 and 256 px")
    args = ap.parse_args()
    cuda = torch.cuda.is_available() and not args.quick
    net = model("cuda" if cuda else "cpu")
    dev = net.mean.device
    name = device_name(dev)
    photo, painting, pair = pairs(1)[0]
    print(f"# nst on {name}, torch {torch.__version__}, {pair}, {net.arch}")

    sizes, batches, rounds = ((512, 1024), (1, 4, 8, 16), 20) if cuda else ((128, 256), (1, 2, 4), 4)
    ways = (("eager", False), ("captured", True)) if cuda else (("eager", False),)
    rows = []
    for size in sizes:
        alone = None
        for n in batches:
            for way, captured in ways:
                net.captured.enabled = captured and not net.captured.notice
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                try:
                    t = batched(net, photo, painting, size, n, rounds)
                except torch.OutOfMemoryError:
                    rows.append([size, n, way, "out of memory", "", "", ""])
                    continue
                alone = alone or t
                ms, per_s = f"{t * 1000:.1f}", f"{1 / t:.1f}"
                rows.append([size, n, way, ms, per_s, f"{alone / t:.2f}x", peak_mib(dev)])
    net.captured.enabled = cuda and not net.captured.notice
    table(
        f"A default step per run, runs of one size stepped together ({name})",
        ["size", "runs together", "pass", "ms per run-step", "run-steps/s", "vs one eager", "peak MiB"],
        rows,
    )
    if net.captured.notice:
        print(f"\ncapture: {net.captured.notice}")

    seats = card_seats(net) if cuda else lane_seats("cpu")
    size, steps = (512, 60) if cuda else (128, 12)
    classes = (1, 8, 16) if cuda else (1, 6)
    rows = []
    solo = None
    for students in classes:
        ways = [("seats from the card", seats)] if cuda else [("in turn (1 seat)", 1)]
        if not cuda and students > 1:
            ways.append(("together (6 seats)", students))
        for label, k in ways:
            pace = class_pace(net, photo, painting, size, steps, students, k)
            solo = solo or pace
            rows.append([students, label, k, f"{pace:.1f}", f"{pace / solo:.2f}x"])
    table(
        f"The compute worker: a class at {size} px, {steps} steps a run ({name})",
        ["students", "seats", "seat count", "evaluations/s together", "vs one alone"],
        rows,
    )
    if not cuda:
        return

    checks = (0.25, 0.5, 1, 2, 3, 5, 10)
    rows = []
    for content, style, label in pairs(4):
        sc = Scorer(net, content, style, 512)
        torch.backends.cuda.matmul.allow_tf32 = False  # the tutorial's loop: plain fp32
        torch.backends.cudnn.allow_tf32 = False
        snaps, _ = plain_loop(sc, 10, checks)
        target = sc(snaps[-1][1])
        torch.backends.cuda.matmul.allow_tf32 = True  # as load_model leaves them for nst
        torch.backends.cudnn.allow_tf32 = True
        cfg = Config(size=512, device="cuda", beta=1e5, model=net.arch)
        snaps, evals = nst_run(net, content, style, cfg, 2, checks)
        hit = first_time_below([(t, sc(x)) for t, x in snaps], target)
        rows.append([label, f"{target:.3g}", evals, f"{hit:.2f}" if hit else "> 2", "≤ 1"])
    table(
        f"512 px: seconds for nst to reach the tutorial loop's 10 s loss ({name})",
        ["pair", "loop's loss at 10 s", "nst evals in 2 s", "nst s", "goal s"],
        rows,
    )
    print(f"\npeak GPU memory of this bench: {peak_mib(dev)} MiB; a lane's seats: {seats}")


if __name__ == "__main__":
    main()
