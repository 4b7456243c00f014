"""One process, one measurement: seconds per evaluation and peak resident memory.

python -m bench.mem SIZE plain|default [EVALS] [DEVICE]   -> prints one JSON line
python -m bench.mem SIZE budget SECONDS [DEVICE]          -> a whole run with that time budget
                                                             (coarse to fine), its image written
                                                             to bench/out/SIZE.png
"""

import json
import sys
import time

import torch

from bench.common import ROOT, Scorer, inputs, model, plain_stepper
from nst.engine.config import MAX_STEPS, Config
from nst.engine.run import Run


def main() -> None:
    size, mode = int(sys.argv[1]), sys.argv[2]
    evals = float(sys.argv[3]) if len(sys.argv) > 3 else 4
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    m = model(device)
    content, style, _ = inputs()
    if mode == "budget":
        return whole_run(m, content, style, size, evals, device)
    if mode == "plain":
        step, _ = plain_stepper(Scorer(m, content, style, size))
    else:
        run = Run(m, content, [style], Config(size=size, steps=10_000, scales=1, device=device))

        def step():
            run.step(1)

    step()  # warm-up
    times = []
    for _ in range(int(evals)):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak
    with open("/proc/self/status") as f:
        status = f.read()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(
        json.dumps(
            {"size": size, "mode": mode, "s_per_eval": sorted(times)[len(times) // 2], "peak_mb": peak}
        )
    )


def whole_run(m, content, style, size: int, seconds: float, device: str) -> None:
    from nst.record.export import png_bytes

    run = Run(
        m, content, [style], Config(size=size, steps=MAX_STEPS, time_budget=seconds, device=device)
    )
    while not run.finished:
        run.step(1)
    last = [r for r in run.history if r.scale == run.history[-1].scale]
    per = (last[-1].seconds - last[0].seconds) / max(1, len(last) - 1)
    out = ROOT / "bench" / "out" / f"{size}.png"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(png_bytes(run.image(), run.config, {"evals": run.evals, "seconds": run.seconds}))
    with open("/proc/self/status") as f:
        peak = int(f.read().split("VmHWM:")[1].split()[0]) / 1024
    w, h = run.image().size
    print(
        json.dumps(
            {
                "size_px": f"{w}x{h}",
                "scales": len(run.details()["scales"]),
                "seconds": run.seconds,
                "evals": run.evals,
                "s_per_eval": per,
                "peak_mb": peak,
                "loss": run.history[-1].total,
                "image": str(out.relative_to(ROOT)),
            }
        )
    )


if __name__ == "__main__":
    main()
