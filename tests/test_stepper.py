"""The compute worker: runs optimize off the caller's thread, in turn, with a queue and pauses."""

import threading
import time

from nst.compute.seats import (
    GPU_SEATS,
    MOST_SEATS,
    knee,
    lane_seats,
    memory_seats,
    seats_from_environment,
)
from nst.compute.stepper import Stepper
from nst.engine import memory
from nst.engine.config import Config
from nst.engine.run import Run
from nst.record.recorded import RecordedRun
from nst.record.store import Store

TINY = Config(size=48, steps=6, model="vgg19", weights="random", precision="fp32")


def _until(check, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.02)


def test_one_seat_runs_one_after_another_and_tells_each_its_place(random_model, cat, swirls):
    worker = Stepper(seats=1)
    first, second = (Run(random_model, cat, [swirls], TINY) for _ in range(2))
    worker.want(first)
    worker.want(second)
    assert worker.place(first) == 0 and worker.place(second) == 1
    assert worker.seconds_to_turn(second, lambda r: 10.0) > 0  # the first has not started: 10 s
    deadline = time.monotonic() + 60
    while not first.finished:  # the second waits for its turn: not one evaluation before
        assert second.evals == 0 and time.monotonic() < deadline
        time.sleep(0.005)
    _until(lambda: second.finished)
    assert first.status == second.status == "done" and first.evals == second.evals == 6
    assert worker.busy(f"local:{first.device}") == worker.waiting(f"local:{first.device}") == 0


def test_two_seats_step_in_turn(random_model, cat, swirls):
    worker = Stepper(seats=2)
    runs = [Run(random_model, cat, [swirls], TINY.replace(steps=40)) for _ in range(2)]
    for r in runs:
        worker.want(r)
    _until(lambda: all(r.evals >= 3 for r in runs))
    assert all(worker.place(r) == 0 for r in runs)
    for r in runs:
        worker.drop(r)


def test_pause_stops_the_count_and_want_goes_on(random_model, cat, swirls):
    worker = Stepper(seats=1)
    run = Run(random_model, cat, [swirls], TINY.replace(steps=500))
    worker.want(run)
    _until(lambda: run.evals >= 2)
    worker.pause(run)  # returns once the evaluation under way has ended
    paused_at = run.evals
    time.sleep(0.5)
    assert run.status == "paused" and run.evals == paused_at
    worker.want(run)
    _until(lambda: run.evals > paused_at)
    worker.drop(run)


def test_the_step_button_pauses_at_its_count(random_model, cat, swirls):
    worker = Stepper(seats=1)
    run = Run(random_model, cat, [swirls], TINY.replace(steps=500))
    worker.want(run, until=4)
    _until(lambda: run.status == "paused")
    assert run.evals == 4 and worker.place(run) == 0


def test_the_worker_checkpoints_and_stores_the_end(random_model, cat, swirls, tmp_path):
    store = Store(tmp_path / "home")
    run = Run(random_model, cat, [swirls], TINY)
    rec = RecordedRun.begin(
        store,
        run,
        cat,
        [swirls],
        content_name="cat",
        style_names=["swirls"],
        source="dashboard",
        owner="me",
    )
    worker = Stepper(seats=1)
    worker.want(run, rec)
    _until(lambda: run.finished)
    _until(lambda: store.get_run(rec.id, None).status == "done")
    stored = store.get_run(rec.id, None)
    assert stored.evals == 6 and len(stored.history) == 6 and stored.thumbnail.is_file()


def test_a_run_whose_page_went_silent_is_paused_and_its_seat_freed(random_model, cat, swirls):
    worker = Stepper(seats=1, silent=1.0)
    away, next_one = (Run(random_model, cat, [swirls], TINY.replace(steps=5000)) for _ in range(2))
    worker.want(away)  # and never again: its tab was closed
    worker.want(next_one)
    # the next one's page keeps asking (its ticks); the first one's does not
    _until(lambda: worker.want(next_one) or away.status == "paused")
    assert "did not answer" in away.message and away.evals > 0
    _until(lambda: worker.want(next_one) or next_one.evals > 0)  # the seat went to the next
    worker.drop(next_one)


