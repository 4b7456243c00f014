"""Loading images of any kind, and moving them in and out of the network's tensor space.

Every loader path ends in an RGB PIL image or an `ImageInputError` with one sentence a person
can act on: no other exception escapes `load_image`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.engine.model import IMAGENET_MEAN, IMAGENET_STD

MAX_INPUT_SIDE = 2048  # px: photos and paintings are read no larger, by every way in
# px, the short side of a photo or painting as given: smaller ones are refused, by every way in.
# Enlarged to the run's size they hold nothing to match (a 1x1 photo ran into a flat square).
MIN_INPUT_SIDE = 32

MAX_PIXELS = 100_000_000  # decoded size we accept (a 10000x10000 photo); bigger is refused
MAX_FILE_BYTES = 200 * 1024 * 1024
MIN_SIDE = 16  # shortest side after resizing: VGG's four poolings need something left to pool
MAX_ASPECT = 16


class ImageInputError(ValueError):
    """An input image that can't be used; the message says why in one sentence."""


def _open(src, name: str) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.is_file():
            raise ImageInputError(f"{name}: no such file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageInputError(f"{name}: file is larger than {MAX_FILE_BYTES >> 20} MB")
        data = path.read_bytes()
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif hasattr(src, "read"):
        data = src.read()
    else:
        raise ImageInputError(f"{name}: cannot read an image from {type(src).__name__}")
    if not data:
        raise ImageInputError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageInputError(f"{name}: file is larger than {MAX_FILE_BYTES >> 20} MB")
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageInputError(
            f"{name}: not an image file this program can read (PNG, JPEG, GIF, WebP, BMP, TIFF ...)"
        ) from None
    except Image.DecompressionBombError:
        raise ImageInputError(f"{name}: image is too large to decode safely") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad file to the user
        raise ImageInputError(f"{name}: cannot read image ({exc})") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        if mode == "F" and arr.max(initial=0) <= 1.0:
            top = 1.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "1":
        return img.convert("L").convert("RGB")
    return img.convert("RGB")


def _to_srgb(rgb: Image.Image, icc: bytes) -> Image.Image:
    """The image's colours in sRGB, from its embedded ICC profile (Adobe RGB, Display P3 ...): the
    network and the written files work in sRGB. An unreadable profile leaves the values as they
    are (most such files are sRGB anyway)."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(source) or "").lower():
            return rgb
        return ImageCms.profileToProfile(rgb, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return rgb


def load_image(src, max_side: int | None = None, name: str = "image") -> Image.Image:
    """An RGB image from a path, bytes, file object or PIL image.

    Honours EXIF orientation, takes the first frame of an animation, puts transparency on white,
    and maps 16-bit and 1-bit images to 8-bit. An image whose short side is under
    MIN_INPUT_SIDE is refused, as it is found (before any resizing). With `max_side`, JPEGs are
    decoded at reduced scale, so huge photos don't need their full size in memory.
    """
    img = _open(src, name)
    try:
        w, h = img.size
        if w < 1 or h < 1:
            raise ImageInputError(f"{name}: image has no pixels")
        if min(w, h) < MIN_INPUT_SIDE:
            raise ImageInputError(
                f"{name}: a {w}x{h} px image is too small; "
                f"its short side must be at least {MIN_INPUT_SIDE} px"
            )
        if w * h > MAX_PIXELS and not (max_side and img.format == "JPEG"):
            raise ImageInputError(
                f"{name}: {w}x{h} pixels is too large to decode safely "
                f"(limit {MAX_PIXELS // 1_000_000} megapixels)"
            )
        if getattr(img, "is_animated", False):
            img.seek(0)
        if max_side and img.format == "JPEG":
            img.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
            img = ImageOps.exif_transpose(img) or img
            icc = img.info.get("icc_profile")
            rgb = _to_srgb(_to_rgb(img), icc) if icc else _to_rgb(img)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"{name}: image is too large to decode safely") from None
    except Exception as exc:  # noqa: BLE001 - truncated files raise OSError, others vary
        reason = "truncated or corrupt" if isinstance(exc, (OSError, SyntaxError)) else str(exc)
        raise ImageInputError(f"{name}: cannot decode the image ({reason})") from None
    if max_side and max(rgb.size) > max_side:
        rgb = resize_long_side(rgb, max_side)
    return rgb


def resize_long_side(img: Image.Image, size: int, name: str = "image") -> Image.Image:
    """Resize so the longer side is `size` px, keeping the aspect ratio."""
    w, h = img.size
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise ImageInputError(
            f"{name}: a {w}x{h} image is too elongated; use one whose sides "
            f"differ by at most {MAX_ASPECT}x"
        )
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if min(nw, nh) < MIN_SIDE:
        raise ImageInputError(
            f"{name}: at {size} px its short side would be {min(nw, nh)} px; "
            f"it must be at least {MIN_SIDE}"
        )
    if (nw, nh) == (w, h):
        return img.copy()
    return img.resize((nw, nh), Image.Resampling.LANCZOS)


def resize_to(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize to exactly (width, height)."""
    if img.size == size:
        return img.copy()
    return img.resize(size, Image.Resampling.LANCZOS)


def fit_style(
    style: Image.Image, content_size: tuple[int, int], scale: float = 1.0, fit: str = "stretch"
) -> Image.Image:
    """The painting at the output's scale (times `scale`), shaped as `fit` says.

    whole: the whole painting at its own shape, with as many pixels as the output (Gram
    matrices do not care about shape, and brush strokes keep theirs). crop: the painting's
    centre cut to the output's shape. stretch: squashed to the output's shape, as the seed did.
    """
    w, h = content_size
    tw, th = max(16, round(w * scale)), max(16, round(h * scale))
    if fit == "whole":
        ratio, area = style.width / style.height, tw * th
        size = (max(16, round((area * ratio) ** 0.5)), max(16, round((area / ratio) ** 0.5)))
        return resize_to(style, size)
    if fit == "crop":
        target = tw / th
        sw, sh = style.size
        if sw / sh > target:  # wider than the output: cut the sides
            cw = round(sh * target)
            style = style.crop(((sw - cw) // 2, 0, (sw - cw) // 2 + cw, sh))
        else:
            ch = round(sw / target)
            style = style.crop((0, (sh - ch) // 2, sw, (sh - ch) // 2 + ch))
    return resize_to(style, (tw, th))


def shape_note(style_size: tuple[int, int], content_size: tuple[int, int], fit: str) -> str | None:
    """What happens to a painting whose shape differs from the photo's, or None if they match."""
    sr, cr = style_size[0] / style_size[1], content_size[0] / content_size[1]
    if abs(sr / cr - 1) < 0.1:
        return None
    what = {
        "whole": "used whole, at its own shape",
        "crop": "its centre is cut to the photo's shape",
        "stretch": "it is squashed to the photo's shape, which distorts its strokes",
    }[fit]
    return f"{'wider' if sr > cr else 'taller'} than the photo ({sr:.2f}:1 against {cr:.2f}:1): {what}"


# ---- tensors ------------------------------------------------------------------------------


def imagenet_stats(device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet's channel mean and std, each (1, 3, 1, 1): the normalization VGG was trained on."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return mean, std


def to_tensor(img: Image.Image, device="cpu") -> torch.Tensor:
    """RGB image -> (1, 3, H, W) float32 in [0, 1]."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_image(t: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] -> RGB image (clamped, rounded)."""
    t = t.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    arr = (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def preprocess(img: Image.Image, device="cpu") -> torch.Tensor:
    """RGB image -> ImageNet-normalized (1, 3, H, W) tensor, the space the optimizer works in."""
    mean, std = imagenet_stats(device)
    return (to_tensor(img, device) - mean) / std


NOISE_AMPLITUDE = 0.02  # std of the white noise around mid grey, in [0, 1] pixel units


def white_noise(width: int, height: int, seed: int, device="cpu") -> torch.Tensor:
    """Mid grey plus faint Gaussian white noise, preprocessed: the paper's starting image.

    Faint, as in Gatys's own code (randn on a 0-255 scale): the loss barely constrains the
    finest frequencies, so whatever noise the start has there stays in the picture. Noise
    over the whole [0, 1] range left a per-pixel rainbow speckle on every result.
    """
    gen = torch.Generator().manual_seed(seed)
    noise = 0.5 + NOISE_AMPLITUDE * torch.randn(1, 3, height, width, generator=gen)
    mean, std = imagenet_stats("cpu")
    return ((noise.clamp(0, 1) - mean) / std).to(device)


def deprocess(t: torch.Tensor) -> Image.Image:
    """Inverse of `preprocess`: exact for images that came from it."""
    mean, std = imagenet_stats(t.device)
    return to_image(t.detach() * std + mean)


# ---- colour -------------------------------------------------------------------------------
# YIQ as in Gatys et al., "Preserving Color in Neural Artistic Style Transfer" (2016).
_RGB2YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def _img(arr: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(arr, 0, 1) * 255.0 + 0.5).astype(np.uint8), "RGB")


def luminance_image(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style's luminance, matched in mean and spread to the content's, as a grey RGB image."""
    ys = _arr(style) @ _RGB2YIQ[0]
    yc = _arr(content) @ _RGB2YIQ[0]
    y = (ys - ys.mean()) / (ys.std() + 1e-8) * yc.std() + yc.mean()
    return _img(np.repeat(y[..., None], 3, axis=2))


def combine_luminance(output: Image.Image, content: Image.Image) -> Image.Image:
    """The output's luminance with the content's chrominance (I and Q)."""
    if content.size != output.size:
        content = resize_to(content, output.size)
    yiq_out = _arr(output) @ _RGB2YIQ.T
    yiq_con = _arr(content) @ _RGB2YIQ.T
    yiq = np.concatenate([yiq_out[..., :1], yiq_con[..., 1:]], axis=2)
    return _img(yiq @ _YIQ2RGB.T)


def match_colors(style: Image.Image, content: Image.Image) -> Image.Image:
    """Recolour `style` so its RGB mean and covariance equal the content's.

    The linear colour transfer of Gatys et al. 2016 ("Preserving Color"): x' = A(x - mu_s) + mu_c
    with A = Sigma_c^(1/2) Sigma_s^(-1/2), using symmetric matrix square roots.
    """
    s = _arr(style).reshape(-1, 3)
    c = _arr(content).reshape(-1, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = np.cov(s, rowvar=False) + 1e-5 * np.eye(3)
    cov_c = np.cov(c, rowvar=False) + 1e-5 * np.eye(3)

    def sqrtm(m: np.ndarray, power: float) -> np.ndarray:
        vals, vecs = np.linalg.eigh(m)
        return vecs @ np.diag(np.clip(vals, 1e-10, None) ** power) @ vecs.T

    a = sqrtm(cov_c, 0.5) @ sqrtm(cov_s, -0.5)
    out = (s - mu_s) @ a.T + mu_c
    return _img(out.reshape(_arr(style).shape))


def upsample_with_detail(
    coarse: torch.Tensor, size: tuple[int, int], photo: torch.Tensor | None = None
) -> torch.Tensor:
    """A coarse scale's normalized result brought to `size` (width, height) for the next scale.

    Upsampled alone it is a blur: the finest octave is missing, and the Gram matrices of the
    first layers (the seed weighs them most) then start further off than the photo itself. Given
    the normalized `photo` at `size`, its own finest octave (the photo minus its downsampled-then-
    upsampled self) is added back: the stylized structure of the coarse scale with the photo's
    edges. The result is kept inside the valid pixel range (bicubic overshoots at edges).
    """
    from nst.engine.optim import project  # here: nst.engine.optim imports this module

    hw = (size[1], size[0])
    x = F.interpolate(coarse, size=hw, mode="bicubic", align_corners=False)
    if photo is not None:
        low = F.interpolate(photo, size=coarse.shape[-2:], mode="area")
        x = x + photo - F.interpolate(low, size=hw, mode="bicubic", align_corners=False)
    return project(x)
