import json
import math

import numpy as np
import pytest
import torch

from nst.engine.config import NOTION_NAMES, Config
from nst.engine.run import Run
from nst.record import trace

SMALL = Config(size=64, steps=8, weights="random")


def test_a_run_with_random_weights_lowers_the_loss(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(steps=15))
    run.step(15)
    assert run.status == "done" and run.evals == 15
    assert run.history[-1].total < 0.5 * run.history[0].total
    assert run.image().size == (64, 43)


@pytest.mark.parametrize("optimizer,lr,init", [("lbfgs", 1.0, "noise"), ("adam", 0.05, "content")])
def test_a_seed_repeats_a_run_exactly(random_model, cat, swirls, optimizer, lr, init):
    cfg = SMALL.replace(optimizer=optimizer, lr=lr, init=init, random_seed=7)
    a, b = Run(random_model, cat, [swirls], cfg), Run(random_model, cat, [swirls], cfg)
    a.step(5)
    b.step(2)
    b.step(3)  # ticks of any size give the same run
    assert np.array_equal(np.asarray(a.image()), np.asarray(b.image()))
    assert [r.total for r in a.history] == [r.total for r in b.history]


def test_different_seeds_differ_from_noise(random_model, cat, swirls):
    imgs = []
    for seed in (1, 2):
        run = Run(random_model, cat, [swirls], SMALL.replace(init="noise", random_seed=seed))
        run.step(2)
        imgs.append(np.asarray(run.image()))
    assert not np.array_equal(*imgs)


def test_history_records_every_term_per_evaluation(random_model, cat, swirls):
    cfg = SMALL.replace(tv_weight=0.5, alpha=2.0, beta=3.0)
    run = Run(random_model, cat, [swirls], cfg)
    run.step(3)
    r = run.history[-1]
    assert set(r.style_layers) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
    assert r.style == pytest.approx(sum(r.style_layers.values()), rel=1e-5)
    assert r.total == pytest.approx(2.0 * r.content + 3.0 * r.style + 0.5 * r.tv, rel=1e-5)
    assert [h.step for h in run.history] == [1, 2, 3]
    assert r.seconds > 0 and r.tv > 0
    json.dumps(trace.metrics(run))


def test_pause_update_and_resume_keep_the_history(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(steps=10))
    run.step(3)
    run.pause()
    assert run.status == "paused"
    changes = run.update(run.config.replace(beta=1e6, steps=12))
    assert any("beta" in c for c in changes)
    assert run.events[-1].step == 3 and "beta" in run.events[-1].text
    run.step(100)
    assert run.evals == 12 and len(run.history) == 12 and run.status == "done"
    with pytest.raises(ValueError, match="size"):
        run.update(run.config.replace(size=128))


def test_a_huge_learning_rate_still_gives_a_valid_picture(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(optimizer="adam", lr=1e25, steps=5))
    run.step(5)
    assert run.status == "done" and all(math.isfinite(r.total) for r in run.history)


def test_a_diverging_run_keeps_the_last_finite_image(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(steps=20))
    run.step(3)
    run.pause()
    run.update(run.config.replace(beta=3e38))  # style ~3 times this overflows float32
    run.step(5)
    assert run.status == "failed" and "diverged" in run.message
    assert "learning rate" in run.message and run.evals >= 3
    img = np.asarray(run.image())
    assert img.std() > 0  # a real picture, not a blank
    assert all(math.isfinite(r.total) for r in run.history)
    assert torch.isfinite(run.result_tensor()).all()


def test_time_budget_ends_the_run(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(steps=10_000, time_budget=0.3))
    while not run.finished:
        run.step(1)
    assert run.status == "done" and run.evals < 10_000
    per_eval = run.seconds / run.evals
    assert 0.3 - per_eval <= run.seconds < 3  # it ends within half an evaluation of the budget


def test_coarse_to_fine_ends_at_full_size(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(size=128, scales=2, steps=6))
    run.step(6)
    sizes = [(r.width, r.height) for r in run.history]
    assert sizes[0][0] == 64 and sizes[-1] == (128, 85)
    assert any("scale 2/2" in e.text for e in run.events)
    assert run.image().size == (128, 85)


def test_blend_weights_mix_the_style_grams(random_model, cat, swirls, mosaic):
    only_swirls = Run(random_model, cat, [swirls], SMALL)
    blend = Run(random_model, cat, [swirls, mosaic], SMALL.replace(style_blend=(1.0, 0.0)))
    half = Run(random_model, cat, [swirls, mosaic], SMALL.replace(style_blend=(1.0, 1.0)))
    only_mosaic = Run(random_model, cat, [mosaic], SMALL)
    for name in ("conv1_1", "conv3_1"):
        a = only_swirls.objective_now.targets[name]
        assert torch.allclose(blend.objective_now.targets[name], a)
        mix = (a + only_mosaic.objective_now.targets[name]) / 2
        assert torch.allclose(half.objective_now.targets[name], mix, rtol=1e-4)
    with pytest.raises(ValueError, match="blend"):
        Run(random_model, cat, [swirls, mosaic], SMALL.replace(style_blend=(1.0,)))


