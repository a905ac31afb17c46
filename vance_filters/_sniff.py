"""What a file's first bytes say: its image format and, for PNG / JPEG, its size.

No imaging library: the client knows no images, only enough of a header to
label an upload (``image/png``, ``image/jpeg``), to judge a download by its
magic bytes, and to know the size it sent when an upload answer has no
``w`` / ``h``.
"""

from __future__ import annotations

import struct

__all__ = ["image_format", "image_size", "image_type"]

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
#: JPEG start-of-frame markers (they carry the size); C4, C8 and CC are not frames.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_format(head: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"webp"`` by the magic bytes, else None.

    Examples
    --------
    >>> image_format(b"\\x89PNG\\r\\n\\x1a\\n...")
    'png'
    >>> image_format(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 ")
    'webp'
    >>> image_format(b"<html>") is None
    True
    """
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def image_type(data: bytes) -> str | None:
    """The media type for the magic bytes (``image/png`` ...), else None.

    Examples
    --------
    >>> image_type(b"\\xff\\xd8\\xff\\xe0")
    'image/jpeg'
    """
    kind = image_format(data)
    return _MIME[kind] if kind else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR or a JPEG's start-of-frame, else None.

    Examples
    --------
    >>> import struct
    >>> ihdr = b"\\x89PNG\\r\\n\\x1a\\n" + struct.pack(">I4sII", 13, b"IHDR", 640, 480)
    >>> image_size(ihdr)
    (640, 480)
    >>> image_size(b"GIF89a") is None
    True
    """
    kind = image_format(data)
    if kind == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return (width, height) if width and height else None
        return None
    if kind == "jpeg":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (width, height) if width and height else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None
