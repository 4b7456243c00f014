"""Benchmarks: image quality per second of compute, cost per evaluation, memory, UI overhead.

    python -m bench            all tables (about 8 minutes on a 2-core CPU)
    python -m bench --quick    shorter budgets, for a smoke check

Yardsticks, measured in the same run: the plain loop (L-BFGS, history 100, one forward/backward
per step, fp32, content init) and the seed's loop (Adam lr 0.003). Every output is scored by the
seed's total loss in fp32 at its size (bench.common.Scorer).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time

import torch

from bench.common import Scorer, first_time_below, inputs, model, nst_run, plain_loop, seed_loop
from nst.config import Config
from nst.model import fast_bf16


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3g}"


def time_to_quality(
    m,
    content,
    style,
    size: int,
    plain_s: float,
    seed_s: float,
    ours_s: float,
    variants: dict[str, Config],
) -> None:
    sc = Scorer(m, content, style, size)
    series = {}
    t = time.time()
    snaps, evals = plain_loop(sc, plain_s)
    series["plain loop (L-BFGS, fp32)"] = ([(s, sc(x)) for s, x in snaps], evals)
    if seed_s:
        snaps, evals = seed_loop(sc, seed_s)
        series["seed's loop (Adam 0.003)"] = ([(s, sc(x)) for s, x in snaps], evals)
    for name, cfg in variants.items():
        snaps, evals = nst_run(m, content, style, cfg.replace(size=size), ours_s)
        series[name] = ([(s, sc(x)) for s, x in snaps], evals)
    marks = [c for c in (4, 5, 10, 20, 30, 60, 120) if c <= max(plain_s, seed_s, ours_s)]
    rows = []
    for name, (pts, evals) in series.items():
        d = dict(pts)
        rows.append([name, evals, *[fmt(d.get(c)) for c in marks]])
    table(
        f"Seed total loss at {sc.size[0]}x{sc.size[1]} after N seconds of optimization",
        ["contender", "evals", *[f"{c} s" for c in marks]],
        rows,
    )
    plain_pts = series["plain loop (L-BFGS, fp32)"][0]
    plain_final = plain_pts[-1][1]
    targets = [(f"plain loop at {plain_s:g} s", plain_final, plain_s)]
    if seed_s:
        seed_pts = series["seed's loop (Adam 0.003)"][0]
        targets.append((f"seed's loop at {seed_s:g} s", seed_pts[-1][1], seed_s))
    rows = []
    for name, (pts, _) in series.items():
        if name.startswith(("plain", "seed's")):
            continue
        for label, target, base in targets:
            t_hit = first_time_below(pts, target)
            rows.append(
                [
                    name,
                    f"{label} ({target:.3g})",
                    fmt(t_hit),
                    f"{base / t_hit:.1f}x" if t_hit else "not reached",
                ]
            )
    table(f"Time to quality at {size} px", ["contender", "target", "seconds", "speed-up"], rows)
    print(f"\n({time.time() - t:.0f} s for this table)")


def gflops(m, size: int, bf16: bool, device: str) -> tuple[float, float]:
    """(FLOPs of one forward+backward, achieved GFLOP/s). The FLOPs are counted on the fp32
    path for both precisions: the same arithmetic, and the counter does not see the bf16
    path's prepacked oneDNN convolutions."""
    from torch.utils.flop_counter import FlopCounterMode

    from nst.run import Run

    content, style, _ = inputs()

    def make(precision: str) -> Run:
        cfg = Config(size=size, steps=10_000, scales=1, precision=precision)
        return Run(m, content, [style], cfg)

    counted = make("fp32")
    with FlopCounterMode(display=False) as fc:
        counted.step(1)
    flops = fc.get_total_flops()
    run = make("bf16" if bf16 else "fp32")
    run.step(2)  # warm-up: weight casts, oneDNN primitives
    t0 = time.perf_counter()
    run.step(5)
    if device == "cuda":
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / 5
    return flops, flops / per / 1e9


