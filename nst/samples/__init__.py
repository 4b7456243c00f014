"""The embedded sample images (see README.md in this folder for sources and licences)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = {
    "tubingen": HERE / "tubingen.jpg",
    "cat": HERE / "cat.jpg",
    "astronaut": HERE / "astronaut.jpg",
}
STYLES = {
    "starry_night": HERE / "starry_night.jpg",
    "the_scream": HERE / "the_scream.jpg",
    "swirls": HERE / "swirls.jpg",
    "mosaic": HERE / "mosaic.jpg",
    "waves": HERE / "waves.jpg",
}
# The paper's own pair (Gatys et al. 2016, Fig. 2): what the dashboard opens with.
DEFAULT_PHOTO, DEFAULT_STYLE = "tubingen", "starry_night"
ALL = {**PHOTOS, **STYLES}


def resolve(name_or_path: str) -> str:
    """A sample's path for 'sample:NAME' (or a bare sample name), else the argument unchanged."""
    key = name_or_path.removeprefix("sample:")
    if name_or_path.startswith("sample:") or (key in ALL and not Path(name_or_path).exists()):
        if key not in ALL:
            raise ValueError(f"no sample named {key!r}; samples: {', '.join(ALL)}")
        return str(ALL[key])
    return name_or_path
