"""The image boundary: the caller's image → upload bytes, result bytes → the caller's type.

:func:`prepare` takes what a user hands a filter (a ``PIL.Image.Image`` in any
mode, a numpy array, the bytes of an image file or a path), validates it,
applies the EXIF orientation, splits off the alpha channel and encodes the
colour within the service's limits. :func:`restore` decodes the service's
result safely and gives it back as the caller's own type, size, mode, dtype,
value range and channel layout, with the alpha, ICC profile and DPI put back.
This module knows no HTTP.

Value ranges (the dtype table, :data:`DTYPE_RANGES`)

========= ============ ===========================================
dtype     range        sent as / returned as
========= ============ ===========================================
uint8     0-255        as is
uint16    0-65535      ``round(v / 257)`` / ``v * 257``
float16,  0.0-1.0      ``round(v * 255)`` / ``v / 255`` in the same dtype
float32,
float64
bool      False/True   0/255 / ``v >= 128``
========= ============ ===========================================

Pillow modes ``I;16*`` are 0-65535; ``I`` and ``F`` are read as 0-255 or
0-65535 (``F`` also 0-1) from their values, and come back in the same range.
The service works in 8 bits, so wider inputs come back quantised to 8 bits
in their own range.

Channel layouts: ``(H, W)`` and ``(H, W, 1)`` are gray, ``(H, W, 2)`` gray +
alpha, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin

from . import _encode
from ._convert import (
    DTYPE_RANGES,
    WIDE_GRAY_MODES,
    check_array,
    from_uint8,
    is_gray_mode,
    l_to_wide_gray,
    mode_from_rgb,
    same_mode,
    split_8bit,
    to_uint8,
    wide_gray_peak,
    wide_gray_to_l,
)
from ._warn import user_stacklevel
from .errors import (
    ConfigError,
    DownscaleWarning,
    InputError,
    LimitExceededError,
    ResultDecodeError,
    ResultTooLargeError,
)

__all__ = [
    "DTYPE_RANGES",
    "MAX_RESULT_PIXELS",
    "ImageInput",
    "Prepared",
    "Source",
    "prepare",
    "promised_size",
    "restore",
    "to_pil",
]

logger = logging.getLogger("vance_filters.imaging")

#: Default upper bound on a result's pixels in :func:`restore`: the largest
#: upload (34 MP) enlarged 8x (64x the pixels), ~2.2 gigapixels. A result
#: claiming more is refused before it is decoded (``ResultTooLargeError``).
MAX_RESULT_PIXELS = 34_000_000 * 64

#: What :func:`prepare` accepts.
ImageInput = Image.Image | np.ndarray | bytes | bytearray | memoryview | str | os.PathLike

Kind = Literal["pil", "array", "bytes", "path"]
_OUTPUTS = ("same", "rgb", "rgba")
_OUT_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG"}
_UPLOAD_FORMATS = ("auto", "png", "jpeg")
_ON_LIMIT = ("downscale", "raise")
#: Container formats kept when bytes come back as bytes; others become PNG.
_ALPHA_CONTAINERS = ("PNG", "WEBP", "TIFF", "GIF")
_SAVE_AS = {"MPO": "JPEG"}


@dataclass(frozen=True)
class Source:
    """What the caller handed over, as far as giving their type back needs it.

    Attributes
    ----------
    kind : {"pil", "array", "bytes", "path"}
        The type of the input.
    size : (int, int)
        ``(width, height)`` after the EXIF orientation was applied.
    mode : str
        The input's Pillow mode (for arrays: the equivalent 8-bit mode ``L``,
        ``LA``, ``RGB`` or ``RGBA``; for bytes and paths: the decoded mode).
    gray : bool
        True when the colour is a single gray channel.
    peak : float
        The input's white value (255, 65535 or 1.0; 1 for bool).
    dtype : str or None
        The array's dtype name (arrays only).
    layout : str or None
        The array's layout: ``"HW"``, ``"HW1"``, ``"HW2"``, ``"HW3"`` or ``"HW4"``.
    container : str or None
        Pillow's format name of the decoded file (``"PNG"``, ``"JPEG"``...).
    transparency : bool
        True when the input has an alpha channel (or palette transparency).
    icc_profile : bytes or None
        The input's ICC profile, carried onto the result.
    dpi : (float, float) or None
        The input's DPI, carried onto the result.
    alpha : numpy.ndarray or None
        The input's alpha channel, ``(H, W)``, in the input's dtype (uint8
        for Pillow images and files).

    Examples
    --------
    >>> from PIL import Image
    >>> source = prepare(Image.new("LA", (8, 6))).source
    >>> source.kind, source.size, source.mode, source.gray, source.transparency
    ('pil', (8, 6), 'LA', True, True)
    """

    kind: Kind
    size: tuple[int, int]
    mode: str
    gray: bool
    peak: float = 255.0
    dtype: str | None = None
    layout: str | None = None
    container: str | None = None
    transparency: bool = False
    icc_profile: bytes | None = field(default=None, repr=False)
    dpi: tuple[float, float] | None = None
    alpha: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Prepared:
    """An image ready for ``/upload``, and what :func:`restore` needs to undo it.

    Attributes
    ----------
    data : bytes
        The PNG or JPEG file to upload (at most ``max_bytes``, ``max_pixels``).
    format : {"png", "jpeg"}
        Its format.
    filename : str
        ``"image.png"`` or ``"image.jpg"``.
    size : (int, int)
        ``(width, height)`` as uploaded.
    downscale : float
        Original width / uploaded width (1.0 when not downscaled).
    source : Source
        The caller's input, described.
    reason : str
        Why this format and size were chosen.
    subsampling : str or None
        JPEG chroma subsampling (``"4:4:4"`` or ``"4:2:0"``).
    png_estimate : int or None
        The estimated PNG size in bytes, when one was made.

    Examples
    --------
    >>> import numpy as np
    >>> prepared = prepare(np.zeros((6, 8, 4), np.float32))
    >>> prepared.format, prepared.size, prepared.reason
    ('png', (8, 6), 'lossless PNG fits')
    """

    data: bytes = field(repr=False)
    format: Literal["png", "jpeg"]
    filename: str
    size: tuple[int, int]
    downscale: float
    source: Source
    reason: str = ""
    subsampling: str | None = None
    png_estimate: int | None = None

    @property
    def nbytes(self) -> int:
        """The upload's size in bytes."""
        return len(self.data)


