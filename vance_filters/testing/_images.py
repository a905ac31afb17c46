"""Upload inspection and capped decoding: the header is read before any pixel."""

from __future__ import annotations

import io

from PIL import Image

from .._features import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from ._wire import ApiError

_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}


def sniff(data: bytes) -> str | None:
    """``"png"`` or ``"jpeg"`` from the magic bytes, None for anything else."""
    for magic, fmt in _SIGNATURES.items():
        if data.startswith(magic):
            return fmt
    return None


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` read from the PNG IHDR or the JPEG SOF marker, without decoding."""
    if fmt == "png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


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
