"""The notions of style other than the seed's Gram matrix (nst.engine.style), by hand."""

import pytest
import torch

from nst.engine import losses
from nst.engine.style import MeanCov, Patches, Window, notion


def fmap(values, h: int, w: int) -> torch.Tensor:
    """(1, c, h, w) from channel-major values."""
    t = torch.tensor(values, dtype=torch.float32)
    return t.reshape(1, -1, h, w)


def target_of(kind, painting: torch.Tensor):
    part = kind.painting(painting, Window.whole(painting))
    return kind.target([(1.0, 1.0, part)])


def test_mean_and_covariance_is_the_w2_distance_of_two_gaussians():
    # one channel: the image's values 1, 3 (mean 2, sd 1); the painting's 0, 0, 4, 4 (mean 2,
    # sd 2): W2^2 = (2 - 2)^2 + (1 - 2)^2 = 1
    target = target_of(MeanCov(), fmap([0, 0, 4, 4], 2, 2))
    stat = losses.style_statistic(fmap([1, 3], 1, 2), target)
    assert float(target.distance(stat, "normalized")) == pytest.approx(1.0, rel=1e-5)
    # the seed's convention counts positions, as its Gram term does: 2 positions
    assert float(target.distance(stat, "seed")) == pytest.approx(2.0, rel=1e-5)
    # two independent channels: the means differ by 1 and 2, the sds equal -> (1 + 4) / 2
    target = target_of(MeanCov(), fmap([0, 2, 0, 2, 1, 1, 3, 3], 2, 2))
    stat = losses.style_statistic(fmap([1, 3, 1, 3, 3, 3, 5, 5], 2, 2), target)
    assert float(target.distance(stat, "normalized")) == pytest.approx(2.5, rel=1e-4)


def test_mean_and_covariance_of_the_painting_itself_is_zero_and_its_gradient_flows():
    torch.manual_seed(0)
    painting = torch.randn(1, 8, 6, 6)
    target = target_of(MeanCov(), painting)
    stat = losses.style_statistic(painting, target)
    assert abs(float(target.distance(stat, "normalized"))) < 1e-3
    x = torch.randn(1, 8, 6, 6, requires_grad=True)
    loss = losses.style_loss({"l": 1.0}, {"l": x}, {"l": target}, "normalized")
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_a_patch_is_pulled_to_the_painting_patch_most_like_it():
    # one position, one channel: the patch is its value at the centre, zero around (padding);
    # the painting's single patch has 5 there: (2 - 5)^2 over 9 entries
    target = target_of(Patches(), fmap([5.0], 1, 1))
    stat = losses.style_statistic(fmap([2.0], 1, 1), target)
    assert stat.positions == 1 and float(stat.values[0]) == pytest.approx(9.0)
    assert float(target.distance(stat, "normalized")) == pytest.approx(1.0)
    # of two painting patches, each position finds the one of its own direction: the painting's
    # two positions hold (1, 0) and (0, 3) over two channels, the image's (2, 0) and (0, 1)
    target = target_of(Patches(), fmap([1.0, 0.0, 0.0, 3.0], 1, 2))
    cols = torch.nn.functional.unfold(fmap([2.0, 0.0, 0.0, 1.0], 1, 2), 3, padding=1)[0]
    found = target.where[target.match(cols)][:, 2].tolist()  # the painting's column matched
    assert found == [0, 1]


def test_every_notion_is_named_and_an_unknown_one_is_refused():
    assert [notion(n).name for n in ("gram", "meancov", "patches")] == ["gram", "meancov", "patches"]
    with pytest.raises(ValueError, match="unknown notion of style"):
        notion("texture")


def test_a_config_stored_before_the_choice_reads_as_the_gram_with_its_random_seed():
    from nst.engine.config import Config

    old = {"size": 128, "seed": 3, "convention": "seed"}  # "seed": the random seed, then
    cfg = Config.from_dict(old)
    assert cfg.random_seed == 3 and cfg.style_notion == "gram" and cfg.convention == "seed"
