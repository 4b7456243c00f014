"""One process, one measurement: seconds per evaluation and peak resident memory.

python -m bench.mem SIZE plain|default [EVALS] [DEVICE]   -> prints one JSON line
"""

import json
import sys
import time

import torch

from bench.common import Scorer, inputs, model
from nst.config import Config
from nst.run import Run


def main() -> None:
    size, mode = int(sys.argv[1]), sys.argv[2]
    evals = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
    m = model(device)
    content, style, _ = inputs()
    if mode == "plain":
        sc = Scorer(m, content, style, size)
        x = sc.start().requires_grad_(True)
        opt = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0
        )

        def closure():
            opt.zero_grad()
            loss = sc.loss(x) / 1e9
            loss.backward()
            return loss

        def step():
            opt.step(closure)
    else:
        run = Run(m, content, [style], Config(size=size, steps=10_000, scales=1, device=device))

        def step():
            run.step(1)

    step()  # warm-up
    times = []
    for _ in range(evals):
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


if __name__ == "__main__":
    main()