def test_seats_default_to_one_on_a_cpu_and_take_nst_max_runs():
    assert lane_seats("cpu", None, {}) == 1
    assert lane_seats("cuda", None, {}) == GPU_SEATS  # its card not measured
    assert lane_seats("cuda", 12, {}) == 12
    assert lane_seats("cpu", None, {"NST_MAX_RUNS": "3"}) == 3
    assert lane_seats("cuda", 12, {"NST_MAX_RUNS": "2"}) == 2
    for bad in ("0", "x"):
        try:
            seats_from_environment("cpu", {"NST_MAX_RUNS": bad})
        except ValueError as exc:
            assert "NST_MAX_RUNS" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was taken")


def test_a_pages_computation_takes_its_turn_between_evaluations(random_model, cat, swirls):
    worker = Stepper(seats=1)
    lane = "local:cpu"
    # No run on the lane: the lane's thread computes it at once (the device's one user).
    assert worker.call(lane, lambda: threading.current_thread().name) == f"nst-{lane}"
    run = Run(random_model, cat, [swirls], TINY.replace(steps=500))
    worker.want(run)
    _until(lambda: run.evals >= 2)

    def between():  # no evaluation of the run may advance while this computes
        before = run.evals
        time.sleep(0.3)
        return threading.current_thread().name, before, run.evals

    name, before, after = worker.call(lane, between)
    assert name == f"nst-{lane}" and before == after  # on the lane's thread, in turn
    try:
        worker.call(lane, lambda: 1 / 0)
        raise AssertionError("the error did not reach the caller")
    except ZeroDivisionError:
        pass
    _until(lambda: run.evals > after + 1)  # and the run goes on after it
    worker.drop(run)
    worker.close()


def test_a_run_goes_on_while_its_page_is_there_however_late_its_ticks(random_model, cat, swirls):
    """Presence, not ticks: a frozen or hidden page (no ticks) keeps its run going while its
    session is connected; once the connection has been gone `gone` seconds, the run pauses."""
    connected = [True]
    worker = Stepper(seats=1, gone=0.5, silent=0.5)
    run = Run(random_model, cat, [swirls], TINY.replace(steps=5000))
    worker.want(run, present=lambda: connected[0])  # one tick, then none
    time.sleep(1.5)  # three times `silent` without a tick
    assert run.status == "running" and run.evals > 0
    connected[0] = False  # the tab was closed
    _until(lambda: run.status == "paused")
    assert "closed" in run.message
    worker.drop(run)


def test_the_worker_times_a_run_made_whole_for_the_estimates(random_model, cat, swirls):
    """What a run took, for the calibration of the estimates: only a run that went from its
    start to its end without a pause, its seconds counted from its first evaluation."""
    worker = Stepper(seats=1)
    whole = Run(random_model, cat, [swirls], TINY.replace(steps=8))
    worker.want(whole)
    _until(lambda: whole.finished)
    _until(lambda: worker.wall(whole) is not None)
    evals, wall, waited = worker.wall(whole)
    assert evals == 8 and wall > 0 and 0 <= waited < wall
    paused = Run(random_model, cat, [swirls], TINY.replace(steps=8))
    worker.want(paused, until=3)  # the Step button: three steps, then a pause
    _until(lambda: paused.status == "paused")
    worker.want(paused)
    _until(lambda: paused.finished)
    assert worker.wall(paused) is None


def test_a_cards_seats_follow_its_memory_and_the_gain_of_a_larger_batch():
    # seconds per batch of n: launch-bound up to 8 (the same time for 1-8), then linear
    assert knee(lambda n: 0.01 * max(1, n / 8)) == 8
    assert knee(lambda n: 0.01 * n) == 1  # a batch costs what its runs do alone (a CPU)
    assert knee(lambda n: 0.01 * max(1, n / 64)) == MOST_SEATS
    gib = 2**30
    assert memory_seats(80 * gib, "bf16") > memory_seats(16 * gib, "bf16") >= 1
    assert memory_seats(2 * gib, "fp32") == 1  # too small a card still seats one
    # a full 512 px run, history and all, fits in what a seat is given
    one = memory.peak(512, 512, "bf16", 20, 512 * 512) - memory.BASE
    n = memory_seats(16 * gib, "bf16")
    assert memory.BASE + n * one <= 16 * gib * memory.MARGIN
