"""VGG feature extractor with named layers, and where its weights come from.

Simonyan & Zisserman's VGG networks (ICLR 2015), convolutional part only, as torchvision lays them
out, so torchvision state dicts load directly. Every layer gets the name the style-transfer
literature uses (conv1_1, relu1_1, pool1, ...). Pooling is applied functionally, so one frozen
model serves max and average pooling alike (Gatys et al. 2016 swap in average pooling) without
being changed: a cached model can be shared read-only by many sessions.

Weight sources, in order: an explicit path (or NST_WEIGHTS), the torch hub cache, a download
through torchvision's weights API. 'random' gives untrained weights, only when asked for by name.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nst.engine.capture import Captures
from nst.engine.fastpath import PackedConvs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Channels per conv layer, "M" for a pooling layer (torchvision's configurations "D" and "E").
_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


class WeightsError(RuntimeError):
    """Weights could not be loaded; the message says what to do."""


@dataclass(frozen=True)
class LayerInfo:
    name: str  # conv3_1
    kind: str  # conv | relu | pool
    index: int  # position in torchvision's `features`
    channels: int
    stride: int  # cumulative downsampling factor of this layer's output


def layer_table(arch: str) -> list[LayerInfo]:
    """Every layer of the architecture's convolutional part, by name and torchvision index."""
    if arch not in _CFGS:
        raise ValueError(f"unknown model {arch!r}; choose vgg19 or vgg16")
    table, block, i, idx, ch, stride = [], 1, 1, 0, 3, 1
    for v in _CFGS[arch]:
        if v == "M":
            stride *= 2
            table.append(LayerInfo(f"pool{block}", "pool", idx, ch, stride))
            idx, block, i = idx + 1, block + 1, 1
        else:
            ch = v
            table.append(LayerInfo(f"conv{block}_{i}", "conv", idx, ch, stride))
            table.append(LayerInfo(f"relu{block}_{i}", "relu", idx + 1, ch, stride))
            idx, i = idx + 2, i + 1
    return table


def layer_names(arch: str) -> list[str]:
    return [info.name for info in layer_table(arch)]


