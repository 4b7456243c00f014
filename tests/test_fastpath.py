"""Every fast path gives the plain path's result: exactly where the math is the same, within
bf16's tolerance where the precision differs."""

import pytest
import torch
import torch.nn.functional as F

from nst.engine.config import Config
from nst.engine.image import preprocess, resize_to, upsample_with_detail
from nst.engine.losses import gram_matrix
from nst.engine.model import VGGFeatures
from nst.engine.optim import project
from nst.engine.run import Run

SMALL = Config(size=64, steps=8, weights="random")


def sequential_features(model: VGGFeatures, x: torch.Tensor, layers: list[str]) -> dict:
    """The textbook forward: every layer in order, ReLU then pooling, nothing in place."""
    out, h = {}, model.normalize(x)
    for info, module in zip(model.table, model.features, strict=True):
        if info.kind == "conv":
            h = module(h)
        elif info.kind == "relu":
            h = torch.relu(h)
        else:
            h = F.max_pool2d(h, 2, 2)
        if info.name in layers:
            out[info.name] = h
    return out


@pytest.mark.parametrize(
    "layers", [["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"], ["pool2"]]
)
def test_pooling_before_relu_gives_the_same_values_and_gradients(random_model, layers):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 48, 40, requires_grad=True)
    ref = sequential_features(random_model, x, layers)
    weights = {k: torch.randn_like(v) for k, v in ref.items()}
    (g_ref,) = torch.autograd.grad(sum((ref[k] * w).sum() for k, w in weights.items()), x)
    fast = random_model(x, layers)
    (g_fast,) = torch.autograd.grad(sum((fast[k] * w).sum() for k, w in weights.items()), x)
    for k in layers:
        torch.testing.assert_close(fast[k], ref[k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-5, atol=1e-6)


def test_a_requested_relu_before_a_pool_is_still_returned(random_model):
    x = torch.rand(1, 3, 32, 32)
    out = random_model(x, ["relu1_2", "pool1"])
    ref = sequential_features(random_model, x, ["relu1_2", "pool1"])
    torch.testing.assert_close(out["relu1_2"], ref["relu1_2"])
    torch.testing.assert_close(out["pool1"], ref["pool1"])


def test_bf16_features_match_fp32_call_after_call(random_model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 48)
    layers = ["conv1_1", "conv3_1", "conv4_2"]
    fp32 = random_model(x, layers)
    bf16 = random_model(x, layers, dtype=torch.bfloat16)
    for k in layers:
        assert bf16[k].dtype == torch.bfloat16
        assert bf16[k].is_contiguous(memory_format=torch.channels_last)
        err = (bf16[k].float() - fp32[k]).norm() / fp32[k].norm()
        assert err < 0.03, (k, float(err))
    again = random_model(x, layers, dtype=torch.bfloat16)
    for k in layers:  # the same weights give the same numbers, call after call
        assert torch.equal(again[k], bf16[k])


def test_weight_casts_follow_new_weights():
    m = VGGFeatures("vgg16", last_layer="conv1_1")
    x = torch.rand(1, 3, 16, 16)
    before = m(x, ["conv1_1"], dtype=torch.bfloat16)["conv1_1"]
    m.load_state_dict({k: v * 2 for k, v in m.state_dict().items()})
    after = m(x, ["conv1_1"], dtype=torch.bfloat16)["conv1_1"]
    ref = m(x, ["conv1_1"])["conv1_1"]
    assert not torch.allclose(before.float(), after.float())
    assert (after.float() - ref).norm() / ref.norm() < 0.02


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_backward_is_the_autograd_one(channels_last):
    torch.manual_seed(2)
    x = torch.randn(1, 5, 4, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (x,))
    w = torch.randn(5, 5, dtype=torch.float64)  # not symmetric: both halves of dG count
    (g_fast,) = torch.autograd.grad((gram_matrix(x) * w).sum(), x)
    f = x.reshape(5, -1)
    (g_ref,) = torch.autograd.grad(((f @ f.t()) * w).sum(), x)
    torch.testing.assert_close(g_fast, g_ref)
    assert g_fast.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("which", ["random_model", "real_model"])
def test_bf16_objective_and_gradient_match_fp32(request, which, cat, swirls):
    model = request.getfixturevalue(which)
    cfg = SMALL.replace(model=model.arch)
    fp32 = Run(model, cat, [swirls], cfg.replace(precision="fp32"))
    bf16 = Run(model, cat, [swirls], cfg.replace(precision="bf16"))
    assert bf16.details()["precision"] == "bf16" and fp32.details()["precision"] == "fp32"
    torch.manual_seed(3)
    start = fp32.result_tensor()
    x = (start + 0.3 * torch.randn_like(start)).requires_grad_(True)
    grads, totals = [], []
    for run in (fp32, bf16):
        total, parts = run.objective_now(x)
        (g,) = torch.autograd.grad(total, x)
        grads.append(g.flatten())
        totals.append(float(total.detach()))
    assert abs(totals[1] / totals[0] - 1) < 0.02
    assert F.cosine_similarity(grads[0], grads[1], dim=0) > 0.99
    bf16.step(8)  # and it optimizes
    assert bf16.history[-1].total < 0.5 * bf16.history[0].total


def test_the_fine_scale_starts_from_the_coarse_result_with_the_photos_detail(cat):
    full = preprocess(resize_to(cat, (128, 85)), torch.device("cpu"))  # the fine scale's photo
    # A coarse result equal to the area-downsampled photo comes back as the photo itself ...
    coarse = F.interpolate(full, size=(43, 64), mode="area")
    torch.testing.assert_close(upsample_with_detail(coarse, (128, 85), full), full, rtol=0, atol=1e-5)
    # ... and what the coarse scale changed arrives upsampled on top of it, inside the box.
    delta = torch.zeros_like(coarse)
    delta[..., 10:20, 10:20] = 0.5
    up = F.interpolate(delta, size=full.shape[-2:], mode="bicubic", align_corners=False)
    expected = project(full + up)
    got = upsample_with_detail(coarse + delta, (128, 85), full)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # Without the photo (a run from noise) it is the plain upsampling, kept in range.
    plain = project(F.interpolate(coarse + delta, size=(85, 128), mode="bicubic", align_corners=False))
    torch.testing.assert_close(upsample_with_detail(coarse + delta, (128, 85)), plain)


def test_automatic_scales_for_a_time_budget_halve_down_to_256_px(random_model, cat, swirls):
    timed = SMALL.replace(size=1024, time_budget=5.0)
    scales = Run(random_model, cat, [swirls], timed).details()["scales"]
    assert scales == ["256x170", "512x340", "1024x681"]
    assert Run(random_model, cat, [swirls], SMALL.replace(size=384)).details()["scales"] == ["384x255"]
    assert Run(random_model, cat, [swirls], SMALL).details()["scales"] == ["64x43"]
    # Smaller scales copy the painting's layout (see COARSEST)
    assert Config(size=256, time_budget=20.0).scale_count == 1
    assert Config(size=512, time_budget=20.0).scale_count == 2
    assert Config(size=2048, time_budget=20.0).scale_count == 4  # 256 ... 2048
    assert Config(size=1024).scale_count == 1  # a step count: every step at full size
    assert Config(size=512, time_budget=30.0, scales=1).scale_count == 1
    assert Config(size=256, scales=3).scale_count == 3


def _wide_model() -> VGGFeatures:
    torch.manual_seed(4)
    m = VGGFeatures("vgg16", last_layer="conv5_1")
    m.check_fast_path(force=True)
    if not m.packed.enabled:
        pytest.skip("this CPU or torch has no working oneDNN bf16 convolution to prepack for")
    return m


def test_prepacked_convolutions_give_the_plain_convolutions_result():
    m = _wide_model()
    x = torch.rand(1, 3, 64, 48, requires_grad=True)
    layers = ["conv4_2", "conv5_1"]

    def run():
        out = m(x, layers, dtype=torch.bfloat16)
        (g,) = torch.autograd.grad(sum(v.float().square().sum() for v in out.values()), x)
        return out, g

    packed_out, packed_g = run()
    m.packed.enabled = False
    plain_out, plain_g = run()
    for k in layers:
        torch.testing.assert_close(packed_out[k].float(), plain_out[k].float(), rtol=0.02, atol=0.02)
    assert F.cosine_similarity(packed_g.flatten(), plain_g.flatten(), dim=0) > 0.999


def test_a_failing_private_operator_falls_back_with_one_notice(monkeypatch, cat, swirls):
    m = _wide_model()
    cfg = SMALL.replace(model="vgg16", steps=6, precision="bf16", style_weights=(("conv5_1", 1.0),))
    reference = Run(m, cat, [swirls], cfg)
    reference.step(6)

    def broken(*args, **kwargs):
        raise RuntimeError("oneDNN says no")

    monkeypatch.setattr(torch.ops.mkldnn, "_convolution_pointwise", broken)
    m.forget_casts()
    run = Run(m, cat, [swirls], cfg)
    run.step(6)
    assert run.status == "done" and run.evals == 6
    notes = [e.text for e in run.events if "prepacked" in e.text]
    assert len(notes) == 1 and "oneDNN says no" in notes[0]
    assert run.history[-1].total == pytest.approx(reference.history[-1].total, rel=0.05)
