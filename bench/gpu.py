"""The GPU path, timed: per-evaluation cost at 512 and 1024 px in each precision, 300
evaluations at 512 px, and time to quality against the plain loop on the same card.

    python -m bench.gpu        (needs CUDA; prints markdown tables)
"""

from __future__ import annotations

import time

import torch

from bench.common import Scorer, first_time_below, inputs, model, nst_run, plain_loop
from nst.config import Config
from nst.run import Run


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
    if not tf32:  # Run turns TF32 on for CUDA; this row measures plain fp32
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
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
            ("bf16 + torch.compile", "bf16", True, "default"),
            ("bf16 + compile reduce-overhead", "bf16", True, "reduce-overhead"),
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

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    run = Run(m, content, [style], Config(size=512, steps=300, scales=1, device="cuda"))
    run.step(3)
    run = Run(m, content, [style], Config(size=512, steps=300, scales=1, device="cuda"))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    while not run.finished:
        run.step(25)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    sc = Scorer(m, content, style, 512)
    print(
        f"\n300 evaluations at 512 px (default config, bf16): {wall:.2f} s wall, "
        f"{run.seconds:.2f} s optimizing; seed loss {sc(run._x):.4g}"
    )

    checks = (0.25, 0.5, 1, 2, 3, 5, 10)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    snaps, ev_plain = plain_loop(sc, 10, checks)
    plain = [(t, sc(x)) for t, x in snaps]
    snaps, ev_ours = nst_run(m, content, style, Config(size=512, device="cuda"), 3, checks)
    ours = [(t, sc(x)) for t, x in snaps]
    d_p, d_o = dict(plain), dict(ours)
    table(
        "Seed total loss at 512 px after N seconds (same card)",
        ["contender", "evals", *[f"{c} s" for c in checks]],
        [
            [
                "plain loop (L-BFGS, fp32)",
                ev_plain,
                *[f"{d_p[c]:.3g}" if c in d_p else "–" for c in checks],
            ],
            ["nst default (bf16)", ev_ours, *[f"{d_o[c]:.3g}" if c in d_o else "–" for c in checks]],
        ],
    )
    target = plain[-1][1]
    hit = first_time_below(ours, target)
    print(
        f"\nnst default reaches the plain loop's 10 s loss ({target:.3g}) in {hit:.2f} s"
        if hit
        else "\nnst default does not reach the plain loop's 10 s loss in 3 s"
    )
    # correctness of the fast path on the GPU: bf16 and fp32 runs agree
    a = Run(m, content, [style], Config(size=256, steps=40, device="cuda", precision="fp32"))
    b = Run(m, content, [style], Config(size=256, steps=40, device="cuda", precision="bf16"))
    a.step(40)
    b.step(40)
    s256 = Scorer(m, content, style, 256)
    print(f"\n256 px, 40 evals: fp32 path {s256(a._x):.4g}, bf16 path {s256(b._x):.4g} (seed loss)")


if __name__ == "__main__":
    main()
