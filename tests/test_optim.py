"""The bounded optimizers: the image stays a valid picture, and the bounds cost no convergence."""

import pytest
import torch

from nst.engine.optim import BoxAdam, BoxLBFGS, make_optimizer, pixel_bounds, project


def _quadratic(target: torch.Tensor, scale: float = 1.0):
    """A loss whose unconstrained minimum (`target`) lies partly outside the box."""

    def loss(x: torch.Tensor) -> torch.Tensor:
        return scale * ((x - target) ** 2 * torch.linspace(1, 30, x.numel()).view_as(x)).sum()

    return loss


def _minimize(opt, x, loss, steps):
    for _ in range(steps):

        def closure():
            opt.zero_grad()
            value = loss(x)
            value.backward()
            return value

        opt.step(closure)


def test_the_box_is_zero_to_one_in_the_normalized_space():
    lo, hi = pixel_bounds("cpu")
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    torch.testing.assert_close(lo * std + mean, torch.zeros(1, 3, 1, 1), atol=1e-6, rtol=0)
    torch.testing.assert_close(hi * std + mean, torch.ones(1, 3, 1, 1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e9])
def test_lbfgs_reaches_the_constrained_minimum_whatever_the_loss_scale(scale):
    torch.manual_seed(0)
    target = torch.randn(1, 3, 6, 6) * 4  # much of it beyond the box
    lo, hi = pixel_bounds("cpu")
    x = torch.zeros(1, 3, 6, 6, requires_grad=True)
    opt = BoxLBFGS(x, history=10)
    _minimize(opt, x, _quadratic(target, scale), 60)
    # For a separable quadratic the constrained minimum is the target clamped into the box.
    expected = torch.maximum(torch.minimum(target, hi), lo)
    torch.testing.assert_close(x.detach(), expected, atol=1e-4, rtol=0)


def test_every_iterate_stays_in_the_box():
    torch.manual_seed(1)
    target = torch.randn(1, 3, 8, 8) * 5
    lo, hi = pixel_bounds("cpu")
    x = torch.zeros(1, 3, 8, 8, requires_grad=True)
    for opt in (BoxLBFGS(x), BoxAdam(x, lr=0.5)):
        for _ in range(15):
            _minimize(opt, x, _quadratic(target), 1)
            assert (x >= lo).all() and (x <= hi).all()


def test_a_start_outside_the_box_is_projected_first():
    x = torch.full((1, 3, 2, 2), 50.0, requires_grad=True)
    BoxLBFGS(x)
    _, hi = pixel_bounds("cpu")
    assert torch.equal(x.detach(), hi.expand_as(x))
    y = torch.full((1, 3, 2, 2), -50.0)
    lo, _ = pixel_bounds("cpu")
    assert torch.equal(project(y), lo.expand_as(y))


def test_an_overshooting_step_is_taken_back_half_way():
    x = torch.zeros(1, 3, 1, 1, requires_grad=True)
    opt = BoxLBFGS(x, first_step=0.2)
    losses = iter([1.0, 5.0])  # the second evaluation is worse: back to the middle

    def closure():
        opt.zero_grad()
        x.grad = torch.ones_like(x)
        return torch.tensor(next(losses))

    opt.step(closure)
    after_first = x.detach().clone()
    assert torch.allclose(after_first, torch.full_like(x, -0.2))
    opt.step(closure)
    assert torch.allclose(x.detach(), torch.full_like(x, -0.1))


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("sgd", torch.zeros(1, 3, 1, 1, requires_grad=True), 1.0, 5)


def test_the_pyramids_metric_is_symmetric_positive_and_weighs_every_octave():
    import torch

    from nst.engine.optim import BoxLBFGS

    torch.manual_seed(0)
    x = torch.zeros(1, 3, 37, 50, requires_grad=True)
    opt = BoxLBFGS(x, levels=4)
    u, v = torch.randn(1, 3, 37, 50), torch.randn(1, 3, 37, 50)
    mu, mv = opt.precondition(u), opt.precondition(v)
    assert abs(float((u * mv).sum()) - float((mu * v).sum())) < 1e-3 * float(u.norm() * v.norm())
    assert float((u * mu).sum()) > float((u * u).sum())  # I plus positive semidefinite terms
    even = BoxLBFGS(torch.zeros(1, 3, 64, 96, requires_grad=True), levels=4)
    flat = torch.ones(1, 3, 64, 96)  # a constant is the coarsest octave: boosted by every level
    inner = even.precondition(flat)[..., 16:-16, 16:-16]
    assert torch.allclose(inner, torch.full_like(inner, 1 + 1 + 1 + 1), atol=0.05)
    assert torch.equal(BoxLBFGS(x, levels=1).precondition(u), u)  # one level: plain L-BFGS


def test_a_config_written_before_the_pyramid_reads_as_pixels_only():
    from nst.engine.config import Config

    old = Config().to_dict()
    del old["pyramid"]
    assert Config.from_dict(old).pyramid == 1 and Config().pyramid == 4


@pytest.mark.parametrize("levels", [1, 3])
def test_the_direction_on_a_gpu_is_the_one_on_a_cpu(levels):
    """On CUDA the two-loop recursion keeps its dot products on the card; it is the same
    direction (run here on the CPU through the same code)."""
    torch.manual_seed(0)
    target = torch.randn(1, 3, 16, 12) * 4
    x = torch.zeros(1, 3, 16, 12, requires_grad=True)
    opt = BoxLBFGS(x, history=5, levels=levels)
    _minimize(opt, x, _quadratic(target), 12)  # the history is full
    g = torch.randn(1, 3, 16, 12)
    host, device = opt.direction(g, on_device=False), opt.direction(g, on_device=True)
    torch.testing.assert_close(device, host, rtol=1e-5, atol=1e-6 * float(host.abs().max()))
