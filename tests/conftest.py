"""Shared fixtures. Real-feature tests use the ImageNet VGG-16 in ../shared/weights (or
NST_TEST_WEIGHTS) and skip with the reason when it is absent, as on a user's machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from nst.engine.model import load_model
from nst.samples import PHOTOS, STYLES

ROOT = Path(__file__).resolve().parent.parent
REAL_WEIGHTS = Path(
    os.environ.get(
        "NST_TEST_WEIGHTS", ROOT.parent / "shared" / "weights" / "vgg16_features_imagenet.pth"
    )
)
SHARED_IMAGES = ROOT.parent / "shared" / "images"
NO_WEIGHTS = f"pretrained VGG-16 weights not found at {REAL_WEIGHTS} (set NST_TEST_WEIGHTS)"


@pytest.fixture(scope="session", autouse=True)
def _own_store(tmp_path_factory):
    """Runs made by tests (and the CLI they start) go to a store of the test session's own,
    never the user's; a test that needs a store of its own sets NST_HOME itself."""
    before = os.environ.get("NST_HOME")
    os.environ["NST_HOME"] = str(tmp_path_factory.mktemp("nst-home"))
    yield
    if before is None:
        os.environ.pop("NST_HOME", None)
    else:
        os.environ["NST_HOME"] = before


@pytest.fixture(scope="session")
def random_model():
    return load_model("vgg19", "random")


@pytest.fixture(scope="session")
def real_model():
    if not REAL_WEIGHTS.is_file():
        pytest.skip(NO_WEIGHTS)
    return load_model("vgg16", str(REAL_WEIGHTS))


@pytest.fixture(scope="session")
def cat() -> Image.Image:
    return Image.open(PHOTOS["cat"]).convert("RGB")


@pytest.fixture(scope="session")
def swirls() -> Image.Image:
    return Image.open(STYLES["swirls"]).convert("RGB")


@pytest.fixture(scope="session")
def mosaic() -> Image.Image:
    return Image.open(STYLES["mosaic"]).convert("RGB")
