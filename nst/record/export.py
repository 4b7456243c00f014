"""The file formats a run is written in: PNG with the config embedded, CSV history, GIF of the
progress, the command line that reproduces it (nst.record.trace puts them together).

A PNG written here carries its full config as JSON in a text chunk (`nst-config`), so the file
alone is enough to reproduce the image (`read_png_config`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path

from PIL import Image, PngImagePlugin

from nst.engine.config import Config, format_style_weights

CONFIG_KEY = "nst-config"
META_KEY = "nst-meta"
CHANGES_KEY = "nst-changes"  # [[step, {field: value}], ...]: settings changed during the run


def png_bytes(
    img: Image.Image,
    config: Config,
    meta: dict | None = None,
    changes: list | None = None,
    dpi: int | None = None,
) -> bytes:
    """PNG of `img` with the config it started from, the changes made on the way, and optional
    facts (weights, device) embedded; with `dpi` (a print), that and the sRGB profile too."""
    info = PngImagePlugin.PngInfo()
    info.add_text(CONFIG_KEY, config.to_json())
    if changes:
        info.add_text(CHANGES_KEY, json.dumps([[step, c] for step, c in changes]))
    if meta:
        info.add_text(META_KEY, json.dumps(meta, sort_keys=True, default=str))
    info.add_text("Software", "nst (neural style transfer lab)")
    buf = io.BytesIO()
    extra = {"dpi": (dpi, dpi), "icc_profile": srgb_profile()} if dpi else {}
    img.save(buf, format="PNG", pnginfo=info, **extra)
    return buf.getvalue()


def read_png_text(src: bytes | str | Path) -> dict[str, str]:
    data = src if isinstance(src, bytes) else Path(src).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        return dict(getattr(im, "text", {}) or {})


def read_png_changes(src: bytes | str | Path) -> list[tuple[int, dict]]:
    """The settings changed during the run, as (step, {field: value}), oldest first."""
    text = read_png_text(src).get(CHANGES_KEY)
    return [(int(step), dict(c)) for step, c in json.loads(text)] if text else []


def read_png_config(src: bytes | str | Path) -> Config:
    """The config a PNG written by `png_bytes` started from (see `read_png_changes`)."""
    text = read_png_text(src)
    if CONFIG_KEY not in text:
        raise ValueError("this PNG carries no nst config")
    return Config.from_dict(json.loads(text[CONFIG_KEY]))


def read_png_meta(src: bytes | str | Path) -> dict:
    text = read_png_text(src)
    return json.loads(text[META_KEY]) if META_KEY in text else {}


def gif_bytes(frames: list[Image.Image], seconds: float = 6.0, hold_last: float = 1.5) -> bytes:
    """Animated GIF of the frames, looping, lasting about `seconds`, pausing on the last one."""
    if not frames:
        raise ValueError("no frames to animate")
    per = max(20, int(1000 * seconds / len(frames)))
    durations = [per] * (len(frames) - 1) + [int(hold_last * 1000)]
    buf = io.BytesIO()
    frames = [f.convert("RGB") for f in frames]
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        loop=0,
        duration=durations,
        optimize=False,
    )
    return buf.getvalue()


def history_csv(history: list) -> str:
    """One row per evaluation: step, scale, size, total, content, style, each style layer, tv."""
    layers = list(dict.fromkeys(name for r in history for name in r.style_layers))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "step",
            "scale",
            "width",
            "height",
            "seconds",
            "total",
            "content",
            "style",
            *[f"style_{n}" for n in layers],
            "tv",
        ]
    )
    for r in history:
        w.writerow(
            [
                r.step,
                r.scale,
                r.width,
                r.height,
                f"{r.seconds:.4f}",
                f"{r.total:.6g}",
                f"{r.content:.6g}",
                f"{r.style:.6g}",
                *[f"{r.style_layers.get(n, 0.0):.6g}" for n in layers],
                f"{r.tv:.6g}",
            ]
        )
    return buf.getvalue()


def _cli_value(name: str, value) -> str:
    if name == "style_weights":
        pairs = value.items() if isinstance(value, dict) else value
        return format_style_weights(tuple((k, float(v)) for k, v in pairs))
    if name == "style_blend":
        return ",".join(f"{v:g}" for v in value)
    if value is None:
        return "0" if name == "time_budget" else ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def cli_command(
    config: Config,
    content: str,
    styles: list[str],
    output: str = "out.png",
    changes: list[tuple[int, dict]] | None = None,
) -> str:
    """The `python -m nst` command that reproduces a run that started with `config` and took on
    `changes` ((step, {field: value}) as `Run.changes` records them) on the way."""
    default = Config().to_dict()
    args = ["python", "-m", "nst", content, *styles, "-o", output]
    for name, value in config.to_dict().items():
        if value != default[name]:
            args += ["--" + name.replace("_", "-"), _cli_value(name, value)]
    for step, changed in changes or []:
        for name, value in changed.items():
            args += ["--change", f"{step}:{name}={_cli_value(name, value)}"]
    return " ".join(shlex.quote(a) for a in args)


def safe_filename(name: str, default: str = "nst") -> str:
    """A file-name stem with nothing but letters, digits, dot, dash and underscore."""
    stem = Path(str(name)).name.rsplit(".", 1)[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:60]
    return stem or default


def srgb_profile() -> bytes:
    """The sRGB ICC profile (Little CMS's, through Pillow): what an image written here is in."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def tiff16_bytes(
    rgb, config: Config, meta: dict | None = None, changes: list | None = None, dpi: int = 300
) -> bytes:
    """A 16-bit RGB TIFF (tifffile) of `rgb`, floats in [0, 1] of shape (h, w, 3), with the dpi,
    the sRGB profile and the run's config, changes and facts in its description (JSON)."""
    import numpy as np
    import tifffile

    data = np.round(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)
    description = json.dumps(
        {
            CONFIG_KEY: config.to_dict(),
            CHANGES_KEY: [[s, c] for s, c in (changes or [])],
            META_KEY: meta or {},
        },
        sort_keys=True,
        default=str,
    )
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        data,
        photometric="rgb",
        compression="zlib",
        resolution=(dpi, dpi),
        resolutionunit="INCH",
        description=description,
        software="nst (neural style transfer lab)",
        extratags=[(34675, 7, None, srgb_profile(), True)],  # InterColorProfile
        metadata=None,
    )
    return buf.getvalue()
