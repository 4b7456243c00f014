"""Odd and hostile input, failing runs, many users: each gets a result or one clear message."""

import contextlib
import gc
import io
import struct
import subprocess
import sys
import threading
import tomllib
import weakref
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst.engine.config import Config
from nst.engine.image import (
    MAX_ASPECT,
    MIN_INPUT_SIDE,
    MIN_SIDE,
    ImageInputError,
    load_image,
    resize_long_side,
)
from nst.engine.run import Run
from nst.record.export import safe_filename
from tests.conftest import ROOT


def encode(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def photo(size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return encode(photo((64, 32)), "JPEG", exif=exif.tobytes())


def palette_transparent() -> bytes:
    img = Image.new("P", (32, 32), 1)
    img.putpalette([255, 255, 255, 200, 0, 0] + [0, 0, 0] * 254)
    return encode(img, transparency=1)


GOOD = {
    "the smallest accepted": encode(Image.new("RGB", (MIN_INPUT_SIDE,) * 2, (10, 200, 30))),
    "16-bit grey": encode(Image.fromarray(np.full((32, 48), 40000, np.uint16))),
    "CMYK": encode(photo().convert("CMYK"), "JPEG"),
    "LA": encode(photo().convert("LA")),
    "1-bit": encode(photo().convert("1")),
    "palette with transparency": palette_transparent(),
    "animated GIF": animated_gif(),
    "EXIF-rotated": exif_rotated(),
}
BAD = {
    "empty file": (b"", "empty"),
    "text renamed to .png": (b"just some words\n", "not an image"),
    "truncated JPEG": (encode(photo((300, 300)), "JPEG")[:900], "truncated|cannot"),
    "decompression bomb": (png_claiming(40000, 40000), "too large"),
    "1x1 pixel": (encode(Image.new("RGB", (1, 1), (10, 200, 30))), "1x1 px image is too small"),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_odd_but_valid_files_load_and_stylize(name, random_model, swirls):
    img = load_image(GOOD[name], name=name)
    assert img.mode == "RGB"
    run = Run(random_model, img, [swirls], Config(size=32, steps=1, weights="random"))
    run.step(1)
    assert run.evals == 1


def test_exif_rotation_and_wrong_extension(tmp_path):
    assert load_image(GOOD["EXIF-rotated"]).size == (32, 64)
    p = tmp_path / "really_a_png.jpg"
    p.write_bytes(encode(photo()))
    assert load_image(p).size == (64, 48)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_give_one_clear_message(name):
    data, words = BAD[name]
    with pytest.raises(ImageInputError, match=words):
        load_image(data, name="upload.png")


def test_sliver_is_refused_when_sized():
    with pytest.raises(ImageInputError, match="too small"):
        load_image(encode(Image.new("RGB", (3000, 3))))
    img = load_image(encode(Image.new("RGB", (3000, 40))))
    with pytest.raises(ImageInputError, match="elongated"):
        resize_long_side(img, 256)


def test_huge_photo_is_decoded_small():
    big = Image.new("RGB", (6000, 4000), (90, 120, 200))
    data = encode(big, "JPEG", quality=50)
    img = load_image(data, max_side=512)
    assert max(img.size) == 512  # draft mode decodes at 1/8 scale, then resizes


@pytest.mark.parametrize(
    "name,args",
    [
        ("bomb.png", png_claiming(40000, 40000)),
        ("empty.png", b""),
        ("text.png", b"hello"),
        ("cut.jpg", encode(photo((300, 300)), "JPEG")[:900]),
        ("sliver.png", encode(Image.new("RGB", (3000, 3)))),
    ],
)
def test_cli_exits_2_with_one_line_for_hostile_files(tmp_path, name, args):
    bad = tmp_path / name
    bad.write_bytes(args)
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst",
            str(bad),
            "swirls",
            "-o",
            str(tmp_path / "o.png"),
            "--weights",
            "random",
            "--size",
            "64",
            "--steps",
            "1",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise_anything_but_input_error(data):
    try:
        img = load_image(data)
    except ImageInputError:
        return
    assert img.mode == "RGB"


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "HSV"]


@settings(max_examples=200, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    w=st.integers(1, 80),
    h=st.integers(1, 80),
    fmt=st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP"]),
    seed=st.integers(0, 9),
)
def test_random_valid_images_of_every_mode_load_as_rgb(mode, w, h, fmt, seed):
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    try:
        img = base.convert(mode) if mode not in ("I;16", "I", "F") else base.convert("L").convert(mode)
        data = encode(img, fmt)
    except (OSError, ValueError, KeyError):
        return  # that format cannot store that mode; nothing to load
    try:
        with Image.open(io.BytesIO(data)) as check:  # the file as Pillow itself reads it
            check.load()
        readable = True
    except (OSError, ValueError):
        readable = False
    if not readable:  # a file Pillow can't decode may be refused, with one clear message
        with contextlib.suppress(ImageInputError):
            load_image(data, max_side=64)
        return
    long_, short = max(w, h), min(w, h)
    if short < MIN_INPUT_SIDE:
        with pytest.raises(ImageInputError, match="too small"):
            load_image(data, max_side=64)
        return
    shrunk_short = round(short * 64 / long_)
    if long_ > 64 and (long_ / short > MAX_ASPECT or shrunk_short < MIN_SIDE):
        with pytest.raises(ImageInputError, match="elongated|short side"):  # a shape it can't use
            load_image(data, max_side=64)
        return
    out = load_image(data, max_side=64)  # a valid image of a usable shape is never refused
    assert out.mode == "RGB" and max(out.size) <= 64 and min(out.size) >= 1


def test_out_of_memory_ends_the_step_not_the_session(random_model, cat, swirls, monkeypatch):
    run = Run(random_model, cat, [swirls], Config(size=48, steps=10, weights="random"))
    run.step(2)
    before = np.asarray(run.image())

    def boom(*_a, **_k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    monkeypatch.setattr(run.objective_now, "evaluate", boom)  # the one evaluation of a step
    assert run.step(3) == 0
    assert run.status == "failed" and "smaller size" in run.message
    assert np.array_equal(np.asarray(run.image()), before)  # the last image is kept
    assert len(run.history) == 2


def test_four_concurrent_runs_share_the_model_without_leaking(random_model, cat, swirls, mosaic):
    weights_before = {k: v.clone() for k, v in random_model.state_dict().items()}
    cfgs = [
        Config(
            size=48,
            steps=4,
            weights="random",
            beta=10.0 ** (3 + i),
            random_seed=i,
            init="noise" if i % 2 else "content",
        )
        for i in range(4)
    ]
    styles = [swirls, mosaic, swirls, mosaic]

    def alone(i):
        r = Run(random_model, cat, [styles[i]], cfgs[i])
        r.step(4)
        return r

    expected = [np.asarray(alone(i).image()) for i in range(4)]
    results: dict[int, Run] = {}

    def worker(i):
        results[i] = alone(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert np.array_equal(np.asarray(results[i].image()), expected[i])
        assert results[i].config.beta == cfgs[i].beta
    for k, v in random_model.state_dict().items():
        assert torch.equal(v, weights_before[k])  # shared model untouched
    refs = [weakref.ref(r) for r in results.values()]
    results.clear()
    gc.collect()
    assert all(r() is None for r in refs)  # nothing keeps a finished session's run alive


def test_export_names_are_sanitized():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("my photo (1).jpeg") == "my_photo_1"
    assert safe_filename("<script>.png") == "script"
    assert safe_filename("...") == "nst"


def test_upload_size_is_limited_in_the_server_config():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 1 <= cfg["server"]["maxUploadSize"] <= 50
    assert cfg["server"]["fileWatcherType"] == "none"
