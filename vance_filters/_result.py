"""Results (private): decode what the service sent safely, and write bytes results.

:func:`open_result` refuses a result claiming too many pixels before decoding
it; :func:`encode_result` writes a bytes result in the caller's container
format with the metadata carried over (ICC profile, DPI, EXIF).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, JpegImagePlugin, PngImagePlugin

from ._convert import DTYPE_RANGES, WIDE_GRAY_MODES, split_8bit, wide_gray_peak, wide_gray_to_l
from .errors import InputError, ResultDecodeError, ResultTooLargeError

if TYPE_CHECKING:
    from .imaging import Source

__all__ = [
    "decode_error",
    "encode_result",
    "open_result",
    "plain",
    "resize",
    "resize_alpha",
    "result_8bit",
]

_OUT_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}
#: Container formats kept when bytes come back as bytes; others become PNG.
_ALPHA_CONTAINERS = ("PNG", "WEBP", "TIFF", "GIF")
#: Containers that hold EXIF (Pillow writes it for these).
_EXIF_CONTAINERS = ("JPEG", "PNG", "WEBP", "TIFF")
_SAVE_AS = {"MPO": "JPEG"}


def open_result(data: bytes, max_pixels: int, trans_id: str | None) -> Image.Image:
    """Decode a result, refusing one that claims more than ``max_pixels`` before loading it.

    PNG and JPEG (what the service sends) are opened through their plugins so
    that ``max_pixels`` (not Pillow's global guard) decides; anything else goes
    through ``Image.open`` and Pillow's own guard.
    """
    buffer = io.BytesIO(data)
    try:
        image: Image.Image
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            image = PngImagePlugin.PngImageFile(buffer)
        elif data[:3] == b"\xff\xd8\xff":
            image = JpegImagePlugin.JpegImageFile(buffer)
        else:
            image = Image.open(buffer)
    except Image.DecompressionBombError as exc:
        raise ResultTooLargeError(
            f"the result claims too many pixels ({exc})", trans_id=trans_id
        ) from None
    except Exception as exc:  # noqa: BLE001 - anything undecodable
        raise decode_error(data, exc, trans_id) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ResultTooLargeError(
            f"the result claims {width}x{height} = {width * height / 1e6:.1f} MP, more than"
            f" max_result_pixels={max_pixels} ({max_pixels / 1e6:.1f} MP); it was not decoded",
            trans_id=trans_id,
            hint="pass a larger max_result_pixels if the result is expected to be this big",
        )
    if width < 1 or height < 1:
        raise ResultDecodeError(f"the result is empty ({width}x{height})", trans_id=trans_id)
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001
        raise decode_error(data, exc, trans_id) from None
    return image


def decode_error(data: bytes, exc: BaseException, trans_id: str | None) -> ResultDecodeError:
    excerpt = data[:60].decode("ascii", "replace")
    excerpt = "".join(c if c.isprintable() else "?" for c in excerpt)
    return ResultDecodeError(
        f"the result ({len(data)} bytes, starting {excerpt!r}) is not an image Pillow can decode"
        f" ({type(exc).__name__})",
        trans_id=trans_id,
    )


def result_8bit(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The decoded result as 8-bit colour (``L``/``RGB``) and alpha (``L``) or None."""
    if image.mode in WIDE_GRAY_MODES:
        try:
            peak = wide_gray_peak(image)
        except InputError:
            peak = 65535.0
        return wide_gray_to_l(image, peak), None
    try:
        colour, alpha, _ = split_8bit(image)
    except InputError:
        colour, alpha = image.convert("RGB"), None
    return colour, alpha


def resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an alpha plane (any supported dtype) with Lanczos, in float for wide dtypes."""
    if (alpha.shape[1], alpha.shape[0]) == size:
        return alpha
    if alpha.dtype == np.uint8:
        return np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.LANCZOS))
    if alpha.dtype == np.bool_:
        eight = Image.fromarray(alpha.view(np.uint8) * np.uint8(255))
        return np.asarray(eight.resize(size, Image.Resampling.LANCZOS)) >= 128
    peak = DTYPE_RANGES[alpha.dtype.name][1]
    plane = Image.fromarray(alpha.astype(np.float32))
    out = np.asarray(plane.resize(size, Image.Resampling.LANCZOS))
    out = np.clip(out, 0, peak)
    if alpha.dtype.kind == "u":
        out = np.rint(out)
    return out.astype(alpha.dtype)


def plain(image: Image.Image) -> Image.Image:
    """A plain ``Image`` rather than a ``PngImageFile`` tied to the downloaded bytes, no pixel copy.

    A decoder's image object claims a ``format`` (e.g. PNG for a JPEG input's result) and
    keeps the file around; the caller gets what ``Image.filter`` would give instead.
    """
    if type(image) is Image.Image:
        return image
    if image.mode in ("P", "PA"):
        return image.copy()
    image.load()
    plain = Image.Image()._new(image.im)
    plain.info = dict(image.info)
    return plain


def encode_result(
    pil: Image.Image,
    eight_bit: Image.Image,
    source: Source,
    out_format: str | None,
    dpi: tuple[float, float] | None,
    keep_icc: bool,
    quality: int | None = None,
    exif: bytes | None = None,
) -> bytes:
    """``pil`` written in the input's container (or ``out_format``), with its metadata.

    ``eight_bit`` is the same result in 8 bits, for containers that cannot
    hold ``pil``'s mode. The ICC profile, DPI and ``exif`` are written where
    the container holds them.
    """
    if out_format is not None:
        fmt = _OUT_FORMATS[str(out_format).lower()]
    else:
        fmt = _SAVE_AS.get(source.container or "PNG", source.container or "PNG")
        if fmt not in Image.SAVE:
            fmt = "PNG"
    has_alpha = "A" in pil.getbands()
    if has_alpha and fmt not in _ALPHA_CONTAINERS:
        if out_format is None:
            fmt = "PNG"  # JPEG / BMP... cannot hold the alpha: PNG keeps it
        else:
            # a JPEG was asked for explicitly: the alpha is dropped
            pil = eight_bit = eight_bit.convert("RGB")
            has_alpha = False
    options: dict[str, Any] = {}
    if keep_icc and source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if dpi is not None:
        options["dpi"] = dpi
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = 95 if quality is None else quality
    if fmt == "JPEG":
        options["subsampling"] = "4:4:4"
    if exif is not None and fmt in _EXIF_CONTAINERS:
        options["exif"] = exif
    # this container may not hold this mode (e.g. 16-bit or bilevel as JPEG): the 8-bit gray /
    # RGB(A) version of the same result; nor EXIF this long (JPEG: 64 KB): the pixels without it
    attempts = [(pil, options), (eight_bit, options)]
    if "exif" in options:
        bare = {k: v for k, v in options.items() if k != "exif"}
        attempts += [(pil, bare), (eight_bit, bare)]
    for number, (image, settings) in enumerate(attempts, 1):
        buffer = io.BytesIO()
        try:
            image.save(buffer, fmt, **settings)
        except (OSError, ValueError, KeyError, TypeError):
            if number == len(attempts):
                raise
            continue
        return buffer.getvalue()
    raise AssertionError("unreachable")  # pragma: no cover
