"""The result cache: a paid result is never paid for twice.

Keyed by the SHA-256 of the uploaded bytes and the canonical JSON of the
jconfig (see :func:`cache_key`). Two layers:

- :class:`MemoryCache`: thread-safe LRU bounded by total bytes (512 MiB by
  default), for the client's life;
- :class:`DiskCache`: one file per key under a folder, written atomically
  (temp file + fsync + ``os.replace``), so any number of processes may write
  the same key at once, a crash mid-write leaves only a temp file that is never
  read, and a damaged entry (checked by its SHA-256) counts as a miss.

:class:`TieredCache` puts the memory layer in front of the disk layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "UID_PLACEHOLDER",
    "DiskCache",
    "MemoryCache",
    "ResultCache",
    "TieredCache",
    "cache_key",
    "canonical_jconfig",
    "default_cache_dir",
]

#: Default bound of the in-memory cache (total bytes of results).
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
#: Stands for "the uid of this job's own upload" in ``cn_configs``.
UID_PLACEHOLDER = "<uid_from_upload>"

_MAGIC = b"VFC1"
_DIGEST = 32
_APP = "vance_filters"


class ResultCache(Protocol):
    """What the client needs from a cache."""

    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or None."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (best effort)."""

    def discard(self, key: str) -> bool:
        """Forget ``key``; True when something was stored under it."""


def _normalise_uids(jconfig: Any) -> Any:
    """A copy of ``jconfig`` with every own-upload ``image_uid`` written as the placeholder."""
    if not isinstance(jconfig, dict):
        return jconfig
    out = dict(jconfig)
    if isinstance(out.get("cn_configs"), list):
        out["cn_configs"] = [
            {**cn, "image_uid": UID_PLACEHOLDER}
            if isinstance(cn, dict) and cn.get("image_uid") in (None, UID_PLACEHOLDER)
            else cn
            for cn in out["cn_configs"]
        ]
    if isinstance(out.get("config"), list):
        out["config"] = [_normalise_uids(step) for step in out["config"]]
    return out


def canonical_jconfig(jconfig: dict[str, Any] | str) -> str:
    """The canonical JSON text of a jconfig: sorted keys, no spaces.

    A JSON string is parsed first (a UTF-8 BOM is ignored); text that is not
    JSON is used as it is. ``image_uid`` placeholders (None or
    ``"<uid_from_upload>"``) compare equal.

    Examples
    --------
    >>> canonical_jconfig({"name": "denoise", "config": {"module": "denoise"}})
    '{"config":{"module":"denoise"},"name":"denoise"}'
    >>> canonical_jconfig('\\ufeff{"b": 1, "a": 2}')
    '{"a":2,"b":1}'
    """
    value: Any = jconfig
    if isinstance(jconfig, str):
        try:
            value = json.loads(jconfig.lstrip("\ufeff"))
        except ValueError:
            return jconfig
    return json.dumps(
        _normalise_uids(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def cache_key(data: bytes, jconfig: dict[str, Any] | str) -> str:
    """The cache key of a job: SHA-256 over the upload's digest and the canonical jconfig.

    Examples
    --------
    >>> key = cache_key(b"png bytes", {"name": "matting"})
    >>> len(key), key == cache_key(b"png bytes", '{"name": "matting"}')
    (64, True)
    """
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(data).digest())
    digest.update(canonical_jconfig(jconfig).encode("utf-8"))
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """The platform's per-user cache folder for vance_filters.

    ``$XDG_CACHE_HOME/vance_filters`` (else ``~/.cache/vance_filters``) on
    Linux and other Unixes, ``~/Library/Caches/vance_filters`` on macOS,
    ``%LOCALAPPDATA%\\vance_filters\\Cache`` on Windows.

    Examples
    --------
    >>> default_cache_dir().name in ("vance_filters", "Cache")
    True
    """
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        return Path(base) / _APP / "Cache"
    if sys.platform == "darwin":
        return Path(os.path.expanduser("~")) / "Library" / "Caches" / _APP
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / _APP


class MemoryCache:
    """A thread-safe LRU cache bounded by the total size of its values.

    Parameters
    ----------
    max_bytes : int
        Largest total size kept; the least recently used entries go first.
        A single value larger than this is not kept.

    Examples
    --------
    >>> cache = MemoryCache(max_bytes=10)
    >>> cache.put("a", b"12345"); cache.put("b", b"678901")
    >>> cache.get("a") is None, cache.get("b")
    (True, b'678901')
    """

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes!r} must be >= 0")
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Total bytes held."""
        return self._size

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key`` (now most recently used), or None."""
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data``, evicting least recently used entries past ``max_bytes``."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)

    def discard(self, key: str) -> bool:
        """Forget ``key``; True when it was held.

        Examples
        --------
        >>> cache = MemoryCache(); cache.put("a", b"1")
        >>> cache.discard("a"), cache.discard("a"), cache.get("a")
        (True, False, None)
        """
        with self._lock:
            old = self._items.pop(key, None)
            if old is None:
                return False
            self._size -= len(old)
            return True

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._size = 0


class DiskCache:
    """Results stored as files under ``directory``, safe across processes.

    Each entry is ``<directory>/<key[:2]>/<key>.bin`` holding a small header
    (magic + SHA-256 of the data) and the data. Writes go to a temp file in the
    same folder, are fsynced and renamed into place with ``os.replace`` (atomic
    on POSIX and Windows), so a reader sees a whole entry or none; readers never
    open temp files. An entry whose digest does not match is a miss.

    Examples
    --------
    >>> import tempfile
    >>> cache = DiskCache(tempfile.mkdtemp())
    >>> cache.put("ab" * 32, b"result"); cache.get("ab" * 32)
    b'result'
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()

    def _path(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} must be lowercase hex")
        return self.directory / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None (missing, unreadable or damaged)."""
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        head = len(_MAGIC) + _DIGEST
        if len(blob) < head or not blob.startswith(_MAGIC):
            return None
        data = blob[head:]
        if hashlib.sha256(data).digest() != blob[len(_MAGIC) : head]:
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` atomically; a failure to write (full disk...) is ignored."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_MAGIC)
                handle.write(hashlib.sha256(data).digest())
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


    def discard(self, key: str) -> bool:
        """Remove the entry of ``key``; True when there was one (a failure to remove is ignored).

        Examples
        --------
        >>> import tempfile
        >>> cache = DiskCache(tempfile.mkdtemp()); cache.put("cd" * 32, b"bad")
        >>> cache.discard("cd" * 32), cache.get("cd" * 32)
        (True, None)
        """
        try:
            os.unlink(self._path(key))
        except OSError:
            return False
        return True


class TieredCache:
    """A memory cache in front of a disk cache: hits on disk are promoted."""

    def __init__(self, memory: MemoryCache, disk: DiskCache) -> None:
        self.memory = memory
        self.disk = disk

    def get(self, key: str) -> bytes | None:
        """From memory, else from disk (then kept in memory too)."""
        data = self.memory.get(key)
        if data is None:
            data = self.disk.get(key)
            if data is not None:
                self.memory.put(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Into both layers (disk first: it is the one that survives)."""
        self.disk.put(key, data)
        self.memory.put(key, data)

    def discard(self, key: str) -> bool:
        """From both layers; True when either held it."""
        on_disk = self.disk.discard(key)
        return self.memory.discard(key) or on_disk
