"""Looking inside the network: feature maps, Gram matrices, reconstructions.

The computations behind the exploration pages, testable without Streamlit (the views of a run's
own objective: nst.lab.view). The reconstructions follow Gatys, Ecker & Bethge 2016, Fig. 1 (content
from one layer, style from growing subsets of layers, each optimized from white noise) and Fig. 3
(style subsets against the style-content balance, here as style strengths).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from nst import fonts
from nst.engine.config import CONTENT_LAYER, NOTION_LABELS, Config
from nst.engine.image import deprocess, preprocess, resize_long_side, resize_to, to_tensor, white_noise
from nst.engine.losses import content_factor, gram_matrix, layer_style_losses, style_factor
from nst.engine.model import VGGFeatures, fast_bf16, layer_table
from nst.engine.objective import Objective
from nst.engine.optim import BoxLBFGS

CONTENT_RECON_LAYERS = ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]
STYLE_RECON_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# style strengths of the trade-off grid (Fig. 3's columns, style-heavy first as in the paper)
TRADEOFF_STRENGTHS = [4.0, 3.0, 2.0, 1.0]


# ---- feature maps -------------------------------------------------------------------------


@torch.no_grad()
def features(
    model: VGGFeatures, img: Image.Image, layers: list[str], pooling: str = "max"
) -> dict[str, np.ndarray]:
    """(C, H, W) float32 activations of `layers` for an RGB image."""
    dev = model.mean.device
    out = model(to_tensor(img, dev), layers, pooling=pooling)
    return {k: v[0].float().cpu().numpy() for k, v in out.items()}


def channel_stats(fmap: np.ndarray) -> dict[str, np.ndarray]:
    """Per channel: mean, std, max, and the fraction of positions that are active (> 0)."""
    flat = fmap.reshape(fmap.shape[0], -1)
    return {"mean": flat.mean(1), "std": flat.std(1), "max": flat.max(1), "active": (flat > 0).mean(1)}


def top_channels(fmap: np.ndarray, k: int, by: str = "mean") -> list[int]:
    """Indices of the k most active channels (by mean, std or max), most active first."""
    score = channel_stats(fmap)[by]
    order = np.argsort(-score, kind="stable")
    return [int(i) for i in order[:k]]


def normalize_map(m: np.ndarray) -> np.ndarray:
    """A 2-D map scaled to [0, 1] (all zeros stays zeros)."""
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def feature_grid(
    fmap: np.ndarray, channels: list[int], cols: int = 8, cell: int = 96, pad: int = 2
) -> Image.Image:
    """Channels of a (C, H, W) map as a grid of grey tiles, each scaled to its own range.

    Tiles keep the map's aspect ratio: `cell` px on the long side.
    """
    h, w = fmap.shape[1:]
    tw, th = (cell, max(1, round(cell * h / w))) if w >= h else (max(1, round(cell * w / h)), cell)
    rows = max(1, -(-len(channels) // cols))
    grid = Image.new("L", (cols * (tw + pad) + pad, rows * (th + pad) + pad), 255)
    for n, ch in enumerate(channels):
        tile = Image.fromarray((normalize_map(fmap[ch]) * 255).astype(np.uint8), "L")
        tile = tile.resize((tw, th), Image.Resampling.NEAREST)
        r, c = divmod(n, cols)
        grid.paste(tile, (pad + c * (tw + pad), pad + r * (th + pad)))
    return grid


# ---- Gram matrices ------------------------------------------------------------------------


def gram_np(fmap: np.ndarray) -> np.ndarray:
    """The seed's `gram_matrix` of a (c, h, w) feature map held as numpy, in float64."""
    return gram_matrix(torch.from_numpy(np.asarray(fmap, dtype=np.float64))).numpy()


def top_gram_channels(fmap: np.ndarray, k: int, by: str = "variance") -> list[int]:
    """k channels that carry the most of the style: by activation variance or energy (G_ii)."""
    flat = fmap.reshape(fmap.shape[0], -1).astype(np.float64)
    score = flat.var(1) if by == "variance" else (flat**2).sum(1)
    return [int(i) for i in np.argsort(-score, kind="stable")[:k]]


