"""Runs of one shape evaluated as one batch give what each gives alone (nst.engine.together)."""

import threading

import pytest
import torch

from nst.engine.config import Config
from nst.engine.run import Run
from nst.engine.together import evaluate_batch, step_together
from nst.lab.cells import LocalExecutor, read_inputs
from nst.lab.sweep import Sweep, parse_vary

SMALL = dict(size=48, steps=6, scales=1, precision="fp32", model="vgg19")


def _pair(model, photo, paintings, **settings):
    """Two copies of one run: one to step in a batch, one alone."""
    return tuple(Run(model, photo, paintings, Config(**{**SMALL, **settings})) for _ in range(2))


def _close(a: float, b: float, rel: float = 1e-5) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-30)


def test_a_batch_gives_each_run_its_own_loss_and_gradient(random_model, cat, swirls, mosaic):
    settings = [
        dict(style_strength=4.0),
        dict(style_strength=2.0, content_layer="conv3_2", style_notion="meancov"),
        dict(style_notion="patches", tv_weight=1e-3),
    ]
    runs = [
        Run(random_model, cat, [p], Config(**{**SMALL, **s}))
        for p, s in zip([swirls, mosaic, swirls], settings, strict=True)
    ]
    assert len({r.batch_key() for r in runs}) == 1
    alone = []
    for run in runs:
        run.x.grad = None
        loss, _parts = run.objective_now.evaluate(run.x)
        alone.append((float(loss), run.x.grad.clone()))
        run.x.grad = None
    together = evaluate_batch(runs)
    assert together is not None
    for run, (loss, grad), (t_loss, _parts, seconds) in zip(runs, alone, together, strict=True):
        assert _close(float(t_loss), loss)
        assert seconds > 0
        err = (run.x.grad - grad).abs().max() / grad.abs().max()
        assert float(err) < 1e-5


def test_joins_and_leaves_keep_every_run_as_it_is_alone(random_model, cat, swirls, mosaic):
    """Three runs, one of another size; one joins late and one leaves (paused) midway: each run's
    record equals the one it makes stepped alone. The runs are Gram runs with different settings:
    mean-covariance's square root, near the zero eigenvalues of a 48 px layer's covariance, turns
    a batched convolution's last-bit differences into 4e-4 after four L-BFGS steps (AMD Zen 4),
    so each notion's batch = alone is checked per evaluation and over three steps below."""
    a, a_alone = _pair(random_model, cat, [swirls])
    b, b_alone = _pair(
        random_model, cat, [mosaic], style_strength=3.0, content_layer="conv3_2", tv_weight=1e-3
    )
    c, c_alone = _pair(random_model, cat, [swirls], size=40)
    for run in (a_alone, b_alone, c_alone):
        while run.step(1):
            pass
    plan = [[a, c], [a, b, c], [a, b, c], [a, c], [a, b, c], [a, b], [a, b], [b, c], [b, c]]
    for seated in plan:
        assert all(e is None for e in step_together(seated))
    for run, alone in ((a, a_alone), (b, b_alone), (c, c_alone)):
        assert run.evals == alone.evals == SMALL["steps"]
        for got, want in zip(run.history, alone.history, strict=True):
            assert _close(got.total, want.total, 1e-4), (got.step, got.total, want.total)
        assert run.status == "done"


def test_a_failing_run_leaves_the_others_running(random_model, cat, swirls, monkeypatch):
    good, bad = (Run(random_model, cat, [swirls], Config(**SMALL)) for _ in range(2))

    def broken(feats, x):
        raise RuntimeError("this run's loss is broken")

    monkeypatch.setattr(bad.objective_now, "loss_of", broken)
    monkeypatch.setattr(bad.objective_now, "__call__", broken, raising=False)
    monkeypatch.setattr(bad.objective_now, "evaluate", lambda x: broken(None, x))
    errors = step_together([good, bad])
    assert errors[0] is None and good.evals == 1
    assert isinstance(errors[1], RuntimeError) and bad.evals == 0


def test_a_print_scale_goes_alone(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], Config(**SMALL), tile_pixels=32 * 32)
    assert run.batch_key() is None
    assert step_together([run, Run(random_model, cat, [swirls], Config(**SMALL))]) == [None, None]
    assert run.evals == 1


@pytest.mark.parametrize("notion", ["gram", "meancov", "patches"])
def test_batched_steps_equal_alone_under_each_notion(random_model, cat, swirls, mosaic, notion):
    one, one_alone = _pair(
        random_model, cat, [swirls, mosaic], style_notion=notion, style_blend=(0.7, 0.3)
    )
    two, two_alone = _pair(random_model, cat, [mosaic], style_notion=notion)
    for run in (one_alone, two_alone):
        run.step(3)
    for _ in range(3):
        assert step_together([one, two]) == [None, None]
    for run, alone in ((one, one_alone), (two, two_alone)):
        diff = (run.result_tensor() - alone.result_tensor()).abs().max()
        assert float(diff) < 1e-3 * float(alone.result_tensor().abs().max())
        assert torch.isfinite(run.result_tensor()).all()


def test_a_sweeps_cells_computed_together_equal_them_computed_one_by_one(random_model):
    """Cells of two sizes, three at a time: the same files' scores as one after another."""
    sweep = Sweep(
        read_inputs("cat"),
        read_inputs("swirls"),
        Config(size=40, steps=4, scales=1, model="vgg19", weights="random"),
        [parse_vary("style_strength=2,4"), parse_vary("size=40,48")],
    )
    stop = threading.Event()
    alone = {o.index: o for o in LocalExecutor(random_model, slots=1).map(sweep.cells(), stop)}
    together = list(LocalExecutor(random_model, slots=3).map(sweep.cells(), stop))
    assert sorted(o.index for o in together) == sorted(alone) and len(alone) == 4
    for o in together:
        assert o.status == "done" and o.evals == 4
        for name, value in o.scores.items():
            assert _close(value, alone[o.index].scores[name], 1e-4), name


def test_a_capture_that_fails_falls_back_to_eager_and_says_so_once(random_model, cat, swirls):
    """Capture is for CUDA; here it is tried on the CPU, where `make_graphed_callables` fails:
    the evaluation is the eager one, the run says why once, and capture stays off."""
    from nst.engine.capture import Captures

    eager = Run(random_model, cat, [swirls], Config(**SMALL))
    eager.step(2)
    saved = random_model.captured
    random_model.captured = Captures(kinds=("cpu",))
    try:
        run = Run(random_model, cat, [swirls], Config(**SMALL))
        run.step(2)
        assert not random_model.captured.enabled
        notices = [e.text for e in run.events if "captured evaluation is off" in e.text]
        assert len(notices) == 1
        assert [r.total for r in run.history] == [r.total for r in eager.history]
    finally:
        random_model.captured = saved


def test_nothing_is_captured_on_a_cpu(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], Config(**SMALL))
    run.step(1)
    x = run.x.detach().clone().requires_grad_(True)
    assert random_model.captured.features(random_model, x, ["conv1_1"], "max", None) is None
    assert random_model.captured.enabled and not random_model.captured.notice