# --------------------------------------------------------------------------- intake


def _open_bytes(data: bytes, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"{what} claims too many pixels for Pillow's decompression-bomb guard ({exc});"
            " raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "not an image"
        reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc))
        raise InputError(
            f"{what} is not an image Pillow can read ({type(exc).__name__}: {reason});"
            " allowed: the bytes of a PNG, JPEG, WebP, TIFF, BMP, GIF... file"
        ) from None
    if image.width < 1 or image.height < 1:
        raise InputError(f"{what} holds an empty ({image.width}x{image.height}) image")
    return image


def _read_path(path: str | os.PathLike[str]) -> bytes:
    name = os.fspath(path)
    if not isinstance(name, str):
        name = os.fsdecode(name)
    if not os.path.exists(name):
        raise InputError(f"path {name!r} does not exist; allowed: a path to an image file")
    if os.path.isdir(name):
        raise InputError(f"path {name!r} is a directory; allowed: a path to an image file")
    try:
        with open(name, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"path {name!r} cannot be read: {exc.strerror or exc}") from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (no copy when there is none)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - broken EXIF: treat as upright
        return image
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        try:
            return ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001
            return image
    return image


def _dpi_of(info: dict[str, Any]) -> tuple[float, float] | None:
    dpi = info.get("dpi")
    if isinstance(dpi, (tuple, list)) and len(dpi) == 2:
        try:
            return (float(dpi[0]), float(dpi[1]))
        except (TypeError, ValueError):
            return None
    return None


