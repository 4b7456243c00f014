"""Named settings, and the default scaled to the hardware.

Presets:
  * ``default``   the project's choice for the best image per second of compute (bounded L-BFGS
                  from the photo recoloured to the painting's palette, the seed's loss
                  functions, β from the style strength).
  * ``seed``      the course project this started from, exactly: Adam lr 0.003 on the normalized
                  image, 3000 steps, content init, images at most 500 px.
  * ``gatys2016`` Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
                  Networks", CVPR 2016: their loss normalization, average pooling, equal style
                  weights, L-BFGS from white noise; their alpha/beta = 1e-3 becomes 1e-6 on
                  torchvision's weights (see the preset).
"""

from __future__ import annotations

import dataclasses

from nst.engine.config import EQUAL_STYLE_WEIGHTS, SEED_STYLE_WEIGHTS, Config

PRESETS: dict[str, Config] = {
    "default": Config(),
    "seed": Config(
        size=500,
        steps=3000,
        optimizer="adam",
        lr=0.003,
        init="content",
        alpha=1.0,
        beta=1e5,
        style_weights=SEED_STYLE_WEIGHTS,
        pooling="max",
        convention="seed",
        scales=1,
    ),
    # Gatys et al. 2016: L-BFGS from white noise, equal weights on conv1_1..conv5_1, content at
    # conv4_2, average pooling, their loss normalization. Their alpha/beta of 1e-3 assumed their
    # VGG-19 rescaled to a mean activation of one per filter; on torchvision's weights the look
    # of their Fig. 2 comes at alpha/beta = 1e-6 (Layer lab, "Style vs content", shows the
    # range). 256 px (theirs: 512) and a 128 px first stage from the noise, so a laptop has the
    # picture in well under a minute.
    "gatys2016": Config(
        size=256,
        steps=250,
        optimizer="lbfgs",
        lr=1.0,
        init="noise",
        alpha=1.0,
        beta=1e6,
        style_weights=EQUAL_STYLE_WEIGHTS,
        pooling="avg",
        convention="gatys2016",
        scales=2,
    ),
}

# Settings that describe the machine, not the picture: a preset never overrides them.
SYSTEM_FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.metadata.get("machine"))


def preset(name: str, base: Config | None = None) -> Config:
    """The named preset, keeping the system settings (model, weights, device, seed) of `base`."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    if base is not None:
        cfg = cfg.replace(**{k: getattr(base, k) for k in SYSTEM_FIELDS})
    return cfg


def for_device(cfg: Config, device_type: str) -> Config:
    """Scale the default preset to the hardware: a GPU affords a larger image and more steps."""
    if device_type == "cuda" and cfg.size == Config.size and cfg.steps == Config.steps:
        return cfg.replace(size=512, steps=300)
    return cfg
