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
from pathlib import Path

import torch

from bench.common import (
    Scorer,
    first_time_below,
    inputs,
    model,
    nst_run,
    pairs,
    plain_loop,
    seed_loop,
)
from nst.engine.config import Config
from nst.engine.image import deprocess
from nst.engine.model import fast_bf16

PLAIN = "plain loop (tutorial: L-BFGS 100, fp32, clamped)"
SEED_BETA = 1e5  # the seed's β (α = 1): every contender optimizes the objective it is scored by
SAVE: list[Path] = []  # --save: the folder for each contender's last image


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def fmt(v) -> str:
    return "–" if v is None else f"{v:.3g}"


GOALS: list[list] = []  # rows of the closing summary, filled by the sections


def time_to_quality(
    m, pair, size: int, plain_s: float, seed_s: float, ours_s: float, variants: dict[str, Config]
) -> dict[str, float | None]:
    """One pair at one size: every contender's written-image loss over time, and the time each
    takes to reach the plain loop's final loss. Returns {contender: seconds to that loss}."""
    content, style, name = pair
    sc = Scorer(m, content, style, size)
    series = {}
    t = time.time()
    kept = {}  # contender -> content loss of its last image

    def score(label, snaps, evals):
        series[label] = ([(s, sc(x)) for s, x in snaps], evals)
        kept[label] = sc.content_term(snaps[-1][1])
        if SAVE:  # the image each contender ends with, as it would be written
            slug = "_".join("".join(ch if ch.isalnum() else " " for ch in label).split())
            file = f"{name.replace(' + ', '+')}_{size}_{slug}.png"
            deprocess(snaps[-1][1]).save(SAVE[0] / file)

    score(PLAIN, *plain_loop(sc, plain_s))
    if seed_s:
        score("seed's loop (Adam 0.003, clamped)", *seed_loop(sc, seed_s))
    for label, cfg in variants.items():
        score(label, *nst_run(m, content, style, cfg.replace(size=size), ours_s))
    longest = max(plain_s, seed_s, ours_s)
    marks = [c for c in (2, 5, 10, 15, 20, 30, 60, 120, 300, 600) if c <= longest]
    rows = []
    for label, (pts, evals) in series.items():
        d = dict(pts)
        rows.append([label, evals, *[fmt(d.get(c)) for c in marks], fmt(kept[label])])
    table(
        f"{name}: seed loss of the written image at {sc.size[0]}x{sc.size[1]} after N seconds",
        ["contender", "evals", *[f"{c} s" for c in marks], "content loss at the end"],
        rows,
    )
    target = series[PLAIN][0][-1][1]
    hits = {}
    rows = []
    for label, (pts, _) in series.items():
        if label == PLAIN:
            continue
        t_hit = first_time_below(pts, target)
        hits[label] = t_hit
        speedup = f"{plain_s / t_hit:.1f}x" if t_hit else "not reached"
        rows.append([label, f"{target:.3g}", fmt(t_hit), speedup, fmt(pts[-1][1])])
    table(
        f"{name}, {size} px: time to the plain loop's {plain_s:g} s loss",
        ["contender", "target", "seconds", "speed-up", f"loss at {ours_s:g} s"],
        rows,
    )
    print(f"\n({time.time() - t:.0f} s for this pair)")
    return hits


def quality(m, all_pairs, size: int, plain_s, seed_s, ours_s, goal_s, variants) -> None:
    for i, pair in enumerate(all_pairs):
        hits = time_to_quality(m, pair, size, plain_s, seed_s if i == 0 else 0, ours_s, variants)
        t_hit = hits[next(iter(variants))]
        met = t_hit is not None and t_hit <= goal_s
        GOALS.append(
            [
                f"{size} px, {pair[2]}: time to the plain loop's {plain_s:g} s loss",
                f"≤ {goal_s:g} s",
                f"{fmt(t_hit)} s ({plain_s / t_hit:.1f}x)" if t_hit else "not reached",
                "met" if met else "missed",
            ]
        )


def given(m, all_pairs, size: int, plain_s: float, budgets: tuple[float, ...], cfg: Config) -> None:
    """The issue's own measure: nst given a time budget of B seconds (its schedule planned for
    B, coarse stage and all), the written image's loss against the plain loop's after
    `plain_s`. A ratio ≤ 1 is the speed-up plain_s / B reached."""
    rows = []
    for content, style, name in all_pairs:
        sc = Scorer(m, content, style, size)
        snaps, _ = plain_loop(sc, plain_s, checkpoints=(plain_s,))
        loop_x = snaps[-1][1]
        target, loop_content = sc(loop_x), sc.content_term(loop_x)
        for b in budgets:
            snaps, evals = nst_run(m, content, style, cfg.replace(size=size), b, checkpoints=(b,))
            x = snaps[-1][1]
            loss, content_term = sc(x), sc.content_term(x)
            ratio = loss / target
            rows.append(
                [
                    name,
                    f"{b:g} s",
                    evals,
                    fmt(loss),
                    fmt(target),
                    f"{ratio:.2f}",
                    f"{plain_s / b:.0f}x" if ratio <= 1 else "not reached",
                    f"{content_term:.0f} / {loop_content:.0f} ({content_term / loop_content - 1:+.0%})",
                ]
            )
            if SAVE:
                deprocess(x).save(SAVE[0] / f"{name.replace(' + ', '+')}_{size}_given_{b:g}s.png")
            GOALS.append(
                [
                    f"{size} px, {name}: nst given {b:g} s against the loop's {plain_s:g} s",
                    "loss ratio ≤ 1",
                    f"{ratio:.2f}",
                    "met" if ratio <= 1 else "missed",
                ]
            )
    table(
        f"{size} px: nst given a time budget, against the plain loop's loss after {plain_s:g} s",
        [
            "pair",
            "nst given",
            "evals",
            "nst loss",
            "loop's loss",
            "ratio (nst / loop)",
            "speed-up",
            "content, nst / loop",
        ],
        rows,
    )


