"""Upload inspection and capped decoding: the header is read before any pixel."""

from __future__ import annotations

import io

from PIL import Image

from .._features import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from .._sniff import image_format, image_size
from ._wire import ApiError

#: What the service takes: JPG and PNG (a WebP upload is refused like any other format).
_ACCEPTED = ("png", "jpeg")


def sniff(data: bytes) -> str | None:
    """``"png"`` or ``"jpeg"`` from the magic bytes, None for anything else."""
    fmt = image_format(data)
    return fmt if fmt in _ACCEPTED else None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` read from the PNG IHDR or the JPEG SOF marker, without decoding.

    The header reader is the package's own leaf module (no client, no imaging).
    """
    return image_size(data) if image_format(data) == fmt else None


def inspect_upload(data: bytes) -> tuple[str, int, int]:
    """Check an upload like the service does: ``(format, width, height)`` or an ApiError.

    Size first (10012), then the format by its bytes (10001), then the dimensions read
    from the header only (10012 over 34 MP), then a structural check that decodes nothing.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(10012, f"the file has {len(data)} bytes, more than {MAX_UPLOAD_BYTES}")
    fmt = sniff(data)
    if fmt is None:
        raise ApiError(10001, "the file is not a JPG or PNG image")
    size = header_size(data, fmt)
    if size is None:
        raise ApiError(10001, "the file is not a readable JPG or PNG image")
    width, height = size
    if width < 1 or height < 1:
        raise ApiError(10001, "the image is empty")
    if width * height > MAX_UPLOAD_PIXELS:
        raise ApiError(
            10012, f"{width}x{height} is {width * height} pixels, more than {MAX_UPLOAD_PIXELS}"
        )
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as img:
            if img.size != (width, height):
                raise ValueError("inconsistent header")
            img.verify()
    except Exception:  # noqa: BLE001 - any decoder complaint means "not an image"
        raise ApiError(10001, "the file is not a readable JPG or PNG image") from None
    return fmt, width, height


def decode(data: bytes) -> Image.Image:
    """Decode an accepted upload, refusing again anything over the pixel cap."""
    fmt = sniff(data)
    size = header_size(data, fmt) if fmt else None
    if size is None or size[0] * size[1] > MAX_UPLOAD_PIXELS:
        raise ValueError("not a JPG or PNG within the pixel cap")
    img = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    img.load()
    return img
