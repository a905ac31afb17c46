"""Before / after pictures: ``vf.compare(before, after)`` for notebooks and reports."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import ConfigError
from .imaging import to_pil

__all__ = ["compare"]

_LABEL_HEIGHT = 28
_GAP = 8


def compare(
    *images: Any,
    labels: Sequence[str] | None = None,
    height: int | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Put images side by side, each with a label, at one common height.

    Parameters
    ----------
    *images : PIL.Image.Image, numpy.ndarray, bytes or path
        Two or more images (any kind the filters accept), e.g. before and after.
    labels : sequence of str, optional
        One label per image; default ``("before", "after")`` for two images,
        else ``"1"``, ``"2"``... Sizes are appended (``before 320x240``).
    height : int, optional
        Height every image is scaled to; default the tallest image's, capped at 512.
    background : (r, g, b)
        Canvas colour; transparent areas show a checkerboard.

    Returns
    -------
    PIL.Image.Image
        An RGB image; Jupyter shows it inline.

    Examples
    --------
    >>> from PIL import Image
    >>> import vance_filters as vf
    >>> a, b = Image.new("RGB", (40, 30), "red"), Image.new("L", (80, 60), 128)
    >>> board = vf.compare(a, b, labels=["before", "after"])
    >>> board.mode, board.height
    ('RGB', 96)
    """
    if len(images) < 2:
        raise ConfigError(f"compare() needs at least two images, got {len(images)}")
    if isinstance(labels, (str, bytes)):
        raise ConfigError(f"labels={labels!r} must be a sequence of strings, one per image, not a string")
    if labels is None:
        labels = ("before", "after") if len(images) == 2 else [str(i + 1) for i in range(len(images))]
    if len(labels) != len(images):
        raise ConfigError(f"labels={list(labels)!r} must give one label per image ({len(images)})")
    pictures = [to_pil(image) for image in images]
    if height is None:
        height = min(max(p.height for p in pictures), 512)
    if not isinstance(height, numbers.Integral) or isinstance(height, bool) or height < 1:
        raise ConfigError(f"height={height!r} is not allowed: expected a positive integer")
    height = int(height)
    tiles = []
    for picture in pictures:
        width = max(1, round(picture.width * height / picture.height))
        tiles.append(_flatten(picture).resize((width, height), Image.Resampling.LANCZOS))
    total = sum(t.width for t in tiles) + _GAP * (len(tiles) + 1)
    board = Image.new("RGB", (total, height + _LABEL_HEIGHT + _GAP), background)
    x = _GAP
    for tile, label, picture in zip(tiles, labels, pictures):
        board.paste(tile, (x, _LABEL_HEIGHT))
        text = f"{label} {picture.width}x{picture.height}"
        board.paste(_label(text, tile.width, background), (x, 0))
        x += tile.width + _GAP
    return board


def _label(text: str, width: int, background: tuple[int, int, int]) -> Image.Image:
    """The label drawn within its own picture's width: a smaller font, then cut short."""
    strip = Image.new("RGB", (width, _LABEL_HEIGHT), background)
    draw = ImageDraw.Draw(strip)
    for size in (16, 13, 10):
        font = ImageFont.load_default(size=size)
        if draw.textlength(text, font=font) <= width:
            break
    else:
        while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
            text = text[:-1]
        text += "…"
    draw.text((0, 4), text, fill=(20, 20, 20), font=font)
    return strip


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB, with any transparency shown over a checkerboard."""
    if "A" not in picture.getbands() and "transparency" not in picture.info:
        return picture.convert("RGB")
    rgba = picture.convert("RGBA")
    y, x = np.indices((rgba.height, rgba.width))
    checks = np.where(((x // 8) + (y // 8)) % 2 == 0, 255, 204).astype(np.uint8)
    board = Image.fromarray(np.dstack([checks] * 3), "RGB")
    board.paste(rgba, (0, 0), rgba)
    return board