@dataclass(frozen=True)
class LayerDistance:
    layer: str
    distance: float  # root-mean-square difference of the Gram matrices, per position
    loss: float  # the layer's weighted term w_l * E_l in the chosen convention
    share: float  # of the style loss


def gram_distances(
    style_weights: dict[str, float],
    target: dict[str, np.ndarray],
    style_grams: dict[str, np.ndarray],
    convention: str = "seed",
) -> list[LayerDistance]:
    """Per style layer: how far the output's Gram is from the style's, and its share of the loss."""
    t = {k: torch.from_numpy(v[None]) for k, v in target.items()}
    g = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in style_grams.items()}
    terms = layer_style_losses(style_weights, t, g, convention)
    total = float(sum(float(v) for v in terms.values())) or 1.0
    out = []
    for layer, term in terms.items():
        m = target[layer].shape[1] * target[layer].shape[2]
        diff = gram_np(target[layer]) - style_grams[layer]
        out.append(
            LayerDistance(layer, float(np.sqrt((diff**2).mean())) / m, float(term), float(term) / total)
        )
    return out


# ---- reconstructions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One reconstruction of a grid."""

    row: int
    col: int
    label: str
    image: Image.Image
    loss: float


def reconstruct(
    model: VGGFeatures,
    content: Image.Image | None,
    style: Image.Image | None,
    content_layer: str | None,
    style_layers: list[str],
    strength: float | None = None,
    size: int = 128,
    steps: int = 60,
    seed: int = 0,
    convention: str = "gatys2016",
    pooling: str = "max",
    notion: str = "gram",
    init: str = "noise",
) -> tuple[Image.Image, float]:
    """An image optimized (from white noise, or `init` "content": the photo) to match content at
    one layer and/or style, through a run's own `Objective` (its targets, calibration and losses).

    With only `content_layer`: a content reconstruction; with only `style_layers`: a style
    reconstruction (equal weights); with both, the balance of Gatys et al. Fig. 3 given as a
    style strength (Config.style_strength), calibrated on these inputs as a run calibrates it.
    """
    dev = model.mean.device
    base = resize_long_side(content or style, size)
    w, h = base.size
    if not style_layers:  # content alone: the style terms weigh nothing
        weights, alpha, beta = ((content_layer, 0.0),), 1.0, 0.0
    else:
        weights = tuple((name, 1.0 / len(style_layers)) for name in style_layers)
        alpha, beta = (1.0, None) if content_layer else (0.0, 1.0)
    cfg = Config(
        model=model.arch,
        style_weights=weights,
        content_layer=content_layer or CONTENT_LAYER,
        alpha=alpha,
        beta=beta,
        style_strength=Config.style_strength if strength is None else strength,
        convention=convention,
        pooling=pooling,
        style_fit="whole",
        style_notion=notion,
    )
    photo = resize_to(content, (w, h)) if content else base
    # bf16 where it pays (as a stylization does); the losses in fp32
    objective = Objective(model, cfg, photo, [style or photo], fast_bf16(dev))
    from_photo = init == "content" and content is not None
    x = (preprocess(photo, dev) if from_photo else white_noise(w, h, seed, dev)).requires_grad_(True)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        return objective.evaluate(x)[0]

    # The same bounded, scale-free L-BFGS as a stylization: the picture stays valid throughout.
    opt = BoxLBFGS(x, history=50)
    for _ in range(steps):
        opt.step(closure)
    with torch.no_grad():
        final = objective(x)[0].item()
    return deprocess(x.detach()), final