def matmul_peak(dtype, device: str, n: int = 2048) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    reps = 10
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def memory_rows(sizes, device: str, long_512: int) -> list:
    """Each loop in its own process, at one scale. At 512 px, `long_512` evaluations: long
    enough for the L-BFGS history (100 pairs for the plain loop, 20 for the default) to fill,
    as in a real run (the default's coarse scale at 512 px is a 256 px run: smaller)."""
    rows, plain512 = [], None
    for size in sizes:
        evals = long_512 if size == 512 else 3
        for mode in ("plain", "default") if size <= 512 else ("default",):
            out = subprocess.run(
                [sys.executable, "-m", "bench.mem", str(size), mode, str(evals), device],
                capture_output=True,
                text=True,
                env=os.environ,
            )
            if out.returncode != 0:
                rows.append([size, mode, evals, "failed", out.stderr.strip().splitlines()[-1][:60], ""])
                continue
            d = json.loads(out.stdout.strip().splitlines()[-1])
            if size == 512 and mode == "plain":
                plain512 = d["peak_mb"]
            ratio = (
                f"{d['peak_mb'] / plain512:.2f}x"
                if plain512 and size == 512 and mode == "default"
                else ""
            )
            rows.append([size, mode, evals, f"{d['s_per_eval']:.3f}", f"{d['peak_mb']:.0f}", ratio])
    return rows


def ui_overhead(m) -> None:
    """The work a dashboard tick does outside the optimization, on the server."""
    from nst.viz import layer_figure, loss_figure
    from ui.live import TICK_SECONDS

    content, style, _ = inputs()
    from nst.run import Run

    run = Run(m, content, [style], Config(steps=10_000))
    run.step(2)
    rows = []
    for _ in range(5):
        per = run.seconds / run.evals
        n = max(1, round(TICK_SECONDS / per))
        t0 = time.perf_counter()
        run.step(n)
        opt = time.perf_counter() - t0
        t1 = time.perf_counter()
        buf = io.BytesIO()
        run.image().save(buf, format="PNG")  # what st.image sends
        loss_figure(run.history, 1.0, 1e5, 0.0, run.events).to_json()
        layer_figure(run.history, 1e5, run.events).to_json()
        run.progress(), run.eta_seconds(), run.evals_per_second()
        draw = time.perf_counter() - t1
        rows.append([n, f"{opt:.3f}", f"{draw:.3f}", f"{draw / (opt + draw):.1%}"])
    table(
        "Dashboard tick at the default size (server side)",
        ["steps per tick", "optimizing s", "drawing s (image PNG + 2 charts)", "outside share"],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--quick", action="store_true", help="short budgets (smoke check)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["quality", "cost", "memory", "ui"], help="one table only")
    args = ap.parse_args()
    dev = args.device
    m = model(dev)
    content, style, names = inputs()
    cpu = platform.processor() or platform.machine()
    print(f"# nst benchmark: {names}, {m.arch} ({m.weights_source})")
    print(
        f"device {dev}, {torch.get_num_threads()} threads, {cpu}, torch {torch.__version__}, "
        f"bf16 fast path: {fast_bf16(torch.device(dev))}"
    )
    q = 0.25 if args.quick else 1.0
    default = Config(device=dev)
    if args.only in (None, "quality"):
        time_to_quality(
            m,
            content,
            style,
            256,
            60 * q,
            60 * q,
            20 * q,
            {
                "nst default (bf16 where fast)": default,
                "nst default, fp32": default.replace(precision="fp32"),
                "nst default, 2 scales": default.replace(scales=2),
            },
        )
        time_to_quality(
            m,
            content,
            style,
            512,
            120 * q,
            0,
            30 * q,
            {
                "nst default (here: 2 scales, bf16)": default,
                "nst default, one scale": default.replace(scales=1),
            },
        )
    if args.only in (None, "cost"):
        peak32, peak16 = matmul_peak(torch.float32, dev), matmul_peak(torch.bfloat16, dev)
        rows = []
        for size in (256, 512):
            for bf16 in (False, True):
                flops, rate = gflops(m, size, bf16, dev)
                peak = peak16 if bf16 else peak32
                rows.append(
                    [
                        size,
                        "bf16" if bf16 else "fp32",
                        f"{flops / 1e9:.1f}",
                        f"{flops / rate / 1e9:.3f}",
                        f"{rate:.0f}",
                        f"{rate / peak:.0%}",
                    ]
                )
        table(
            f"Cost per evaluation (matmul peak: fp32 {peak32:.0f}, bf16 {peak16:.0f} GFLOP/s)",
            ["size", "precision", "GFLOP per eval", "s per eval", "GFLOP/s", "of matmul peak"],
            rows,
        )
    if args.only in (None, "memory"):
        table(
            "Seconds per evaluation and peak resident memory (one process each)",
            ["size", "loop", "evaluations", "s per eval", "peak MB", "vs plain at 512"],
            memory_rows((256, 512, 1024), dev, 12 if args.quick else 110),
        )
    if args.only in (None, "ui"):
        ui_overhead(m)


if __name__ == "__main__":
    main()