def _intake(image: Any) -> tuple[Image.Image, np.ndarray | None, Source]:
    """Validate ``image``; return its 8-bit colour (``L``/``RGB``), alpha and :class:`Source`."""
    if isinstance(image, np.ndarray):
        return _intake_array(image)
    if isinstance(image, Image.Image):
        return _intake_pil(image, "pil")
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InputError("empty bytes given; allowed: the bytes of an image file")
        named = getattr(image, "name", None)  # a file's bytes that know its name (the CLI's)
        what = f"file {named!r}" if isinstance(named, str) else "the bytes given"
        return _intake_pil(_open_bytes(data, what), "bytes")
    if isinstance(image, (str, os.PathLike)):
        data = _read_path(image)
        return _intake_pil(_open_bytes(data, f"file {os.fspath(image)!r}"), "path")
    raise InputError(
        f"cannot use a {type(image).__module__}.{type(image).__qualname__} as an image; allowed:"
        " PIL.Image.Image, numpy.ndarray, bytes of an image file, str or os.PathLike path"
    )


def _intake_array(array: np.ndarray) -> tuple[Image.Image, np.ndarray | None, Source]:
    array = np.asarray(array)
    layout, mode = check_array(array)
    height, width = array.shape[:2]
    data = to_uint8(array)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    alpha = None
    if mode in ("LA", "RGBA"):
        alpha = np.ascontiguousarray(array[:, :, -1])
    if mode == "RGBA":
        # Pillow maps a contiguous RGBA buffer without copying: one copy, into RGB
        colour = Image.fromarray(np.ascontiguousarray(data)).convert("RGB")
    else:
        if mode == "LA":
            data = data[:, :, 0]
        colour = Image.fromarray(np.ascontiguousarray(data))
    source = Source(
        kind="array",
        size=(width, height),
        mode=mode,
        gray=mode in ("L", "LA"),
        peak=float(DTYPE_RANGES[array.dtype.name][1]),
        dtype=array.dtype.name,
        layout=layout,
        transparency=alpha is not None,
        alpha=alpha,
    )
    return colour, alpha, source


def _intake_pil(image: Image.Image, kind: Kind) -> tuple[Image.Image, np.ndarray | None, Source]:
    if image.width < 1 or image.height < 1:
        raise InputError(f"the image is empty ({image.width}x{image.height})")
    container = image.format if kind in ("bytes", "path") else None
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - a lazily opened file that fails to decode
        raise InputError(f"the image cannot be decoded ({type(exc).__name__}: {exc})") from None
    info: dict[str, Any] = {str(k): v for k, v in image.info.items()}
    image = _upright(image)
    mode = image.mode
    peak = 255.0
    if mode in WIDE_GRAY_MODES:
        peak = wide_gray_peak(image)
        colour, alpha_img = wide_gray_to_l(image, peak), None
    else:
        colour, alpha_img, _ = split_8bit(image)
    has_transparency = alpha_img is not None
    alpha = np.asarray(alpha_img) if alpha_img is not None else None
    icc = info.get("icc_profile")
    source = Source(
        kind=kind,
        size=image.size,
        mode=mode,
        gray=is_gray_mode(mode),
        peak=peak,
        container=container,
        transparency=has_transparency,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
        dpi=_dpi_of(info),
        alpha=alpha,
    )
    return colour, alpha, source


# --------------------------------------------------------------------------- prepare


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{name}={value!r} is not allowed: expected one of "
            + ", ".join(repr(a) for a in allowed)
        )


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r} is not allowed: expected a positive integer")


