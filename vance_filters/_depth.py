"""Bit depth (private): wide values stretched over the range they use, sent as 8 bits, and back.

The service works in 8 bits per channel. Reducing a uint16 frame whose values
lie in 1000-1100 over the dtype's whole range (0-65535) would leave it one or
two levels; stretching the range the data actually use keeps every level up
to 256 per channel. :class:`Levels` is that affine map, ``value = offset +
step * level``; the result's 8-bit levels are mapped back through it, into
the input's range and dtype.

A constant image keeps the dtype's standard step (``peak / 255``) anchored on
its value, so an unchanged result comes back exactly and a changed one moves
by the same amount as an 8-bit image would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._warn import user_stacklevel
from .errors import InputError, PrecisionWarning

__all__ = [
    "Levels",
    "expand",
    "integer_carrier",
    "levels_for",
    "reduce",
    "to_plain8",
    "warn_if_merged",
]

#: Floats with more values than this are sampled (evenly) for the count of distinct levels.
_SAMPLE = 1 << 22


@dataclass(frozen=True)
class Levels:
    """The map between a wide image's values and the 8-bit levels the service sees.

    ``value = offset + step * level`` for ``level`` in 0-255; values given back
    are clipped to ``[low, high]`` (the range used, or the dtype's for a
    constant image). ``peak`` is the dtype's (or mode's) white value.
    """

    offset: float
    step: float
    low: float
    high: float
    peak: float

    @property
    def stretched(self) -> bool:
        """True when the map differs from the dtype's standard one (0 → 0, 255 → peak)."""
        return not (self.offset == 0 and self.step == self.peak / 255)


def levels_for(values: np.ndarray, peak: float) -> Levels:
    """The map for ``values`` (finite, within 0..``peak``): stretched over ``[min, max]``."""
    low, high = float(values.min()), float(values.max())
    if high > low:
        return Levels(low, (high - low) / 255.0, low, high, peak)
    step = peak / 255.0
    anchor = round(low / step)
    return Levels(low - anchor * step, step, 0.0, peak, peak)


def reduce(values: np.ndarray, levels: Levels) -> np.ndarray:
    """``values`` as uint8 levels (round to nearest)."""
    if levels.offset == 0 and levels.step == 257.0 and values.dtype == np.uint16:
        return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)  # exact, integers
    scaled: Any = values.astype(np.float64 if values.dtype == np.float64 else np.float32)
    scaled = (scaled - levels.offset) * (1.0 / levels.step)
    np.clip(scaled, 0, 255, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def expand(levels8: np.ndarray, levels: Levels, dtype: DTypeLike) -> np.ndarray:
    """uint8 ``levels8`` as values in ``dtype`` (the inverse of :func:`reduce`)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" and levels.offset == 0 and levels.step == 257.0:
        return levels8.astype(dtype) * dtype.type(257)  # exact, integers
    work = np.dtype(np.float64 if dtype == np.float64 else np.float32)
    out: Any = levels8.astype(work)
    out = out * work.type(levels.step) + work.type(levels.offset)
    np.clip(out, levels.low, levels.high, out=out)
    if dtype.kind != "f":
        np.rint(out, out=out)
    return out.astype(dtype)


def to_plain8(levels8: np.ndarray, levels: Levels) -> np.ndarray:
    """Stretched 8-bit levels as plain 8-bit values (0 → 0, 255 → ``peak``), for 8-bit results."""
    if not levels.stretched:
        return levels8
    values = expand(levels8, levels, np.float64)
    return np.rint(np.clip(values * (255.0 / levels.peak), 0, 255)).astype(np.uint8)


def integer_carrier(array: np.ndarray) -> np.dtype | None:
    """uint8 or uint16 for an integer array of another dtype whose values fit; None for others.

    Raises :class:`InputError` naming the range when the values do not fit 0-65535.
    """
    if array.dtype.kind not in "iu" or array.dtype in (np.uint8, np.uint16):
        return None
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise InputError(
            f"{array.dtype} array has values in [{low}, {high}]; integer arrays must hold values in"
            " 0-255 (read as uint8) or 0-65535 (read as uint16): clip or rescale them, or give a"
            " float array in [0, 1]"
        )
    return np.dtype(np.uint8) if high <= 255 else np.dtype(np.uint16)


def _distinct(channel: np.ndarray) -> int:
    if channel.dtype in (np.uint8, np.uint16):
        return int(np.count_nonzero(np.bincount(channel.ravel())))
    flat = channel.ravel()
    if flat.size > _SAMPLE:
        flat = flat[:: -(-flat.size // _SAMPLE)]
    return int(np.unique(flat).size)


def warn_if_merged(values: np.ndarray, levels8: np.ndarray, levels: Levels, what: str) -> None:
    """Warn (:class:`PrecisionWarning`) when a channel has more distinct values than 8 bits keep.

    ``values`` and ``levels8`` are ``(H, W)`` or ``(H, W, C)``, colour channels only.
    """
    if values.dtype == np.float16:
        values = values.astype(np.float32)
    planes = (
        [(values, levels8)]
        if values.ndim == 2
        else [(values[..., c], levels8[..., c]) for c in range(values.shape[2])]
    )
    if values.dtype.kind == "f" and values.size > _SAMPLE:
        stride = -(-values.shape[0] * values.shape[1] // _SAMPLE)
        planes = [(v.ravel()[::stride], q.ravel()[::stride]) for v, q in planes]
    worst: tuple[int, int] | None = None
    for plane, eight in planes:
        given, kept = _distinct(plane), _distinct(eight)
        if given > kept and (worst is None or given - kept > worst[0] - worst[1]):
            worst = (given, kept)
    if worst is None:
        return
    given, kept = worst
    message = (
        f"{what} has more distinct levels in a channel than the service's 8 bits give back:"
        " neighbouring levels merge (the range the image uses is stretched over the 256 levels"
        " sent, and the result is mapped back to that range in the input's dtype)"
    )
    warnings.warn(
        PrecisionWarning(message, given, kept, levels.low, levels.high),
        stacklevel=user_stacklevel(),
    )
