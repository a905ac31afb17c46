"""The image boundary: the caller's image → upload bytes, result bytes → the caller's type.

:func:`prepare` takes what a user hands a filter (a ``PIL.Image.Image`` in any
mode, a numpy array, the bytes of an image file or a path), validates it,
splits off the alpha channel and encodes the colour within the service's
limits. :func:`restore` decodes the service's result safely and gives it back
as the caller's own type, size, mode, dtype, value range and channel layout,
with the alpha, ICC profile, DPI and EXIF put back. The stored pixels are sent
and returned as stored (never turned by the EXIF orientation); the
Orientation tag travels with them, so a viewer shows the result as it showed
the input (:mod:`vance_filters._exif`). This module knows no HTTP.

Value ranges (the dtype table, :data:`DTYPE_RANGES`)

========= ============ ===========================================
dtype     range        sent as / returned as
========= ============ ===========================================
uint8     0-255        as is
uint16    0-65535      stretched (below)
float16,  0.0-1.0      stretched (below), back in the same dtype
float32,
float64
bool      False/True   0/255 / ``v >= 128``
other     0-255 or     read as uint8 or uint16 (by their values), given
integers  0-65535      back in their own dtype
========= ============ ===========================================

Pillow modes ``I;16*`` are 0-65535; ``I`` and ``F`` are read as 0-255 or
0-65535 (``F`` also 0-1) from their values. The service works in 8 bits, so
wide values (uint16, floats, ``I;16*``, ``I``, ``F``) are stretched over the
range they use, ``[min, max]`` → 0-255, and the result's levels are mapped back
to ``[min, max]`` in the input's dtype or mode (:mod:`vance_filters._depth`):
up to 256 levels per channel survive, and a :class:`PrecisionWarning` says
when a channel had more.

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
from PIL import Image

from . import _encode, _exif
from ._background import check_background, compose, coverage
from ._choices import UPLOAD_FORMATS, check_choice
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
    wide_gray_values,
)
from ._depth import Levels, expand, integer_carrier, levels_for, reduce, to_plain8, warn_if_merged
from ._result import (
    decode_error,
    encode_result,
    open_result,
    plain,
    resize,
    resize_alpha,
    result_8bit,
)
from ._warn import user_stacklevel
from .errors import (
    ConfigError,
    DownscaleWarning,
    InputError,
    LimitExceededError,
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
        ``(width, height)`` as stored (the EXIF orientation is not applied).
    mode : str
        The input's Pillow mode (for arrays: the equivalent 8-bit mode ``L``,
        ``LA``, ``RGB`` or ``RGBA``; for bytes and paths: the decoded mode).
    gray : bool
        True when the colour is a single gray channel.
    peak : float
        The input's white value (255, 65535 or 1.0; 1 for bool).
    dtype : str or None
        The array's dtype name (arrays only; integers other than uint8 and
        uint16 travel as one of those, by their values).
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
    levels : Levels or None
        How wide values (uint16, floats, ``I;16*``, ``I``, ``F``) map to the
        8 bits sent and back; None for 8-bit and bilevel inputs.
    exif : bytes or None
        The input's EXIF to carry onto the result (thumbnail and file layout
        tags left behind).

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
    levels: Levels | None = None
    exif: bytes | None = field(default=None, repr=False)


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


def _dpi_of(info: dict[str, Any]) -> tuple[float, float] | None:
    dpi = info.get("dpi")
    if isinstance(dpi, (tuple, list)) and len(dpi) == 2:
        try:
            return (float(dpi[0]), float(dpi[1]))
        except (TypeError, ValueError):
            return None
    return None


def _intake(image: Any, view: bool = False) -> tuple[Image.Image, np.ndarray | None, Source]:
    """Validate ``image``; return its 8-bit colour (``L``/``RGB``), alpha and :class:`Source`.

    ``view``: for viewing (:func:`to_pil`): wide values are reduced over their
    dtype's whole range, not stretched, and no :class:`PrecisionWarning` is issued.
    """
    if isinstance(image, np.ndarray):
        return _intake_array(image, view)
    if isinstance(image, Image.Image):
        return _intake_pil(image, "pil", view)
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InputError("empty bytes given; allowed: the bytes of an image file")
        named = getattr(image, "name", None)  # a file's bytes that know its name (the CLI's)
        what = f"file {named!r}" if isinstance(named, str) else "the bytes given"
        return _intake_pil(_open_bytes(data, what), "bytes", view)
    if isinstance(image, (str, os.PathLike)):
        data = _read_path(image)
        return _intake_pil(_open_bytes(data, f"file {os.fspath(image)!r}"), "path", view)
    raise InputError(
        f"cannot use a {type(image).__module__}.{type(image).__qualname__} as an image; allowed:"
        " PIL.Image.Image, numpy.ndarray, bytes of an image file, str or os.PathLike path"
    )


def _intake_array(array: np.ndarray, view: bool) -> tuple[Image.Image, np.ndarray | None, Source]:
    array = np.asarray(array)
    layout, mode = check_array(array)
    height, width = array.shape[:2]
    carrier = integer_carrier(array)
    work = array.astype(carrier) if carrier is not None else array
    alpha = None
    if mode in ("LA", "RGBA"):
        alpha = np.ascontiguousarray(work[:, :, -1])
    values = work[:, :, 0] if mode in ("L", "LA") and work.ndim == 3 else work
    if mode == "RGBA":
        values = work[:, :, :3]
    levels = None
    if work.dtype == np.uint16 or work.dtype.kind == "f":
        levels = _levels(values, DTYPE_RANGES[work.dtype.name][1], view)
        data = reduce(values, levels)
        if not view:
            warn_if_merged(values, data, levels, f"the {array.dtype} array")
    else:
        data = to_uint8(values)
    colour = Image.fromarray(np.ascontiguousarray(data))
    source = Source(
        kind="array",
        size=(width, height),
        mode=mode,
        gray=mode in ("L", "LA"),
        peak=float(DTYPE_RANGES[work.dtype.name][1]),
        dtype=array.dtype.name,
        layout=layout,
        transparency=alpha is not None,
        alpha=alpha,
        levels=levels,
    )
    return colour, alpha, source


def _levels(values: np.ndarray, peak: float, view: bool) -> Levels:
    """Stretched over the values' range, or (``view``) the dtype's standard 0 → 0, 255 → peak."""
    return Levels(0.0, peak / 255.0, 0.0, peak, peak) if view else levels_for(values, peak)


def _load(image: Image.Image) -> None:
    """Decode a lazily opened image; a closed or broken one is an :class:`InputError`."""
    try:
        image.load()
    except Exception as exc:  # noqa: BLE001 - a lazily opened file that fails to decode
        lazy_and_closed = getattr(image, "fp", True) is None and getattr(image, "_im", True) is None
        if lazy_and_closed or (isinstance(exc, ValueError) and "closed" in str(exc)):
            raise InputError(
                "the image was closed (Image.close(), or the end of its `with Image.open(...)`"
                " block) before it was used: reopen it, or call image.load() or image.copy()"
                " inside the block"
            ) from None
        raise InputError(f"the image cannot be decoded ({type(exc).__name__}: {exc})") from None


def _intake_pil(
    image: Image.Image, kind: Kind, view: bool
) -> tuple[Image.Image, np.ndarray | None, Source]:
    if image.width < 1 or image.height < 1:
        raise InputError(f"the image is empty ({image.width}x{image.height})")
    container = image.format if kind in ("bytes", "path") else None
    _load(image)
    info: dict[str, Any] = {str(k): v for k, v in image.info.items()}
    mode = image.mode
    peak = 255.0
    levels = None
    if mode in WIDE_GRAY_MODES:
        peak = wide_gray_peak(image)
        values = wide_gray_values(image, peak)
        levels = _levels(values, peak, view)
        data = reduce(values, levels)
        if not view:
            warn_if_merged(values, data, levels, f"the mode {mode} image")
        colour, alpha_img = Image.fromarray(np.ascontiguousarray(data)), None
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
        levels=levels,
        exif=_exif.read(image),
    )
    return colour, alpha, source


# --------------------------------------------------------------------------- prepare


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
        [0, 1], bool, or another integer dtype with values in 0-255 (read as
        uint8) or 0-65535 (read as uint16); the bytes of an image file; or a
        ``str`` / ``os.PathLike`` path to one. Wide values (uint16, floats,
        ``I;16``, ``I``, ``F``) are stretched over the range they use before
        the 8-bit upload, with a :class:`PrecisionWarning` when a channel has
        more distinct values than 256 levels keep. The stored pixels are sent
        as stored (the EXIF orientation is not applied; :func:`restore`
        carries the tag).
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
    check_choice("upload_format", upload_format, UPLOAD_FORMATS)
    check_choice("on_limit", on_limit, _ON_LIMIT)
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

    For viewing (``vf.compare``): the EXIF orientation is applied, and wide
    values are reduced over their dtype's range (white is the dtype's white).

    Examples
    --------
    >>> import numpy as np
    >>> to_pil(np.ones((2, 3), np.float32)).mode
    'L'
    """
    colour, alpha, source = _intake(image, view=True)
    if alpha is not None:
        alpha8 = Image.fromarray(to_uint8(alpha))
        colour = Image.merge(colour.mode + "A", (*colour.split(), alpha8))
    return _exif.upright(colour, source.exif)