def prepare(
    image: ImageInput,
    *,
    upload_format: Literal["auto", "png", "jpeg"] = "auto",
    on_limit: Literal["downscale", "raise"] = "downscale",
    send_alpha: bool = False,
    max_bytes: int = 10_000_000,
    max_pixels: int = 34_000_000,
) -> Prepared:
    """Validate an image and encode it for upload within the service's limits.

    Parameters
    ----------
    image : PIL.Image.Image, numpy.ndarray, bytes or path
        A Pillow image in any mode Pillow converts to RGB; an array of shape
        ``(H, W[, C])``, C in 1-4, dtype uint8, uint16, float16/32/64 in
        [0, 1] or bool; the bytes of an image file; or a ``str`` /
        ``os.PathLike`` path to one.
    upload_format : {"auto", "png", "jpeg"}
        ``"auto"``: lossless PNG when it fits ``max_bytes``, else JPEG q95
        (4:4:4, then 4:2:0), else the smallest downscale that fits. Gray,
        16-bit, bilevel and alpha uploads always go as PNG. ``"png"`` /
        ``"jpeg"`` force the format; the limits still hold. Float arrays
        are treated like 8-bit photos (PNG, else JPEG).
    on_limit : {"downscale", "raise"}
        What to do when the image does not fit the limits: downscale it by
        the smallest factor that fits (with a :class:`DownscaleWarning`; the
        result is resized back locally), or raise :class:`LimitExceededError`.
    send_alpha : bool
        Upload the alpha channel too (RGBA / LA PNG). By default only the
        colour is sent and the alpha is put back by :func:`restore`.
    max_bytes, max_pixels : int
        The service's limits (10 MB, 34 megapixels).

    Returns
    -------
    Prepared
        The upload bytes, their format and size, and the :class:`Source`.

    Raises
    ------
    InputError
        The image is unusable (empty, NaN/inf, out of range, too many
        channels, unsupported dtype or mode, not an image, missing path...).
    LimitExceededError
        ``on_limit="raise"`` and the image does not fit the limits.
    ConfigError
        An option is not one of the allowed values.

    Examples
    --------
    >>> import numpy as np
    >>> prepared = prepare(np.zeros((48, 64, 3), np.uint8))
    >>> prepared.format, prepared.size, prepared.downscale, prepared.filename
    ('png', (64, 48), 1.0, 'image.png')
    >>> prepared.source.kind, prepared.source.layout, prepared.source.dtype
    ('array', 'HW3', 'uint8')
    """
    _check_choice("upload_format", upload_format, _UPLOAD_FORMATS)
    _check_choice("on_limit", on_limit, _ON_LIMIT)
    _check_positive_int("max_bytes", max_bytes)
    _check_positive_int("max_pixels", max_pixels)
    colour, alpha, source = _intake(image)
    if send_alpha and alpha is not None:
        if upload_format == "jpeg":
            raise ConfigError(
                "upload_format='jpeg' cannot carry the alpha channel that send_alpha=True asks"
                " for: use upload_format='png' or 'auto'"
            )
        alpha8 = Image.fromarray(to_uint8(alpha) if alpha.dtype != np.uint8 else alpha)
        upload = Image.merge(colour.mode + "A", (*colour.split(), alpha8))
    else:
        upload = colour
    lossless_why = _lossless_reason(source, upload)
    if upload_format == "png":
        formats: tuple[str, ...] = ("png",)
    elif upload_format == "jpeg":
        formats = ("jpeg",)
    else:
        formats = ("png",) if lossless_why else ("png", "jpeg")
    try:
        encoded = _encode.plan_and_encode(
            upload,
            formats=formats,
            max_bytes=max_bytes,
            max_pixels=max_pixels,
            allow_downscale=on_limit == "downscale",
            why_png=f" ({lossless_why}: PNG only)" if lossless_why and formats == ("png",) else "",
        )
    except _encode.LimitProblem as problem:
        width, height = source.size
        raise LimitExceededError(
            f"the image ({width}x{height}, {width * height / 1e6:.1f} MP) does not fit the upload"
            f" limits of {max_bytes / 1e6:g} MB and {max_pixels / 1e6:g} MP: {problem.why}",
            hint="pass on_limit='downscale' to upload it downscaled (the result is resized back"
            " to the promised size locally)",
        ) from None
    downscale = 1.0
    if encoded.size != source.size:
        downscale = max(source.size[0] / encoded.size[0], source.size[1] / encoded.size[1])
        warnings.warn(
            f"image downscaled from {source.size[0]}x{source.size[1]} to"
            f" {encoded.size[0]}x{encoded.size[1]} ({downscale:.3f}x) to fit the upload limits"
            f" ({max_bytes / 1e6:g} MB, {max_pixels / 1e6:g} MP); the result will be resized back"
            " locally to the promised size (input size x scale), with less detail than a"
            " full-size upload. Pass on_limit='raise' to get an error instead.",
            DownscaleWarning,
            stacklevel=user_stacklevel(),
        )
    logger.debug(
        "upload: %s %d bytes, %dx%d (from %dx%d, downscale %.3f), png estimate %s: %s",
        encoded.format,
        len(encoded.data),
        encoded.size[0],
        encoded.size[1],
        source.size[0],
        source.size[1],
        downscale,
        encoded.png_estimate,
        encoded.reason,
    )
    fmt: Literal["png", "jpeg"] = "png" if encoded.format == "png" else "jpeg"
    return Prepared(
        data=encoded.data,
        format=fmt,
        filename=f"{_upload_stem(image)}.{'png' if fmt == 'png' else 'jpg'}",
        size=encoded.size,
        downscale=downscale,
        source=source,
        reason=encoded.reason,
        subsampling=encoded.subsampling,
        png_estimate=encoded.png_estimate,
    )


