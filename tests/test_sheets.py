"""The downloadable sheets: Greek letters drawn, captions kept apart, little blank paper."""

import numpy as np
from PIL import Image

from nst import fonts
from nst.lab import explore


def test_the_shipped_font_has_alpha_and_beta():
    f = fonts.font(16)
    assert fonts.FONT_PATH.exists() and (fonts.FONT_PATH.parent / "LICENSE_DEJAVU").exists()
    assert getattr(f, "path", "") == str(fonts.FONT_PATH)
    missing = bytes(f.getmask("\uffff"))  # an unmapped character: the "no glyph" box
    for ch in "αβ":
        assert bytes(f.getmask(ch)) != missing
    assert bytes(f.getmask("α")) != bytes(f.getmask("β"))


def _caption_pixels(text: str) -> np.ndarray:
    img = Image.new("RGB", (60, 40), "red")
    sheet = explore.grid_sheet([explore.Cell(0, 0, text, img, 0.0)], 1, 1, cell=120)
    return np.asarray(sheet)[90:]  # below the 120x80 picture


def test_a_caption_with_alpha_beta_renders_its_glyphs():
    greek = _caption_pixels("α/β = 1e-3")
    boxes = _caption_pixels("\uffff/\uffff = 1e-3")
    latin = _caption_pixels("a/b = 1e-3")
    assert (greek < 128).any()
    assert not np.array_equal(greek, boxes) and not np.array_equal(greek, latin)


def test_long_captions_wrap_inside_their_cell_and_never_reach_the_next():
    red, blue = Image.new("RGB", (200, 120), "red"), Image.new("RGB", (200, 120), "blue")
    long = "#1 astronaut + starry_night, the_scream · β 3.162e+06 · 512 px · 200 steps"
    word = "a_single_word_far_too_long_to_fit_on_one_line_of_any_cell_" * 3
    sheet = np.asarray(explore.contact_sheet([red, blue], [long, word], cell=160)).astype(int)
    is_red = (sheet[..., 0] > 200) & (sheet[..., 2] < 60)
    is_blue = (sheet[..., 2] > 200) & (sheet[..., 0] < 60)
    red_x, blue_x = np.nonzero(is_red.any(0))[0], np.nonzero(is_blue.any(0))[0]
    below = np.nonzero(is_red.any(1))[0].max() + 1
    ink = (sheet[below:] < 160).all(-1)  # dark text pixels under the pictures
    assert ink[:, red_x].any() and ink[:, blue_x].any()  # both captions are there
    assert not ink[:, red_x.max() + 1 : blue_x.min()].any()  # nothing in the gap between cells
    assert not ink[:, : red_x.min()].any() and not ink[:, blue_x.max() + 1 :].any()
    assert ink.any(1).sum() > 2 * fonts.line_height(fonts.font(11))  # wrapped, not cut to one line


def test_fit_shrinks_then_cuts_with_an_ellipsis():
    f, lines = fonts.fit("short", 100, 14, 2)
    assert f.size == 14 and lines == ["short"]
    f, lines = fonts.fit("word " * 200, 100, 14, 2, min_size=10)
    assert f.size == 10 and len(lines) == 2 and lines[-1].endswith("…")
    assert all(f.getlength(line) <= 100 for line in lines)


def test_sheets_are_mostly_pictures_not_paper():
    imgs = [Image.new("RGB", (96, 64), c) for c in ("red", "green", "blue", "black")]
    cells = [
        explore.Cell(i // 2, i % 2, f"conv{i}_1 · α/β=1e-3", img, 0.0) for i, img in enumerate(imgs)
    ]
    sheet = explore.grid_sheet(cells, 2, 2, cell=160, title="Style layers vs α/β")
    arr = np.asarray(sheet).astype(int)
    assert (arr > 245).all(-1).mean() < 0.4  # was 0.82: small pictures in big white cells
    assert sheet.width == 2 * 160 + 8 + 2 * 8  # small pictures enlarged to the cell, tight margins
    first_pic = np.nonzero(((arr[..., 0] > 200) & (arr[..., 1] < 60)).any(1))[0].min()
    title_rows = (arr[:first_pic] < 128).all(-1).any(1).sum()
    assert title_rows >= 13  # a title in a readable size