def promised_size(prepared: Prepared, scale: float = 1) -> tuple[int, int]:
    """The size a result must have: the input's (stored) size times ``scale``.

    Examples
    --------
    >>> import numpy as np
    >>> promised_size(prepare(np.zeros((10, 20), np.uint8)), 4)
    (80, 40)
    """
    width, height = prepared.source.size
    return (max(1, round(width * scale)), max(1, round(height * scale)))


# --------------------------------------------------------------------------- restore


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
    background: tuple[int, int, int] | None = None,
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
    background : (r, g, b), optional
        The solid colour the result was composed onto (``background=`` of
        the filters): whatever alpha is left (the input's, or the service's)
        is composed onto it too, so the result is opaque, with no alpha
        channel (an ``"rgba"`` output becomes ``"rgb"``).

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
        GIF transparency is on/off; one frame: the filters send animations
        and multi-page files here frame by frame, see :mod:`vance_filters.frames`);
        path in → PIL. Wide inputs (uint16, float, ``I;16``, ``I``, ``F``)
        come back in the range their values used (see :func:`prepare`). The
        input's ICC profile (when the colour family is unchanged), DPI and
        EXIF (thumbnail dropped, size fields set to the result's size, the
        Orientation tag kept: the pixels are the stored ones) are carried
        over: ``info`` of a PIL result, the container of a bytes result.
        ``out_format`` only applies to bytes.

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
    check_choice("output", output, _OUTPUTS)
    if out_format is not None and str(out_format).lower() not in _OUT_FORMATS:
        raise ConfigError(f"out_format={out_format!r} is not allowed: expected 'jpg' or 'png'")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"scale={scale!r} is not allowed: expected a positive number")
    _check_positive_int("max_result_pixels", max_result_pixels)
    decoded = open_result(bytes(result), max_result_pixels, trans_id)
    try:
        colour, server_alpha = result_8bit(decoded)
    except Exception as exc:  # noqa: BLE001
        raise decode_error(bytes(result), exc, trans_id) from None
    return restore_decoded(colour, server_alpha, prepared, scale=scale, output=output,
                           out_format=out_format, dpi=dpi, quality=quality, background=background)


