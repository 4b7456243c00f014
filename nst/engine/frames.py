"""Thumbnails of a run's progress, kept as it goes, for its GIF (nst.record.export.gif_bytes)."""

from __future__ import annotations

from PIL import Image


class Frames:
    """Thumbnails of a run's progress for its GIF: a bounded list, thinned evenly when full.

    Call `due(step)` to ask whether a step wants a frame (each costs an image conversion), then
    `add(step, image)`. Iterating gives (step, thumbnail) pairs.
    """

    def __init__(self, every: int, limit: int = 80, thumb: int = 256):
        self.every, self.limit, self.thumb = max(1, every), limit, thumb
        self._frames: list[tuple[int, Image.Image]] = []

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def add(self, step: int, image: Image.Image) -> None:
        """Keep a thumbnail of `image` for `step` (once per step)."""
        if self._frames and self._frames[-1][0] == step:
            return
        image = image.copy()
        image.thumbnail((self.thumb, self.thumb))
        self._frames.append((step, image))
        if len(self._frames) > self.limit:  # keep the first, thin the rest evenly
            self._frames = self._frames[:1] + self._frames[2::2]
            self.every *= 2

    def __iter__(self):
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i):
        return self._frames[i]
