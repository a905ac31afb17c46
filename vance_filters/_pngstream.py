"""A PNG written band by band: the image is never whole in memory.

Rows go through one zlib stream into IDAT chunks as they come; 8-bit or 16-bit,
gray, gray + alpha, RGB or RGBA.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import BinaryIO

import numpy as np

#: PNG colour type by channel count.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
#: Rows compressed at a time.
_ROWS_AT_ONCE = 64
#: zlib level: fast, as the upload policy's PNGs.
_LEVEL = 1


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class PngStream:
    """Write a ``width`` x ``height`` PNG to ``path``, rows in order (:meth:`write`).

    Examples
    --------
    >>> import io, os, tempfile, numpy as np
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> img = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    >>> with PngStream(path, width=2, height=4, channels=3, dtype=np.dtype(np.uint8)) as png:
    ...     png.write(img[:3]); png.write(img[3:])
    >>> np.array_equal(np.asarray(Image.open(path)), img)
    True
    """

    def __init__(
        self, path: str | os.PathLike[str], *, width: int, height: int, channels: int, dtype: np.dtype[np.generic]
    ) -> None:
        if channels not in _COLOUR_TYPE:
            raise ValueError(f"channels={channels} is not allowed: expected 1-4")
        if dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ValueError(f"a streamed PNG holds uint8 or uint16 values, not {dtype}")
        self._width, self._height, self._channels = width, height, channels
        self._big = np.dtype(">u2") if dtype == np.dtype(np.uint16) else np.dtype(np.uint8)
        self._rows = 0
        self._zlib = zlib.compressobj(_LEVEL)
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        depth = 16 if self._big.itemsize == 2 else 8
        header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPE[channels], 0, 0, 0)
        self._file.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header))

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (``(n, width[, channels])``) below those written before."""
        rows = rows.reshape(rows.shape[0], self._width, self._channels)
        if self._rows + rows.shape[0] > self._height:
            raise ValueError(f"more than {self._height} rows written")
        for start in range(0, rows.shape[0], _ROWS_AT_ONCE):  # small temporaries
            part = rows[start:start + _ROWS_AT_ONCE]
            raw = np.empty((part.shape[0], 1 + self._width * self._channels * self._big.itemsize), np.uint8)
            raw[:, 0] = 0  # filter: none
            raw[:, 1:] = part.astype(self._big).view(np.uint8).reshape(part.shape[0], -1)
            data = self._zlib.compress(raw.data)
            if data:
                self._file.write(_chunk(b"IDAT", data))
        self._rows += rows.shape[0]

    def close(self) -> None:
        """Finish the file (every row must have been written)."""
        if self._file.closed:
            return
        try:
            if self._rows != self._height:
                raise ValueError(f"{self._rows} of {self._height} rows written")
            self._file.write(_chunk(b"IDAT", self._zlib.flush()) + _chunk(b"IEND", b""))
        finally:
            self._file.close()

    def __enter__(self) -> PngStream:  # noqa: PYI034 - no Self on 3.10
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self._file.close()
            return
        self.close()