def restore_decoded(
    colour: Image.Image,
    server_alpha: Image.Image | None,
    prepared: Prepared,
    *,
    scale: float = 1,
    output: Literal["same", "rgb", "rgba"] = "same",
    out_format: str | None = None,
    dpi: float | None = None,
    quality: int | None = None,
    background: tuple[int, int, int] | None = None,
) -> Any:
    """:func:`restore` of a result already decoded: its 8-bit colour (L or RGB) and the
    alpha the service made (mode L, or None); for a result made here, not downloaded."""
    if background is not None:
        background = check_background(background)
        output = "rgb" if output == "rgba" else output  # composed: no alpha left
    source = prepared.source
    target = promised_size(prepared, scale)
    colour.info = {}  # the result's own metadata is replaced by the input's below
    if colour.size != target:
        logger.debug("result %dx%d resized to the promised %dx%d", *colour.size, *target)
        colour = resize(colour, target)
        if server_alpha is not None:
            server_alpha = resize(server_alpha, target)

    gray_out = source.gray and output == "same"
    wanted = "L" if gray_out else "RGB"
    if colour.mode != wanted:
        colour = colour.convert(wanted)  # e.g. an RGB result of a gray upload: gray again
    carrier = _carrier(source)
    alpha: np.ndarray | None
    if output == "rgba":
        if server_alpha is not None:
            alpha = np.asarray(server_alpha)
        elif source.alpha is not None:
            alpha = resize_alpha(to_uint8(source.alpha), target)
        else:
            alpha = np.full((target[1], target[0]), 255, np.uint8)
        if source.kind == "array":
            alpha = from_uint8(alpha, carrier)
    else:
        alpha = None if source.alpha is None else resize_alpha(source.alpha, target)
    cover = None
    if background is not None:
        cover = coverage(alpha, server_alpha)
        alpha = None

    dpi_out = (float(dpi), float(dpi)) if dpi is not None else source.dpi
    if source.kind == "array":
        return _to_array(colour, alpha, source, cover, background)
    wide_out = gray_out and source.mode in WIDE_GRAY_MODES and background is None
    if source.levels is not None and not wide_out:  # an 8-bit result of a wide input
        colour = Image.fromarray(to_plain8(np.asarray(colour), source.levels))
    if background is not None and cover is not None:
        colour = Image.fromarray(compose(np.asarray(colour), cover, background, 255.0, np.uint8))
    # composed onto a background: opaque RGB (or L), whatever the input's mode
    pil = colour if background is not None else _to_pil(colour, alpha, source, output)
    keep_icc = source.icc_profile is not None and (
        is_gray_mode(pil.mode) == source.gray and (pil.mode == "CMYK") == (source.mode == "CMYK")
    )
    if keep_icc:
        pil.info["icc_profile"] = source.icc_profile
    if dpi_out is not None:
        pil.info["dpi"] = dpi_out
    exif = _exif.fit(source.exif, pil.size)
    if exif is not None:
        pil.info["exif"] = exif
    if source.kind == "bytes":
        if wide_out and source.levels is not None:
            colour = Image.fromarray(to_plain8(np.asarray(colour), source.levels))
        eight_bit = colour if alpha is None else _to_pil(colour, alpha, source, "rgb")
        return encode_result(pil, eight_bit, source, out_format, dpi_out, keep_icc, quality, exif)
    return plain(pil)


