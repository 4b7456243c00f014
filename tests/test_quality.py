"""Real features: need the pretrained VGG-16 and the photos in ../shared (skipped if absent)."""

import io

import pytest
from PIL import Image

from nst.engine.config import Config
from nst.engine.image import load_image
from nst.engine.run import Run
from nst.lab.score import SeedScore
from nst.record import trace
from nst.record.export import png_bytes
from tests.conftest import SHARED_IMAGES


@pytest.fixture(scope="module")
def tubingen_starry():
    c, s = SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg"
    if not (c.is_file() and s.is_file()):
        pytest.skip(f"test photos not found in {SHARED_IMAGES}")
    return load_image(c), load_image(s)


def test_real_run_lowers_the_seed_loss_tenfold_in_30_evaluations(real_model, tubingen_starry):
    content, style = tubingen_starry
    run = Run(real_model, content, [style], Config(size=128, steps=30, model="vgg16"))
    run.step(30)
    assert run.evals == 30
    assert run.history[-1].total * 10 <= run.history[0].total


def test_real_features_style_the_samples(real_model, cat, swirls):
    run = Run(real_model, cat, [swirls], Config(size=96, steps=20, model="vgg16"))
    run.step(20)
    first, last = run.history[0], run.history[-1]
    assert last.style < first.style / 10  # the painting's statistics were taken on
    assert last.content < 1e3  # while the photo's layout stayed


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the default: L-BFGS from the photo
        {"optimizer": "adam", "lr": 0.05},
        {"init": "noise", "precision": "fp32"},
        {"time_budget": 4.0, "steps": 10_000},  # coarse to fine: 64, 128 px
    ],
    ids=["default", "adam", "noise-fp32", "scales"],
)
def test_the_last_recorded_loss_is_the_loss_of_the_written_png(real_model, tubingen_starry, settings):
    content, style = tubingen_starry
    # the seed's objective, as the yardstick scores it (β = 1e5, not the strength's)
    cfg = Config(size=128, steps=25, model="vgg16", beta=1e5).replace(**settings)
    run = Run(real_model, content, [style], cfg)
    while not run.finished:
        run.step(5)
    written = Image.open(io.BytesIO(png_bytes(run.image(), run.config, {}))).convert("RGB")
    score = SeedScore(real_model, content, style, 128)
    assert written.size == score.size
    assert score.image(written) == pytest.approx(run.history[-1].total, rel=0.02)
    assert trace.metrics(run)["final_loss"] == run.history[-1].total
