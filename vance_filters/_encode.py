"""The upload encoding policy (private): lossless when it fits, fast always.

Order of preference, for an 8-bit image the service will see:

1. the pixel limit: above ``max_pixels`` the image is downscaled first;
2. lossless PNG, when it fits ``max_bytes``;
3. JPEG quality 95 with 4:4:4 chroma, then 4:2:0 (colour images only, and
   only when the caller allows JPEG);
4. the smallest downscale that fits, in the last format tried.

The decision is made before encoding the whole image: the PNG (and JPEG)
size is estimated from a few full-width strips spread over the image, so a
large noisy photo goes straight to JPEG with no full-size PNG encode thrown
away, while a small image is simply encoded. Every estimate is verified by
the real encode; a wrong guess costs one more encode, never a wrong upload.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

__all__ = [
    "Encoded",
    "LimitProblem",
    "encode_jpeg",
    "encode_png",
    "estimate",
    "plan_and_encode",
    "probe",
]

logger = logging.getLogger("vance_filters.imaging")

#: zlib(-ng) level for PNG uploads: level 2 is as fast as 1 and a little smaller;
#: 3 costs ~30% more time on noisy photos and 6 up to 6x (measured, Pillow 13).
PNG_COMPRESS_LEVEL = 2
#: JPEG quality used when PNG does not fit.
JPEG_QUALITY = 95
#: Try PNG when its estimate is below this share of ``max_bytes`` (the estimate
#: is within a few percent; a miss costs one wasted encode, not a wrong upload).
_PNG_TRY = 1.0
#: Use a JPEG variant when its estimate is below this share of ``max_bytes``.
_JPEG_TRY = 0.97
#: Aim downscales at this share of ``max_bytes`` (so the first try usually fits
#: while downscaling at most ~1.5% more, linearly, than strictly needed).
_DOWNSCALE_AIM = 0.97
#: A downscale whose upload is below this share of ``max_bytes`` is refined once more.
_DOWNSCALE_LOW = 0.90
#: Sample size for the estimates: this share of the pixels, at least _SAMPLE_MIN.
_SAMPLE_SHARE = 1 / 100
_SAMPLE_MIN = 131_072
_STRIPS = 8

Encoder = Callable[[Image.Image], bytes]


def encode_png(image: Image.Image) -> bytes:
    """Encode ``image`` as PNG with the fast upload settings (pixels only, no metadata)."""
    buffer = io.BytesIO()
    image.save(
        buffer, "PNG", compress_level=PNG_COMPRESS_LEVEL, icc_profile=None, transparency=None
    )
    return buffer.getvalue()


def encode_jpeg(image: Image.Image, subsampling: str = "4:4:4") -> bytes:
    """Encode ``image`` as JPEG quality 95 with the given chroma ``subsampling`` (no metadata)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=subsampling, comment=b"")
    return buffer.getvalue()


def _encoder(fmt: str, subsampling: str | None) -> Encoder:
    if fmt == "png":
        return encode_png
    return lambda image: encode_jpeg(image, subsampling or "4:4:4")


def png_upper_bound(image: Image.Image) -> int:
    """A size PNG never exceeds for ``image`` (zlib stored blocks, per-row filter bytes)."""
    width, height = image.size
    raw = (width * len(image.getbands()) + 1) * height
    return raw + raw // 16_000 * 5 + 4096


def estimate(image: Image.Image, encoder: Encoder, *, align: int = 1) -> int:
    """Estimate ``len(encoder(image))`` by encoding a few full-width strips.

    Strips (not tiles) keep PNG's row filters and zlib window honest; for
    JPEG pass ``align=16`` so the strips hold whole blocks.
    """
    return probe(image, encoder, align=align)[0]