def _lossless_reason(source: Source, upload: Image.Image) -> str:
    if "A" in upload.getbands():
        return "alpha"
    if source.dtype in ("uint16",) or source.peak == 65535:
        return "16-bit"
    if source.dtype == "bool" or source.mode == "1":
        return "bilevel"
    if upload.mode == "L":
        return "gray"
    return ""


def _upload_stem(image: Any) -> str:
    """The name the upload goes by (the credit history shows it): a path's stem, else "image"."""
    named = getattr(image, "name", None) if isinstance(image, bytes) else image
    if isinstance(named, (str, os.PathLike)):
        stem = re.sub(r"[^\w.-]", "_", Path(os.fspath(named)).stem)[:100].strip("._")
        return stem or "image"
    return "image"


def to_pil(image: ImageInput) -> Image.Image:
    """Any accepted image as an upright 8-bit Pillow image (``L``, ``LA``, ``RGB`` or ``RGBA``).

    Examples
    --------
    >>> import numpy as np
    >>> to_pil(np.ones((2, 3), np.float32)).mode
    'L'
    """
    colour, alpha, _ = _intake(image)
    if alpha is None:
        return colour
    alpha8 = Image.fromarray(to_uint8(alpha))
    return Image.merge(colour.mode + "A", (*colour.split(), alpha8))


def promised_size(prepared: Prepared, scale: float = 1) -> tuple[int, int]:
    """The size a result must have: the input's (upright) size times ``scale``.

    Examples
    --------
    >>> import numpy as np
    >>> promised_size(prepare(np.zeros((10, 20), np.uint8)), 4)
    (80, 40)
    """
    width, height = prepared.source.size
    return (max(1, round(width * scale)), max(1, round(height * scale)))


# --------------------------------------------------------------------------- restore


def _open_result(data: bytes, max_pixels: int, trans_id: str | None) -> Image.Image:
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
        raise _decode_error(data, exc, trans_id) from None
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
        raise _decode_error(data, exc, trans_id) from None
    return image


def _decode_error(data: bytes, exc: BaseException, trans_id: str | None) -> ResultDecodeError:
    excerpt = data[:60].decode("ascii", "replace")
    excerpt = "".join(c if c.isprintable() else "?" for c in excerpt)
    return ResultDecodeError(
        f"the result ({len(data)} bytes, starting {excerpt!r}) is not an image Pillow can decode"
        f" ({type(exc).__name__})",
        trans_id=trans_id,
    )


