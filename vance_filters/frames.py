"""Every frame: animated GIF / APNG / WebP, multi-page TIFF and array stacks.

A filter given a multi-frame input runs on every frame and gives every frame
back, in the input's kind:

- bytes of an animated GIF, APNG, animated WebP or multi-page TIFF -> bytes in
  the same container;
- a path or a multi-frame PIL image -> a multi-frame PIL image (``n_frames``,
  ``seek``) opened on the result container;
- an array stack ``(T, H, W, C)`` (and ``(T, H, W)`` when the caller says it
  is a stack, ``frames=True``) -> a stack of the same dtype and layout, each
  frame processed.

The container's timing and looks survive: the frame count, every frame's
duration, the loop count, transparency (alpha; the GIF transparent index) and
the TIFF pages' order (and the pages' own modes, 16-bit included); the file's
EXIF and ICC profile ride along in APNG, WebP and TIFF. GIF and APNG frames are composited (disposal and
blending applied) before upload, so the service sees whole pictures; each
output frame then replaces the previous one whole, so nothing ghosts and what
was clear stays clear.

This module reads and writes the containers and splits and re-assembles the
frames; the filters call it (:func:`run`), and the frames themselves run
through :func:`vance_filters.batch.map`: overlapped, retried, cached. Identical
frames are sent once, so a call costs ``distinct frames x filter.cost``
credits at most (:func:`distinct`), checked against ``max_credits`` before the
first upload.

Why Pillow rather than imageio for the containers: imageio's own GIF/WebP/TIFF
support goes through Pillow too, and its ``imread(..., index=None)`` drops what
this module must keep (GIF transparency; per-frame durations; the other pages
of a TIFF and frames of a WebP with the Pillow plugin), while Pillow exposes
every frame's duration, the loop count and composited frames. Pillow's own
multi-frame writers merge consecutive identical frames (adding their
durations), which would lose frames; so GIF and WebP are assembled here from
Pillow's per-frame encoders (``GifImagePlugin.getheader/getdata`` and still
WebP chunks), and APNG alternates the disposal of consecutive frames so no two
are merged. The arrays imageio gives (``iio.imread(path, index=None)``,
``np.stack(list(iio.imiter(path)))``) are accepted as stacks, and imageio can
write the stack that comes back (see the README).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import GifImagePlugin, Image, PngImagePlugin

from . import _exif, _xmp
from .errors import ConfigError, InputError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter

__all__ = [
    "CONTAINERS",
    "PROGRESS_FRAMES",
    "Frames",
    "FramesOption",
    "check_frames",
    "distinct",
    "frame_count",
    "is_multiframe",
    "read",
    "run",
    "write",
]

FramesOption = Literal["all", "first"] | bool

#: Pillow formats whose files may hold several frames, kept on the way out.
CONTAINERS = ("GIF", "PNG", "WEBP", "TIFF")
#: Pillow formats whose extra "frames" are not pictures of their own: an MPO's are previews
#: or depth maps of the first, a PSD's are the layers of its composite (frame 0).
ONE_PICTURE = ("MPO", "PSD")
#: A call with more frames than this shows a progress bar (on stderr).
PROGRESS_FRAMES = 8
_FRAMES_ALLOWED = ("all", "first", True, False)


def check_frames(frames: object) -> None:
    """Refuse a ``frames=`` that is not ``"all"``, ``"first"``, True or False.

    Examples
    --------
    >>> check_frames("all")
    >>> check_frames("every")
    Traceback (most recent call last):
    ...
    vance_filters.errors.ConfigError: frames='every' is not allowed: expected 'all', 'first', True or False
    """
    if not any(frames is a or (isinstance(a, str) and frames == a) for a in _FRAMES_ALLOWED):
        raise ConfigError(
            f"frames={frames!r} is not allowed: expected 'all', 'first', True or False"
        )


def _every(frames: FramesOption) -> bool:
    return frames is True or frames == "all"


def _open(image: Any) -> Image.Image | None:
    """A lazily opened Pillow image for bytes / a path (None if it is not one Pillow opens)."""
    try:
        if isinstance(image, (bytes, bytearray, memoryview)):
            return Image.open(io.BytesIO(bytes(image)))
        if isinstance(image, (str, os.PathLike)) and os.path.isfile(image):
            with open(image, "rb") as handle:
                return Image.open(io.BytesIO(handle.read()))
    except Exception:  # noqa: BLE001 - not an image: the single-image path reports it
        return None
    return None


def _pil_frames(image: Image.Image) -> int:
    if image.format in ONE_PICTURE:
        return 1
    try:
        return int(getattr(image, "n_frames", 1) or 1)
    except Exception:  # noqa: BLE001 - a broken file: the single-image path reports it
        return 1


def frame_count(image: Any, *, frames: FramesOption = "all") -> int:
    """How many frames ``image`` holds as a multi-frame input (1 for a single image).

    An array counts as a stack when it has 4 dimensions ``(T, H, W, C)``, or 3
    dimensions ``(T, H, W)`` with ``frames=True``. ``frames="first"`` (or
    False) counts 1 whatever the input.

    Examples
    --------
    >>> import numpy as np
    >>> frame_count(np.zeros((5, 4, 4, 3), np.uint8)), frame_count(np.zeros((5, 4, 4), np.uint8))
    (5, 1)
    >>> frame_count(np.zeros((5, 4, 4), np.uint8), frames=True)
    5
    """
    check_frames(frames)
    if not _every(frames):
        return 1
    if isinstance(image, np.ndarray):
        if image.ndim == 4 or (image.ndim == 3 and frames is True):
            return int(image.shape[0])
        return 1
    if isinstance(image, Image.Image):
        return _pil_frames(image)
    opened = _open(image)
    return 1 if opened is None else _pil_frames(opened)


def is_multiframe(image: Any, *, frames: FramesOption = "all") -> bool:
    """True when a filter given ``image`` runs on every frame of it (a stack or animation).

    A 4-D array is always a stack (with ``frames="first"`` only its first frame
    is run); a 3-D one is a stack only with ``frames=True``.

    Examples
    --------
    >>> import numpy as np
    >>> is_multiframe(np.zeros((2, 4, 4, 3), np.uint8)), is_multiframe(np.zeros((4, 4, 3), np.uint8))
    (True, False)
    """
    if isinstance(image, np.ndarray) and image.ndim == 4:
        check_frames(frames)
        return True
    if isinstance(image, np.ndarray) and image.ndim == 3 and frames is True:
        return True
    return frame_count(image, frames=frames) > 1


@dataclass
class Frames:
    """A multi-frame input split into whole frames, with what re-assembling it needs.

    Attributes
    ----------
    kind : {"pil", "bytes", "path", "array"}
        The input's kind (the result's is the same, paths giving PIL).
    frames : list
        The frames to process: composited Pillow images (``RGB``/``RGBA``; TIFF
        pages in their own mode), or the stack's arrays ``(H, W[, C])``.
    container : str or None
        Pillow's format name (``"GIF"``, ``"PNG"``, ``"WEBP"``, ``"TIFF"``).
    durations : list of float or None
        Every frame's duration in milliseconds (animations).
    loop : int or None
        The loop count (0: for ever); None when the file has none.
    transparency : bool
        True when a frame has transparent pixels (or an alpha channel).
    exif : bytes or None
        The file's EXIF (``Exif\\0\\0`` bytes), carried onto an APNG, WebP or TIFF result.
    icc_profile : bytes or None
        The file's ICC profile, carried likewise.
    """

    kind: Literal["pil", "bytes", "path", "array"]
    frames: list[Any] = field(repr=False)
    container: str | None = None
    durations: list[float] | None = None
    loop: int | None = None
    transparency: bool = False
    exif: bytes | None = field(default=None, repr=False)
    icc_profile: bytes | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.frames)


def read(image: Any, *, frames: FramesOption = "all") -> Frames:
    """Split a multi-frame input into whole frames.

    Parameters
    ----------
    image : PIL.Image.Image, numpy.ndarray, bytes, str or os.PathLike
        A multi-frame input (:func:`is_multiframe`).
    frames : {"all", True}
        True also reads a 3-D array as a stack ``(T, H, W)``.

    Returns
    -------
    Frames

    Raises
    ------
    InputError
        The input is not a multi-frame image.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> red, blue = Image.new("RGB", (6, 4), "red"), Image.new("RGB", (6, 4), "blue")
    >>> buffer = io.BytesIO()
    >>> red.save(buffer, "GIF", save_all=True, append_images=[blue], duration=[100, 250], loop=0)
    >>> split = read(buffer.getvalue())
    >>> len(split), split.container, split.durations, split.loop
    (2, 'GIF', [100.0, 250.0], 0)
    """
    if isinstance(image, np.ndarray):
        if not (image.ndim == 4 or (image.ndim == 3 and frames is True)):
            raise InputError(f"array of shape {image.shape} is not a stack (T, H, W[, C])")
        if image.shape[0] == 0:
            raise InputError(f"array of shape {image.shape} is an empty stack: it has no frame")
        return Frames(kind="array", frames=list(image))
    if isinstance(image, Image.Image):
        return _read_pil(_writable(image), "pil")
    opened = _open(image)
    if opened is None or _pil_frames(opened) < 2:
        raise InputError("the image given is not a multi-frame GIF, APNG, WebP or TIFF")
    kind: Literal["bytes", "path"] = "path" if isinstance(image, (str, os.PathLike)) else "bytes"
    return _read_pil(_writable(opened), kind)


def _writable(image: Image.Image) -> Image.Image:
    """``image``, if its frames can be written back; else an :class:`InputError` (never a lost frame)."""
    if image.format not in CONTAINERS:
        raise InputError(
            f"the {image.format or 'image'} given holds {_pil_frames(image)} frames, and "
            f"vance_filters writes every frame back only as {', '.join(CONTAINERS)} "
            "(APNG for PNG): pass frames='first' for its first frame alone, or its frames "
            "as a stack (T, H, W, C)"
        )
    return image


def _has_alpha(frame: Image.Image) -> bool:
    if frame.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return True
    return frame.mode in ("P", "L", "RGB") and "transparency" in frame.info


def _read_pil(image: Image.Image, kind: Literal["pil", "bytes", "path"]) -> Frames:
    container = image.format
    count = _pil_frames(image)
    start = image.tell()
    pages: list[Image.Image] = []
    durations: list[float] = []
    exif: bytes | None = None
    icc: Any = None
    try:
        image.seek(0)
        exif, icc = _exif.read(image), image.info.get("icc_profile")
        for index in range(count):
            image.seek(index)
            image.load()
            if container == "TIFF":
                page = image.copy()  # pages are independent pictures, in their own mode
                page_exif = _exif.read(image)  # kept in the page's IFD, which a copy loses
                if page_exif is not None:
                    page.info["exif"] = page_exif
                pages.append(page)
            else:
                # Pillow composites GIF / APNG / WebP frames (disposal, blending applied):
                # each frame read is the whole picture a viewer shows.
                pages.append(image.convert("RGBA") if _has_alpha(image) else image.convert("RGB"))
                durations.append(float(image.info.get("duration", 0) or 0))
        loop = image.info.get("loop")
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"frame {len(pages)} of the {container} cannot be decoded ({exc})") from None
    finally:
        try:
            image.seek(start)
        except (OSError, EOFError, ValueError):
            pass
    transparency = any(_alpha_used(p) for p in pages)
    if container != "TIFF" and not transparency:
        pages = [p.convert("RGB") if p.mode == "RGBA" else p for p in pages]
    elif container != "TIFF":
        pages = [p if p.mode == "RGBA" else p.convert("RGBA") for p in pages]
    return Frames(
        kind=kind,
        frames=pages,
        container=container,
        durations=durations or None,
        loop=int(loop) if isinstance(loop, int) else None,
        transparency=transparency,
        exif=exif,
        icc_profile=icc if isinstance(icc, bytes) and icc else None,
    )


def _alpha_used(frame: Image.Image) -> bool:
    if "A" not in frame.getbands():
        return False
    low = frame.getchannel("A").getextrema()[0]
    return bool(isinstance(low, (int, float)) and low < 255)


def _key(frame: Any) -> str:
    h = hashlib.sha256()
    if isinstance(frame, np.ndarray):
        data = np.ascontiguousarray(frame)
        h.update(repr((data.dtype.str, data.shape)).encode())
        h.update(data.data)
    else:
        h.update(repr((frame.mode, frame.size)).encode())
        h.update(frame.tobytes())
        if frame.palette is not None:
            h.update(frame.palette.tobytes())
    return h.hexdigest()


def distinct(split: Frames) -> tuple[list[int], list[int]]:
    """The frames to send, and for every frame the index of its sent twin.

    Identical frames (same pixels, mode and size) are sent once: a call costs
    ``len(first) x filter.cost`` credits at most.

    Returns
    -------
    (list of int, list of int)
        The indices of the distinct frames, in order; for each frame, the
        position in that list of the frame whose result it takes.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.stack([np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8), np.zeros((2, 2), np.uint8)])
    >>> distinct(read(stack, frames=True))
    ([0, 1], [0, 1, 0])
    """
    seen: dict[str, int] = {}
    sent: list[int] = []
    twin: list[int] = []
    for index, frame in enumerate(split.frames):
        key = _key(frame)
        if key not in seen:
            seen[key] = len(sent)
            sent.append(index)
        twin.append(seen[key])
    return sent, twin


# --------------------------------------------------------------------------- running


def run(
    flt: Filter,
    image: Any,
    *,
    frames: FramesOption,
    max_credits: float | None,
    client: Client,
    on_limit: Any,
    upload_format: Any,
    progress: bool | None = None,
) -> Any:
    """Run ``flt`` on every frame of ``image`` and re-assemble the result.

    The distinct frames run through :func:`vance_filters.batch.map`
    (overlapped, retried, cached); a progress bar shows on stderr past
    :data:`PROGRESS_FRAMES` frames (``progress`` forces it on or off). With
    ``max_credits``, a call that could cost more (distinct frames x
    ``flt.cost``), or more than the balance, is refused with
    ``CreditLimitError`` before any upload.

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> stack = np.zeros((3, 4, 5, 3), np.uint8)
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = run(vf.Enlarge(scale=2), stack, frames="all", max_credits=1, client=client,
    ...               on_limit="downscale", upload_format="auto")
    >>> out.shape, emu.credits_used
    ((3, 8, 10, 3), 1.0)
    """
    from . import _budget, batch  # the batch layer sits above the filters that call this

    split = read(image, frames=frames)
    out_format = flt.out_format
    sent, twin = distinct(split)
    for index in sent:
        _check_frame(split.frames[index], index, len(split))
    if max_credits is not None:
        paid = len(sent)
        if on_limit == "tile":  # every tile and anchor of every distinct frame
            from . import tiles

            paid = sum(tiles.results_of(flt, split.frames[i], upload_format=upload_format,
                                        max_result_pixels=client.max_result_pixels) for i in sent)
        _budget.check(
            float(paid * flt.cost),
            max_credits=max_credits,
            client=client,
            what=_budget.describe_frames(len(split), len(sent)),
            per_result=flt.cost,
            fewer="fewer frames (frames='first' runs only the first)",
        )
    show = len(split) > PROGRESS_FRAMES if progress is None else progress
    results = list(
        batch.map(
            flt,
            [split.frames[i] for i in sent],
            concurrency=min(8, max(1, len(sent))),
            progress=show,
            client=client,
            on_limit=on_limit,
            upload_format=upload_format,
        )
    )
    return write(split, [results[t] for t in twin], out_format=out_format, quality=flt.out_quality)


def _check_frame(frame: Any, index: int, count: int) -> None:
    """Refuse an unusable frame before anything is sent for any frame (an :class:`InputError`)."""
    from . import imaging  # converts and validates, without encoding

    try:
        imaging.to_pil(frame)  # for viewing: issues no PrecisionWarning (each frame warns when sent)
    except InputError as exc:
        raise InputError(f"frame {index} of {count}: {exc}") from None


# --------------------------------------------------------------------------- writing


def write(
    split: Frames,
    results: list[Any],
    *,
    out_format: str | None = None,
    quality: int | None = None,
) -> Any:
    """Re-assemble processed frames as the input's kind and container.

    Parameters
    ----------
    split : Frames
        What :func:`read` gave for the input.
    results : list
        One processed frame per input frame (PIL images, or arrays for a stack).
    out_format : {"png", "jpg"}, optional
        ``"png"`` writes an APNG whatever the input's container; JPEG holds one
        picture only, so ``"jpg"`` keeps the input's container.
    quality : int, optional
        The quality of a lossy container (WebP): by default WebP is written
        lossless.

    Returns
    -------
    bytes, PIL.Image.Image or numpy.ndarray
        Bytes in the container for bytes; a multi-frame PIL image opened on
        them for PIL images and paths; a stack for arrays.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.zeros((2, 3, 4), np.uint16)
    >>> write(read(stack, frames=True), list(stack)).shape
    (2, 3, 4)
    """
    if len(results) != len(split):
        raise InputError(f"{len(results)} results for {len(split)} frames")  # pragma: no cover
    if split.kind == "array":
        return np.stack(results)
    container = split.container or "PNG"
    if out_format is not None and str(out_format).lower() == "png":
        container = "PNG"
    writer = _WRITERS[container]
    data = writer(results, split, quality)
    if split.kind == "bytes":
        return data
    opened = Image.open(io.BytesIO(data))
    return opened


def _durations(split: Frames, count: int) -> list[float]:
    if split.durations is not None and len(split.durations) == count:
        return list(split.durations)
    return [100.0] * count  # a TIFF written as an animation (format="png")


def _write_gif(results: list[Image.Image], split: Frames, quality: int | None) -> bytes:
    # Pillow's save_all merges consecutive identical frames (adding their durations):
    # the frames are written one by one with Pillow's per-frame GIF encoder instead.
    durations = _durations(split, len(results))
    paletted = [_to_gif_frame(frame) for frame in results]
    header_info: dict[str, Any] = {}
    if split.loop is not None:
        header_info["loop"] = split.loop
    first = paletted[0][0].copy()
    header, _ = GifImagePlugin.getheader(first, None, header_info)
    out = io.BytesIO()
    for chunk in header:
        out.write(chunk)
    for (frame, transparent), duration in zip(paletted, durations, strict=True):
        params: dict[str, Any] = {
            "duration": round(duration),
            # each frame replaces the last whole: restore to background (clear) before the next
            "disposal": 2,
            "include_color_table": True,
        }
        if transparent is not None:
            params["transparency"] = transparent
        for chunk in GifImagePlugin.getdata(frame, (0, 0), **params):
            out.write(chunk)
    out.write(b";")
    return out.getvalue()


def _to_gif_frame(frame: Image.Image) -> tuple[Image.Image, int | None]:
    """A frame as a 256-colour ``P`` image, with index 255 transparent where alpha < 128."""
    alpha = frame.getchannel("A") if "A" in frame.getbands() else None
    rgb = frame.convert("RGB")
    lowest = alpha.getextrema()[0] if alpha is not None else 255
    if alpha is None or not isinstance(lowest, (int, float)) or lowest >= 128:
        return rgb.quantize(colors=256, dither=Image.Dither.NONE), None
    paletted = rgb.quantize(colors=255, dither=Image.Dither.NONE)
    palette = (paletted.getpalette("RGB") or [])[: 255 * 3]
    palette += [0, 0, 0] * (256 - len(palette) // 3)
    paletted.putpalette(palette, "RGB")
    clear = alpha.point(lambda a: 255 if a < 128 else 0, "L")
    paletted.paste(255, mask=clear)
    return paletted, 255


def _write_apng(results: list[Image.Image], split: Frames, quality: int | None) -> bytes:
    durations = _durations(split, len(results))
    mode = "RGBA" if any("A" in r.getbands() for r in results) else results[0].mode
    frames = [r if r.mode == mode else r.convert(mode) for r in results]
    out = io.BytesIO()
    # Every frame replaces the canvas (blend "source"); Pillow merges consecutive identical
    # frames that share disposal and blend, so the disposal alternates between "none" and
    # "background" (either one shows the same whole frames).
    disposal = [
        PngImagePlugin.Disposal.OP_NONE if i % 2 == 0 else PngImagePlugin.Disposal.OP_BACKGROUND
        for i in range(len(frames))
    ]
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": durations,
        "disposal": disposal,
        "blend": PngImagePlugin.Blend.OP_SOURCE,
        "default_image": False,
    }
    if split.loop is not None:
        options["loop"] = split.loop
    options.update(_metadata(split, frames[0].size))
    frames[0].save(out, "PNG", **options)
    return out.getvalue()


def _metadata(split: Frames, size: tuple[int, int]) -> dict[str, bytes]:
    """The file's EXIF (its size fields set to the result's) and ICC profile, as save options."""
    options = {}
    exif = _exif.fit(split.exif, size)
    if exif is not None:
        options["exif"] = exif
    if split.icc_profile is not None:
        options["icc_profile"] = split.icc_profile
    return options


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def _write_webp(results: list[Image.Image], split: Frames, quality: int | None) -> bytes:
    # libwebp's animation encoder (Pillow's save_all) merges consecutive identical frames:
    # the animation is assembled here from still WebP frames (RIFF chunks ANIM + ANMF).
    durations = _durations(split, len(results))
    width, height = results[0].size
    alpha = any("A" in r.getbands() for r in results)
    frames = b""
    for frame, duration in zip(results, durations, strict=True):
        still = io.BytesIO()
        mode = "RGBA" if alpha else "RGB"
        picture = frame if frame.mode == mode else frame.convert(mode)
        if quality is None:
            picture.save(still, "WEBP", lossless=True, exact=True)
        else:
            picture.save(still, "WEBP", quality=quality)
        body = b"".join(
            _xmp.riff_chunk(tag, payload)
            for tag, payload in _xmp.riff_chunks(still.getvalue())
            if tag in (b"ALPH", b"VP8 ", b"VP8L")
        )
        header = _u24(0) + _u24(0) + _u24(width - 1) + _u24(height - 1)
        header += _u24(round(duration)) + bytes([0b10])  # no blending, no disposal
        frames += _xmp.riff_chunk(b"ANMF", header + body)
    metadata = _metadata(split, (width, height))
    iccp = _xmp.riff_chunk(b"ICCP", metadata["icc_profile"]) if "icc_profile" in metadata else b""
    exif = metadata.get("exif", b"")
    exif = _xmp.riff_chunk(b"EXIF", exif[6:] if exif.startswith(b"Exif\0\0") else exif) if exif else b""
    flags = 0x02 | (0x10 if alpha else 0) | (0x20 if iccp else 0) | (0x08 if exif else 0)
    vp8x = _xmp.riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _u24(width - 1) + _u24(height - 1))
    anim = _xmp.riff_chunk(b"ANIM", bytes([0, 0, 0, 0]) + struct.pack("<H", split.loop or 0))
    body = b"WEBP" + vp8x + iccp + anim + frames + exif
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _write_tiff(results: list[Image.Image], split: Frames, quality: int | None) -> bytes:
    # Pillow writes the first page's options on every page: the pages' DPI, ICC profile and
    # EXIF (carried by the per-frame results) come from the first page.
    options: dict[str, Any] = {}
    for key in ("dpi", "icc_profile", "exif"):
        if results[0].info.get(key) is not None:
            options[key] = results[0].info[key]
    bare = {k: v for k, v in options.items() if k != "exif"}
    # libtiff (deflate) refuses some EXIF tags that Pillow's own writer (raw) takes
    attempts = [{"compression": "tiff_deflate", **options}, options, {"compression": "tiff_deflate", **bare}]
    for number, settings in enumerate(attempts, 1):
        out = io.BytesIO()
        try:
            results[0].save(out, "TIFF", save_all=True, append_images=results[1:], **settings)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            if number == len(attempts):
                raise
            continue
        break
    return out.getvalue()


_WRITERS: dict[str, Callable[[list[Image.Image], Frames, int | None], bytes]] = {
    "GIF": _write_gif,
    "PNG": _write_apng,
    "WEBP": _write_webp,
    "TIFF": _write_tiff,
}
