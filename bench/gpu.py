"""The GPU path, timed: per-evaluation cost at 512 and 1024 px in each precision, and time to
the tutorial loop's 10 s loss (scored on the written image) on the same card.

    python -m bench.gpu        (needs CUDA; prints markdown tables)
"""

from __future__ import annotations

import time

import torch

from bench.common import Scorer, first_time_below, inputs, model, nst_run, plain_loop
from nst.engine.config import Config
from nst.engine.run import Run


def table(title, header, rows):
    print(f"\n### {title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def per_eval(m, content, style, size, precision, tf32, n=30, compiled=False):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    mm = torch.compile(m, mode=compiled) if compiled else m
    run = Run(
        mm,
        content,
        [style],
        Config(size=size, steps=10_000, scales=1, device="cuda", precision=precision),
    )
    run.step(5)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    run.step(n)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n, run


def main():
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    m = model("cuda")
    content, style, names = inputs()
    print(f"# nst on {name}, torch {torch.__version__}, {names}, {m.arch}")
    rows = []
    for size in (512, 1024):
        base = None
        for label, prec, tf32, comp in (
            ("fp32", "fp32", False, False),
            ("TF32", "fp32", True, False),
            ("bf16 + channels_last", "bf16", True, False),
        ):
            if comp and size != 512:
                continue  # compile once, at 512 px: it takes a minute per shape
            try:
                t, run = per_eval(m, content, style, size, prec, tf32, compiled=comp)
            except Exception as exc:  # noqa: BLE001 - report and go on
                rows.append([size, label, f"failed: {type(exc).__name__}", "", ""])
                continue
            base = base or t
            peak = torch.cuda.max_memory_allocated() / 2**20
            rows.append([size, label, f"{t * 1000:.1f}", f"{base / t:.2f}x", f"{peak:.0f}"])
            torch.cuda.reset_peak_memory_stats()
    table(
        f"Milliseconds per evaluation on {name}",
        ["size", "arithmetic", "ms per eval", "vs fp32", "peak MiB"],
        rows,
    )

    checks = (0.25, 0.5, 1, 2, 3, 5, 10)
    for size, ours_s, goal in ((512, 3, 1.0), (1024, 5, 3.0)):
        sc = Scorer(m, content, style, size)
        torch.backends.cuda.matmul.allow_tf32 = False  # the tutorial's loop: plain fp32
        torch.backends.cudnn.allow_tf32 = False
        snaps, ev_plain = plain_loop(sc, 10, checks)
        series = {PLAIN: ([(t, sc(x)) for t, x in snaps], ev_plain)}
        torch.backends.cuda.matmul.allow_tf32 = True  # as load_model leaves them for nst
        torch.backends.cudnn.allow_tf32 = True
        for label, cfg in (
            ("nst default (bf16, coarse to fine)", Config(size=size, device="cuda", beta=1e5)),
            ("nst default, one scale", Config(size=size, device="cuda", scales=1, beta=1e5)),
        ):
            snaps, ev = nst_run(m, content, style, cfg, ours_s, checks)
            series[label] = ([(t, sc(x)) for t, x in snaps], ev)
        rows = []
        for label, (pts, ev) in series.items():
            d = dict(pts)
            rows.append([label, ev, *[f"{d[c]:.3g}" if c in d else "–" for c in checks]])
        table(
            f"Seed loss of the written image at {size} px after N seconds ({name})",
            ["contender", "evals", *[f"{c} s" for c in checks]],
            rows,
        )
        target = series[PLAIN][0][-1][1]
        for label, (pts, _) in series.items():
            if label == PLAIN:
                continue
            hit = first_time_below(pts, target)
            verdict = "met" if hit is not None and hit <= goal else "missed"
            print(
                f"\n{size} px, {label}: the plain loop's 10 s loss ({target:.3g}) "
                + (f"in {hit:.2f} s ({10 / hit:.1f}x)" if hit else f"not reached in {ours_s} s")
                + f"; goal <= {goal} s: {verdict}"
            )


PLAIN = "plain loop (tutorial: L-BFGS 100, fp32, clamped)"


if __name__ == "__main__":
    main()
