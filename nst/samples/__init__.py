"""The embedded sample images (see README.md in this folder for sources and licences)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = {"cat": HERE / "cat.jpg", "astronaut": HERE / "astronaut.jpg"}
STYLES = {"swirls": HERE / "swirls.jpg", "mosaic": HERE / "mosaic.jpg", "waves": HERE / "waves.jpg"}
ALL = {**PHOTOS, **STYLES}


def resolve(name_or_path: str) -> str:
    """A sample's path for 'sample:NAME' (or a bare sample name), else the argument unchanged."""
    key = name_or_path.removeprefix("sample:")
    if name_or_path.startswith("sample:") or (key in ALL and not Path(name_or_path).exists()):
        if key not in ALL:
            raise ValueError(f"no sample named {key!r}; samples: {', '.join(ALL)}")
        return str(ALL[key])
    return name_or_path