def _result_8bit(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
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


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def _resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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


def restore(
    result: bytes,
    prepared: Prepared,
    *,
    scale: float = 1,
    output: Literal["same", "rgb", "rgba"] = "same",
    out_format: str | None = None,
    dpi: float | None = None,
    quality: int | None = None,
    trans_id: str | None = None,
    max_result_pixels: int = MAX_RESULT_PIXELS,
) -> Any:
    """Decode the service's result and give it back as the caller's type.

    Parameters
    ----------
    result : bytes
        The downloaded image file.
    prepared : Prepared
        What :func:`prepare` returned for the upload.
    scale : float
        How many times larger than the input the result is promised to be.
        The result is resized to ``source.size * scale`` when it differs
        (after a forced downscale of the upload).
    output : {"same", "rgb", "rgba"}
        What the feature does to the channels: ``"same"`` keeps the input's
        (gray stays gray; the input's alpha is put back, resized with
        Lanczos); ``"rgb"`` turns gray into RGB (the input's alpha is put
        back); ``"rgba"`` keeps the alpha the service made (background
        removal).
    out_format : {"jpg", "png"}, optional
        For bytes inputs: encode the result in this format instead of the
        input's container format.
    dpi : float, optional
        DPI to record on the result instead of the input's.
    quality : int, optional
        For bytes inputs re-encoded as JPEG or WebP: the quality asked of the
        service (``out_params.compress.quality``), else 95.
    trans_id : str, optional
        The job's id, carried by decode errors so the paid result can be
        downloaded again.
    max_result_pixels : int
        Refuse (with :class:`ResultTooLargeError`) a result claiming more
        pixels than this, before decoding it. Default :data:`MAX_RESULT_PIXELS`.

    Returns
    -------
    PIL.Image.Image, numpy.ndarray or bytes
        PIL in → PIL in the input's mode (``P`` comes back ``RGB``, or
        ``RGBA`` when it had transparency; ``La``/``RGBa``/``PA`` as
        ``LA``/``RGBA``); array in → array of the same dtype, value range and
        layout (gray layouts become ``(H, W, 3)`` for ``"rgb"``, anything
        ``(H, W, 4)`` for ``"rgba"``); bytes in → bytes in the input's
        container format (PNG, JPEG, WebP, TIFF, BMP, GIF...; a result with
        alpha in a container that cannot hold it, JPEG or BMP, becomes PNG;
        GIF transparency is on/off; animations keep their first frame);
        path in → PIL. The input's ICC profile (when the colour family is
        unchanged) and DPI are carried over; EXIF is not (the pixels are
        already upright). ``out_format`` only applies to bytes.

    Raises
    ------
    ResultTooLargeError
        The result claims more than ``max_result_pixels`` pixels.
    ResultDecodeError
        The result cannot be decoded.

    Examples
    --------
    >>> import numpy as np
    >>> prepared = prepare(np.zeros((4, 6), np.float32))
    >>> out = restore(prepared.data, prepared)
    >>> out.shape, out.dtype
    ((4, 6), dtype('float32'))
    """
    _check_choice("output", output, _OUTPUTS)
    if out_format is not None and str(out_format).lower() not in _OUT_FORMATS:
        raise ConfigError(f"out_format={out_format!r} is not allowed: expected 'jpg' or 'png'")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"scale={scale!r} is not allowed: expected a positive number")
    _check_positive_int("max_result_pixels", max_result_pixels)
    source = prepared.source
    target = promised_size(prepared, scale)
    decoded = _open_result(bytes(result), max_result_pixels, trans_id)
    try:
        colour, server_alpha = _result_8bit(decoded)
    except Exception as exc:  # noqa: BLE001
        raise _decode_error(bytes(result), exc, trans_id) from None
    colour.info = {}  # the result's own metadata is replaced by the input's below
    if colour.size != target:
        logger.debug("result %dx%d resized to the promised %dx%d", *colour.size, *target)
        colour = _resize(colour, target)
        if server_alpha is not None:
            server_alpha = _resize(server_alpha, target)

    gray_out = source.gray and output == "same"
    wanted = "L" if gray_out else "RGB"
    if colour.mode != wanted:
        colour = colour.convert(wanted)
    alpha: np.ndarray | None
    if output == "rgba":
        if server_alpha is not None:
            alpha = np.asarray(server_alpha)
        elif source.alpha is not None:
            alpha = _resize_alpha(to_uint8(source.alpha), target)
        else:
            alpha = np.full((target[1], target[0]), 255, np.uint8)
        if source.kind == "array" and source.dtype is not None:
            alpha = from_uint8(alpha, source.dtype)
    else:
        alpha = None if source.alpha is None else _resize_alpha(source.alpha, target)

    dpi_out = (float(dpi), float(dpi)) if dpi is not None else source.dpi
    if source.kind == "array":
        return _to_array(colour, alpha, source, output)
    pil = _to_pil(colour, alpha, source, output)
    keep_icc = source.icc_profile is not None and (
        is_gray_mode(pil.mode) == source.gray and (pil.mode == "CMYK") == (source.mode == "CMYK")
    )
    if keep_icc:
        pil.info["icc_profile"] = source.icc_profile
    if dpi_out is not None:
        pil.info["dpi"] = dpi_out
    if source.kind == "bytes":
        eight_bit = colour if alpha is None else _to_pil(colour, alpha, source, "rgb")
        return _encode_result(pil, eight_bit, source, out_format, dpi_out, keep_icc, quality)
    return _plain(pil)