def test_style_scale_keeps_the_gram_magnitude(random_model, cat, swirls):
    a = Run(random_model, cat, [swirls], SMALL.replace(size=96))
    b = Run(random_model, cat, [swirls], SMALL.replace(size=96, style_scale=2.0))
    ga, gb = a.objective_now.targets["conv1_1"], b.objective_now.targets["conv1_1"]
    assert 0.5 < gb.trace().item() / ga.trace().item() < 2.0


def test_stop_keeps_image_and_history(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL)
    run.step(2)
    run.stop()
    assert run.status == "stopped" and run.step(5) == 0
    assert len(run.history) == 2 and run.frames[-1][0] == 2


def test_callback_receives_each_iterate(random_model, cat, swirls):
    seen = []
    run = Run(random_model, cat, [swirls], SMALL.replace(steps=3), callback=seen.append)
    run.step(5)
    assert [it.step for it in seen] == [1, 2, 3] and seen[-1].steps == 3


def test_luminance_mode_keeps_the_content_hue(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], SMALL.replace(preserve_color="luminance", steps=3))
    run.step(3)
    out = np.asarray(run.image().convert("HSV"), float)[..., 0]
    ref = np.asarray(run.objective_now.content.convert("HSV"), float)[..., 0]
    assert np.median(np.abs(out - ref)) < 20


def test_unknown_layer_is_refused(random_model, cat, swirls):
    with pytest.raises(ValueError, match="conv9_9"):
        Run(random_model, cat, [swirls], SMALL.replace(content_layer="conv9_9"))


def test_every_image_of_a_run_is_a_valid_picture(random_model, cat, swirls):
    from nst.engine.optim import pixel_bounds

    lo, hi = pixel_bounds("cpu")
    for cfg in (
        SMALL.replace(init="noise", steps=12),
        SMALL.replace(optimizer="adam", lr=0.5, steps=12),
        SMALL.replace(size=128, scales=2, steps=12),
    ):
        run = Run(random_model, cat, [swirls], cfg)
        while not run.finished:
            run.step(1)
            x = run.result_tensor()
            assert (x >= lo).all() and (x <= hi).all()


def test_a_time_budget_alone_spends_the_time(random_model, cat, swirls):
    from nst.engine.config import MAX_STEPS

    run = Run(random_model, cat, [swirls], SMALL.replace(steps=MAX_STEPS, time_budget=1.5))
    while not run.finished:
        run.step(5)
    per_eval = run.seconds / run.evals
    assert run.status == "done" and run.seconds >= 1.5 - per_eval and run.evals > SMALL.steps


@pytest.mark.parametrize("field", ["alpha", "beta", "lr", "tv_weight", "time_budget"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_settings_are_bad_input(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        Config().replace(**{field: value}).validated()


@pytest.mark.parametrize("notion", NOTION_NAMES)
@pytest.mark.parametrize("tiled", [False, True], ids=["whole", "tiled"])
def test_the_runs_loss_is_the_seeds_style_loss(random_model, cat, swirls, monkeypatch, tiled, notion):
    """Edit `style_loss` and every run changes with it: a print's tiles too, under every notion."""
    import nst.engine.losses
    from nst.engine.tiles import TiledObjective

    cfg = SMALL.replace(size=160, style_notion=notion)
    exact = cfg.replace(beta=1e5)  # the seed's objective
    tiles = {"tile_pixels": 10_000} if tiled else {}  # 160x106 > 10000 px: six tiles of 64 px
    plain = Run(random_model, cat, [swirls], exact, **tiles)
    calibrated = Run(random_model, cat, [swirls], cfg, **tiles)
    assert isinstance(plain.objective_now, TiledObjective) == tiled
    plain.step(1)
    original = nst.engine.losses.style_loss
    monkeypatch.setattr(nst.engine.losses, "style_loss", lambda *a, **k: 2 * original(*a, **k))
    doubled = Run(random_model, cat, [swirls], exact, **tiles)
    doubled.step(1)
    a, b = plain.history[0], doubled.history[0]
    assert b.style == pytest.approx(2 * a.style, rel=1e-5)
    assert b.total == pytest.approx(a.content + 2 * 1e5 * a.style, rel=1e-5)
    # the style strength's calibration measures with style_loss too: it sees the edit
    recalibrated = Run(random_model, cat, [swirls], cfg, **tiles)
    assert recalibrated.beta == pytest.approx(calibrated.beta / 2, rel=1e-5)


def test_clearing_the_budget_in_the_coarse_stage_keeps_sizes_true(random_model, cat, swirls):
    from nst.engine.config import MAX_STEPS

    timed = SMALL.replace(size=512, steps=MAX_STEPS, time_budget=60.0)  # automatic: 2 scales
    run = Run(random_model, cat, [swirls], timed)
    run.step(2)
    assert run.size == (256, 170)  # the coarse stage
    run.pause()
    run.update(run.config.replace(time_budget=None, steps=6))  # automatic would now be 1 scale
    while not run.finished:
        run.step(1)
    sizes = [(r.width, r.height) for r in run.history]
    assert sizes == [(256, 170)] * 3 + [(512, 341)] * 3  # each record names its true size
    assert run.image().size == (512, 341) and run.status == "done"


def test_runs_have_ids_never_reused(random_model, cat, swirls):
    ids = {Run(random_model, cat, [swirls], SMALL).id for _ in range(3)}
    assert len(ids) == 3
