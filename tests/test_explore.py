import numpy as np
import pytest
import torch
from PIL import Image

from nst.engine.losses import content_factor, style_factor
from nst.lab import explore


def test_channel_stats_and_top_channels_by_hand():
    fmap = np.zeros((3, 2, 2), np.float32)
    fmap[0] = [[1, 1], [1, 1]]  # mean 1, all active
    fmap[1] = [[0, 0], [0, 8]]  # mean 2, max 8, a quarter active
    fmap[2] = [[-1, 0], [0, 0]]  # mean -0.25
    stats = explore.channel_stats(fmap)
    assert stats["mean"].tolist() == [1.0, 2.0, -0.25]
    assert stats["active"].tolist() == [1.0, 0.25, 0.0]
    assert explore.top_channels(fmap, 2, "mean") == [1, 0]
    assert explore.top_channels(fmap, 3, "max") == [1, 0, 2]


def test_feature_grid_lays_out_tiles_in_the_maps_shape():
    fmap = np.random.default_rng(0).random((10, 5, 7)).astype(np.float32)
    grid = explore.feature_grid(fmap, [0, 1, 2, 3, 4], cols=4, cell=14, pad=2)
    assert grid.size == (4 * 16 + 2, 2 * 12 + 2)  # 7 wide, 5 high: 14x10 tiles
    arr = np.asarray(grid)
    assert arr[2:12, 2:16].max() == 255 and arr[2:12, 2:16].min() == 0  # each tile own range
    wide = explore.feature_grid(np.ones((2, 8, 16), np.float32), [0, 1], cols=2, cell=96, pad=2)
    assert wide.size == (2 * 98 + 2, 48 + 4)  # a 16x8 map is not stretched to a square
    tall = explore.feature_grid(np.ones((1, 16, 8), np.float32), [0], cols=1, cell=96, pad=0)
    assert tall.size == (48, 96)


def test_top_gram_channels_by_variance_and_energy():
    fmap = np.zeros((3, 1, 4), np.float32)
    fmap[0, 0] = [5, 5, 5, 5]  # energy 100, variance 0
    fmap[1, 0] = [0, 2, 0, 2]  # energy 8, variance 1
    fmap[2, 0] = [0, 0, 0, 1]  # energy 1, variance 0.1875
    assert explore.top_gram_channels(fmap, 2, "variance") == [1, 2]
    assert explore.top_gram_channels(fmap, 2, "energy") == [0, 1]


def test_gram_distances_and_shares_by_hand():
    target = {
        "a": np.array([[[1.0, 2.0]], [[0.0, 1.0]]], np.float32),  # gram [[5,2],[2,1]]
        "b": np.array([[[1.0, 1.0]]], np.float32),
    }  # gram [[2]]
    grams = {"a": np.array([[5.0, 2.0], [2.0, 0.0]]), "b": np.array([[0.0]])}
    rows = {r.layer: r for r in explore.gram_distances({"a": 1.0, "b": 1.0}, target, grams)}
    # a: diff has one entry 1 -> mean 1/4, / (c h w = 4) -> 1/16 ; b: diff 2 -> 4 / 2 = 2
    assert rows["a"].loss == pytest.approx(1 / 16)
    assert rows["b"].loss == pytest.approx(2.0)
    assert rows["a"].share == pytest.approx((1 / 16) / (1 / 16 + 2))
    assert rows["b"].distance == pytest.approx(2.0 / 2)  # RMS 2 over M = 2 positions
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)


def test_convention_converter_by_hand():
    # vgg19 at 32x32: conv1_1 has N=64, M=1024; conv4_2 N=512, M=16
    out = explore.convert_weights({"conv1_1": 1.0}, 1.0, 1e5, "seed", "gatys2016", "vgg19", 32, 32)
    k = content_factor("gatys2016", 512, 16) / content_factor("seed", 512, 16)  # 0.5 * 512*16
    expected = k * 1e5 * (1 / (64**3 * 1024)) / (1 / (4 * 64**2 * 1024**2))
    assert out["beta"] == pytest.approx(expected)
    assert out["style_weights"]["conv1_1"] == pytest.approx(1.0)
    same = explore.convert_weights(
        {"conv1_1": 1.0, "conv2_1": 0.5}, 1.0, 1e5, "seed", "seed", "vgg19", 64, 64
    )
    assert same["beta"] == pytest.approx(1e5) and same["style_weights"]["conv2_1"] == 0.5
    # a round trip returns the original weights
    there = explore.convert_weights(
        {"conv1_1": 1.0, "conv3_1": 0.2}, 1.0, 1e5, "seed", "normalized", "vgg19", 64, 64
    )
    back = explore.convert_weights(
        there["style_weights"], 1.0, there["beta"], "normalized", "seed", "vgg19", 64, 64
    )
    assert back["beta"] == pytest.approx(1e5) and back["style_weights"]["conv3_1"] == pytest.approx(0.2)
    assert style_factor("seed", 2, 3) == 1 / (8 * 3)


def test_reconstruction_from_noise_lowers_its_loss(random_model, cat, swirls):
    torch.manual_seed(0)
    _, few = explore.reconstruct(random_model, cat, None, "conv2_2", [], size=48, steps=2)
    img, many = explore.reconstruct(random_model, cat, None, "conv2_2", [], size=48, steps=25)
    assert many < few and img.size == (48, 32)
    cells = list(explore.run_jobs(random_model, cat, swirls, explore.style_grid_jobs()[:2], 32, 3))
    assert [c.col for c in cells] == [0, 1] and cells[1].label == "conv1_1..conv2_1"


def test_grid_jobs_follow_the_paper():
    assert [j[2] for j in explore.content_grid_jobs()] == explore.CONTENT_RECON_LAYERS
    jobs = explore.tradeoff_jobs()
    # Four columns of the style strength, as Fig. 3's four decades of alpha/beta: the most
    # style on the left, the photo's layout clear on the right.
    strengths = [j[3]["strength"] for j in jobs[:4]]
    assert len(jobs) == 20 and strengths == sorted(strengths, reverse=True)
    assert jobs[-1][3]["style_layers"] == explore.STYLE_RECON_LAYERS


def test_sheets_hold_every_cell():
    cells = [
        explore.Cell(r, c, f"{r}{c}", Image.new("RGB", (40, 30), "red"), 0.0)
        for r in range(2)
        for c in range(3)
    ]
    sheet = explore.grid_sheet(cells, 2, 3, cell=40)
    arr = np.asarray(sheet)
    assert sheet.width == 3 * 40 + 2 * 8 + 2 * 8
    assert ((arr[..., 0] > 200) & (arr[..., 1] < 50)).sum() == 6 * 40 * 30  # all, at 40 px
    contact = explore.contact_sheet([Image.new("RGB", (10, 10))] * 5, list("abcde"), cell=20)
    assert contact.width == 4 * 20 + 3 * 8 + 2 * 8
    assert (np.asarray(contact) < 10).all(-1).sum() >= 5 * 20 * 20  # two rows of black squares
