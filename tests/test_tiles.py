"""Prints tile by tile: the tiled objective is the whole image's, so a tiled run is the untiled
one in bounded memory (nst.engine.tiles)."""

import pytest
import torch

from nst.engine.config import NOTION_NAMES, Config
from nst.engine.image import preprocess, resize_to
from nst.engine.objective import Objective
from nst.engine.run import Run
from nst.engine.tiles import HALO, TiledObjective, tiles

CFG = Config(size=200, steps=4, model="vgg19", weights="random", precision="fp32")
CROP = (64 + 2 * HALO) ** 2  # crops of this many pixels: tiles of 64 px


def test_tiles_cover_the_image_once_and_keep_the_networks_strides():
    boxes = tiles(150, 200, 64)
    covered = torch.zeros(150, 200, dtype=torch.int32)
    for t in boxes:
        covered[t.top : t.bottom, t.left : t.right] += 1
        assert t.top % 16 == t.left % 16 == t.crop_top % 16 == t.crop_left % 16 == 0
        assert t.crop_top == max(0, t.top - HALO) and t.crop_bottom == min(150, t.bottom + HALO)
    assert len(boxes) == 3 * 4 and bool((covered == 1).all())


def _both(model, photo, paintings, cfg):
    content = resize_to(photo, (200, 150))
    plain = Objective(model, cfg, content, paintings, False)
    tiled = TiledObjective(model, cfg, content, paintings, False, tile_pixels=CROP)
    return content, plain, tiled


def _same_target(a, b) -> None:
    if isinstance(a, torch.Tensor):  # the Gram matrix
        assert torch.allclose(b, a, rtol=1e-4, atol=1e-3 * float(a.abs().max()))
    elif hasattr(a, "cov"):
        assert torch.allclose(b.mean, a.mean, rtol=1e-4, atol=1e-5)
        assert torch.allclose(b.cov, a.cov, rtol=1e-4, atol=1e-4 * float(a.cov.abs().max()))
    else:  # the same patches, from the same places
        assert torch.equal(b.where, a.where)
        assert torch.allclose(b.bank, a.bank, rtol=1e-4, atol=1e-4 * float(a.bank.abs().max()))


@pytest.mark.parametrize("notion", NOTION_NAMES)
def test_the_tiled_objective_is_the_whole_images_loss_and_gradient(random_model, cat, swirls, notion):
    cfg = CFG.replace(style_notion=notion)
    content, plain, tiled = _both(random_model, cat, [swirls], cfg)
    assert tiled.side == 64
    # the targets: the photo's content activations and the painting's statistics, put together
    assert torch.allclose(tiled.content_target, plain.content_target, rtol=1e-4, atol=1e-5)
    for name, target in plain.targets.items():
        _same_target(target, tiled.targets[name])
    torch.manual_seed(0)
    x0 = preprocess(content, "cpu") + 0.3 * torch.randn(1, 3, 150, 200)
    grads, numbers = [], []
    for obj in (plain, tiled):
        x = x0.clone().requires_grad_(True)
        loss, parts = obj.evaluate(x)
        grads.append(x.grad.clone())
        numbers.append((float(loss), float(parts.content), float(parts.style)))
    (l1, c1, s1), (l2, c2, s2) = numbers
    assert abs(l2 - l1) / l1 < 1e-4 and abs(c2 - c1) / c1 < 1e-4 and abs(s2 - s1) / s1 < 1e-4
    g1, g2 = grads
    assert float((g2 - g1).norm() / g1.norm()) < 1e-3


def test_a_tiled_run_makes_the_untiled_runs_image(random_model, cat, swirls):
    plain = Run(random_model, cat, [swirls], CFG)
    tiled = Run(random_model, cat, [swirls], CFG, tile_pixels=20_000)  # 200x133 > 20000: tiled
    assert isinstance(tiled.objective_now, TiledObjective)
    assert not isinstance(plain.objective_now, TiledObjective)
    plain.step(4)
    tiled.step(4)
    a, b = plain.history[-1], tiled.history[-1]
    assert abs(a.total - b.total) / a.total < 0.01  # the same objective, the same few steps
    diff = (plain.result_tensor() - tiled.result_tensor()).abs().mean()
    assert float(diff) < 1e-3