def _carrier(source: Source) -> str:
    """The dtype an array's values travel in: its own, or uint8/uint16 for other integers."""
    if source.dtype is None or source.dtype in DTYPE_RANGES:
        return source.dtype or "uint8"
    return "uint16" if source.peak == 65535 else "uint8"


def _to_array(
    colour: Image.Image,
    alpha: np.ndarray | None,
    source: Source,
    cover: np.ndarray | None = None,
    background: tuple[int, int, int] | None = None,
) -> np.ndarray:
    assert source.dtype is not None and source.layout is not None
    carrier = np.dtype(_carrier(source))
    levels8 = np.asarray(colour)
    if source.levels is not None:
        values = expand(levels8, source.levels, carrier)
    else:
        values = from_uint8(levels8, carrier)
    if cover is not None and background is not None:
        values = compose(values, cover, background, DTYPE_RANGES[carrier.name][1], carrier)
    if values.dtype != np.dtype(source.dtype):
        values = values.astype(source.dtype)
        alpha = None if alpha is None else alpha.astype(source.dtype)
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
        if source.mode in WIDE_GRAY_MODES and colour.mode == "L":
            levels = source.levels or _levels(np.zeros(1), source.peak, True)
            return l_to_wide_gray(colour, source.mode, levels)
        if source.mode == "1":
            return colour.point(lambda v: 255 if v >= 128 else 0).convert(
                "1", dither=Image.Dither.NONE
            )
        target = same_mode(source.mode, source.transparency)
        return mode_from_rgb(colour, target)
    return colour
