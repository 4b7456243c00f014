"""Prints: the memory plan says before a run starts what it takes and refuses what cannot fit;
a print file is a 16-bit TIFF (or PNG) with its dpi and the sRGB profile."""

import io
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from nst.engine import memory
from nst.engine.config import Config
from nst.record.export import srgb_profile, tiff16_bytes
from tests.conftest import ROOT

GB = 2**30


def test_a_small_image_goes_in_one_pass_and_a_print_in_tiles_under_the_limit():
    small = memory.plan(1024, 768, "bf16", 20, 8 * GB)
    assert small.tiles == 1 and small.tile_pixels is None and small.history == 20
    big = memory.plan(4096, 3072, "bf16", 20, 8 * GB)
    assert big.tiles > 1 and big.peak <= 8 * GB and big.history <= memory.TILED_HISTORY
    assert big.peak == memory.peak(4096, 3072, "bf16", big.history, big.tile_pixels)


def test_a_size_that_cannot_fit_is_refused_with_the_largest_that_can():
    with pytest.raises(memory.MemoryPlanError) as err:
        memory.plan(8192, 6144, "bf16", 20, 4 * GB)
    text = str(err.value)
    largest = int(text.split("about ")[1].split(" px")[0])
    assert "4.0 GB" in text and 2048 < largest < 8192
    h = largest * 3 // 4
    assert memory.plan(largest, h, "bf16", 20, 4 * GB).peak <= 4 * GB  # and that one fits


def test_the_command_line_refuses_in_one_line_and_plans_without_running(tmp_path):
    def nst(*args):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "nst",
                "cat",
                "swirls",
                "-o",
                str(tmp_path / "p.tif"),
                *args,
                "--model",
                "vgg19",
                "--weights",
                "random",
                "--no-store",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    p = nst("--size", "8192", "--max-memory", "2")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "largest that fits" in p.stderr
    p = nst("--size", "4096", "--max-memory", "8", "--plan")
    assert p.returncode == 0 and "tiles" in p.stderr and not (tmp_path / "p.tif").exists()


def test_a_tiff_print_reads_back_as_16_bit_rgb_with_its_dpi_and_profile():
    rgb = np.linspace(0, 1, 30 * 40 * 3).reshape(30, 40, 3)
    data = tiff16_bytes(rgb, Config(size=40), {"run": 7}, [], dpi=240)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        back = page.asarray()
        assert back.dtype == np.uint16 and back.shape == (30, 40, 3)
        assert page.tags["XResolution"].value == (240, 1) and page.tags["ResolutionUnit"].value == 2
        assert page.tags["InterColorProfile"].value == srgb_profile()
        assert '"run": 7' in page.tags["ImageDescription"].value
    assert np.array_equal(back, np.round(rgb * 65535).astype(np.uint16))  # all 16 bits kept
    assert len(np.unique(back)) > 256


def test_a_print_from_the_command_line_is_a_16_bit_tiff(tmp_path):
    out = tmp_path / "print.tif"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst",
            "cat",
            "swirls",
            "-o",
            str(out),
            "--size",
            "64",
            "--steps",
            "2",
            "--model",
            "vgg19",
            "--weights",
            "random",
            "--no-store",
            "--quiet",
            "--dpi",
            "150",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    with tifffile.TiffFile(out) as tif:
        a = tif.pages[0].asarray()
        assert a.dtype == np.uint16 and a.shape[2] == 3 and max(a.shape[:2]) == 64
        assert tif.pages[0].tags["XResolution"].value == (150, 1)
    assert Image.open(out).info.get("dpi") == (150.0, 150.0)


