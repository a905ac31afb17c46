"""Dtype, value-range and mode tables of the image boundary (private).

The service speaks 8-bit gray or RGB(A). Everything the caller may hand over
is brought to that and, after the job, back to the caller's own dtype, value
range, channel layout and Pillow mode. The tables here say how.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from PIL import Image

from ._depth import Levels, expand
from .errors import InputError

#: White (the largest value) per supported array dtype; black is 0 / False.
#: Floats are in [0, 1] (scikit-image's convention); the service sees 8 bits.
DTYPE_RANGES: dict[str, tuple[float, float]] = {
    "bool": (0, 1),
    "uint8": (0, 255),
    "uint16": (0, 65535),
    "float16": (0.0, 1.0),
    "float32": (0.0, 1.0),
    "float64": (0.0, 1.0),
}

#: Channel layouts of arrays: the number of channels → (layout, 8-bit PIL mode).
_LAYOUTS: dict[int, tuple[str, str]] = {
    1: ("HW1", "L"),
    2: ("HW2", "LA"),
    3: ("HW3", "RGB"),
    4: ("HW4", "RGBA"),
}

_ALLOWED_ARRAYS = (
    "arrays of shape (H, W) or (H, W, C) with C in 1-4 and dtype "
    + ", ".join(f"{name} ({lo:g}-{hi:g})" for name, (lo, hi) in DTYPE_RANGES.items())
    + ", or another integer dtype with values in 0-255 or 0-65535"
)

#: Pillow modes whose values are gray levels wider than 8 bits.
WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
#: Pillow modes returned unchanged in family by ``output="same"``, per input mode.
_SAME_MODE: dict[str, str] = {
    "1": "1",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
}
GRAY_MODES = ("1", "L", "LA", "La", *WIDE_GRAY_MODES)


def _problem(what: str) -> InputError:
    return InputError(f"{what}; allowed: {_ALLOWED_ARRAYS}")


def check_array(array: np.ndarray) -> tuple[str, str]:
    """Validate an array; return its ``(layout, 8-bit PIL mode)``.

    Raises :class:`InputError` naming the problem and what is allowed.
    """
    dtype = array.dtype
    if dtype.name not in DTYPE_RANGES and dtype.kind not in "iu":
        raise _problem(f"array dtype {dtype} is not supported")
    if array.ndim not in (2, 3):
        raise _problem(f"array of shape {array.shape} has {array.ndim} dimensions")
    if array.size == 0 or array.shape[0] == 0 or array.shape[1] == 0:
        raise _problem(f"array of shape {array.shape} is empty")
    if array.ndim == 2:
        layout, mode = "HW", "L"
    else:
        channels = array.shape[2]
        if channels not in _LAYOUTS:
            hint = ""
            if array.shape[0] in _LAYOUTS:
                hint = (
                    f" (it looks channel-first, {array.shape[0]} channels of"
                    f" {array.shape[1]}x{channels}: pass np.moveaxis(a, 0, -1))"
                )
            raise _problem(f"array of shape {array.shape} has {channels} channels{hint}")
        layout, mode = _LAYOUTS[channels]
    if dtype.kind == "f":
        low, high = float(array.min()), float(array.max())
        if np.isnan(low) or np.isnan(high):
            raise _problem("float array contains NaN")
        if np.isinf(low) or np.isinf(high):
            raise _problem("float array contains inf")
        if low < 0.0 or high > 1.0:
            raise _problem(
                f"float array has values in [{low:g}, {high:g}], outside [0, 1]"
                " (scale it, e.g. divide 0-255 data by 255)"
            )
    return layout, mode


def to_uint8(array: np.ndarray, peak: float | None = None) -> np.ndarray:
    """The array as uint8 0-255 (no copy for uint8), rounding to nearest.

    ``peak`` is the value that maps to 255 (default: the dtype's, from
    :data:`DTYPE_RANGES`).
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.view(np.uint8) * np.uint8(255)
    if peak is None:
        peak = DTYPE_RANGES[array.dtype.name][1]
    if array.dtype == np.uint16 and peak == 65535:
        # exact rounding of v / 257 in integers
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    scaled = array.astype(np.float32) * np.float32(255.0 / peak)
    np.clip(scaled, 0, 255, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


def from_uint8(array: np.ndarray, dtype: DTypeLike, peak: float | None = None) -> np.ndarray:
    """The inverse of :func:`to_uint8`: uint8 values in ``dtype``'s range."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return array
    if dtype == np.bool_:
        return array >= 128
    if peak is None:
        peak = DTYPE_RANGES[dtype.name][1]
    if dtype.kind == "u" and peak == 65535:
        return array.astype(dtype) * dtype.type(257)
    if dtype.kind == "f":
        out = array.astype(dtype)
        if peak == 1.0:
            out /= np.array(255, dtype)
        else:
            out *= np.array(peak / 255.0, dtype)
        return out
    return (array.astype(np.float64) * (peak / 255.0)).round().astype(dtype)


def wide_gray_peak(image: Image.Image) -> float:
    """The white value of a wide gray Pillow image (``I;16*``, ``I``, ``F``).

    ``I;16*`` is 0-65535. ``I`` and ``F`` hold whatever was put in them, so
    their range is read from the data: ``F`` with values up to 1 is 0-1;
    ``I``/``F`` up to 255 are 0-255 (Pillow's own ``convert("I")``/``"F"``
    from ``L``); up to 65535 they are 16-bit. The choice is recorded, so the
    result comes back in the same range.
    """
    mode = image.mode
    if mode.startswith("I;16"):
        return 65535.0
    if mode == "F":
        values = np.asarray(image)
        low, high = float(values.min()), float(values.max())
        if np.isnan(low) or np.isnan(high) or np.isinf(low) or np.isinf(high):
            raise InputError(
                "mode F image contains NaN or inf; allowed: finite values in 0-1, 0-255 or 0-65535"
            )
    else:
        extrema: Any = image.getextrema()
        low, high = float(extrema[0]), float(extrema[1])
    if low < 0 or high > 65535:
        raise InputError(
            f"mode {mode} image has values in [{low:g}, {high:g}]; allowed: 0-1 (F only),"
            " 0-255 or 0-65535"
        )
    if mode == "F" and high <= 1.0:
        return 1.0
    return 255.0 if high <= 255 else 65535.0


def wide_gray_values(image: Image.Image, peak: float) -> np.ndarray:
    """The values of an ``I;16*``/``I``/``F`` image as a native-order array (uint16 for 16-bit data)."""
    values = np.asarray(image)
    if values.dtype.byteorder == ">":
        values = values.astype(values.dtype.newbyteorder("="))
    if values.dtype == np.int32 and peak == 65535:
        values = values.astype(np.uint16)
    return values


def wide_gray_to_l(image: Image.Image, peak: float) -> Image.Image:
    """An ``I;16*``/``I``/``F`` image as 8-bit ``L`` over its mode's whole range (0 → 0, peak → 255)."""
    values = wide_gray_values(image, peak)
    return Image.fromarray(np.ascontiguousarray(to_uint8(values, peak)))


def l_to_wide_gray(gray: Image.Image, mode: str, levels: Levels) -> Image.Image:
    """8-bit ``L`` levels back in a wide gray ``mode``, through the input's :class:`Levels`."""
    values = np.asarray(gray)
    if mode == "F":
        return Image.fromarray(expand(values, levels, np.float32))
    if mode == "I":
        return Image.fromarray(expand(values, levels, np.int32))
    wide = expand(values, levels, np.uint16)
    if mode == "I;16":
        return Image.fromarray(wide)
    order = ">u2" if mode == "I;16B" else "<u2" if mode == "I;16L" else "=u2"
    return Image.frombytes(mode, gray.size, wide.astype(order).tobytes())


def is_gray_mode(mode: str) -> bool:
    """True for Pillow modes whose colour is a single gray channel."""
    return mode in GRAY_MODES


def same_mode(mode: str, has_transparency: bool) -> str:
    """The Pillow mode ``output="same"`` gives back for an input ``mode``.

    ``P`` comes back as ``RGB`` (``RGBA`` when it had transparency), ``La`` /
    ``RGBa`` as ``LA`` / ``RGBA``, ``PA`` as ``RGBA``; every other mode as itself.
    """
    if mode == "P":
        return "RGBA" if has_transparency else "RGB"
    return _SAME_MODE.get(mode, mode)


def split_8bit(image: Image.Image) -> tuple[Image.Image, Image.Image | None, str]:
    """Split an image of any mode into 8-bit colour (``L``/``RGB``) and alpha (``L``).

    Returns ``(colour, alpha or None, peak-tag)``; raises :class:`InputError`
    for a mode Pillow cannot bring to RGB.
    """
    mode = image.mode
    if mode in ("La", "RGBa"):
        image = image.convert({"La": "LA", "RGBa": "RGBA"}[mode])
        mode = image.mode
    if mode in ("L", "RGB") and image.info.get("transparency") is not None:
        image = image.convert(mode + "A")  # a colour key is transparency too
        mode = image.mode
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
        mode = image.mode
    if mode == "1":
        return image.convert("L"), None, "L"
    if mode in ("L", "RGB"):
        return image, None, mode
    if mode in ("LA", "RGBA"):
        bands = image.split()
        colour = bands[0] if mode == "LA" else Image.merge("RGB", bands[:3])
        return colour, bands[-1], mode
    try:
        return image.convert("RGB"), None, "RGB"
    except (ValueError, OSError) as exc:
        raise InputError(
            f"Pillow mode {mode!r} cannot be converted to RGB ({exc}); allowed: 1, L, LA, P, PA,"
            " RGB, RGBA, CMYK, YCbCr, I;16, I, F and other modes Pillow converts to RGB"
        ) from None


def mode_from_rgb(image: Image.Image, mode: str) -> Image.Image:
    """An 8-bit ``RGB``/``L`` image converted to ``mode`` (falls back to RGB)."""
    if image.mode == mode:
        return image
    try:
        return image.convert(mode)
    except (ValueError, OSError):
        return image.convert("RGB")