def _plain(image: Image.Image) -> Image.Image:
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


def _to_array(
    colour: Image.Image, alpha: np.ndarray | None, source: Source, output: str
) -> np.ndarray:
    assert source.dtype is not None and source.layout is not None
    dtype = np.dtype(source.dtype)
    values = from_uint8(np.asarray(colour), dtype)
    if not values.flags.writeable:  # Pillow's buffer is read-only bytes: give the caller their own
        values = values.copy()
    if alpha is None:
        if values.ndim == 2 and source.layout in ("HW1", "HW2"):
            return values[:, :, None]
        return values
    planes = values[:, :, None] if values.ndim == 2 else values
    return np.concatenate([planes, alpha[:, :, None]], axis=2)


def _to_pil(
    colour: Image.Image, alpha: np.ndarray | None, source: Source, output: str
) -> Image.Image:
    if alpha is not None:
        alpha_img = Image.fromarray(alpha if alpha.dtype == np.uint8 else to_uint8(alpha))
        return Image.merge(colour.mode + "A", (*colour.split(), alpha_img))
    if output == "same" or not source.gray:
        if source.mode in WIDE_GRAY_MODES:
            return l_to_wide_gray(colour, source.mode, source.peak)
        if source.mode == "1":
            return colour.point(lambda v: 255 if v >= 128 else 0).convert(
                "1", dither=Image.Dither.NONE
            )
        target = same_mode(source.mode, source.transparency)
        return mode_from_rgb(colour, target)
    return colour


def _encode_result(
    pil: Image.Image,
    eight_bit: Image.Image,
    source: Source,
    out_format: str | None,
    dpi: tuple[float, float] | None,
    keep_icc: bool,
    quality: int | None = None,
) -> bytes:
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
    buffer = io.BytesIO()
    try:
        pil.save(buffer, fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        # this container cannot hold this mode (e.g. 16-bit or bilevel as JPEG): use the
        # 8-bit gray / RGB(A) version of the same result
        buffer = io.BytesIO()
        eight_bit.save(buffer, fmt, **options)
    return buffer.getvalue()