def probe(image: Image.Image, encoder: Encoder, *, align: int = 1) -> tuple[int, bytes | None]:
    """``(estimated size, None)``, or ``(real size, the encoding)`` for a small image.

    When a sample would cover half the image anyway, the whole image is
    encoded once and that encoding is handed back for use, never redone.
    """
    width, height = image.size
    pixels = width * height
    sample = max(_SAMPLE_MIN, int(pixels * _SAMPLE_SHARE))
    rows = max(align, math.ceil(sample / width / _STRIPS / align) * align)
    if sample >= pixels * 0.5 or rows * _STRIPS >= height * 0.5:
        data = encoder(image)
        return len(data), data
    # every strip file repeats the headers (JPEG tables: ~640 bytes): count them once
    overhead = len(encoder(image.crop((0, 0, min(width, 8), min(height, 8)))))
    total_bytes = 0
    total_pixels = 0
    for i in range(_STRIPS):
        top = int((i + 0.5) * height / _STRIPS - rows / 2)
        top = min(max(0, top), height - rows)
        strip = image.crop((0, top, width, top + rows))
        total_bytes += max(0, len(encoder(strip)) - overhead)
        total_pixels += width * rows
    return int(total_bytes * pixels / total_pixels) + overhead, None


@dataclass(frozen=True)
class Encoded:
    """What was chosen for the upload and why."""

    data: bytes
    format: str  # "png" | "jpeg"
    size: tuple[int, int]
    reason: str
    subsampling: str | None = None
    png_estimate: int | None = None


class LimitProblem(Exception):
    """Raised inside the policy when a downscale is needed but not allowed."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def fit_pixels(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """The largest size with ``size``'s aspect ratio and at most ``max_pixels`` pixels."""
    width, height = size
    if width * height <= max_pixels:
        return size
    factor = math.sqrt(width * height / max_pixels)
    while True:
        new = (max(1, math.floor(width / factor)), max(1, math.floor(height / factor)))
        if new[0] * new[1] <= max_pixels:
            return new
        factor *= 1.001


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def plan_and_encode(
    image: Image.Image,
    *,
    formats: tuple[str, ...],
    max_bytes: int,
    max_pixels: int,
    allow_downscale: bool,
    why_png: str = "",
) -> Encoded:
    """Choose the upload format and size for ``image`` and encode it once (usually).

    Parameters
    ----------
    image : PIL.Image.Image
        8-bit ``L``, ``LA``, ``RGB`` or ``RGBA``, as stored.
    formats : tuple of str
        Formats allowed, in order of preference: ``("png", "jpeg")``,
        ``("png",)`` or ``("jpeg",)``.
    max_bytes, max_pixels : int
        The service's limits.
    allow_downscale : bool
        When False, raise :class:`LimitProblem` instead of downscaling.
    why_png : str
        Why only PNG is allowed (for the reason text).
    """
    original = image.size
    size = fit_pixels(original, max_pixels)
    if size != original:
        if not allow_downscale:
            raise LimitProblem(
                f"{original[0]}x{original[1]} is {original[0] * original[1] / 1e6:.1f} MP,"
                f" over the {max_pixels / 1e6:g} MP limit"
            )
        image = _resize(image, size)
    notes: list[str] = []
    if size != original:
        notes.append(f"downscaled to {size[0]}x{size[1]} for the {max_pixels / 1e6:g} MP limit")
    png_estimate: int | None = None
    last_fmt, last_sub = formats[-1], ("4:2:0" if formats[-1] == "jpeg" else None)
    last_bytes: int | None = None

    if "png" in formats:
        bound = png_upper_bound(image)
        if bound <= max_bytes:
            data = encode_png(image)
            return Encoded(data, "png", image.size, _join(notes, "lossless PNG fits" + why_png))
        png_estimate, whole = probe(image, encode_png)
        if png_estimate <= max_bytes * _PNG_TRY or formats == ("png",):
            if png_estimate <= max_bytes * _PNG_TRY:
                data = whole if whole is not None else encode_png(image)
                if len(data) <= max_bytes:
                    reason = f"lossless PNG fits (estimated {_mb(png_estimate)})" + why_png
                    return Encoded(
                        data, "png", image.size, _join(notes, reason), None, png_estimate
                    )
                notes.append(f"PNG estimated {_mb(png_estimate)} but was {_mb(len(data))}")
                last_bytes = len(data)
            else:
                last_bytes = png_estimate
        else:
            notes.append(f"PNG estimated {_mb(png_estimate)} > {_mb(max_bytes)}")

    if "jpeg" in formats:
        for subsampling in ("4:4:4", "4:2:0"):
            guess, whole = probe(image, _encoder("jpeg", subsampling), align=16)
            last_bytes = guess
            if guess > max_bytes * (_JPEG_TRY if whole is None else 1.0):
                notes.append(f"JPEG {subsampling} estimated {_mb(guess)}")
                continue
            data = whole if whole is not None else encode_jpeg(image, subsampling)
            if len(data) <= max_bytes:
                reason = f"JPEG q{JPEG_QUALITY} {subsampling}"
                return Encoded(
                    data, "jpeg", image.size, _join(notes, reason), subsampling, png_estimate
                )
            notes.append(f"JPEG {subsampling} was {_mb(len(data))}")
            last_bytes = len(data)

    if not allow_downscale:
        raise LimitProblem(
            f"{original[0]}x{original[1]} does not fit {_mb(max_bytes)} as "
            + " or ".join(f.upper() for f in formats)
            + (f" (about {_mb(last_bytes)})" if last_bytes else "")
        )
    assert last_bytes is not None
    return _downscale(
        image, original, last_fmt, last_sub, last_bytes, max_bytes, notes, png_estimate, why_png
    )


