"""The network's pass captured once in a CUDA graph and replayed, on a GPU.

A 512 px evaluation on a large card is bound by kernel launches: the forward and backward through
VGG are a few hundred small kernels, and the card waits for Python between them. A CUDA graph
records them once and replays them with one launch. `torch.cuda.make_graphed_callables` (public
API) turns the network's forward into a graphed callable whose backward is graphed too, so the
losses (small, eager) and autograd stay as they are.

Only the thread that owns a device's evaluations captures (see `_capturing_thread`). A graph
holds one input shape, set of layers, pooling and precision: each new one is captured
anew (at most KEPT are kept). A captured pass is checked once against the eager one (outputs and
input gradient); any exception or mismatch switches capture off for the model for good, and
`notice` says why once (a run copies it into its events), as the CPU fast path does. On a CPU
nothing is captured. NST_CAPTURE=0 turns it off.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

KEPT = 4  # graphs kept per model (each holds its activations' memory)
TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 3e-2}  # relative, captured against eager


def _capturing_thread() -> bool:
    """Capture where one thread owns the device's evaluations: a compute worker's lane
    (nst.compute.stepper, threads named "nst-...") or a command's main thread. Elsewhere (a sweep's
    thread beside the worker) a replay's shared buffers, or a capture under way, could meet
    another thread's work: those go eagerly."""
    here = threading.current_thread()
    return here is threading.main_thread() or here.name.startswith("nst-")


class Captures:
    """One model's captured passes. `kinds`: the device types captured on (CUDA)."""

    def __init__(self, kinds: tuple[str, ...] = ("cuda",)):
        self.kinds = kinds
        self.enabled = os.environ.get("NST_CAPTURE", "1").strip() != "0"
        self.notice = ""  # why capture went off, once
        self._graphs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def features(self, model, x: torch.Tensor, layers, pooling: str, dtype) -> dict | None:
        """`model`'s activations of normalized `x` at `layers` through a captured pass, or None
        where none applies (not on CUDA, no gradient wanted, capture off or failed)."""
        if not (self.enabled and x.device.type in self.kinds and x.requires_grad):
            return None
        if not torch.is_grad_enabled() or not _capturing_thread():
            return None
        key = (tuple(x.shape), tuple(layers), pooling, dtype, x.dtype, x.device, threading.get_ident())
        with self._lock:
            graphed = self._graphs.get(key)
            if graphed is None:
                graphed = self._capture(model, x, list(layers), pooling, dtype)
                if graphed is None:
                    return None
                self._graphs[key] = graphed
                while len(self._graphs) > KEPT:
                    self._graphs.popitem(last=False)
            self._graphs.move_to_end(key)
        out = graphed(x)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return dict(zip(layers, out, strict=True))

    def _capture(self, model, x, layers, pooling, dtype):
        def eager(inp: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = model(inp, layers, pooling=pooling, normalized=True, dtype=dtype)
            return tuple(out[name] for name in layers)

        try:
            sample = x.detach().clone().requires_grad_(True)
            graphed = torch.cuda.make_graphed_callables(eager, (sample,))
            self._check(graphed, eager, x, dtype)
            return graphed
        except Exception as exc:  # noqa: BLE001 - any trouble: eager serves, and says so
            self.enabled = False
            self._graphs.clear()
            why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            self.notice = f"the captured evaluation is off ({why}); every pass runs eagerly"
            return None

    @staticmethod
    def _check(graphed, eager, x: torch.Tensor, dtype) -> None:
        """The captured pass against the eager one on a probe image: outputs and input gradient."""
        probe = x.detach().clone()
        results = []
        for fn in (graphed, eager):
            inp = probe.clone().requires_grad_(True)
            out = fn(inp)
            out = out if isinstance(out, (tuple, list)) else (out,)
            total = sum(o.float().square().mean() for o in out)
            total.backward()
            results.append((float(total), inp.grad.float()))
        (a, ga), (b, gb) = results
        tol = TOLERANCE.get(dtype or x.dtype, 1e-3)
        if abs(a - b) > tol * max(abs(b), 1e-30):
            raise RuntimeError(f"captured pass gives {a:.6g}, eager {b:.6g}")
        if float((ga - gb).norm()) > tol * max(float(gb.norm()), 1e-30):
            raise RuntimeError("captured pass's gradient differs from eager")
