"""Hyperparameters of a stylization, defined once.

`Config` is the single definition: its fields carry defaults and help text in their metadata, and
both the command line (`nst.cli`) and the dashboard's sidebar are generated from it. A default
changed here changes everywhere.

Named settings (default, seed, gatys2016) are in nst.engine.presets.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONTENT_LAYER = "conv4_2"
MAX_STEPS = 10_000  # also the step count of a run limited by its time budget alone
SEED_STYLE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("conv1_1", 1.0),
    ("conv2_1", 0.75),
    ("conv3_1", 0.2),
    ("conv4_1", 0.2),
    ("conv5_1", 0.2),
)
EQUAL_STYLE_WEIGHTS = tuple((name, 0.2) for name, _ in SEED_STYLE_WEIGHTS)  # Gatys 2016: 1/5 each

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("recolored", "content", "noise", "style")
COLOR_MODES = ("none", "luminance", "histogram")
POOLINGS = ("max", "avg")
STYLE_FITS = ("stretch", "whole", "crop")  # a painting of another shape than the photo
MODELS = ("vgg19", "vgg16")
CONVENTIONS = ("seed", "gatys2016", "normalized")
NOTION_NAMES = ("gram", "meancov", "patches")  # nst.engine.style
NOTION_LABELS = {
    "gram": "Gram matrix (Gatys)",
    "meancov": "Mean & covariance (W2)",
    "patches": "Patches (CNNMRF)",
}
# The style strength's range and default (log10 units over the run's own balance; see
# nst.engine.objective.Reference and docs/style_strength.md).
STRENGTH_RANGE = (0.0, 6.0)
STRENGTH_DEFAULT = 4.0
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def _f(default: Any, help: str, group: str = "advanced", **extra: Any) -> Any:
    """A dataclass field whose metadata carries what the CLI and the sidebar need: help, group,
    min/max/choices, and flags: `live` (a paused run can take it on), `machine` (describes the
    machine, kept across presets), `label` (the sidebar's), `custom_widget` (drawn by hand)."""
    return field(default=default, metadata={"help": help, "group": group, **extra})


@dataclass(frozen=True)
class Config:
    """Every setting of a stylization. Immutable: derive changed copies with `replace`."""

    size: int = _f(
        256,
        "Long side of the output in pixels. Time per step grows with its square.",
        "basic",
        min=32,
        max=8192,
        label="Image size (long side, px)",
    )
    steps: int = _f(
        80,
        "Loss evaluations (forward + backward passes) to spend. More steps, finer detail.",
        "basic",
        min=1,
        max=MAX_STEPS,
        live=True,
        label="Steps",
    )
    time_budget: float | None = _f(
        None,
        "Stop after this many seconds of optimization, whatever the steps. Empty: no limit.",
        "basic",
        min=0.0,
        live=True,
        label="Seconds of optimization",
    )
    style_strength: float = _f(
        STRENGTH_DEFAULT,
        "How far the output goes from the photo towards the painting's textures, on a log "
        "scale: at 0 the picture is the photo in the start's colours, at 6 more style changes "
        "nothing. Each unit is ten times the style weight of the one below, counted from this "
        "run's own balance (the painting's distance from the photo's content against the "
        "photo's distance from the painting's style), so a value means the same for every "
        "photo, painting, size and loss convention. An exact β overrides it.",
        "basic",
        min=STRENGTH_RANGE[0],
        max=STRENGTH_RANGE[1],
        step=0.25,
        live=True,
        custom_widget=True,
        label="Style strength",
    )
    style_notion: str = _f(
        "gram",
        "What the loss counts as style: which channels fire together (Gram matrix, Gatys 2016, "
        "the seed's), the features' mean and covariance (compared as Gaussians, Wasserstein-2), "
        "or patches of features, each matched to the painting's most alike (Li & Wand 2016).",
        "basic",
        choices=NOTION_NAMES,
        choice_labels=NOTION_LABELS,
        live=True,
        label="What style is",
    )
    alpha: float = _f(
        1.0,
        "Content weight α of total_loss. Only the ratio β/α shapes the picture: with the style "
        "strength it cancels out; with an exact β, α = 1 and β = 1e5 is the seed's objective.",
        min=0.0,
        live=True,
        label="Content weight α (with an exact β)",
    )
    beta: float | None = _f(
        None,
        "Style weight β of total_loss, exactly (the seed's: 1e5 with α = 1). Overrides the style "
        "strength. Empty: β comes from the style strength.",
        min=0.0,
        live=True,
        label="Exact style weight β",
    )
    style_weights: tuple[tuple[str, float], ...] = _f(
        SEED_STYLE_WEIGHTS,
        "Weight of each style layer. Shallow layers carry colour and fine "
        "grain, deep layers carry larger brush strokes and shapes.",
        "layers",
        live=True,
        custom_widget=True,
    )
    content_layer: str = _f(
        CONTENT_LAYER,
        "Layer whose activations the output must match to keep "
        "the photo's content. Deeper layers keep less detail.",
        "layers",
        live=True,
        label="Content layer",
    )
    optimizer: str = _f(
        "lbfgs",
        "L-BFGS converges in far fewer steps; Adam moves gently and "
        "shows the picture change step by step.",
        choices=OPTIMIZERS,
        live=True,
        label="Optimizer",
    )
    lr: float = _f(
        1.0,
        "Learning rate. L-BFGS: 1 is right. Adam on the normalized image: 0.003 (the seed) to 0.05.",
        min=0.0,
        live=True,
        label="Learning rate",
    )
    history: int = _f(
        20,
        "L-BFGS memory: how many past steps shape the next. 20 converges as fast as 100 here "
        "and holds a fifth of the image copies.",
        min=1,
        max=200,
        live=True,
    )
    pyramid: int = _f(
        4,
        "L-BFGS over a Laplacian pyramid of the image: its coarse octaves move as fast as its "
        "pixels (4: down to 1/8 of the size), so the layout settles in fewer steps. 1: pixels only.",
        min=1,
        max=6,
        live=True,
        label="Pyramid levels",
    )
    init: str = _f(
        "recolored",
        "Starting image: the photo in the painting's colours (fastest to a good image), "
        "the photo as it is (the seed's), white noise (the paper's choice, more painterly) "
        "or the style image.",
        choices=INITS,
        label="Start from",
    )
    tv_weight: float = _f(
        0.0,
        "Total-variation weight: smooths high-frequency noise in the output. Try 1e-2 to 1.",
        min=0.0,
        live=True,
        label="Smoothing (TV weight)",
    )
    preserve_color: str = _f(
        "none",
        "Keep the photo's colours: 'luminance' transfers brightness "
        "patterns only; 'histogram' recolours the painting to the photo's "
        "palette first.",
        choices=COLOR_MODES,
        live=True,
        label="Keep colours",
    )
    style_blend: tuple[float, ...] | None = _f(
        None,
        "Blend weights of several style images, in order. Empty: equal.",
        live=True,
        custom_widget=True,
    )
    regions: str | None = _f(
        None,
        "A style per region of the photo (nst.engine.regions): a label map and, for each painted "
        "colour, a painting, a strength or 'keep the photo'. The command line builds it from "
        "--region-map and --region; the Stylize page from what is painted over the photo.",
        live=True,
        custom_widget=True,
    )
    style_scale: float = _f(
        1.0,
        "Size of the style image relative to the output. Larger means bigger brush strokes.",
        min=0.05,
        max=4.0,
        label="Style scale",
    )
    style_fit: str = _f(
        "stretch",
        "A painting of another shape than the photo: squashed to the photo's shape (the seed's "
        "way, and the yardstick's), used whole at its own shape (its strokes keep their shape), "
        "or its centre cut to the photo's shape.",
        choices=STYLE_FITS,
        label="Painting's shape",
    )
    pooling: str = _f(
        "max",
        "Pooling in the network. Gatys et al. used average pooling for slightly smoother results.",
        choices=POOLINGS,
        live=True,
        label="Pooling",
    )
    scales: int = _f(
        0,
        "Coarse-to-fine: optimize at this many sizes, each twice the last, ending "
        "at the full size. Big images settle faster. 0: automatic (with a time budget, "
        "halvings down to 256 px; with a step count, 1).",
        min=0,
        max=5,
        label="Scales (coarse to fine)",
    )
    convention: str = _f(
        "seed",
        "How the losses are normalized: the seed's, Gatys 2016's, or the "
        "PyTorch tutorial's normalized Gram. Changes the scale of an exact β; the style "
        "strength is calibrated in each convention and means the same in all.",
        choices=CONVENTIONS,
        live=True,
        label="Loss convention",
    )
    random_seed: int = _f(
        0,
        "Random seed (white noise starts): the same seed repeats a run exactly on a CPU.",
        machine=True,
        label="Random seed",
    )
    model: str = _f(
        "vgg19",
        "Backbone network (env NST_MODEL).",
        "system",
        choices=MODELS,
        machine=True,
        label="Network",
    )
    weights: str = _f(
        "imagenet",
        "Weights: 'imagenet' (torch cache or download), a path to a "
        "state dict, or 'random' (untrained; mechanics only). Env NST_WEIGHTS.",
        "system",
        machine=True,
        label="Weights",
    )
    precision: str = _f(
        "auto",
        "Arithmetic inside the network: bf16 is 2x (GPUs) to 4x (CPUs with AMX) faster than "
        "fp32; losses are always summed in fp32. auto: bf16 where the hardware has it.",
        "system",
        choices=PRECISIONS,
        machine=True,
    )
    device: str = _f(
        "auto",
        "Where to compute: auto picks cuda, then mps, then cpu.",
        "system",
        choices=DEVICES,
        machine=True,
        label="Device",
    )

    # ---- derived views -------------------------------------------------------------------
    @property
    def style_layers(self) -> list[str]:
        return [name for name, w in self.style_weights if w != 0]

    @property
    def scale_count(self) -> int:
        """How many sizes the run optimizes at: `scales`, or for 0 what pays (docs/performance.md):
        given a time budget, halvings down to COARSEST sharing 30% of it (2048 px: 256, 512,
        1024, 2048); given only a step count, every step at full size."""
        if self.scales:
            return self.scales
        if not self.time_budget:
            return 1
        return max(1, min(5, int(math.log2(self.size / COARSEST)) + 1))

    @property
    def layers_used(self) -> list[str]:
        return list(dict.fromkeys([*self.style_layers, self.content_layer]))

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["style_weights"] = dict(self.style_weights)
        d["style_blend"] = list(self.style_blend) if self.style_blend is not None else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        d = dict(d)
        if "seed" in d:  # the random seed's name before "seed" meant the course project only
            d["random_seed"] = d.pop("seed")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        if "history" in d and "pyramid" not in d:
            d["pyramid"] = 1  # a whole config written before the pyramid: its runs had none
        if "style_weights" in d and isinstance(d["style_weights"], dict):
            d["style_weights"] = tuple((k, float(v)) for k, v in d["style_weights"].items())
        elif "style_weights" in d:
            d["style_weights"] = tuple((k, float(v)) for k, v in d["style_weights"])
        if d.get("style_blend") is not None:
            d["style_blend"] = tuple(float(v) for v in d["style_blend"])
        return cls(**d).validated()

    def validated(self) -> Config:
        """Raise ValueError with one clear sentence when a setting is out of range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if "choices" in meta and value not in meta["choices"]:
                raise ValueError(f"{f.name} must be one of {', '.join(meta['choices'])}, not {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, not {value}")
            if value is None or isinstance(value, (tuple, str)):
                continue
            if "min" in meta and value < meta["min"]:
                raise ValueError(f"{f.name} must be at least {meta['min']}, not {value}")
            if "max" in meta and value > meta["max"]:
                raise ValueError(f"{f.name} must be at most {meta['max']}, not {value}")
        if not self.style_layers:
            raise ValueError("at least one style layer needs a weight above zero")
        numbers = [w for _, w in self.style_weights] + list(self.style_blend or ())
        if not all(math.isfinite(w) for w in numbers):
            raise ValueError("style layer and blend weights must be finite numbers")
        if any(w < 0 for _, w in self.style_weights):
            raise ValueError("style layer weights must not be negative")
        if self.style_blend is not None and any(w < 0 for w in self.style_blend):
            raise ValueError("style blend weights must not be negative")
        if self.style_blend is not None and sum(self.style_blend) <= 0:
            raise ValueError("style blend weights must not all be zero")
        return self

    def check_inputs(self, arch: str, layer_names, paintings: int) -> None:
        """A ValueError, in one sentence, when this config does not fit the network or the
        paintings given."""
        if not paintings:
            raise ValueError("at least one style image is needed")
        blend = self.style_blend
        if blend is not None and len(blend) != paintings:
            raise ValueError(f"{paintings} style image(s) but {len(blend)} blend weight(s)")
        missing = set(self.layers_used) - set(layer_names)
        if missing:
            raise ValueError(f"{arch} has no layer(s) {', '.join(sorted(missing))}")
        if self.regions:
            from nst.engine.regions import RegionMap  # the map is read only where it is used

            RegionMap.from_text(self.regions).checked(paintings)


def field_help(name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(Config) if f.name == name)


def field_label(name: str) -> str:
    """The name a setting has in the sidebar."""
    f = next(f for f in dataclasses.fields(Config) if f.name == name)
    return f.metadata.get("label", name.replace("_", " ").capitalize())


# px: the automatic coarse-to-fine schedule halves no lower than this. Below it the Gram matrices
# of the deep layers cover so few positions that matching them copies the painting's layout.
COARSEST = 256

# Settings a paused run can take on for the rest of its steps; the others need a new run.
LIVE_FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.metadata.get("live"))


def from_environment(cfg: Config, environ: Mapping[str, str] | None = None) -> Config:
    """`cfg` with the network chosen by the environment: NST_MODEL and NST_WEIGHTS, where set.
    The one place that reads them: the CLI, the dashboard and the benchmarks start here."""
    env = os.environ if environ is None else environ
    chosen = {"model": env.get("NST_MODEL"), "weights": env.get("NST_WEIGHTS")}
    return cfg.replace(**{k: v for k, v in chosen.items() if v})


def parse_style_weights(text: str) -> tuple[tuple[str, float], ...]:
    """'conv1_1=1,conv2_1=0.75' -> (('conv1_1', 1.0), ('conv2_1', 0.75))."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"style weight {part!r} is not of the form layer=weight")
        try:
            pairs.append((name.strip(), float(value)))
        except ValueError:
            raise ValueError(f"style weight {part!r}: {value!r} is not a number") from None
    if not pairs:
        raise ValueError("no style weights given")
    return tuple(pairs)


def format_style_weights(pairs: tuple[tuple[str, float], ...]) -> str:
    return ",".join(f"{name}={w:g}" for name, w in pairs)
