"""What to make of a photo and its matte (`Render`), the options that choose it, checked as the command line
and the HTTP API take them, and how an output records what it was made from (`fingerprint`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmnet.data.io import MAX_PIXELS, ImageReadError, ImageTooLarge, read_image
from mmnet.runtime import compose
from mmnet.runtime.sources import UsageError

FORMATS = ("alpha", "rgba", "composite", "mask")
COVERS_KEPT = 8  # background images kept resized, one per photo size


@dataclass(frozen=True)
class Render:
    """What to make of a photo and its matte."""

    format: str = "alpha"
    background: compose.Background = "white"
    threshold: float = 0.5
    refine: bool | None = None
    _covers: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        if self.format == "alpha":
            return compose.to_uint8(alpha)
        if self.format == "mask":
            return np.where(alpha > self.threshold, np.uint8(255), np.uint8(0))
        if self.format == "rgba":
            return compose.cutout(rgb, alpha)
        return compose.composite(rgb, alpha, self._background(*rgb.shape[:2]))

    def _background(self, height: int, width: int) -> compose.Background:
        """The background, an image resized to cover height×width once per size (a video's frames share it)."""
        if not isinstance(self.background, np.ndarray):
            return self.background
        if (height, width) not in self._covers:
            if len(self._covers) >= COVERS_KEPT:
                self._covers.clear()
            self._covers[height, width] = compose.cover(self.background, height, width)
        return self._covers[height, width]


# ------------------------------------------------------------------------------------ the options
def check_format(format: str, name: str = "--format") -> None:
    """UsageError unless `format` is one of FORMATS; `name`: the option as the caller's users know it."""
    if format not in FORMATS:
        raise UsageError(f"{name} must be one of {', '.join(FORMATS)}, got {format!r}")


def check_background(format: str, given: bool, name: str = "--background",
                     composite: str = "--format composite") -> None:
    """UsageError when a background is `given` for another format than composite."""
    if given and format != "composite":
        raise UsageError(f"{name} goes with {composite}")


def colour_or_blur(text: str) -> tuple[int, int, int] | str | None:
    """A background given as text: an (R, G, B) colour, "blur", or None for neither (a file name, or nonsense)."""
    return text if text == compose.BLUR else compose.parse_colour(text)


def render_options(format: str, background: str | None, threshold: float, refine: bool | None,
                   max_pixels: int | None = MAX_PIXELS) -> Render:
    """The command line's render options, checked (UsageError); a background image is decoded once here."""
    check_format(format)
    check_background(format, background is not None)
    if not 0 <= threshold <= 1:
        raise UsageError(f"--threshold must be in [0, 1], got {threshold}")
    chosen: compose.Background = "white"
    if background is not None:
        chosen = colour_or_blur(background)
        if chosen is None:
            if not Path(background).is_file():
                raise UsageError(f"--background {background}: not a colour (white, #00ff00, 0,255,0), "
                                 f"'blur', or an image file")
            try:
                chosen = read_image(background, max_pixels)  # decoded once, resized per photo
            except ImageReadError as error:
                raise UsageError(f"--background {with_hint(error)}") from None
    return Render(format, chosen, threshold, refine)


def with_hint(error: ImageReadError) -> str:
    """The error, naming the flag that lifts a pixel limit."""
    return f"{error} (--max-pixels lifts it)" if isinstance(error, ImageTooLarge) else str(error)


# ------------------------------------------------------------------------------------ the records
def output_options(format: str, background: str | None, threshold: float, refine: bool | None) -> dict:
    """The command line's options that make an output what it is (its record adds the model and its input)."""
    return {"format": format, "background": fingerprint(background), "refine": refine,
            **({"threshold": threshold} if format == "mask" else {})}


def fingerprint(path: str | Path | None) -> list | str | None:
    """A file as [name, bytes, modification time in ns] (it changes when the file does); other text as it is."""
    if path is None:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return str(path)
    return [Path(path).name, stat.st_size, stat.st_mtime_ns]
