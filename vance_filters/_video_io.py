"""PyAV access, a frame's upload and a result's decoding, for :mod:`vance_filters.video`."""

from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from . import provenance as _provenance
from .errors import InputError, ResultDecodeError, ResultTooLargeError

if TYPE_CHECKING:
    from .filters import Filter

__all__ = [
    "INSTALL",
    "JPEG_QUALITY",
    "FrameJob",
    "Paid",
    "decoded_result",
    "fit",
    "frame_job",
    "load_av",
    "open_container",
    "rgb",
    "upload_file",
]

#: The quality of a frame's JPEG upload.
JPEG_QUALITY = 95
INSTALL = "pip install 'vance-filters[video]'"


def load_av() -> Any:
    try:
        import av  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise InputError(f"video input needs PyAV, the optional extra: {INSTALL}") from None
    return av


def open_container(av: Any, source: Any, mode: str = "r", **options: Any) -> Any:
    try:
        return av.open(os.fspath(source), mode, **options)
    except (OSError, av.error.FFmpegError) as exc:  # type: ignore[misc]
        raise InputError(f"{os.fspath(source)}: not a video PyAV can read: {exc}") from None


def upload_file(picture: np.ndarray, upload_format: str) -> tuple[bytes, str]:
    """A frame's upload file and its name: JPEG q95 with the chroma halved (a video frame's
    chroma already is), when it fits the service's limits; else as :func:`imaging.prepare`
    makes it (PNG, or a downscaled JPEG)."""
    from . import imaging
    from ._features import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS

    height, width = picture.shape[:2]
    if upload_format == "jpeg" and width * height <= MAX_UPLOAD_PIXELS:
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0")
        if buffer.tell() <= MAX_UPLOAD_BYTES:
            return buffer.getvalue(), "frame.jpg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a downscaled frame comes back at the output's size anyway
        prepared = imaging.prepare(picture, upload_format=upload_format, on_limit="downscale")  # type: ignore[arg-type]
    return prepared.data, prepared.filename


@dataclass(frozen=True)
class Paid:
    """A frame's job done: the result file as the service sent it."""

    data: bytes
    upload: bytes
    trans_id: str | None


class FrameJob:
    """``flt`` for :func:`vance_filters.batch.map`: a frame's picture in, the result file out.

    The result is not decoded here (no RGB copy): the encoder side decodes a JPEG result
    straight to the encoder's YUV. Every job goes through :meth:`Client.run_job` (the cache,
    the journal) and is reported to the provenance recording, as :meth:`Filter.apply` does.
    """

    def __init__(self, flt: Filter, upload_format: str) -> None:
        self.flt = flt
        self.jconfig = flt.to_jconfig()
        self.upload_format = upload_format

    @property
    def cost(self) -> float:
        return float(self.flt.cost)

    def apply(self, image: Any, *, client: Any, on_limit: Any, upload_format: Any) -> Paid:
        data, name = upload_file(image, self.upload_format)
        result = client.run_job(data, self.jconfig, filename=name)
        _provenance.report_job(self.flt, result, data, self.jconfig, client.base_url)
        return Paid(result.data, data, result.trans_id)


def frame_job(flt: Filter, upload_format: str) -> FrameJob:
    # The class bears the filter's name: it labels the progress bar.
    return type(type(flt).__name__, (FrameJob,), {})(flt, upload_format)  # type: ignore[no-any-return]


_decoders = threading.local()  # one JPEG decoder and YUV converter per thread


def decoded_result(av: Any, paid: Paid, size: tuple[int, int], pix_fmt: str) -> Any:
    """The result file as an encoder frame: ``size``, ``pix_fmt``. A JPEG goes to YUV directly
    (FFmpeg's decoder, one per thread); anything else through Pillow's RGB."""
    from ._sniff import image_format, image_size

    claimed = image_size(paid.data)
    if claimed is not None and claimed[0] * claimed[1] > 4 * size[0] * size[1]:
        raise ResultTooLargeError(
            f"the result claims {claimed[0]}x{claimed[1]} pixels, over 4x the {size[0]}x{size[1]} "
            "promised", trans_id=paid.trans_id,
        )  # fmt: skip
    try:
        if image_format(paid.data) == "jpeg":
            decoder = getattr(_decoders, "mjpeg", None)
            if decoder is None:
                decoder = _decoders.mjpeg = av.CodecContext.create("mjpeg", "r")
                _decoders.reformatter = av.video.reformatter.VideoReformatter()
            pictures = decoder.decode(av.Packet(paid.data))
            if len(pictures) == 1 and pictures[0].format.name in (
                "yuvj420p",
                "yuvj444p",
                "yuvj422p",
            ):
                # JPEG's full-range YUV to the video's limited range (BT.601 both)
                return _decoders.reformatter.reformat(
                    pictures[0], width=size[0], height=size[1], format=pix_fmt,
                    src_color_range="JPEG", dst_color_range="MPEG",
                )  # fmt: skip
        with Image.open(io.BytesIO(paid.data)) as opened:
            picture = fit(rgb(opened.convert("RGB")), size)
        return av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format=pix_fmt)
    except (OSError, ValueError, av.error.FFmpegError) as exc:  # type: ignore[misc]
        raise ResultDecodeError(
            f"the result cannot be decoded: {exc}", trans_id=paid.trans_id
        ) from None


def rgb(result: Any) -> np.ndarray:
    array = np.asarray(result)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


def fit(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (picture.shape[1], picture.shape[0]) == size:
        return picture
    return np.asarray(Image.fromarray(picture).resize(size, Image.Resampling.LANCZOS))
