"""How many runs a lane of the compute worker optimizes at once.

A CPU lane takes one: an evaluation already uses every core, and two runs side by side only take
turns (a batch of two costs what two evaluations do). A GPU lane takes what its card gives: runs
of one size are evaluated as one batch (nst.engine.together), so seats cost memory and buy speed
until the card is busy. Its seats are the largest batch that still pays (each doubling making an
evaluation at least GAIN cheaper per image, measured once on the card), within what its free
memory holds at the device's default size; NST_MAX_RUNS overrides both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from nst.engine import memory

GPU_SEATS = 4  # a GPU lane's seats when its card could not be measured
MOST_SEATS = 16  # batches tried when measuring (a class)
GAIN = 0.9  # a doubled batch pays when an image costs at most this fraction of what it did
SEAT_SIDE = 512  # px: seats are counted for runs of this long side (the GPU's default size)


def seats_from_environment(device_type: str, environ=None) -> int | None:
    """NST_MAX_RUNS as a whole number of seats per lane; None when unset."""
    env = os.environ if environ is None else environ
    text = env.get("NST_MAX_RUNS", "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"NST_MAX_RUNS must be a whole number, not {text!r}") from None
    if value < 1:
        raise ValueError(f"NST_MAX_RUNS must be 1 or more, not {value}")
    return value


def memory_seats(free: int, precision: str, history: int = 20, side: int = SEAT_SIDE) -> int:
    """Runs of `side` px (square, the worst case) that `free` bytes of a card hold."""
    one = memory.peak(side, side, precision, history, side * side) - memory.BASE
    return max(1, int((free * memory.MARGIN - memory.BASE) // max(one, 1)))


def knee(seconds_per_batch: Callable[[int], float], most: int = MOST_SEATS) -> int:
    """The largest batch (1, 2, 4, ... `most`) up to which each doubling still pays."""
    batch, per_image = 1, seconds_per_batch(1)
    while batch * 2 <= most:
        t = seconds_per_batch(batch * 2) / (batch * 2)
        if t > GAIN * per_image:
            break
        batch, per_image = batch * 2, t
    return batch


def card_seats(model, precision: str = "bf16", side: int = SEAT_SIDE) -> int:
    """A GPU lane's seats, measured on `model`'s card (GPU_SEATS if that fails)."""
    try:
        free, _total = torch.cuda.mem_get_info(model.mean.device)
        room = memory_seats(free, precision, side=side)
        dtype = torch.bfloat16 if precision == "bf16" else None
        layers = list(model.layer_names)[-1:]

        def seconds(batch: int) -> float:
            x = torch.rand(batch, 3, side, side, device=model.mean.device, requires_grad=True)
            for _ in range(2):  # the first pass warms up the kernels
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = model(x, layers, dtype=dtype)
                sum(v.float().sum() for v in out.values()).backward()
                torch.cuda.synchronize()
            return time.perf_counter() - t0

        return max(1, min(room, knee(seconds, min(MOST_SEATS, room))))
    except Exception:  # noqa: BLE001 - no measurement: the old default serves
        return GPU_SEATS


def lane_seats(device_type: str, card: int | None = None, environ=None) -> int:
    """Seats for a lane on `device_type`: NST_MAX_RUNS, else 1 on a CPU, else the card's
    (`card`, from `card_seats`; GPU_SEATS until it is measured)."""
    told = seats_from_environment(device_type, environ)
    if told is not None:
        return told
    if device_type != "cuda":
        return 1
    return card or GPU_SEATS
