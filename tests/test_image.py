import io

import numpy as np
import pytest
import torch
from PIL import Image

from nst.engine.image import (
    MIN_INPUT_SIDE,
    ImageInputError,
    combine_luminance,
    deprocess,
    fit_style,
    load_image,
    luminance_image,
    match_colors,
    preprocess,
    resize_long_side,
)


def encode(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(mode="RGB", size=(48, 36)) -> Image.Image:
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w)[None, :]
    arr[..., 1] = np.linspace(0, 255, h)[:, None]
    arr[..., 2] = 128
    return Image.fromarray(arr, "RGB")


def test_preprocess_deprocess_round_trip_is_exact():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    t = preprocess(img)
    assert t.shape == (1, 3, 17, 23)
    assert abs(t.mean().item()) < 2.5  # normalized, not [0, 255]
    assert np.array_equal(np.asarray(deprocess(t)), arr)


def test_every_mode_becomes_rgb():
    base = gradient()
    cases = {
        "L": base.convert("L"),
        "LA": base.convert("LA"),
        "P": base.convert("P"),
        "RGBA": base.convert("RGBA"),
        "CMYK": base.convert("CMYK"),
        "1": base.convert("1"),
    }
    for mode, img in cases.items():
        fmt = "JPEG" if mode == "CMYK" else "PNG"
        out = load_image(encode(img, fmt))
        assert out.mode == "RGB" and out.size == (48, 36), mode


def test_rgba_is_put_on_white():
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    assert load_image(encode(img)).getpixel((3, 3)) == (255, 255, 255)


def test_palette_with_transparency_is_put_on_white():
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    img.info["transparency"] = 0
    assert load_image(encode(img, transparency=0)).getpixel((0, 0)) == (255, 255, 255)


def test_16_bit_grey_keeps_its_range():
    arr = np.full((32, 32), 65535 // 2, np.uint16)
    arr[0, 0] = 65535
    img = Image.fromarray(arr)
    out = load_image(encode(img))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((5, 5))[0] in (127, 128)


def test_exif_orientation_is_honoured():
    img = gradient(size=(64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    out = load_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (32, 64)


def test_first_frame_of_an_animation():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    px = load_image(data).getpixel((5, 5))
    assert px[0] > 200 and px[2] < 50


def test_path_bytes_and_pil_sources(tmp_path):
    img = gradient()
    p = tmp_path / "g.png"
    img.save(p)
    for src in (p, str(p), p.read_bytes(), img, io.BytesIO(p.read_bytes())):
        assert np.array_equal(np.asarray(load_image(src)), np.asarray(img))


@pytest.mark.parametrize(
    "data,words",
    [
        (b"", "empty"),
        (b"hello, I am text", "not an image"),
    ],
)
def test_bad_files_raise_one_clear_error(data, words):
    with pytest.raises(ImageInputError, match=words):
        load_image(data)


@pytest.mark.parametrize("size", [(1, 1), (20, 400), (400, MIN_INPUT_SIDE - 1)])
def test_a_photo_smaller_than_the_minimum_is_refused_in_one_sentence(size):
    w, h = size
    with pytest.raises(ImageInputError) as refused:
        load_image(encode(Image.new("RGB", size, "red")), max_side=2048, name="tiny.png")
    said = str(refused.value)
    assert said == (
        f"tiny.png: a {w}x{h} px image is too small; its short side must be at least "
        f"{MIN_INPUT_SIDE} px"
    )
    with pytest.raises(ImageInputError, match="too small"):  # a PIL image as well as a file
        load_image(Image.new("RGB", size))


def test_the_minimum_size_itself_is_accepted():
    side = MIN_INPUT_SIDE
    assert load_image(encode(Image.new("RGB", (side, 400)))).size == (side, 400)


def test_truncated_jpeg_is_a_clear_error():
    data = encode(gradient(size=(200, 200)), "JPEG")
    with pytest.raises(ImageInputError, match="truncated|cannot"):
        load_image(data[: len(data) // 2])


def test_resize_long_side_and_slivers():
    img = gradient(size=(400, 300))
    assert resize_long_side(img, 200).size == (200, 150)
    assert resize_long_side(Image.new("RGB", (1, 1)), 64).size == (64, 64)
    with pytest.raises(ImageInputError, match="elongated"):
        resize_long_side(Image.new("RGB", (3000, 3)), 256)


def test_style_fits_the_content_size_with_a_scale():
    style = gradient(size=(100, 50))
    assert fit_style(style, (256, 128)).size == (256, 128)
    assert fit_style(style, (256, 128), 0.5).size == (128, 64)


def test_histogram_matching_moves_style_colours_to_the_content():
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 120, (32, 32, 3), dtype=np.uint8))
    style = Image.fromarray(rng.integers(100, 255, (32, 32, 3), dtype=np.uint8))
    out = np.asarray(match_colors(style, content), float)
    assert np.allclose(
        out.reshape(-1, 3).mean(0), np.asarray(content, float).reshape(-1, 3).mean(0), atol=2.0
    )


def test_luminance_transfer_keeps_the_content_colour():
    content = Image.new("RGB", (16, 16), (200, 40, 40))
    style = gradient(size=(16, 16))
    grey = np.asarray(luminance_image(style, content))
    assert np.array_equal(grey[..., 0], grey[..., 1])
    out = combine_luminance(Image.new("RGB", (16, 16), (90, 90, 90)), content)
    r, g, b = out.getpixel((4, 4))
    assert r > g and r > b  # the content's red hue, the output's brightness


def test_tensor_round_trip_on_float_input():
    t = torch.rand(1, 3, 5, 5)
    assert deprocess(preprocess(deprocess(t))).size == (5, 5)
