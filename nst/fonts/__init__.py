"""The font of the images the project draws text on (grid and contact sheets), and text fitting.

DejaVu Sans (Bitstream Vera licence with the DejaVu and Arev notices, in LICENSE_DEJAVU; this copy
comes from matplotlib's wheel) ships here because PIL's built-in font has no Greek letters: α and
β came out as empty boxes. Where the file can't be read, PIL's default font is used instead.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_PATH = Path(__file__).with_name("DejaVuSans.ttf")
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=32)
def font(size: int) -> Font:
    """DejaVu Sans at `size` px; PIL's default font where the file or FreeType is missing."""
    try:
        return ImageFont.truetype(str(FONT_PATH), size)
    except (OSError, ImportError):
        return ImageFont.load_default(size=size)


def line_height(f: Font) -> int:
    """Pixels from one line of text to the next."""
    top, bottom = f.getbbox("Ághjαβ")[1::2]
    return int(bottom - top) + max(2, int(bottom - top) // 4)


def wrap(text: str, f: Font, width: int) -> list[str]:
    """`text` broken into lines no wider than `width` px: at spaces (not at no-break spaces, which
    keep "β\u00a01e+05" together), at the line breaks it has, and inside a word only where the word
    alone is too wide."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in filter(None, paragraph.split(" ")):
            candidate = f"{line} {word}" if line else word
            if f.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            for ch in word:  # a word wider than the line: break it where it reaches the edge
                if line and f.getlength(line + ch) > width:
                    lines.append(line)
                    line = ""
                line += ch
        lines.append(line)
    return lines


def fit(text: str, width: int, size: int, max_lines: int, min_size: int = 10) -> tuple[Font, list[str]]:
    """The largest font from `size` down to `min_size` at which `text` fits `width` px in at most
    `max_lines` lines; at `min_size` the last line that fits ends in an ellipsis."""
    for s in range(size, min_size - 1, -1):
        f = font(s)
        lines = wrap(text, f, width)
        if len(lines) <= max_lines:
            return f, lines
    lines = lines[:max_lines]
    last = lines[-1]
    while last and f.getlength(last + "…") > width:
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return f, lines