def gflops(m, size: int, bf16: bool, device: str) -> tuple[float, float]:
    """(FLOPs of one forward+backward, achieved GFLOP/s). The FLOPs are counted on the fp32
    path for both precisions: the same arithmetic, and the counter does not see the bf16
    path's prepacked oneDNN convolutions."""
    from torch.utils.flop_counter import FlopCounterMode

    from nst.engine.run import Run

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


def big_print(m, dev: str, quick: bool) -> None:
    """1024 px against the plain loop; 2048 px (an artist's print) in its own process."""
    q = 0.1 if quick else 1.0
    default = Config(device=dev, beta=SEED_BETA)
    first = pairs(1)
    quality(m, first, 1024, 600 * q, 0, 120 * q, 100 * q, {"nst default": default})
    given(m, first, 1024, 600 * q, (60 * q,), default)
    budget = 60 if quick else 300
    out = subprocess.run(
        [sys.executable, "-m", "bench.mem", "2048", "budget", str(budget), dev],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if out.returncode != 0:
        GOALS.append(["2048 px runs", "RSS ≤ 8 GB", out.stderr.strip()[-80:], "failed"])
        return
    d = json.loads(out.stdout.strip().splitlines()[-1])
    table(
        "2048 px, tubingen + starry_night, time budget (coarse to fine), one process",
        ["size", "scales", "seconds", "evals", "s per eval at full size", "peak RSS MB", "image"],
        [
            [
                d["size_px"],
                d["scales"],
                f"{d['seconds']:.0f}",
                d["evals"],
                f"{d['s_per_eval']:.2f}",
                f"{d['peak_mb']:.0f}",
                d["image"],
            ]
        ],
    )
    GOALS.append(
        [
            "2048 px runs: s per evaluation, peak RSS",
            "RSS ≤ 8 GB",
            f"{d['s_per_eval']:.2f} s/eval, {d['peak_mb']:.0f} MB",
            "met" if d["peak_mb"] <= 8192 else "missed",
        ]
    )


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
    """The work a dashboard tick does to draw the run (it optimizes in the worker meanwhile)."""
    from nst.lab.viz import layer_figure, loss_figure

    tick_seconds = 0.7  # optimizing time compared with one tick's drawing

    content, style, _ = inputs()
    from nst.engine.run import Run

    run = Run(m, content, [style], Config(steps=10_000))
    run.step(2)
    rows = []
    for _ in range(5):
        per = run.seconds / run.evals
        n = max(1, round(tick_seconds / per))
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
    ap.add_argument(
        "--only",
        choices=["quality", "given", "big", "cost", "memory", "ui"],
        help="one section only",
    )
    ap.add_argument("--pairs", help="photo+painting,... (file stems), e.g. cat+mosaic,tubingen+waves")
    ap.add_argument("--save", metavar="DIR", help="write each contender's last image there")
    args = ap.parse_args()
    dev = args.device
    if args.save:
        SAVE.append(Path(args.save))
        SAVE[0].mkdir(parents=True, exist_ok=True)
    m = model(dev)
    all_pairs = pairs(only=args.pairs.split(",") if args.pairs else None)
    print(f"# nst benchmark: {len(all_pairs)} pairs, {m.arch} ({m.weights_source})")
    print(
        f"device {dev}, {torch.get_num_threads()} threads, {cpu_name()}, torch {torch.__version__}, "
        f"bf16 fast path (what --precision auto picks): {fast_bf16(torch.device(dev))}"
    )
    print("Every loss: the seed's total loss of the written 8-bit image (nst.lab.score), fp32.")
    q = 0.25 if args.quick else 1.0
    # the seed's own objective, as the loop optimizes it (not the style strength's β)
    default = Config(device=dev, beta=SEED_BETA)
    if args.only in (None, "quality"):
        # the first variant is the one the goals are about; "pixels" is the optimizer without
        # its pyramid (pyramid=1), as every run before it
        variants = {"nst default": default, "nst, pixels only": default.replace(pyramid=1)}
        quality(m, all_pairs, 256, 60 * q, 30 * q, 20 * q, 15 * q, variants)
        # at 512 px, the pyramid alone: its coarse levels may make the coarse stage unneeded
        one_scale = {"nst, pyramid at one scale": default.replace(scales=1)}
        quality(m, all_pairs, 512, 120 * q, 0, 30 * q, 20 * q, {**variants, **one_scale})
    if args.only in (None, "given"):
        given(m, all_pairs, 256, 60 * q, (15 * q,), default)
        given(m, all_pairs, 512, 120 * q, (6 * q, 12 * q, 20 * q), default)
    if args.only in (None, "big"):
        big_print(m, dev, args.quick)
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
    if GOALS:
        table("Goals", ["goal", "target", "measured", ""], GOALS)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
