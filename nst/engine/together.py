"""Runs of one shape evaluated together: one forward and one backward pass for all of them.

On a GPU one 512 px evaluation is bound by kernel launches, not arithmetic: the card waits for
Python. Stacking the images of several runs into one batch launches each kernel once for all of
them. Each run keeps everything that is its own: its targets, weights, β and notion of style
(its `Objective.loss_of` on its slice of the batch's activations), its loss and gradient (the
batch's loss is the sum of the runs', so each image's gradient is its own run's), its optimizer
and its record. A run joins or leaves at any evaluation: the groups are formed anew each time
from `Run.batch_key` (network, size, precision, pooling), so a pause, a change of setting or a
new scale just moves it to another group.

If the batch fails (out of memory, or one run's loss raises) each run is evaluated alone, so the
one at fault fails by itself and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from nst.engine.run import Run


def step_together(runs: Sequence[Run]) -> list[BaseException | None]:
    """One evaluation of each run (those of equal `batch_key` as one batch). Returns, per run,
    the error its evaluation raised, or None."""
    errors: list[BaseException | None] = [None] * len(runs)
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        try:
            if run.ready():
                key = run.batch_key()
                groups.setdefault(key if key is not None else ("alone", i), []).append(i)
        except Exception as exc:  # noqa: BLE001 - a run's trouble is its own
            errors[i] = exc
    for members in groups.values():
        evaluated = None
        if len(members) > 1:
            try:
                evaluated = evaluate_batch([runs[i] for i in members])
            except Exception:  # noqa: BLE001 - whatever went wrong, each run goes alone
                for i in members:
                    runs[i].x.grad = None
        for j, i in enumerate(members):
            try:
                runs[i].step(1, evaluated[j] if evaluated else None)
            except Exception as exc:  # noqa: BLE001
                errors[i] = exc
    return errors


def evaluate_batch(runs: Sequence[Run]) -> list[tuple] | None:
    """Each run's (loss, parts, seconds) from one batched pass, its gradient in its `x.grad`;
    None when the batch could not be evaluated (each run then goes alone)."""
    t0 = time.perf_counter()
    objectives = [run.objective_now for run in runs]
    first = objectives[0]
    wanted = {name for o in objectives for name in o.config.layers_used}
    layers = [name for name in first.model.layer_names if name in wanted]
    xs = [run.x for run in runs]
    for x in xs:
        x.grad = None
    try:
        batch = torch.cat(xs)
        with torch.enable_grad():
            dtype = torch.bfloat16 if first.bf16 else None
            model, pooling = first.model, first.config.pooling
            feats = model.captured.features(model, batch, layers, pooling, dtype)
            if feats is None:  # not on a GPU (or capture is off): eager
                feats = model(batch, layers, pooling, normalized=True, dtype=dtype)
            results = []
            for i, (objective, x) in enumerate(zip(objectives, xs, strict=True)):
                own = {name: feats[name][i : i + 1] for name in objective.config.layers_used}
                results.append(objective.loss_of(own, x))
            torch.stack([total for total, _ in results]).sum().backward()
    except (RuntimeError, ValueError):
        for x in xs:
            x.grad = None
        return None
    share = (time.perf_counter() - t0) / len(runs)  # each run's part of the batch's time
    return [(total.detach(), parts, share) for total, parts in results]
