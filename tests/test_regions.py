"""A style per region (nst.engine.regions): the objective by region, its goals, its bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst.engine.config import Config
from nst.engine.image import resize_to, to_tensor
from nst.engine.regions import MAX_REGIONS, Region, RegionError, RegionMap, from_label_image
from nst.engine.run import Run
from nst.engine.together import evaluate_batch

TINY = dict(size=64, steps=5, scales=1, precision="fp32", model="vgg19")


def halves(h: int, w: int, left: int = 1, right: int = 2) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    labels[:, : w // 2], labels[:, w // 2 :] = left, right
    return labels


def two_paintings(labels: np.ndarray, feather: int = 0) -> str:
    regions = (Region("#ff0000", 0), Region("#0000ff", 1))
    return RegionMap(labels, regions, feather).to_text()


def test_the_map_round_trips_as_text():
    m = RegionMap(halves(30, 40), (Region("#ff0000", 0, 2.5), Region("#00ff00", None)), 4)
    back = RegionMap.from_text(m.to_text())
    assert np.array_equal(back.labels, m.labels)
    assert back.regions == m.regions and back.feather == 4
    assert back.regions[1].keep and not back.regions[0].keep


def test_masks_cover_every_pixel_once_and_feathering_widens_the_border():
    sharp = RegionMap(halves(32, 64), (Region("#f00", 0), Region("#00f", 1)), 0)
    soft = RegionMap(halves(32, 64), sharp.regions, 8)
    for m in (sharp, soft):
        masks = m.masks((64, 32), "cpu")
        assert masks.shape == (3, 1, 32, 64)
        assert torch.allclose(masks.sum(0), torch.ones(1, 32, 64))
    row = lambda m: m.masks((64, 32), "cpu")[1, 0, 16]  # noqa: E731
    between = lambda r: int(((r > 0.02) & (r < 0.98)).sum())  # noqa: E731
    assert between(row(sharp)) == 0 and between(row(soft)) >= 6


def test_bad_regions_get_one_sentence_each():
    labels = halves(20, 20)
    with pytest.raises(RegionError, match="at most 8"):
        RegionMap(labels, tuple(Region("#000000", 0) for _ in range(MAX_REGIONS + 1))).checked()
    with pytest.raises(RegionError, match="#0000ff is empty"):
        RegionMap(halves(20, 20, 1, 1), (Region("#ff0000", 0), Region("#0000ff", 0))).checked()
    with pytest.raises(RegionError, match="painting 3 of 2"):
        RegionMap(labels, (Region("#ff0000", 0), Region("#0000ff", 2))).checked(2)
    with pytest.raises(RegionError, match="could not be read"):
        RegionMap.from_text("{not json")
    with pytest.raises(RegionError, match="not a colour"):
        from nst.engine.regions import colour_hex

        colour_hex("blurple")


def test_a_label_image_of_another_size_is_resized_and_said_so():
    img = Image.new("RGB", (40, 20), "white")
    img.paste((250, 5, 5), (0, 0, 20, 20))  # nearly red: still the red region
    m, note = from_label_image(img, [Region("#ff0000", 0)], (80, 40))
    assert "40x20" in note and "80x40" in note
    assert m.labels.shape == (40, 80)
    assert (m.labels[:, :40] == 1).all() and (m.labels[:, 40:] == 0).all()  # white: the rest


def test_one_region_over_the_whole_photo_is_todays_run_exactly(random_model, cat, swirls):
    today = Run(random_model, cat, [swirls], Config(**TINY))
    while today.step(1):
        pass
    w, h = today.size
    whole = RegionMap(np.ones((h, w), np.uint8), (Region("#ff0000", 0),), 0).to_text()
    painted = Run(random_model, cat, [swirls], Config(**TINY, regions=whole))
    while painted.step(1):
        pass
    assert [r.total for r in painted.history] == [r.total for r in today.history]
    assert np.array_equal(np.asarray(painted.image()), np.asarray(today.image()))


def test_a_kept_region_is_not_optimized(random_model, cat, swirls):
    labels = halves(48, 64, left=1, right=0)
    kept = RegionMap(labels, (Region("#00ff00", None),), 0).to_text()
    run = Run(random_model, cat, [swirls], Config(**TINY, init="recolored", regions=kept))
    while run.step(1):
        pass
    out = np.asarray(run.image(), dtype=np.int16)
    photo = np.asarray(resize_to(cat.convert("RGB"), run.image().size), dtype=np.int16)
    w = out.shape[1]
    inside = np.abs(out[:, : w // 2 - 3] - photo[:, : w // 2 - 3])  # 3 px from the border
    assert inside.mean() <= 0.5 and inside.max() <= 1  # the photo, but for rounding
    assert np.abs(out[:, w // 2 :] - photo[:, w // 2 :]).mean() > 3.0  # the rest moved


@pytest.mark.parametrize("notion", ["gram", "meancov", "patches"])
def test_a_print_tiles_with_regions_exactly(random_model, cat, swirls, mosaic, notion):
    """Regions in a print: tiled and untiled loss and gradient agree (masked statistics are sums
    over positions too)."""
    from nst.engine.objective import Objective
    from nst.engine.tiles import HALO, TiledObjective

    content = resize_to(cat.convert("RGB"), (200, 150))
    labels = halves(150, 200)
    labels[:40] = 0  # a band of the rest, across the tiles
    regions = RegionMap(labels, (Region("#f00", 0), Region("#00f", 1, 2.0)), 6).to_text()
    cfg = Config(**TINY, style_notion=notion, regions=regions)
    plain = Objective(random_model, cfg, content, [swirls, mosaic], False)
    tiled = TiledObjective(
        random_model, cfg, content, [swirls, mosaic], False, tile_pixels=(64 + 2 * HALO) ** 2
    )
    torch.manual_seed(0)
    x0 = to_tensor(content, "cpu")
    x0 = random_model.normalize(x0) + 0.3 * torch.randn(1, 3, 150, 200)
    out = []
    for obj in (plain, tiled):
        x = x0.clone().requires_grad_(True)
        loss, parts = obj.evaluate(x)
        out.append((float(loss), float(parts.style), x.grad.clone()))
    (l1, s1, g1), (l2, s2, g2) = out
    assert abs(l2 - l1) / l1 < 1e-4 and abs(s2 - s1) / s1 < 1e-4
    assert float((g2 - g1).norm() / g1.norm()) < 1e-3


@pytest.mark.parametrize("notion", ["gram", "meancov", "patches"])
def test_regions_batch_and_record_under_each_notion(random_model, cat, swirls, mosaic, notion):
    regions = two_paintings(halves(48, 64), feather=4)
    cfg = Config(**TINY, style_notion=notion, regions=regions)
    runs = [Run(random_model, cat, [swirls, mosaic], cfg) for _ in range(2)]
    alone = runs[0]
    alone.x.grad = None
    loss, parts = alone.objective_now.evaluate(alone.x)
    grad = alone.x.grad.clone()
    together = evaluate_batch(runs)
    assert together is not None
    assert abs(float(together[0][0]) - float(loss)) <= 1e-5 * abs(float(loss))
    assert float((runs[0].x.grad - grad).abs().max() / grad.abs().max()) < 1e-5
    # the record's layers sum to its style term
    layers = sum(float(v) for v in parts.layers.values())
    assert abs(layers - float(parts.style)) <= 1e-4 * abs(float(parts.style))


def test_each_region_takes_its_own_painting(real_model, cat, swirls, mosaic):
    """Two halves, two paintings: in each half, the output's Gram distance to its own painting
    is at most half its distance to the other (seed's Gram, per layer, over that half)."""
    cfg = Config(size=128, steps=60, precision="fp32", model=real_model.arch)
    w, h = 128, round(128 * cat.height / cat.width)
    run = Run(real_model, cat, [swirls, mosaic], cfg.replace(regions=two_paintings(halves(h, w))))
    while run.step(10):
        pass
    out = to_tensor(run.image(), "cpu")
    own, other = distances(real_model, out, swirls, mosaic, w // 2)
    for layer in own:
        assert own[layer] <= 0.5 * other[layer], (layer, own[layer], other[layer])


def distances(model, out, left_painting, right_painting, split):
    """Per style layer: the mean over the two halves of each half's Gram distance to its own
    painting, and to the other one's (features of the whole output, each half's positions)."""
    layers = ["conv1_1", "conv2_1", "conv3_1", "conv4_1"]
    with torch.no_grad():
        feats = model(out, layers)
        grams = {}
        for name, painting in (("left", left_painting), ("right", right_painting)):
            p = model(to_tensor(painting.resize((128, 128)), "cpu"), layers)
            grams[name] = {n: gram(f) for n, f in p.items()}
        own, other = {}, {}
        for n, f in feats.items():
            cut = split * f.shape[-1] // out.shape[-1]
            left, right = gram(f[..., :cut]), gram(f[..., cut:])
            d = lambda a, b: float((a - b).pow(2).mean())  # noqa: E731
            own[n] = d(left, grams["left"][n]) + d(right, grams["right"][n])
            other[n] = d(left, grams["right"][n]) + d(right, grams["left"][n])
    return own, other


def gram(f: torch.Tensor) -> torch.Tensor:
    """The Gram matrix per position (a region's statistic, normalized by its size)."""
    c = f.shape[1]
    m = f.reshape(c, -1)
    return m @ m.t() / m.shape[1]


@pytest.mark.parametrize("notion", ["gram", "meancov", "patches"])
def test_the_lab_by_region_equals_the_runs_record(random_model, cat, swirls, mosaic, notion):
    from nst.lab.view import View

    regions = RegionMap(
        halves(48, 64, left=1, right=0), (Region("#ff0000", 1, 3.0),), feather=4
    ).to_text()
    cfg = Config(**TINY, style_notion=notion, regions=regions, style_blend=(1.0, 0.0))
    run = Run(random_model, cat, [swirls, mosaic], cfg)
    run.step(3)
    view = View.of_run(run, random_model)
    assert view.regions == ["the rest of the photo", "region 1 (#ff0000)"]
    record = run.history[-1].style_layers
    whole = {r.layer: r.term for r in view.layer_shares()}
    parts = [{r.layer: r.term for r in view.region(n).layer_shares()} for n in view.regions]
    for layer, value in record.items():
        assert abs(whole[layer] - value) <= 0.01 * abs(value), layer
        assert abs(parts[0][layer] + parts[1][layer] - value) <= 0.01 * abs(value), layer


def test_the_layer_labs_maps_by_region_push_where_the_run_pushes(random_model, cat, swirls, mosaic):
    from nst.lab.view import View

    labels = halves(48, 64, left=1, right=2)
    regions = (Region("#ff0000", 0), Region("#00ff00", None))  # left: swirls; right: kept
    cfg = Config(**TINY, regions=RegionMap(labels, regions, 0).to_text())
    run = Run(random_model, cat, [swirls, mosaic], cfg)
    run.step(2)
    view = View.of_run(run, random_model)
    w = 64
    for name in [None, *view.regions]:
        maps = view.region(name).gradient_maps()
        assert "content conv4_2" in maps and "conv1_1" in maps
        for layer, g in maps.items():
            assert g.shape == (43, 64)  # the run's size (the map is resized to it)
            assert np.all(g[:, w // 2 :] == 0), (name, layer)  # the kept half is held
            assert g[:, : w // 2].sum() > 0, (name, layer)
    # two styled halves: a region's own style term pushes mostly inside it
    both = (Region("#ff0000", 0), Region("#0000ff", 1))
    cfg = Config(**TINY, regions=RegionMap(labels, both, 0).to_text())
    run = Run(random_model, cat, [swirls, mosaic], cfg)
    run.step(2)
    view = View.of_run(run, random_model)
    assert len(view.regions) == 2
    left, right = view.region(view.regions[0]), view.region(view.regions[1])
    g_left, g_right = left.gradient_maps()["conv1_1"], right.gradient_maps()["conv1_1"]
    assert g_left[:, : w // 2].sum() > 5 * g_left[:, w // 2 :].sum()
    assert g_right[:, w // 2 :].sum() > 5 * g_right[:, : w // 2].sum()


# ---- the command line ----------------------------------------------------------------------

RANDOM = ["--model", "vgg19", "--weights", "random", "--size", "48", "--steps", "2", "--quiet"]


def _label_map(tmp_path, size=(40, 30)):
    img = Image.new("RGB", size, "white")
    img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    img.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1] // 2))
    path = tmp_path / "map.png"
    img.save(path)
    return str(path)


def test_the_command_line_keeps_the_regions_with_the_run(tmp_path, capsys):
    from nst.cli import main
    from nst.record.export import cli_command, read_png_config

    out = tmp_path / "out.png"
    args = ["cat", "swirls", "-o", str(out), "--region-map", _label_map(tmp_path)]
    args += ["--region", "red=mosaic:3", "--region", "#0000ff=keep", *RANDOM, "--no-store"]
    assert main(args) == 0
    assert "was resized to the photo's" in capsys.readouterr().err
    cfg = read_png_config(out)
    regions = RegionMap.from_text(cfg.regions)
    assert regions.regions == (Region("#ff0000", 1, 3.0), Region("#0000ff", None))
    assert cfg.style_blend == (1.0, 0.0)  # mosaic was added for the red region only
    command = cli_command(cfg, "cat", ["swirls", "mosaic"])
    assert "--regions" in command and "--style-blend" in command


@pytest.mark.parametrize(
    "region, says",
    [
        (["--region", "red"], "write COLOUR=PAINTING"),
        (["--region", "blurple=1"], "not a colour"),
        (["--region", "green=1"], "is empty"),
        (["--region", "red=1:lots"], "must be a number"),
        (["--region", "red=1:7"], "the strength goes from 0 to 6"),
        (["--region", "red=1:3", "--beta", "1e5"], "needs the style strength"),
        ([], "go together"),
    ],
)
def test_bad_regions_on_the_command_line_exit_2_with_one_line(tmp_path, capsys, region, says):
    from nst.cli import main

    args = ["cat", "swirls", "-o", str(tmp_path / "o.png"), "--region-map", _label_map(tmp_path)]
    assert main([*args, *region, *RANDOM, "--no-store"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and err[0].startswith("nst: error:")


def test_a_sweep_takes_regions_of_its_cells_painting(tmp_path, capsys):
    from nst.cli import main

    base = ["sweep", "cat", "swirls", "-o", str(tmp_path / "sw"), "--region-map", _label_map(tmp_path)]
    assert main([*base, "--region", "red=mosaic", *RANDOM]) == 2
    assert "in a sweep a region takes 1" in capsys.readouterr().err
    assert main([*base, "--region", "red=1", "--region", "blue=keep", *RANDOM]) == 0


def test_regions_change_on_a_paused_run_like_any_setting(random_model, cat, swirls):
    run = Run(random_model, cat, [swirls], Config(**{**TINY, "steps": 8}))
    run.step(3)
    run.pause()
    kept = RegionMap(halves(48, 64, left=1, right=0), (Region("#00ff00", None),), 0).to_text()
    texts = run.update(run.config.replace(regions=kept))
    assert texts == ["regions: none -> 1 painted (#00ff00 keep)"]
    while run.step(1):
        pass
    assert run.evals == 8 and run.status == "done"
    out = np.asarray(run.image(), dtype=np.int16)
    photo = np.asarray(resize_to(cat.convert("RGB"), run.image().size), dtype=np.int16)
    w = out.shape[1]
    assert np.abs(out[:, : w // 2 - 3] - photo[:, : w // 2 - 3]).mean() <= 0.5  # back to the photo


def test_overlapping_strokes_make_no_region_of_their_mixed_colour():
    """Half-transparent blue over red reads purple, near the purple brush: the labels come from
    the strokes in the order they were painted, so the overlap is blue's, and no region appears
    that nobody painted; a later eraser stroke takes its pixels back to the rest."""
    from ui.strokes import COLOURS, labels_of

    def stroke(colour, y, x0, x1, width=10):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        path = [["M", x0, y], ["Q", x0, y, (x0 + x1) / 2, y], ["L", x1, y]]
        return {
            "type": "Path",
            "stroke": f"rgba({r},{g},{b},0.55)",
            "strokeWidth": width,
            "left": (x0 + x1) / 2,
            "top": y,
            "scaleX": 1,
            "scaleY": 1,
            "path": path,
        }

    red, blue = COLOURS[0], COLOURS[1]
    drawing = {
        "objects": [stroke(red, 10, 5, 60), stroke(blue, 10, 40, 95), stroke("#ffffff", 10, 0, 10)]
    }
    labels = labels_of(drawing, COLOURS, (100, 30))
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[10, 30] == 1 and labels[10, 50] == 2 and labels[10, 80] == 2  # blue on top
    assert labels[10, 5] == 0 and labels[25, 50] == 0  # erased; never painted


def test_stored_regions_come_back_on_the_canvas_as_strokes():
    """A run's regions (after a reload, from the Gallery or a label image) are drawn on the
    canvas again as strokes that read back as the same map, but for a stroke's band along a
    border, so they can be painted over rather than painted again."""
    from ui.strokes import COLOURS, brushes_of, labels_of, strokes_of

    labels = np.zeros((480, 640), np.uint8)
    labels[:, :200] = 1
    yy, xx = np.mgrid[:480, :640]
    labels[(yy - 240) ** 2 + (xx - 430) ** 2 < 120**2] = 2
    labels[10:14, 600:603] = 3  # smaller than a band: still there
    three = (Region("#ff0000", 0), Region("#0000ff", 1), Region("#00ff00", None))
    region_map = RegionMap(labels, three)
    size = (480, 360)
    drawing = strokes_of(region_map, size)
    back = labels_of(drawing, COLOURS, size)
    want = np.array(Image.fromarray(labels).resize(size, Image.Resampling.NEAREST))
    assert set(np.unique(back)) == {0, 1, 2, 3}
    wrong = back != want
    assert wrong.mean() < 0.01, wrong.mean()
    # every pixel read back wrongly lies within a band (3 px) of a border of the map
    near = np.zeros_like(wrong)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            near |= np.roll(want, (dy, dx), (0, 1)) != want
    assert not (wrong & ~near).any()
    assert brushes_of(region_map) == [1, 2, 3]  # a label image's colours: the nearest brushes


def test_regions_come_back_under_the_brushes_that_painted_them():
    """Painted with brushes 1 and 3 (none with 2), the stored map has labels 1 and 2; drawn
    again, each region is in its own brush's colour, so its painting and strength go back into
    that brush's controls."""
    from ui.strokes import COLOURS, brushes_of, labels_of, strokes_of

    labels = np.zeros((60, 80), np.uint8)
    labels[:, :30], labels[:, 50:] = 1, 2
    regions = (Region(COLOURS[0], 0), Region(COLOURS[2], None))
    region_map = RegionMap(labels, regions)
    assert brushes_of(region_map) == [1, 3]
    back = labels_of(strokes_of(region_map, (80, 60)), COLOURS, (80, 60))
    assert set(np.unique(back)) == {0, 1, 3}
    assert back[30, 10] == 1 and back[30, 70] == 3 and back[30, 40] == 0
    # two label-image colours nearest the same brush get two brushes
    assert brushes_of(RegionMap(labels, (Region("#ff0000", 0), Region("#ee0000", 1)))) == [1, 6]