class VGGFeatures(nn.Module):
    """Frozen VGG convolutional stack that returns the activations of named layers.

    Input is an RGB batch in [0, 1]; ImageNet normalization happens inside. Pass
    ``normalized=True`` when the input is already normalized (the optimizer works in that space,
    as the seed did, so its learning rates keep their meaning).
    """

    def __init__(self, arch: str = "vgg19", last_layer: str | None = None):
        super().__init__()
        self.arch = arch
        table = layer_table(arch)
        if last_layer is not None:
            names = [t.name for t in table]
            if last_layer not in names:
                raise ValueError(f"{arch} has no layer {last_layer!r}")
            table = table[: names.index(last_layer) + 1]
        self.table = table
        layers: list[nn.Module] = []
        in_ch = 3
        for info in table:
            if info.kind == "conv":
                layers.append(nn.Conv2d(in_ch, info.channels, 3, padding=1))
                in_ch = info.channels
            elif info.kind == "relu":
                layers.append(nn.ReLU(inplace=False))
            else:
                layers.append(nn.MaxPool2d(2, 2))  # placeholder; pooling is chosen per call
        self.features = nn.Sequential(*layers)  # indices match torchvision's vgg.features
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.weights_source = "uninitialized"
        self._casts: dict = {}  # (dtype, layer, pointer, device) -> weights cast once
        self._lock = threading.Lock()  # one model serves every session of the dashboard
        self.packed = PackedConvs()  # the private-operator fast path, checked at load
        self.captured = Captures()  # the pass captured in a CUDA graph (on a GPU)
        # New weights in the same tensors (load_state_dict copies in place): forget the casts.
        self.features.register_load_state_dict_post_hook(lambda *_: self.forget_casts())
        self.requires_grad_(False)
        self.eval()

    @property
    def layer_names(self) -> list[str]:
        return [t.name for t in self.table]

    @property
    def is_random(self) -> bool:
        return self.weights_source.startswith("random")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def forward(
        self,
        x: torch.Tensor,
        layers: list[str] | tuple[str, ...],
        pooling: str = "max",
        normalized: bool = False,
        dtype: torch.dtype | None = None,
    ) -> dict[str, torch.Tensor]:
        """Activations of `layers`, computing no deeper than the deepest of them.

        With `dtype` (torch.bfloat16 on a fast device) the network runs in that precision,
        channels-last, on weights cast once and kept (autocast would cast them on every call:
        a tenth of an evaluation on a CPU).
        """
        wanted = set(layers)
        missing = wanted - set(self.layer_names)
        if missing:
            raise ValueError(f"{self.arch} has no layer(s) {', '.join(sorted(missing))}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be max or avg, not {pooling!r}")
        h = x if normalized else self.normalize(x)
        if dtype is not None and dtype != h.dtype:
            h = h.to(dtype, memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        kept = False  # is h also an output? then it must not be overwritten in place
        table, i = self.table, 0
        while i < len(table):
            info = table[i]
            if info.kind == "pool":
                h = F.max_pool2d(h, 2, 2) if pooling == "max" else F.avg_pool2d(h, 2, 2)
            elif info.kind == "relu" and self._pool_first(i, wanted, pooling):
                # max(relu(a), relu(b), ...) = relu(max(a, b, ...)), gradients included: pooling
                # first gives the same values, with a quarter of the elements for the ReLU.
                i += 1
                info = table[i]
                h = F.relu(F.max_pool2d(h, 2, 2), inplace=True)
            elif info.kind == "relu":
                # In place where nobody else holds the conv output: the convolution's backward
                # needs only its input, so this saves one activation per layer (~40% of memory).
                h = F.relu(h, inplace=not kept and h is not x)
            else:
                h = self._conv(info.index, h, tuple(x.shape[-2:]))
            kept = info.name in wanted
            if kept:
                out[info.name] = h
                if len(out) == len(wanted):
                    break
            i += 1
        return out

    def _pool_first(self, i: int, wanted: set[str], pooling: str) -> bool:
        """May ReLU i and the max pooling after it swap places (nobody asked for the ReLU)?"""
        nxt = i + 1 < len(self.table) and self.table[i + 1].kind == "pool"
        return pooling == "max" and nxt and self.table[i].name not in wanted

    def _conv(self, index: int, h: torch.Tensor, image_size: tuple) -> torch.Tensor:
        conv = self.features[index]
        weight, bias = self._conv_params(index, conv, h.dtype)
        if self.packed.applies(h, conv.out_channels):
            out = self.packed.conv(index, h, weight, bias, image_size)
            if out is not None:
                return out
        return F.conv2d(h, weight, bias, padding=1)

    def _conv_params(self, index: int, conv: nn.Conv2d, dtype: torch.dtype):
        """The layer's weights in `dtype`, channels-last, cast once per weights and device."""
        if dtype == conv.weight.dtype:
            return conv.weight, conv.bias
        w = conv.weight
        key = (dtype, index, w.data_ptr(), w.device)  # stale after load_state_dict or .to()
        hit = self._casts.get(key)
        if hit is None:
            with self._lock:
                hit = self._casts.get(key)
                if hit is None:
                    hit = (
                        w.detach().to(dtype).contiguous(memory_format=torch.channels_last),
                        conv.bias.detach().to(dtype),
                    )
                    self._casts = {k: v for k, v in self._casts.items() if k[1] != index}
                    self._casts[key] = hit
        return hit

    def forget_casts(self) -> None:
        """Drop the weights cast to bf16 and the prepacked ones (after new weights arrive)."""
        with self._lock:
            self._casts = {}
        self.packed.forget()

    def check_fast_path(self, force: bool = False) -> None:
        """Verify the prepacked convolutions against F.conv2d on this model's first wide
        layer (once, after the weights are loaded); they stay off where they fail.

        They are used only on CPUs with AMX, where they were measured to pay (a third of the
        512-channel layers' time on a Xeon); on an AMD EPYC with AVX512-BF16 they gained
        nothing (0.159 s per evaluation either way at 256 px, 0.61-0.68 s at 512 px), so
        elsewhere F.conv2d serves unless `force` (the tests) asks for them.
        """
        wide = next(
            (m for m in self.features if isinstance(m, nn.Conv2d) and m.out_channels >= 512), None
        )
        cpu = self.mean.device.type == "cpu"
        if wide is None or not cpu or not (force or _cpu_flag("amx_bf16")):
            self.packed.enabled = False
            return
        self.packed.enabled = self.packed.available
        index = list(self.features).index(wide)
        self.packed.verify(*self._conv_params(index, wide, torch.bfloat16))


# ---- weights ------------------------------------------------------------------------------


def _torchvision_weights(arch: str):
    from torchvision.models import VGG16_Weights, VGG19_Weights

    return {"vgg16": VGG16_Weights, "vgg19": VGG19_Weights}[arch].IMAGENET1K_V1


def hub_checkpoint_path(arch: str) -> Path:
    """Where torch's hub cache keeps (or would keep) the ImageNet checkpoint of `arch`."""
    url = _torchvision_weights(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _features_only(state_dict: dict, arch: str, origin: str) -> dict[str, torch.Tensor]:
    """Accept full torchvision state dicts (features.N.*) and features-only ones (N.*)."""
    if not isinstance(state_dict, dict):
        raise WeightsError(f"{origin} does not hold a state dict (found {type(state_dict).__name__})")
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    out = {}
    for key, value in state_dict.items():
        k = key[len("features.") :] if key.startswith("features.") else key
        if k.split(".")[0].isdigit() and torch.is_tensor(value):
            out[k] = value
    expected = {
        f"{t.index}.{p}" for t in layer_table(arch) if t.kind == "conv" for p in ("weight", "bias")
    }
    if not expected <= set(out):
        found = len({k for k in out if k.endswith(".weight")})
        raise WeightsError(
            f"{origin} does not match {arch}: it has {found} conv layers where {arch} needs "
            f"{sum(t.kind == 'conv' for t in layer_table(arch))} (is NST_MODEL right?)"
        )
    return {k: out[k] for k in expected}


def _load_file(path: Path, arch: str) -> dict[str, torch.Tensor]:
    try:
        # weights_only: a checkpoint is data; a pickle that would run code is refused.
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise WeightsError(
            f"refused to load {path}: it is not a plain tensor state dict ({first[:160]})"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise WeightsError(f"could not read weights file {path}: {exc}") from None
    return _features_only(sd, arch, str(path))


def _download(url: str, dst: Path, progress: Callable[[float], None] | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=30) as resp:
        total = int(resp.headers.get("Content-Length") or 0)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".part")
        done = 0
        try:
            with os.fdopen(fd, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    if progress and total:
                        progress(done / total)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def resolve_weights(
    arch: str, weights: str, progress: Callable[[float], None] | None = None
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """(state dict or None for random, a description of the source)."""
    if weights == "random":
        return None, "random (untrained: mechanics only, not real style transfer)"
    if weights != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        return _load_file(path, arch), f"file {path}"
    cached = hub_checkpoint_path(arch)
    if cached.is_file():
        return _load_file(cached, arch), f"torch hub cache {cached}"
    url = _torchvision_weights(arch).url
    if os.environ.get("NST_OFFLINE"):
        raise WeightsError(
            f"no {arch} ImageNet weights: {cached.name} is not in the cache folder "
            f"{cached.parent} (set TORCH_HOME to move it) and NST_OFFLINE forbids downloading. "
            "Put the file there, or set NST_WEIGHTS (or --weights) to a torchvision state dict, "
            "or use --weights random to try the mechanics."
        )
    if progress is None:
        progress = _print_progress(cached.name)
    try:
        _download(url, cached, progress)
    except Exception as exc:  # noqa: BLE001 - any network failure gets the same advice
        raise WeightsError(
            f"no {arch} ImageNet weights: {cached.name} is not in the cache folder "
            f"{cached.parent} (set TORCH_HOME to move it) and downloading it failed "
            f"({type(exc).__name__}). Put the file there, or set NST_WEIGHTS (or --weights) to a "
            f"torchvision state dict, or use --weights random to try the mechanics."
        ) from None
    return _load_file(cached, arch), f"downloaded to {cached}"


def _print_progress(name: str) -> Callable[[float], None]:
    import sys

    def show(frac: float) -> None:
        sys.stderr.write(f"\rdownloading {name}: {frac:6.1%}")
        if frac >= 1:
            sys.stderr.write("\n")

    return show


def load_model(
    arch: str | None = None,
    weights: str | None = None,
    device: str | torch.device = "cpu",
    last_layer: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> VGGFeatures:
    """A frozen VGGFeatures with weights from the first source that has them.

    `arch` and `weights` default to NST_MODEL / NST_WEIGHTS, then vgg19 / imagenet.
    """
    if arch is None or weights is None:
        from nst.engine.config import Config, from_environment

        env = from_environment(Config())
        arch, weights = arch or env.model, weights or env.weights
    if arch not in _CFGS:
        raise WeightsError(f"unknown model {arch!r}; choose vgg19 or vgg16")
    model = VGGFeatures(arch, last_layer=last_layer)
    state_dict, source = resolve_weights(arch, weights, progress)
    if state_dict is None:
        gen = torch.Generator().manual_seed(0)  # the same untrained net every time
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=gen)
                nn.init.zeros_(m.bias)
    else:
        keep = {k: v for k, v in state_dict.items() if int(k.split(".")[0]) < len(model.features)}
        model.features.load_state_dict(keep)
    model.weights_source = source
    model = model.to(device)
    if model.mean.device.type == "cuda":  # TF32 for whatever stays in fp32; set once, here
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.check_fast_path()
    return model


def fast_bf16(device: torch.device) -> bool:
    """Does the bf16 path pay on this device? CUDA with bf16 support; CPUs with AMX or
    AVX512-BF16 (oneDNN then runs convolutions in bf16 at 2-3x the fp32 speed)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return _cpu_flag("amx_bf16") or _cpu_flag("avx512_bf16")


def _cpu_flag(name: str) -> bool:
    """Does /proc/cpuinfo list this CPU flag? (False where there is no such file.)"""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return f" {name}" in flags


def pick_device(name: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a clear error for a device that is not there."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but no CUDA GPU is available")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError("device mps was asked for, but Apple's MPS is not available")
    return torch.device(name)