def test_an_srgb_tagged_input_keeps_its_values():
    from PIL import ImageCms

    from nst.engine.image import load_image

    img = Image.new("RGB", (32, 32), (200, 30, 30))
    buf = io.BytesIO()
    img.save(
        buf,
        format="PNG",
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    assert load_image(buf.getvalue()).getpixel((0, 0)) == (200, 30, 30)


def test_a_print_size_on_paper_is_its_pixels_at_the_dpi():
    from nst.cli.prints import print_pixels

    assert print_pixels("30x20cm", 300) == round(30 / 2.54 * 300)  # 3543
    assert print_pixels("12x8in", 300) == 3600 and print_pixels("200x300mm", 254) == 3000
    # a 4:3 image on 30x20 cm paper: its height is what limits it (20 cm x 4/3 = 26.7 cm)
    assert print_pixels("30x20cm", 300, 4 / 3) == round(20 * 4 / 3 / 2.54 * 300)
    assert print_pixels("30x20cm", 300, 2.0) == round(30 / 2.54 * 300)  # wider: the width
    with pytest.raises(ValueError, match="WxH"):
        print_pixels("30x20", 300)


def test_a_portrait_print_is_labelled_with_the_paper_turned_as_its_pixels():
    from nst.cli.prints import print_fit

    fit = print_fit("10x7.5cm", 150, (443, 559))  # a portrait photo on landscape-typed paper
    assert (fit.width, fit.height) == (443, 559) and fit.paper == (7.5, 10.0)
    assert fit.label() == "443x559 px (7.5x9.5 cm at 150 dpi, on 7.5x10 cm paper)"
    fit = print_fit("30x20cm", 300, (443, 559))  # the panel's default paper
    assert fit.height == round(20 * 559 / 443 / 2.54 * 300) and fit.width == 2362
    assert fit.label().startswith(f"2362x{fit.height} px (20x25.2 cm at 300 dpi, on 20x30 cm")


@pytest.mark.parametrize(
    "paper,dpi,size",
    [
        ("10x7.5cm", 150, (443, 559)),
        ("30x20cm", 300, (559, 443)),
        ("20x30cm", 300, (512, 341)),
        ("12x8in", 240, (300, 300)),
        ("8x12in", 240, (200, 600)),
    ],
)
def test_a_print_fits_its_paper_with_the_photos_aspect(paper, dpi, size):
    from nst.cli.prints import PER_INCH, print_fit

    fit = print_fit(paper, dpi, size)
    px_per_unit = dpi / PER_INCH[fit.unit]
    pw, ph = fit.paper
    assert (fit.width >= fit.height) == (pw >= ph) or size[0] == size[1]  # turned as the photo
    assert fit.width <= pw * px_per_unit + 1 and fit.height <= ph * px_per_unit + 1  # it fits
    assert abs(fit.width / fit.height - size[0] / size[1]) < 0.01  # the photo's aspect
    assert min(pw * px_per_unit - fit.width, ph * px_per_unit - fit.height) < 1  # the largest


def test_a_landscape_print_on_paper_of_its_shape_fills_it():
    from nst.cli.prints import print_fit

    fit = print_fit("30x20cm", 300, (600, 400))
    assert fit.label() == "3543x2362 px (30x20 cm at 300 dpi)"


def test_a_print_of_a_stored_run_continues_its_image_as_a_run_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_HOME", str(tmp_path / "home"))
    common = ["--weights", "random", "--quiet"]
    src = tmp_path / "src.png"

    def nst(*args):
        return subprocess.run(
            [sys.executable, "-m", "nst", *args], capture_output=True, text=True, cwd=ROOT
        )

    p = nst(
        "cat", "swirls", "-o", str(src), "--size", "64", "--steps", "3", "--model", "vgg19", *common
    )
    assert p.returncode == 0, p.stderr
    out = tmp_path / "print.tif"
    p = nst("runs", "print", "1", "--size", "128", "-o", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "a print of run 1 as run 2" in p.stderr
    with tifffile.TiffFile(out) as tif:
        a = tif.pages[0].asarray()
    assert a.dtype == np.uint16 and max(a.shape[:2]) == 128
    shown = nst("runs", "show", "2", "--json")
    info = __import__("json").loads(shown.stdout)
    assert info["config"]["size"] == 128 and info["config"]["model"] == "vgg19"
    assert any("a print of run 1" in e["text"] for e in info["events"])
    # its first image is the run's own (upsampled), not the photo
    # a size on paper fits the paper with the photo's own aspect (3x1 in: its height limits it)
    p = nst("runs", "print", "1", "--print-size", "3x1in", "--dpi", "60", "-o", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    from nst.samples import PHOTOS

    w0, h0 = Image.open(PHOTOS["cat"]).size
    with tifffile.TiffFile(out) as tif:
        h, w = tif.pages[0].asarray().shape[:2]
    assert max(w, h) == round(60 * max(w0, h0) / min(w0, h0)) and min(w, h) <= 60
    bad = nst("runs", "print", "1", "--size", "32", "-o", str(out))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "larger than" in bad.stderr
