"""The style strength: its calibration by hand, what overrides it, how a run records it, and the
views of a run's own objective (nst.lab.view) against the run's records."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst.cli import build_parser, config_from_args, parse_change
from nst.engine import losses
from nst.engine.config import STRENGTH_DEFAULT, STRENGTH_RANGE, Config
from nst.engine.image import resize_long_side, resize_to, to_tensor
from nst.engine.objective import STRENGTH_ORIGIN, Objective, measure_reference
from nst.engine.presets import PRESETS
from nst.engine.run import Run
from nst.lab.view import View
from nst.record import trace

SMALL = Config(size=64, steps=6, model="vgg19", weights="random", precision="fp32")


def test_the_default_strength_lies_inside_its_range():
    lo, hi = STRENGTH_RANGE
    assert lo < STRENGTH_DEFAULT < hi and Config().style_strength == STRENGTH_DEFAULT
    assert Config().beta is None  # the default's β comes from the strength


def test_the_reference_is_the_two_distances_of_the_seeds_functions(random_model, cat, swirls):
    photo = resize_long_side(cat, 64)
    ref = measure_reference(random_model, SMALL, photo, [swirls])
    # by hand: the painting in the photo's place, and the photo against the painting's Grams
    dev = random_model.mean.device
    layers = [n for n, _ in SMALL.style_weights]
    with torch.no_grad():
        photo_f = random_model(to_tensor(photo, dev), [*layers, "conv4_2"])
        paint = resize_to(swirls, photo.size)
        paint_f = random_model(to_tensor(paint, dev), ["conv4_2"])
        fitted = Objective(random_model, SMALL, photo, [swirls], False).targets
        content = float(losses.content_loss(paint_f["conv4_2"], photo_f["conv4_2"]))
        style = {n: float(losses.style_loss({n: 1.0}, photo_f, fitted)) for n in layers}
    assert ref.content == pytest.approx(content, rel=1e-4)
    assert ref.style == pytest.approx(style, rel=1e-4)
    s = sum(w * style[n] for n, w in SMALL.style_weights)
    beta = ref.beta(SMALL.replace(style_strength=3.0))
    assert beta == pytest.approx(10 ** (3.0 - STRENGTH_ORIGIN) * content / s, rel=1e-4)
    assert ref.beta(SMALL.replace(style_strength=4.0)) == pytest.approx(10 * beta)  # a unit: 10x
    assert ref.beta(SMALL.replace(alpha=7.0, style_strength=3.0)) == pytest.approx(7 * beta)


def test_an_exact_beta_is_used_as_given_and_the_seed_preset_is_the_seeds_objective(
    random_model, cat, swirls
):
    photo = resize_long_side(cat, 48)
    seed = PRESETS["seed"].replace(model="vgg19", weights="random", size=48)
    assert (seed.alpha, seed.beta) == (1.0, 1e5)
    obj = Objective(random_model, seed, photo, [swirls], bf16=False)
    assert obj.beta == 1e5
    x = torch.rand(1, 3, photo.height, photo.width)
    with torch.no_grad():
        total, parts = obj(x)
    assert float(total) == pytest.approx(float(losses.total_loss(parts.content, parts.style, 1, 1e5)))


def test_a_preview_and_its_print_get_the_same_strength_scale(random_model, cat, swirls):
    """The reference is measured at one size whatever the output's: the seed's style term grows
    with the pixel count, so β shrinks by it and the balance of the two terms is the same."""
    small = measure_reference(random_model, SMALL, resize_long_side(cat, 256), [swirls])
    big = measure_reference(random_model, SMALL, resize_long_side(cat, 1024), [swirls])
    pixels = resize_long_side(cat, 1024).size[0] * resize_long_side(cat, 1024).size[1]
    pixels /= resize_long_side(cat, 256).size[0] * resize_long_side(cat, 256).size[1]
    assert big.content == pytest.approx(small.content, rel=0.01)  # resampled once more
    assert big.beta(SMALL) == pytest.approx(small.beta(SMALL) / pixels, rel=0.02)


def test_a_run_records_its_beta_and_a_strength_change_moves_it_tenfold(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL)
    run.step(3)
    beta = run.beta
    assert all(r.beta == beta for r in run.history)
    run.pause()
    texts = run.update(run.config.replace(style_strength=SMALL.style_strength + 1))
    assert run.beta == pytest.approx(10 * beta)
    assert any("β" in t for t in texts) and run.changes[-1][1] == {"style_strength": 5.0}
    run.step(2)
    assert run.history[-1].beta == pytest.approx(10 * beta)
    m = trace.metrics(run)
    assert m["beta"] == pytest.approx(10 * beta) and m["config"]["style_strength"] == 5.0


def test_the_command_line_takes_a_strength_and_an_exact_beta_overrides_it():
    p = build_parser()
    cfg = config_from_args(p.parse_args(["a", "b", "-o", "x.png", "--style-strength", "2"]))
    assert cfg.style_strength == 2 and cfg.beta is None
    seed = ["a", "b", "-o", "x.png", "--preset", "seed"]
    assert config_from_args(p.parse_args(seed)).beta == 1e5
    # a strength asked for with the seed preset is used: the preset's exact β gives way
    assert config_from_args(p.parse_args([*seed, "--style-strength", "3"])).beta is None
    both = config_from_args(p.parse_args([*seed, "--style-strength", "3", "--beta", "50"]))
    assert both.beta == 50
    assert parse_change("5:style_strength=2.5") == (5, "style_strength", 2.5)
    assert parse_change("5:beta=") == (5, "beta", None)  # back to the strength


def _blended_run(model, cat, swirls):
    other = Image.new("RGB", (90, 200), (30, 90, 200))
    for y in range(0, 200, 20):  # stripes: another painting, of another shape
        other.paste((230, 200, 40), (0, y, 90, y + 8))
    cfg = SMALL.replace(steps=5, style_blend=(0.7, 0.3), style_fit="whole", style_scale=1.5)
    run = Run(model, cat, [swirls, other], cfg)
    run.step(5)
    return run


def test_a_runs_view_gives_the_runs_own_per_layer_numbers(random_model, cat, swirls):
    run = _blended_run(random_model, cat, swirls)
    view = View.of_run(run, random_model)
    rows = view.layer_shares()
    recorded = run.history[-1].style_layers
    assert [r.layer for r in rows] == list(recorded)
    for r in rows:
        assert r.term == pytest.approx(recorded[r.layer], rel=1e-2)
    total = sum(recorded.values())
    for r in rows:
        assert r.share == pytest.approx(recorded[r.layer] / total, rel=1e-2)
    images = view.images()
    assert list(images) == ["content", "style 1 (blend 0.7)", "style 2 (blend 0.3)", "output"]
    assert images["content"].size == run.size  # the photo at the run's scale
    target, now, m = view.grams("conv2_1")
    gram = run.objective_now.targets["conv2_1"].float()
    assert torch.allclose(torch.from_numpy(target).float(), gram)
    assert now.shape == target.shape and m == (run.size[0] // 2) * (run.size[1] // 2)  # after a pool


def test_a_view_of_the_sidebars_inputs_is_its_own_objective(random_model, cat, swirls):
    cfg = SMALL.replace(size=512)
    view = View.of_inputs(random_model, cfg, cat, [swirls])
    assert max(view.objective.content.size) == 256 and view.output is None
    assert view.target_name == "content" and "no run" in view.origin
    maps = view.gradient_maps(side=48)
    assert set(maps) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1", "content conv4_2"}
    assert all(m.shape[1] == 48 and np.isfinite(m).all() for m in maps.values())
    assert maps["conv1_1"].max() > 0 and maps["content conv4_2"].max() > 0


def test_a_run_satisfies_the_declared_contract(random_model, cat, swirls):
    from nst.engine.contract import FINAL, LiveRun, Status

    run = Run(random_model, cat, [swirls], SMALL)
    assert isinstance(run, LiveRun)  # the Ray-held run: tests/test_cluster.py
    assert run.status == Status.READY and {"done", "stopped", "failed"} == set(FINAL)
    run.step(SMALL.steps)
    assert run.finished and Status(run.status).final


def test_the_reproduce_command_carries_a_strength_change_and_a_cleared_beta():
    import shlex

    from nst.record.export import cli_command

    start = PRESETS["seed"]
    command = cli_command(
        start, "cat", ["swirls"], changes=[(3, {"beta": None, "style_strength": 5.0})]
    )
    argv = shlex.split(command)[3:]
    changes = [argv[i + 1] for i, a in enumerate(argv) if a == "--change"]
    assert [parse_change(c) for c in changes] == [(3, "beta", None), (3, "style_strength", 5.0)]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.beta == 1e5 and cfg.optimizer == "adam"  # the seed's start, its exact β
