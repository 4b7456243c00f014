"""The CPU speed trick that rests on private PyTorch operators, in a corner of its own.

On a CPU, F.conv2d in bf16 reorders the weights into oneDNN's blocked layout on every call: on
VGG's 512-channel layers that is about a third of their time. `PackedConvs` keeps the weights of
those layers prepacked (for the forward convolution and for the input gradient, which is a
convolution with the weights transposed and flipped) through `torch.ops.mkldnn`, operators with
no stable signature. So:

  * the path is checked against F.conv2d (values and input gradient) once, when a model loads;
  * any exception then or later switches it off for that model for good, and F.conv2d serves;
    `notice` then says why, once, and a run copies it into its events;
  * its caches belong to one model and are guarded by a lock: the dashboard shares one model
    among sessions and threads.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

_ONES = [1, 1]  # padding, stride, dilation of every VGG convolution
_SIZES_KEPT = 4  # image sizes whose prepacked weights are kept (~34 MB each for VGG-16)


def _pointwise(x: torch.Tensor, packed: torch.Tensor, bias) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(
        x, packed, bias, _ONES, _ONES, _ONES, 1, "none", [], ""
    )


def _reorder(weight: torch.Tensor, input_shape: list[int]) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_convolution_weight(weight, _ONES, _ONES, _ONES, 1, input_shape)


class _PackedConv(torch.autograd.Function):
    """A 3x3 convolution on prepacked bf16 weights; its input gradient is the convolution of
    the output gradient with the transposed, flipped weights (also prepacked)."""

    @staticmethod
    def forward(ctx, x, bias, forward_w, backward_w):
        ctx.backward_w = backward_w
        return _pointwise(x.contiguous(memory_format=torch.channels_last), forward_w, bias)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous(memory_format=torch.channels_last)
        return _pointwise(grad, ctx.backward_w, None), None, None, None


class PackedConvs:
    """Prepacked bf16 weights of one model's wide convolutions, or nothing where they fail."""

    def __init__(self):
        self.available = torch.backends.mkldnn.is_available()  # this torch has oneDNN
        self.enabled = False  # until VGGFeatures.check_fast_path verifies it
        self.notice = ""  # why the path is off, once it is switched off after use began
        self._lock = threading.Lock()
        self._packs: dict[tuple, dict[int, tuple]] = {}  # image (h, w) -> {layer: packed pair}

    def applies(self, h: torch.Tensor, out_channels: int) -> bool:
        return (
            self.enabled
            and h.dtype == torch.bfloat16
            and h.device.type == "cpu"
            and out_channels >= 512
        )

    def conv(self, index: int, h, weight, bias, image_size: tuple) -> torch.Tensor | None:
        """The convolution through prepacked weights, or None when the path is off or fails
        (the caller then uses F.conv2d)."""
        try:
            packed = self._packed(index, weight, tuple(h.shape), image_size)
            return _PackedConv.apply(h, bias, *packed)
        except Exception as exc:  # noqa: BLE001 - private operators: any failure means fall back
            self.disable(f"prepacked convolutions failed ({type(exc).__name__}: {exc}); using F.conv2d")
            return None

    def forget(self) -> None:
        with self._lock:
            self._packs.clear()

    def disable(self, why: str) -> None:
        with self._lock:
            self.enabled = False
            self.notice = why[:300]
            self._packs.clear()

    def _packed(self, index: int, weight: torch.Tensor, shape: tuple, image_size: tuple):
        with self._lock:
            per_layer = self._packs.get(image_size)
            if per_layer is None:
                if len(self._packs) >= _SIZES_KEPT:  # forget the oldest image size
                    self._packs.pop(next(iter(self._packs)))
                per_layer = self._packs[image_size] = {}
            hit = per_layer.get(index)
            if hit is None:
                out_shape = [shape[0], weight.shape[0], *shape[2:]]
                flipped = (
                    weight.transpose(0, 1).flip(2, 3).contiguous(memory_format=torch.channels_last)
                )
                hit = per_layer[index] = (_reorder(weight, list(shape)), _reorder(flipped, out_shape))
            return hit

    def verify(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Check the path against F.conv2d on one layer (values and input gradient), in bf16;
        switch it off when it disagrees or raises."""
        if not self.enabled:
            return
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(1, weight.shape[1], 12, 10, generator=gen).to(torch.bfloat16)
        x = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
        grad_out = torch.randn(1, weight.shape[0], 12, 10, generator=gen).to(torch.bfloat16)
        try:
            fast = _PackedConv.apply(x, bias, *self._packed(-1, weight, tuple(x.shape), (12, 10)))
            (g_fast,) = torch.autograd.grad(fast, x, grad_out)
            plain = F.conv2d(x, weight, bias, padding=1)
            (g_plain,) = torch.autograd.grad(plain, x, grad_out)
            ok = _close(fast, plain) and _close(g_fast, g_plain)
        except Exception as exc:  # noqa: BLE001 - any failure of a private operator
            self.disable(f"prepacked convolutions unavailable ({type(exc).__name__}); using F.conv2d")
            self.notice = ""  # decided at load time, before any run: nothing to tell a run
            return
        with self._lock:
            self._packs.pop((12, 10), None)
        if not ok:
            self.disable("prepacked convolutions disagree with F.conv2d here; using F.conv2d")
            self.notice = ""


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    a, b = a.float(), b.float()
    return bool(((a - b).abs().max() <= 0.02 * b.abs().max() + 1e-3).item())
