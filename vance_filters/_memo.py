"""Decoded results remembered per client, so a repeated call skips the encode and the decode too.

The client's result cache keeps the downloaded bytes, keyed by the uploaded
bytes and the jconfig: a repeat makes no request and costs no credit, but it
still encodes the input to find the key and decodes the result again. This
memo sits in front of it, keyed by the caller's own input (its pixels, kind,
dtype, mode, metadata) and the call's settings, and holds the finished result:
a hit costs one hash of the input and one copy of the result.

It lives and dies with its client, and is off when the client's cache is.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
import weakref
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["Memo", "memo_for"]

#: Decoded results kept per client, in bytes of pixel data.
MEMO_BYTES = 128 * 1024 * 1024
#: Larger results are not kept: the memo holds its own copy, and a big image's
#: memory matters more than the encode and decode a repeat would save.
MEMO_ITEM_BYTES = 32 * 1024 * 1024


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()  # hardware-accelerated on current CPUs: ~2 GB/s
    for part in parts:
        if isinstance(part, np.ndarray):  # C-contiguous: hashed straight from its buffer
            h.update(b"a%d:" % part.nbytes)
            h.update(part.data)
        elif isinstance(part, (bytes, bytearray, memoryview)):
            h.update(b"b%d:" % len(part))
            h.update(part)
        else:
            text = repr(part).encode()
            h.update(b"r%d:" % len(text))
            h.update(text)
    return h.hexdigest()


def input_key(image: Any) -> str | None:
    """A key for the caller's image, or None when it cannot be keyed cheaply and safely."""
    if isinstance(image, np.ndarray):
        if image.dtype.hasobject:
            return None
        data = np.ascontiguousarray(image)
        return _digest("array", data.dtype.str, data.shape, data)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _digest("bytes", bytes(image))
    if isinstance(image, Image.Image):
        try:
            image.load()
        except Exception:  # noqa: BLE001 - the filter will report a broken image itself
            return None
        info = {k: v for k, v in image.info.items() if isinstance(v, (bytes, str, int, float, tuple))}
        palette = image.palette.tobytes() if image.palette is not None else b""
        exif = image.getexif().get(0x0112)  # orientation changes what is uploaded
        # A multi-frame image reaches the memo only for its current frame (frames="first");
        # every frame is run through the per-frame memo by ``frames.run``. The frame's place
        # counts too, so frame 3 of a file is never answered with frame 0's result.
        position = (getattr(image, "n_frames", 1), image.tell())
        return _digest(
            "pil", image.mode, image.size, position, sorted(info.items()), exif, palette, image.tobytes()
        )
    if isinstance(image, (str, os.PathLike)):
        try:
            with open(image, "rb") as handle:
                return _digest("path", handle.read())
        except OSError:
            return None
    return None


def _size_of(result: Any) -> int:
    if isinstance(result, np.ndarray):
        return int(result.nbytes)
    if isinstance(result, Image.Image):
        return result.width * result.height * max(1, len(result.getbands()))
    if isinstance(result, bytes):
        return len(result)
    return 0


def _copy(result: Any) -> Any:
    """The caller's own copy: arrays and PIL images are mutable."""
    if isinstance(result, np.ndarray):
        return result.copy()
    if isinstance(result, Image.Image):
        return result.copy()
    return result


class Memo:
    """A thread-safe LRU of finished results, bounded by their size."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[str, tuple[Any, int]] = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(image: Any, jconfig: dict[str, Any], options: tuple[Any, ...]) -> str | None:
        """The memo key of one call, or None when it should not be memoised."""
        pixels = input_key(image)
        if pixels is None:
            return None
        return _digest(pixels, json.dumps(jconfig, sort_keys=True), options)

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
        return _copy(item[0])

    def put(self, key: str, result: Any) -> None:
        size = _size_of(result)
        if not size or size > min(self.max_bytes, MEMO_ITEM_BYTES):
            return
        stored = _copy(result)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (stored, size)
            self._size += size
            while self._size > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped

    def discard(self, key: str) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]


_memos: weakref.WeakKeyDictionary[Any, Memo] = weakref.WeakKeyDictionary()
_memos_lock = threading.Lock()


def memo_for(client: Any) -> Memo | None:
    """The memo of ``client`` (None when the client's cache is off)."""
    if getattr(client, "cache", None) is None:
        return None
    with _memos_lock:
        memo = _memos.get(client)
        if memo is None:
            memo = _memos[client] = Memo()
        return memo