# What each notion of style is, keeps and loses: the Style statistics page's words.
NOTION_NOTES = {
    "gram": {
        "what": "The Gram matrix (Gatys et al. 2016, the seed's): how often two channels fire "
        "together, summed over the whole image. It keeps textures and colours but forgets where "
        "things are. The layers are convolution outputs before their ReLU, so a channel can be "
        "negative and so can an entry.",
        "keeps": "Keeps the painting's colours and the texture of its strokes everywhere, "
        "spread evenly; loses where things were in the painting, so large shapes come apart.",
        "distance": "Gram distance",
    },
    "meancov": {
        "what": "Mean and covariance: each layer's feature vectors seen as one Gaussian cloud, "
        "its centre and its spread, matched by the Wasserstein-2 distance (the optimal-transport "
        "view). The Gram matrix mixes the two; here the mean counts on its own.",
        "keeps": "Keeps the painting's palette and overall contrast more faithfully than the "
        "Gram (its mean is matched on its own); loses the same as the Gram: where things are, "
        "and any texture a Gaussian can't describe.",
        "distance": "W2 distance per channel",
    },
    "patches": {
        "what": "Patches (Li & Wand 2016, CNNMRF): style as a bag of small pieces. Every 3x3 "
        "patch of features is matched to the painting's most alike and pulled towards it, so "
        "local structures survive that correlations smear.",
        "keeps": "Keeps the painting's local structures (whole strokes, edges, small motifs) and "
        "puts them where the photo has something alike; loses the photo faster as the strength "
        "rises, and costs about three times the Gram per step.",
        "distance": "patch distance",
    },
}


def notion_jobs(strength: float = 4.0) -> list[tuple[int, int, str, dict]]:
    """The side-by-side: one photo and painting from the photo under each notion of style."""
    return [
        (
            0,
            i,
            NOTION_LABELS[name],
            {
                "content_layer": CONTENT_LAYER,
                "style_layers": STYLE_RECON_LAYERS,
                "strength": strength,
                "notion": name,
                "init": "content",
            },
        )
        for i, name in enumerate(NOTION_NOTES)
    ]


def content_grid_jobs() -> list[tuple[int, int, str, dict]]:
    return [
        (0, i, layer, {"content_layer": layer, "style_layers": []})
        for i, layer in enumerate(CONTENT_RECON_LAYERS)
    ]


def style_grid_jobs() -> list[tuple[int, int, str, dict]]:
    jobs = []
    for i in range(len(STYLE_RECON_LAYERS)):
        subset = STYLE_RECON_LAYERS[: i + 1]
        label = subset[0] if i == 0 else f"{subset[0]}..{subset[-1]}"
        jobs.append((0, i, label, {"content_layer": None, "style_layers": subset}))
    return jobs


def tradeoff_jobs(content_layer: str = CONTENT_LAYER) -> list[tuple[int, int, str, dict]]:
    jobs = []
    for r in range(len(STYLE_RECON_LAYERS)):
        subset = STYLE_RECON_LAYERS[: r + 1]
        for c, strength in enumerate(TRADEOFF_STRENGTHS):
            jobs.append(
                (
                    r,
                    c,
                    f"{subset[-1]} · strength {strength:g}",
                    {"content_layer": content_layer, "style_layers": subset, "strength": strength},
                )
            )
    return jobs


def run_jobs(
    model: VGGFeatures,
    content: Image.Image,
    style: Image.Image,
    jobs: list,
    size: int,
    steps: int,
    seed: int = 0,
    pooling: str = "max",
) -> Iterator[Cell]:
    """Compute the cells of a grid one by one (so a page can fill it in and stop it)."""
    for row, col, label, kw in jobs:
        img, loss = reconstruct(
            model,
            content if kw.get("content_layer") else None,
            style if kw.get("style_layers") else None,
            size=size,
            steps=steps,
            seed=seed,
            pooling=pooling,
            **kw,
        )
        yield Cell(row, col, label, img, loss)