def _downscale(
    image: Image.Image,
    original: tuple[int, int],
    fmt: str,
    subsampling: str | None,
    measured: int,
    max_bytes: int,
    notes: list[str],
    png_estimate: int | None,
    why_png: str,
) -> Encoded:
    """The smallest downscale of ``image`` whose ``fmt`` encoding fits ``max_bytes``.

    Bytes scale roughly with pixels, so each factor is predicted from the
    last size seen (secant steps on the area). PNG candidates are first
    checked by a strip estimate of the resized image (a full PNG encode is
    slow); every candidate is verified by encoding. A fit below
    ``_DOWNSCALE_LOW`` of ``max_bytes`` is refined once more towards the
    limit, so the image is never downscaled much more than needed.
    """
    encoder = _encoder(fmt, subsampling)
    factor, current = 1.0, measured
    best: tuple[bytes, Image.Image] | None = None
    best_factor = math.inf
    fail_factor = 1.0  # largest factor known not to fit
    estimates = 0
    for _ in range(12):
        target = factor * math.sqrt(current / (max_bytes * _DOWNSCALE_AIM))
        target = max(target, fail_factor * 1.005)
        if target >= best_factor:
            break
        size = (max(1, math.floor(image.width / target)), max(1, math.floor(image.height / target)))
        small = _resize(image, size)
        whole: bytes | None = None
        if fmt == "png" and estimates < 3 and png_upper_bound(small) > max_bytes:
            guess, whole = probe(small, encoder)
            estimates += 1
            if (
                whole is None
                and not _DOWNSCALE_LOW * max_bytes <= guess <= _DOWNSCALE_AIM * max_bytes
            ):
                factor, current = target, guess
                continue
        data = whole if whole is not None else encoder(small)
        factor, current = target, len(data)
        if len(data) <= max_bytes:
            best, best_factor = (data, small), target
            if len(data) >= _DOWNSCALE_LOW * max_bytes:
                break
        else:
            fail_factor = target
    if best is None:  # pragma: no cover - needs hostile data
        raise LimitProblem(f"no downscale fits {_mb(max_bytes)}")
    data, small = best
    label = "PNG" if fmt == "png" else f"JPEG q{JPEG_QUALITY} {subsampling}"
    ratio = original[0] / small.width
    reason = (
        f"{label} downscaled {ratio:.3f}x to {small.width}x{small.height} to fit {_mb(max_bytes)}"
    )
    return Encoded(data, fmt, small.size, _join(notes, reason + why_png), subsampling, png_estimate)


def _join(notes: list[str], final: str) -> str:
    return "; ".join([*notes, final])
