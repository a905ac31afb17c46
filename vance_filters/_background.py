"""Composing onto a solid background colour (private): ``background=`` gives an opaque result.

The service composes its cut-out onto the colour (``out_params.bg_composed``);
whatever alpha is still left (the caller's own transparent pixels, which the
service never saw, or an alpha the service sent anyway) is composed here, in
the caller's value range, so the result has no alpha channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from ._convert import DTYPE_RANGES
from .errors import ConfigError

__all__ = ["check_background", "compose", "coverage"]


def check_background(value: Any) -> tuple[int, int, int]:
    """``value`` as an ``(r, g, b)`` tuple of 0-255 ints, or :class:`ConfigError`."""
    if (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ConfigError(f"background={value!r} is not allowed: expected (r, g, b) with 0-255 values")


def coverage(alpha: np.ndarray | None, server_alpha: Image.Image | None) -> np.ndarray | None:
    """How opaque each pixel is (0-1, float32): the input's alpha times the service's."""
    cover: np.ndarray | None = None
    if alpha is not None:
        peak = DTYPE_RANGES[alpha.dtype.name][1]
        cover = alpha.astype(np.float32) / np.float32(peak)
    if server_alpha is not None:
        served = np.asarray(server_alpha).astype(np.float32) / np.float32(255)
        cover = served if cover is None else cover * served
    return cover


def compose(
    values: np.ndarray, cover: np.ndarray, background: tuple[int, int, int], peak: float, dtype: Any
) -> np.ndarray:
    """``values`` (white at ``peak``) over a solid ``background`` colour (0-255), opaque."""
    colour = np.array(background, np.float64) * (peak / 255.0)
    if values.ndim == 2:  # a gray result: the colour's luma (ITU-R 601-2, as Pillow's "L")
        colour = np.array(colour @ np.array([0.299, 0.587, 0.114]))
    weight = cover[..., None] if values.ndim == 3 else cover
    mixed = values.astype(np.float64) * weight + colour * (1.0 - weight)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return mixed >= 0.5
    if dtype.kind != "f":
        mixed = np.rint(np.clip(mixed, 0, peak))
    return mixed.astype(dtype)
