"""A PNG written band by band: the image is never whole in memory.

Rows go through one zlib stream into IDAT chunks as they come; 8-bit or 16-bit,
gray, gray + alpha, RGB or RGBA. Every row is filtered with PNG's ``Up`` filter (its
bytes less the row above's): an enlarged or smooth image's rows differ little, so
this halves the file and the time zlib takes, for one row held. The file is written atomically: under a
temporary name in the target's folder, fsynced and renamed on :meth:`PngStream.close`
(removed on any failure), as :mod:`vance_filters._atomic` writes.

An XMP packet (the provenance record) is written before the image data, where
exiftool, Pillow and :mod:`vance_filters._xmp` look first: ``xmp_room`` reserves
an ``iTXt`` chunk of that size after ``IHDR``, filled on :meth:`PngStream.close`
with the packet padded by whitespace, the way XMP packets are updated in place.
A packet that outgrew its room goes after the image data instead (still a valid
PNG, and still read by the same readers); the room then becomes a private
ancillary chunk (``vfPd``) that readers skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._xmp import PNG_XMP_HEAD, png_chunk

#: PNG colour type by channel count.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
#: Rows compressed at a time.
_ROWS_AT_ONCE = 64
#: zlib level: fast, as the upload policy's PNGs.
_LEVEL = 1
#: PNG's filter type 2, ``Up``: each byte less the byte above it (modulo 256).
_UP = 2
#: What an unused room becomes: a private, ancillary, safe-to-copy chunk readers skip.
_PAD = b"vfPd"
#: The XMP packet trailer a padded packet keeps last.
_TRAILER = b'<?xpacket end="w"?>'
#: A reserved room's content until it is filled: an empty XMP packet.
_EMPTY_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>\n' + _TRAILER
)


def padded(packet: bytes, size: int) -> bytes | None:
    """``packet`` grown to ``size`` bytes by whitespace before its trailer; None if it is longer.

    Examples
    --------
    >>> padded(b'<a/><?xpacket end="w"?>', 30)
    b'<a/>\\n      <?xpacket end="w"?>'
    >>> padded(b"<a/>", 2) is None
    True
    """
    extra = size - len(packet)
    if extra < 0:
        return None
    if packet.endswith(_TRAILER) and extra:
        body = packet[: -len(_TRAILER)]
        return body + b"\n" + b" " * (extra - 1) + _TRAILER
    return packet + b" " * extra


class PngStream:
    """Write a ``width`` x ``height`` PNG to ``path``, rows in order (:meth:`write`).

    Parameters
    ----------
    path : str or os.PathLike
        The file made on :meth:`close` (atomically; its folder must exist).
    width, height : int
        The image's size.
    channels : int
        1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    dtype : numpy.dtype
        uint8 or uint16 (8 or 16 bits per sample).
    xmp_room : int
        Bytes reserved after ``IHDR`` for the XMP packet given to :meth:`close`
        (0: none; a packet then goes after the image data).

    Examples
    --------
    >>> import io, os, tempfile, numpy as np
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> img = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    >>> with PngStream(path, width=2, height=4, channels=3, dtype=np.dtype(np.uint8), xmp_room=200) as png:
    ...     png.write(img[:3]); png.write(img[3:]); png.xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    >>> np.array_equal(np.asarray(Image.open(path)), img)
    True
    >>> Image.open(path).info["XML:com.adobe.xmp"].strip()
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        channels: int,
        dtype: np.dtype[np.generic],
        xmp_room: int = 0,
    ) -> None:
        if channels not in _COLOUR_TYPE:
            raise ValueError(f"channels={channels} is not allowed: expected 1-4")
        if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ValueError(f"a streamed PNG holds uint8 or uint16 values, not {dtype}")
        if not 0 < width < 2**31 or not 0 < height < 2**31:
            raise ValueError(f"a PNG of {width}x{height} cannot be written: each side must be 1 to 2**31-1")
        self.path = Path(path)
        #: The XMP packet written on :meth:`close` (None: none).
        self.xmp: bytes | None = None
        self._width, self._height, self._channels = width, height, channels
        self._big = np.dtype(">u2") if dtype == np.dtype(np.uint16) else np.dtype(np.uint8)
        self._rows = 0
        self._above: np.ndarray | None = None  # the last row's bytes, for the Up filter
        self._zlib = zlib.compressobj(_LEVEL)
        self._tmp = self.path.parent / f".{self.path.name[:40]}.{secrets.token_hex(6)}.part"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        try:
            depth = 16 if self._big.itemsize == 2 else 8
            header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPE[channels], 0, 0, 0)
            self._file.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header))
            self._room_at = self._file.tell()
            self._room = max(int(xmp_room), len(_EMPTY_PACKET)) if xmp_room else 0
            if self._room:
                self._file.write(png_chunk(b"iTXt", PNG_XMP_HEAD + (padded(_EMPTY_PACKET, self._room) or b"")))
        except BaseException:
            self.abort()
            raise

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (``(n, width[, channels])``) below those written before."""
        rows = rows.reshape(rows.shape[0], self._width, self._channels)
        if self._rows + rows.shape[0] > self._height:
            raise ValueError(f"more than {self._height} rows written")
        for start in range(0, rows.shape[0], _ROWS_AT_ONCE):  # small temporaries
            part = rows[start:start + _ROWS_AT_ONCE]
            body = np.ascontiguousarray(part.astype(self._big, copy=False)).view(np.uint8)
            body = body.reshape(part.shape[0], -1)
            raw = np.empty((part.shape[0], 1 + body.shape[1]), np.uint8)
            raw[:, 0] = _UP
            np.subtract(body[1:], body[:-1], out=raw[1:, 1:])  # uint8: modulo 256
            if self._above is None:  # the first row: the row above counts as zeros
                raw[0, 1:] = body[0]
            else:
                np.subtract(body[0], self._above, out=raw[0, 1:])
            self._above = body[-1].copy()
            data = self._zlib.compress(raw.data)
            if data:
                self._file.write(png_chunk(b"IDAT", data))
        self._rows += rows.shape[0]

    def close(self) -> Path:
        """Finish the file (every row must have been written) and give it its name."""
        if self._file.closed:
            return self.path
        try:
            if self._rows != self._height:
                raise ValueError(f"{self._rows} of {self._height} rows written")
            self._file.write(png_chunk(b"IDAT", self._zlib.flush()))
            packet = None if self.xmp is None else padded(self.xmp, self._room) if self._room else None
            if self.xmp is not None and packet is None:  # no room, or outgrown: after the data
                self._file.write(png_chunk(b"iTXt", PNG_XMP_HEAD + self.xmp))
            self._file.write(png_chunk(b"IEND", b""))
            if self._room:
                self._file.seek(self._room_at)
                if packet is not None:
                    self._file.write(png_chunk(b"iTXt", PNG_XMP_HEAD + packet))
                else:  # no packet in the room: it must not read as an (empty) XMP packet
                    self._file.write(png_chunk(_PAD, bytes(len(PNG_XMP_HEAD) + self._room)))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the file: nothing is left at ``path`` nor under a temporary name."""
        self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self) -> PngStream:  # noqa: PYI034 - no Self on 3.10
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.abort()
            return
        self.close()