def grid_sheet(
    cells: list[Cell], rows: int, cols: int, cell: int = 160, title: str = "", max_lines: int = 3
) -> Image.Image:
    """The cells on one labelled sheet, for download.

    Every image is scaled to `cell` px on its long side (small reconstructions are enlarged to a
    size one can see); a row is as tall as its tallest image and longest caption, so little of the
    sheet is blank. Captions are centred under their cell and wrapped to its width, shrunk or
    finally cut short to fit `max_lines`: neighbours never overlap.
    """
    margin, gap, under = 8, 8, 3  # sheet border, space between cells, image to caption
    width = 2 * margin + cols * cell + (cols - 1) * gap
    label_size = min(16, max(11, cell // 11))
    pics, labels = {}, {}
    for c in cells:
        img = c.image.convert("RGB")
        scale = cell / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        pics[c.row, c.col] = img.resize(size, Image.Resampling.LANCZOS)
        labels[c.row, c.col] = fonts.fit(c.label, cell, label_size, max_lines)
    pic_h = [0] * rows
    label_h = [0] * rows
    for (row, col), pic in pics.items():
        f, lines = labels[row, col]
        pic_h[row] = max(pic_h[row], pic.height)
        label_h[row] = max(label_h[row], len(lines) * fonts.line_height(f))
    empty = max(pic_h, default=0) or cell  # a row not computed yet keeps its place
    pic_h = [h or empty for h in pic_h]
    title_font, title_lines = (
        fonts.fit(title, width - 2 * margin, 20, 2, min_size=13) if title else (None, [])
    )
    title_h = len(title_lines) * fonts.line_height(title_font) + gap if title else 0
    height = 2 * margin + title_h + sum(pic_h) + sum(label_h) + rows * under + (rows - 1) * gap
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    y = margin
    for line in title_lines:
        draw.text((margin, y), line, font=title_font, fill="black")
        y += fonts.line_height(title_font)
    y = margin + title_h
    for row in range(rows):
        for col in range(cols):
            x = margin + col * (cell + gap)
            pic = pics.get((row, col))
            if pic is None:
                continue
            # on the caption's line, so each caption sits right under its own picture
            sheet.paste(pic, (x + (cell - pic.width) // 2, y + pic_h[row] - pic.height))
            f, lines = labels[row, col]
            ty = y + pic_h[row] + under
            for line in lines:
                draw.text((x + (cell - f.getlength(line)) / 2, ty), line, font=f, fill="#222")
                ty += fonts.line_height(f)
        y += pic_h[row] + under + label_h[row] + gap
    return sheet


# ---- conventions --------------------------------------------------------------------------


def layer_sizes(arch: str, width: int, height: int) -> dict[str, tuple[int, int]]:
    """(channels N, positions M) of every conv layer for an input of width x height."""
    out = {}
    for t in layer_table(arch):
        if t.kind == "conv":
            out[t.name] = (t.channels, (height // t.stride) * (width // t.stride))
    return out


def convert_weights(
    style_weights: dict[str, float],
    alpha: float,
    beta: float,
    from_conv: str,
    to_conv: str,
    arch: str,
    width: int,
    height: int,
    content_layer: str = CONTENT_LAYER,
) -> dict:
    """The weights that give the same objective (up to a constant factor) in another convention.

    Each convention scales a layer's raw sum of squared Gram differences by its own factor
    (see nst.engine.losses); the same balance therefore needs, per layer, beta*w_l multiplied by
    f_from(N_l, M_l) / f_to(N_l, M_l), with alpha kept and the whole rescaled by the content
    factors' ratio. Returns alpha, per-layer beta*w_l in the target convention, and one beta
    that keeps the first layer's weight at its original value.
    """
    sizes = layer_sizes(arch, width, height)
    nc, mc = sizes[content_layer]
    k = content_factor(to_conv, nc, mc) / content_factor(from_conv, nc, mc)
    effective = {}
    for layer, w in style_weights.items():
        n, m = sizes[layer]
        effective[layer] = k * beta * w * style_factor(from_conv, n, m) / style_factor(to_conv, n, m)
    first = next(iter(style_weights))
    beta_to = effective[first] / style_weights[first] if style_weights[first] else 0.0
    weights_to = {name: (v / beta_to if beta_to else 0.0) for name, v in effective.items()}
    return {"alpha": alpha, "beta": beta_to, "style_weights": weights_to, "effective": effective}


def contact_sheet(
    images: list[Image.Image], captions: list[str], cell: int = 256, title: str = ""
) -> Image.Image:
    """Images side by side (four to a row) with captions underneath, for the Compare page's
    export. A caption may hold line breaks."""
    cols = min(4, max(1, len(images)))
    rows = max(1, -(-len(images) // cols))
    cells = [
        Cell(i // cols, i % cols, cap, img, 0.0)
        for i, (img, cap) in enumerate(zip(images, captions, strict=True))
    ]
    return grid_sheet(cells, rows, cols, cell, title, max_lines=5)
