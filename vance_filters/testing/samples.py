"""Deterministic synthetic test images, fast at any size (numpy only)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageChops

#: Scenes are drawn at most this many pixels, then resized (noise is added at full size).
_DRAW_PIXELS = 2_000_000

SampleKind = Literal["photo", "portrait", "object", "gray", "anime"]
KINDS = ("photo", "portrait", "object", "gray", "anime")


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates: y (h, 1) and x (1, w), both in [0, 1]."""
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    return y, x


def _ellipse(img: np.ndarray, cx: float, cy: float, rx: float, ry: float,
             color: tuple[int, ...] | np.ndarray, shade: bool = False) -> np.ndarray:
    """Paint an ellipse (centre and radii as fractions of the size); return its mask."""
    h, w = img.shape[:2]
    x0, x1 = max(0, int((cx - rx) * w)), min(w, int((cx + rx) * w) + 1)
    y0, y1 = max(0, int((cy - ry) * h)), min(h, int((cy + ry) * h) + 1)
    full = np.zeros((h, w), bool)
    if x0 >= x1 or y0 >= y1:
        return full
    ys = (np.arange(y0, y1, dtype=np.float32)[:, None] / max(h - 1, 1) - cy) / max(ry, 1e-6)
    xs = (np.arange(x0, x1, dtype=np.float32)[None, :] / max(w - 1, 1) - cx) / max(rx, 1e-6)
    r2 = ys * ys + xs * xs
    mask = r2 <= 1.0
    colour = np.asarray(color, np.float32)
    if shade:  # a soft light from the upper left
        light = np.clip(1.05 - 0.35 * (xs + ys + 1.0) / 2.0 - 0.15 * r2, 0.55, 1.1)
        patch = np.clip(colour * light[..., None], 0, 255)
        img[y0:y1, x0:x1][mask] = patch[mask]
    else:
        img[y0:y1, x0:x1][mask] = colour
    full[y0:y1, x0:x1] = mask
    return full


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float,
          color: tuple[int, ...] | np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[int(y0 * h) : max(int(y1 * h), int(y0 * h) + 1), int(x0 * w) : max(int(x1 * w), int(x0 * w) + 1)] = True
    img[mask] = np.asarray(color, np.float32)
    return mask


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    top, bottom = rng.uniform(60, 200, 3), rng.uniform(20, 140, 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (top * (1 - y[..., None]) + bottom * y[..., None]) + 40 * (x[..., None] - 0.5)
    for _ in range(6):
        color = rng.uniform(0, 255, 3)
        if rng.random() < 0.5:
            (cx, cy), (rx, ry) = rng.uniform(0.1, 0.9, 2), rng.uniform(0.05, 0.25, 2)
            _ellipse(img, cx, cy, rx, ry, color, shade=True)
        else:
            x0, y0 = rng.uniform(0.0, 0.7, 2)
            _rect(img, x0, y0, x0 + rng.uniform(0.1, 0.3), y0 + rng.uniform(0.1, 0.3), color)
    return img


def _portrait(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    base = rng.uniform(90, 170, 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base * (0.8 + 0.3 * x[..., None]) * (1.1 - 0.2 * y[..., None])
    skin = np.array([224, 172, 140], np.float32) * rng.uniform(0.8, 1.05)
    hair = rng.uniform(20, 90, 3)
    _ellipse(img, 0.5, 1.05, 0.42, 0.3, rng.uniform(30, 200, 3), shade=True)  # shoulders
    _ellipse(img, 0.5, 0.78, 0.09, 0.12, skin * 0.9)  # neck
    _ellipse(img, 0.5, 0.36, 0.25, 0.3, hair)  # hair
    _ellipse(img, 0.5, 0.45, 0.2, 0.27, skin, shade=True)  # face
    for cx in (0.42, 0.58):
        _ellipse(img, cx, 0.4, 0.035, 0.022, (250, 250, 250))
        _ellipse(img, cx, 0.4, 0.016, 0.02, (40, 30, 25))
        _ellipse(img, cx, 0.35, 0.045, 0.008, hair * 0.8)  # brows
    _ellipse(img, 0.5, 0.5, 0.018, 0.045, skin * 0.85)  # nose
    _ellipse(img, 0.5, 0.6, 0.07, 0.018, (170, 70, 80))  # mouth
    return img


def _object(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    background = np.array([236, 236, 232], np.float32) if rng.random() < 0.5 else \
        np.array([40, 120, 200], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = background
    body = rng.uniform(0, 255, 3)
    while np.abs(body - background).max() < 90:
        body = rng.uniform(0, 255, 3)
    _ellipse(img, 0.5, 0.55, 0.22, 0.28, body, shade=True)
    _rect(img, 0.44, 0.18, 0.56, 0.32, body * 0.6)  # a neck or handle
    _ellipse(img, 0.44, 0.48, 0.05, 0.06, np.clip(body * 1.4, 0, 255))  # highlight
    return img


def _anime(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = rng.uniform(150, 250, 3)
    ink = np.zeros((h, w), bool)
    for _ in range(5):
        cx, cy = rng.uniform(0.15, 0.85, 2)
        rx, ry = rng.uniform(0.08, 0.22, 2)
        color = rng.uniform(40, 255, 3)
        outer = _ellipse(img, cx, cy, rx, ry, (0, 0, 0))
        inner = _ellipse(img, cx, cy, rx * 0.93, ry * 0.93, color)
        ink |= outer & ~inner
    img[ink] = (25, 20, 30)
    return img


#: Sensor-like noise amplitude per kind (luminance noise of +-N levels).
_NOISE = {"photo": 6, "portrait": 4, "object": 0, "gray": 6, "anime": 0}
_MAKERS = {"photo": _photo, "portrait": _portrait, "object": _object, "gray": _photo,
           "anime": _anime}


def sample_image(
    kind: SampleKind = "photo", *, size: tuple[int, int] = (512, 384), seed: int = 0
) -> Image.Image:
    """A deterministic synthetic image.

    Parameters
    ----------
    kind : {"photo", "portrait", "object", "gray", "anime"}
        ``photo``: smooth gradients, shapes and sensor-like noise (RGB); ``portrait``: a
        face-like scene (RGB); ``object``: one object on a plain uniform background (RGB,
        good for background removal); ``gray``: a photo in mode L; ``anime``: flat colours
        with dark outlines (RGB).
    size : (int, int)
        ``(width, height)`` in pixels.
    seed : int
        Same seed, same image.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB`` (``L`` for ``gray``).

    Examples
    --------
    >>> img = sample_image("portrait", size=(64, 48), seed=1)
    >>> img.size, img.mode
    ((64, 48), 'RGB')
    >>> sample_image("gray", size=(8, 8)).mode
    'L'
    """
    if kind not in _MAKERS:
        raise ValueError(f"kind={kind!r} is not allowed: expected one of " + ", ".join(KINDS))
    if (
        not isinstance(size, (tuple, list)) or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise ValueError(f"size={size!r} is not allowed: expected (width, height), positive ints")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    width, height = size
    rng = np.random.default_rng(seed)
    shrink = max(1.0, (width * height / _DRAW_PIXELS) ** 0.5)
    draw_w, draw_h = max(1, round(width / shrink)), max(1, round(height / shrink))
    arr = np.clip(_MAKERS[kind](rng, draw_h, draw_w), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    if kind == "gray":
        img = img.convert("L")
    amplitude = _NOISE[kind]
    if amplitude:
        grain = Image.fromarray(
            rng.integers(0, 2 * amplitude + 1, size=(height, width), dtype=np.uint8), "L"
        )
        if img.mode == "RGB":
            grain = Image.merge("RGB", (grain, grain, grain))
        img = ImageChops.add(img, grain, 1.0, -amplitude)
    return img
