"""XMP packets inside PNG, JPEG and WebP bytes: put one in (replacing any), get it out.

The pixels, EXIF and ICC of the file are left as they are: a PNG gets an
``iTXt`` chunk ``XML:com.adobe.xmp`` after ``IHDR``, a JPEG an ``APP1``
segment ``http://ns.adobe.com/xap/1.0/`` after its JFIF and EXIF segments, a
WebP an ``XMP`` chunk (a simple WebP becomes an extended one, ``VP8X``), where
exiftool and Pillow's ``Image.getxmp()`` look for them.

The chunk builders and the RIFF reader it needs (:func:`png_chunk`,
:func:`riff_chunk`, :func:`riff_chunks`) serve the streamed PNG writer and the
animated WebP writer of :mod:`vance_filters.frames` too.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence

from ._sniff import image_format

__all__ = ["PNG_XMP_HEAD", "embed_packet", "packet_of", "png_chunk", "riff_chunk", "riff_chunks"]

_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_XMP = b"XML:com.adobe.xmp"
#: An XMP ``iTXt`` chunk's payload before its packet: the keyword, then empty flags,
#: language and translated keyword.
PNG_XMP_HEAD = _PNG_XMP + b"\x00\x00\x00\x00\x00"


def embed_packet(data: bytes, packet: bytes) -> bytes:
    """``data`` (PNG, JPEG or WebP) with ``packet`` as its XMP, any previous one dropped.

    Raises
    ------
    ValueError
        Other bytes, or a packet too large for a JPEG segment.
    """
    kind = image_format(data)
    if kind == "png":
        return _png_embed(data, packet)
    if kind == "jpeg":
        return _jpeg_embed(data, packet)
    if kind == "webp":
        return _webp_embed(data, packet)
    raise ValueError("provenance is written into PNG, JPEG and WebP files only")


def packet_of(data: bytes) -> bytes | None:
    """The XMP packet of PNG, JPEG or WebP bytes, or None (none, other bytes, or damaged)."""
    kind = image_format(data)
    try:
        if kind == "png":
            return _png_xmp(data)
        if kind == "jpeg":
            return _jpeg_xmp(data)
        if kind == "webp":
            return _webp_xmp(data)
    except (struct.error, zlib.error, IndexError, ValueError):
        return None
    return None


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(type, payload, the whole chunk) of each PNG chunk."""
    position = 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        tag = data[position + 4 : position + 8]
        end = position + 12 + length
        yield tag, data[position + 8 : position + 8 + length], data[position:end]
        position = end
        if tag == b"IEND":
            break


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    """A whole PNG chunk: length, type, payload and CRC."""
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)


def _png_is_xmp(tag: bytes, payload: bytes) -> bool:
    return tag == b"iTXt" and payload.startswith(_PNG_XMP + b"\x00")


def _png_embed(data: bytes, packet: bytes) -> bytes:
    chunk = png_chunk(b"iTXt", PNG_XMP_HEAD + packet)
    out = [data[:8]]
    for tag, body, whole in _png_chunks(data):
        if _png_is_xmp(tag, body):
            continue
        out.append(whole)
        if tag == b"IHDR":
            out.append(chunk)
    return b"".join(out)


def _png_xmp(data: bytes) -> bytes | None:
    for tag, payload, _ in _png_chunks(data):
        if _png_is_xmp(tag, payload):
            rest = payload[len(_PNG_XMP) + 1 :]
            compressed = rest[0] == 1
            rest = rest[2:]
            rest = rest[rest.index(b"\x00") + 1 :]  # language tag
            rest = rest[rest.index(b"\x00") + 1 :]  # translated keyword
            return zlib.decompress(rest) if compressed else rest
    return None


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The segments before the scan, as (marker, whole segment), and where the rest starts."""
    segments = []
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segments.append((marker, data[position : position + 2 + length]))
        position += 2 + length
    return segments, position


def _jpeg_embed(data: bytes, packet: bytes) -> bytes:
    payload = _JPEG_XMP + packet
    if len(payload) + 2 > 0xFFFF:
        raise ValueError(f"the provenance record ({len(packet)} bytes) is too large for a JPEG segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    segments, rest = _jpeg_segments(data)
    kept = [(m, s) for m, s in segments if not (m == 0xE1 and s[4:].startswith(_JPEG_XMP))]
    at = 0
    while at < len(kept) and kept[at][0] in (0xE0, 0xE1):  # after JFIF and EXIF
        at += 1
    parts = [s for _, s in kept[:at]] + [segment] + [s for _, s in kept[at:]]
    return data[:2] + b"".join(parts) + data[rest:]


def _jpeg_xmp(data: bytes) -> bytes | None:
    segments, _ = _jpeg_segments(data)
    for marker, whole in segments:
        if marker == 0xE1 and whole[4:].startswith(_JPEG_XMP):
            return whole[4 + len(_JPEG_XMP) :]
    return None


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, payload) of each chunk of a RIFF file (WebP) after its 12-byte header."""
    chunks = []
    position = 12
    while position + 8 <= len(data):
        tag = data[position : position + 4]
        (size,) = struct.unpack("<I", data[position + 4 : position + 8])
        chunks.append((tag, data[position + 8 : position + 8 + size]))
        position += 8 + size + (size & 1)
    return chunks


def riff_chunk(tag: bytes, payload: bytes) -> bytes:
    """A whole RIFF chunk: tag, little-endian size, payload, padded to an even length."""
    return tag + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def _webp_canvas(chunks: Sequence[tuple[bytes, bytes]]) -> tuple[int, int, bool]:
    """Width, height and alpha of a simple (VP8 / VP8L) WebP."""
    tag, payload = chunks[0]
    if tag == b"VP8L":
        (bits,) = struct.unpack("<I", payload[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    if tag == b"VP8 ":
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF, False
    raise ValueError(f"a WebP file whose first chunk is {tag!r}")


def _webp_embed(data: bytes, packet: bytes) -> bytes:
    chunks = [(t, p) for t, p in riff_chunks(data) if t != b"XMP "]
    if chunks and chunks[0][0] == b"VP8X":
        header = chunks[0][1]
        chunks[0] = (b"VP8X", bytes([header[0] | 0x04]) + header[1:])
    else:
        width, height, _ = _webp_canvas(chunks)
        flags = 0x04 | (0x10 if _alpha_of(chunks) else 0)
        canvas = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
        chunks.insert(0, (b"VP8X", bytes([flags, 0, 0, 0]) + canvas))
    chunks.append((b"XMP ", packet))
    body = b"WEBP" + b"".join(riff_chunk(t, p) for t, p in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _alpha_of(chunks: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether a simple WebP's picture has alpha."""
    return _webp_canvas(chunks)[2]


def _webp_xmp(data: bytes) -> bytes | None:
    for tag, payload in riff_chunks(data):
        if tag == b"XMP ":
            return payload
    return None


