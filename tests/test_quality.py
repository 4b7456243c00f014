"""Real features: need the pretrained VGG-16 and the photos in ../shared (skipped if absent)."""

import pytest

from nst.config import Config
from nst.image import load_image
from nst.run import Run
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
