import math

import pytest
import torch

from nst.engine.losses import (
    content_factor,
    content_loss,
    gram_matrix,
    layer_style_losses,
    style_factor,
    style_loss,
    total_loss,
    tv_loss,
)


def feat(values, c, h, w):
    return torch.tensor(values, dtype=torch.float32).reshape(1, c, h, w)


def test_gram_matrix_is_unnormalized_f_ft():
    f = feat([1, 2, 3, 4, 0, 1, 0, 2], 2, 2, 2)  # rows (1,2,3,4) and (0,1,0,2)
    g = gram_matrix(f)
    assert g.tolist() == [[30.0, 10.0], [10.0, 5.0]]


def test_content_loss_is_mean_squared_difference():
    a = feat([1, 2, 3, 4], 1, 2, 2)
    b = feat([0, 2, 5, 4], 1, 2, 2)
    assert content_loss(a, b).item() == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert content_loss(a, b, "gatys2016").item() == pytest.approx(0.5 * 5)


def test_style_loss_matches_the_seed_formula_by_hand():
    target = {"conv1_1": feat([1, 2, 3, 4, 0, 1, 0, 2], 2, 2, 2)}  # gram [[30,10],[10,5]]
    style = {"conv1_1": torch.tensor([[28.0, 10.0], [12.0, 5.0]])}
    # diff [[2,0],[-2,0]] -> mean of squares 8/4 = 2, / (c*h*w = 8) = 0.25, weight 0.75
    assert style_loss({"conv1_1": 0.75}, target, style).item() == pytest.approx(0.75 * 0.25)
    # Gatys 2016: sum 8 / (4 N^2 M^2) = 8 / (4*4*16)
    assert style_loss({"conv1_1": 1.0}, target, style, "gatys2016").item() == pytest.approx(8 / 256)
    # normalized Gram (tutorial): grams / (N M = 8), mean of squared diff = (8/64)/4
    assert style_loss({"conv1_1": 1.0}, target, style, "normalized").item() == pytest.approx(8 / 64 / 4)


def test_style_loss_sums_layers_and_skips_zero_weights():
    torch.manual_seed(0)
    t = {"a": torch.randn(1, 3, 4, 4), "b": torch.randn(1, 5, 2, 2)}
    s = {"a": torch.randn(3, 3), "b": torch.randn(5, 5)}
    terms = layer_style_losses({"a": 1.0, "b": 0.0}, t, s)
    assert list(terms) == ["a"]
    both = style_loss({"a": 1.0, "b": 2.0}, t, s)
    expected = (
        torch.mean((gram_matrix(t["a"]) - s["a"]) ** 2) / 48
        + 2 * torch.mean((gram_matrix(t["b"]) - s["b"]) ** 2) / 20
    )
    assert both.item() == pytest.approx(expected.item(), rel=1e-6)


def test_total_loss_weighs_content_and_style():
    assert total_loss(torch.tensor(2.0), torch.tensor(3.0), 1, 1e5).item() == 300002.0
    assert total_loss(torch.tensor(2.0), torch.tensor(3.0), 0.5, 2).item() == 7.0


def test_tv_loss_by_hand():
    img = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).reshape(1, 1, 2, 2)
    # vertical diffs 2, 3 -> mean 6.5 ; horizontal 1, 2 -> mean 2.5
    assert tv_loss(img).item() == pytest.approx(9.0)


@pytest.mark.parametrize("conv", ["seed", "gatys2016", "normalized"])
def test_factors_agree_with_the_loss_functions(conv):
    torch.manual_seed(1)
    t = torch.randn(1, 4, 3, 5)
    g = torch.randn(4, 4)
    diff2 = ((gram_matrix(t) - g) ** 2).sum().item()
    got = style_loss({"x": 1.0}, {"x": t}, {"x": g}, conv).item()
    assert got == pytest.approx(diff2 * style_factor(conv, 4, 15), rel=1e-5)
    c = torch.randn(1, 4, 3, 5)
    d2 = ((t - c) ** 2).sum().item()
    assert content_loss(t, c, conv).item() == pytest.approx(d2 * content_factor(conv, 4, 15), rel=1e-5)


def test_unknown_convention_is_refused():
    with pytest.raises(ValueError):
        style_factor("nope", 1, 1)
    assert math.isclose(content_factor("gatys2016", 9, 9), 0.5)
