"""The result cache: a paid result is never paid for twice, and never served to another account.

Keyed by the SHA-256 of the uploaded bytes and the canonical JSON of the
jconfig (see :func:`cache_key`); a client qualifies it by the service and the
account (``_cache_scope.ScopedCache``), so a result paid on one service or by
one account is never served for another. Layers:

- :class:`MemoryCache`: thread-safe LRU bounded by total bytes (512 MiB by
  default), for the client's life;
- :class:`DiskCache`: one file per key under a folder, written atomically
  (temp file + fsync + ``os.replace``), so any number of processes may write
  the same key at once, a crash mid-write leaves only a temp file that is never
  read, and a damaged entry (checked by its SHA-256) counts as a miss. Bounded
  by total bytes (2 GiB by default, ``VANCE_CACHE_MAX_BYTES``): the least
  recently used entries go first;
- :class:`TieredCache` puts the memory layer in front of the disk layer.

Whose result an entry is (service and account) lives in ``_cache_scope``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import _jconfig
from ._atomic import write_atomic
from ._jconfig import UID_PLACEHOLDER

__all__ = [
    "CACHE_MAX_ENV",
    "DEFAULT_DISK_BYTES",
    "DEFAULT_MEMORY_BYTES",
    "UID_PLACEHOLDER",
    "CacheStats",
    "DiskCache",
    "MemoryCache",
    "ResultCache",
    "TieredCache",
    "cache_key",
    "canonical_jconfig",
    "default_cache_dir",
    "disk_max_bytes",
    "format_bytes",
    "parse_bytes",
]

#: Default bound of the in-memory cache (total bytes of results).
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
#: Default bound of the disk cache (total bytes of its entries).
DEFAULT_DISK_BYTES = 2 * 1024**3
#: The environment variable that sets the disk cache's bound (bytes, or e.g. ``500MiB``, ``2G``).
CACHE_MAX_ENV = "VANCE_CACHE_MAX_BYTES"

_MAGIC = b"VFC1"
#: An entry that also holds its receipt: magic, SHA-256 of (receipt length, receipt, data), then those.
_MAGIC_RECEIPT = b"VFC2"
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


def _check_receipt(receipt: str | None) -> bytes:
    """A receipt (the trans_id that made a result) as stored: short printable ASCII, or empty."""
    if receipt is None:
        return b""
    text = receipt[:255]
    return text.encode("ascii") if text.isascii() and text.isprintable() else b""


#: The canonical JSON text of a jconfig (:func:`vance_filters._jconfig.canonical`).
canonical_jconfig = _jconfig.canonical


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


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2,
          "gib": 1024**3, "tib": 1024**4}


def parse_bytes(text: str) -> int:
    """A size written by a person: ``2147483648``, ``500MB``, ``2GiB``, ``1.5 G``.

    Decimal units (k, M, G, T, with or without B) are powers of 1000; binary
    ones (KiB, MiB, GiB, TiB) powers of 1024.

    Raises
    ------
    ValueError
        For anything else.

    Examples
    --------
    >>> parse_bytes("2GiB"), parse_bytes("500 MB"), parse_bytes("1024")
    (2147483648, 500000000, 1024)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size: expected a number of bytes, optionally with a unit "
            "(kB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 2GiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def disk_max_bytes(max_bytes: int | None = None) -> int:
    """The disk cache's bound: ``max_bytes``, else ``VANCE_CACHE_MAX_BYTES``, else 2 GiB.

    Raises
    ------
    ValueError
        When the value (or the variable) is not a size of at least 1 byte.

    Examples
    --------
    >>> disk_max_bytes(10_000_000)
    10000000
    >>> disk_max_bytes() == DEFAULT_DISK_BYTES  # VANCE_CACHE_MAX_BYTES unset
    True
    """
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(
                f"cache_max_bytes={max_bytes!r} is not allowed: expected a whole number of "
                f"bytes >= 1 (or None: ${CACHE_MAX_ENV}, else {DEFAULT_DISK_BYTES} = 2 GiB)"
            )
        return max_bytes
    text = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not text:
        return DEFAULT_DISK_BYTES
    try:
        value = parse_bytes(text)
    except ValueError as exc:
        raise ValueError(f"{CACHE_MAX_ENV}={text!r} is not allowed: {exc}") from None
    if value < 1:
        raise ValueError(f"{CACHE_MAX_ENV}={text!r} is not allowed: expected at least 1 byte")
    return value


def format_bytes(size: float) -> str:
    """A size for people, in binary units.

    Examples
    --------
    >>> format_bytes(0), format_bytes(1536), format_bytes(2 * 1024**3)
    ('0 B', '1.5 KiB', '2.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            break
        size /= 1024
    if unit == "B":
        return f"{int(size)} B"
    if unit == "GiB" and abs(size) >= 1024:
        return f"{size / 1024:.1f} TiB"
    return f"{size:.1f} {unit}"


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
        self._receipts: dict[str, str] = {}
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

    def get_entry(self, key: str) -> tuple[bytes, str | None] | None:
        """The bytes under ``key`` and the trans_id that made them (when recorded), or None."""
        with self._lock:
            data = self._items.get(key)
            if data is None:
                return None
            self._items.move_to_end(key)
            return data, self._receipts.get(key)

    def receipt(self, key: str) -> str | None:
        """The trans_id that made the result under ``key``, when it was recorded.

        Examples
        --------
        >>> cache = MemoryCache(); cache.put("a", b"1", receipt="tid-1")
        >>> cache.receipt("a"), cache.receipt("b")
        ('tid-1', None)
        """
        with self._lock:
            return self._receipts.get(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: str, data: bytes, *, receipt: str | None = None) -> None:
        """Store ``data`` (and the trans_id that made it), evicting least recently used entries past ``max_bytes``."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = data
            self._receipts.pop(key, None)
            if receipt:
                self._receipts[key] = receipt
            self._size += len(data)
            while self._size > self.max_bytes:
                gone, evicted = self._items.popitem(last=False)
                self._receipts.pop(gone, None)
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
            self._receipts.pop(key, None)
            if old is None:
                return False
            self._size -= len(old)
            return True

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._receipts.clear()
            self._size = 0


@dataclass(frozen=True)
class CacheStats:
    """What a disk cache holds.

    Attributes
    ----------
    directory : pathlib.Path
        The cache's folder.
    entries : int
        Results stored.
    bytes : int
        Their total size on disk.
    max_bytes : int
        The bound past which the least recently used entries go.
    oldest, newest : float or None
        Last use of the least and the most recently used entry (POSIX time).
    """

    directory: Path
    entries: int
    bytes: int
    max_bytes: int
    oldest: float | None = None
    newest: float | None = None


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    used: float


# A temp file older than this is what a crash left behind, not a write under way.
_STALE_TEMP = 3600.0
# After a trim the cache holds at most this share of max_bytes, so trims are rare.
_LOW_WATER = 0.9


class DiskCache:
    """Results stored as files under ``directory``, safe across processes, bounded in size.

    Each entry is ``<directory>/<key[:2]>/<key>.bin`` holding a small header
    (magic + SHA-256 of the data) and the data. Writes go to a temp file in the
    same folder, are fsynced and renamed into place with ``os.replace`` (atomic
    on POSIX and Windows), so a reader sees a whole entry or none; readers never
    open temp files. An entry whose digest does not match is a miss.

    A hit touches the entry's modification time, which is thus its last use.
    When the folder grows past ``max_bytes`` the least recently used entries
    are removed until it holds 90 % of it. Each process tracks the folder's
    size from one scan plus its own writes and scans again only when that
    estimate passes the bound (or after writing an eighth of it), so a write
    costs no listing; entries that vanish under a scan (another process
    trimming or clearing) are simply skipped.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder (created when first written).
    max_bytes : int, optional
        Bound of the total size of the entries. Default: ``VANCE_CACHE_MAX_BYTES``,
        else 2 GiB. A single result larger than this is not kept.

    Examples
    --------
    >>> import tempfile
    >>> cache = DiskCache(tempfile.mkdtemp())
    >>> cache.put("ab" * 32, b"result"); cache.get("ab" * 32)
    b'result'
    >>> cache.stats().entries
    1
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        self.directory = Path(directory).expanduser()
        self.max_bytes = disk_max_bytes(max_bytes)
        self._lock = threading.Lock()
        self._estimate: int | None = None  # bytes on disk at the last scan, plus own writes since
        self._written = 0  # own bytes written since the last scan

    def __getstate__(self) -> dict[str, Any]:
        return {"directory": self.directory, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["directory"], max_bytes=state["max_bytes"])  # type: ignore[misc]

    def _path(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key {key!r} must be lowercase hex")
        return self.directory / key[:2] / f"{key}.bin"

    def _read(self, key: str) -> tuple[bytes, str | None] | None:
        """The entry of ``key``: its data and receipt, or None (missing, unreadable or damaged)."""
        try:
            with open(self._path(key), "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        head = len(_MAGIC) + _DIGEST
        if len(blob) < head + (1 if blob.startswith(_MAGIC_RECEIPT) else 0):
            return None
        if blob.startswith(_MAGIC):
            data, receipt, signed = blob[head:], b"", blob[head:]
        elif blob.startswith(_MAGIC_RECEIPT):
            size = blob[head]
            receipt = blob[head + 1 : head + 1 + size]
            data = blob[head + 1 + size :]
            signed = blob[head:]
        else:
            return None
        if hashlib.sha256(signed).digest() != blob[len(_MAGIC) : head]:
            return None
        return data, (receipt.decode("ascii") if receipt else None)

    def get_entry(self, key: str) -> tuple[bytes, str | None] | None:
        """The data under ``key`` and its receipt (the trans_id that made it, when recorded); a hit marks it used.

        Examples
        --------
        >>> import tempfile
        >>> cache = DiskCache(tempfile.mkdtemp())
        >>> cache.put("ab" * 32, b"result", receipt="tid-1"); cache.get_entry("ab" * 32)
        (b'result', 'tid-1')
        """
        entry = self._read(key)
        if entry is not None:
            try:
                os.utime(self._path(key))  # last use, for the least-recently-used order
            except OSError:
                pass
        return entry

    def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None (missing, unreadable or damaged); a hit marks it used."""
        entry = self.get_entry(key)
        return None if entry is None else entry[0]

    def __contains__(self, key: object) -> bool:
        """True when a whole, undamaged entry is stored under ``key`` (its last use is not touched)."""
        return isinstance(key, str) and self._read(key) is not None

    def put(self, key: str, data: bytes, *, receipt: str | None = None) -> None:
        """Store ``data`` atomically (with its receipt, the trans_id that made it); a failure to write is ignored.

        Past ``max_bytes``, the least recently used entries are removed.
        """
        path = self._path(key)
        stamp = _check_receipt(receipt)
        signed = bytes([len(stamp)]) + stamp if stamp else b""
        size = len(_MAGIC) + _DIGEST + len(signed) + len(data)
        if size > self.max_bytes:
            return
        digest = hashlib.sha256(signed)
        digest.update(data)
        head = (_MAGIC_RECEIPT if signed else _MAGIC) + digest.digest() + signed
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, [head, data], private=True, suffix=".tmp")
        except OSError:
            return
        with self._lock:
            if self._estimate is not None:
                self._estimate += size
                self._written += size
            due = (
                self._estimate is None
                or self._estimate > self.max_bytes
                or self._written > self.max_bytes // 8
            )
        if due:
            self.trim(keep=path)

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

    def _scan(self, *, stale_before: float | None = None) -> Iterator[_Entry]:
        """Every entry, tolerating files that vanish meanwhile; removes temp files older than ``stale_before``."""
        try:
            shards = [d for d in os.scandir(self.directory) if len(d.name) == 2 and d.is_dir()]
        except OSError:
            return
        for shard in shards:
            try:
                files = list(os.scandir(shard.path))
            except OSError:
                continue
            for item in files:
                try:
                    info = item.stat()
                except OSError:
                    continue  # gone under us
                if item.name.endswith(".bin"):
                    yield _Entry(Path(item.path), info.st_size, info.st_mtime)
                elif item.name.endswith(".tmp") and stale_before is not None and info.st_mtime < stale_before:
                    _unlink(item.path)

    def stats(self) -> CacheStats:
        """How many entries, how many bytes, and the span of their last use.

        Examples
        --------
        >>> import tempfile
        >>> cache = DiskCache(tempfile.mkdtemp()); cache.put("ab" * 32, b"x" * 100)
        >>> stats = cache.stats(); stats.entries, stats.bytes
        (1, 136)
        """
        entries = list(self._scan())
        used = [e.used for e in entries]
        return CacheStats(
            directory=self.directory,
            entries=len(entries),
            bytes=sum(e.size for e in entries),
            max_bytes=self.max_bytes,
            oldest=min(used, default=None),
            newest=max(used, default=None),
        )

    def trim(self, max_bytes: int | None = None, *, keep: Path | None = None) -> tuple[int, int]:
        """Remove the least recently used entries until the folder holds at most 90 % of the bound.

        Nothing is removed while the folder is within ``max_bytes`` (default:
        this cache's). Temp files left by a crash (over an hour old) go too.

        Returns
        -------
        tuple of int
            Entries and bytes removed.

        Examples
        --------
        >>> import tempfile
        >>> cache = DiskCache(tempfile.mkdtemp())
        >>> for key in ("aa", "bb", "cc"):
        ...     cache.put(key * 32, b"x" * 1000)
        >>> cache.trim(2100)
        (2, 2072)
        """
        bound = self.max_bytes if max_bytes is None else max_bytes
        entries = sorted(self._scan(stale_before=time.time() - _STALE_TEMP), key=lambda e: e.used)
        total = sum(e.size for e in entries)
        removed = freed = 0
        if total > bound:
            target = int(bound * _LOW_WATER)
            for entry in entries:
                if total <= target:
                    break
                if entry.path == keep:
                    continue
                total -= entry.size
                if _unlink(entry.path):
                    removed += 1
                    freed += entry.size
        with self._lock:
            self._estimate = total
            self._written = 0
        return removed, freed

    def clear(self, *, older_than: float | None = None) -> tuple[int, int]:
        """Remove every entry, or those not used for ``older_than`` seconds.

        Returns
        -------
        tuple of int
            Entries and bytes removed.

        Examples
        --------
        >>> import tempfile
        >>> cache = DiskCache(tempfile.mkdtemp()); cache.put("ab" * 32, b"x")
        >>> cache.clear(older_than=3600), cache.clear()
        ((0, 0), (1, 37))
        """
        if older_than is not None and not older_than >= 0:
            raise ValueError(f"older_than={older_than!r} is not allowed: expected seconds >= 0")
        now = time.time()
        cutoff = None if older_than is None else now - older_than
        removed = freed = 0
        for entry in list(self._scan(stale_before=now - _STALE_TEMP)):
            if cutoff is not None and entry.used >= cutoff:
                continue
            if _unlink(entry.path):
                removed += 1
                freed += entry.size
        if older_than is None:
            try:
                for shard in os.scandir(self.directory):
                    if len(shard.name) == 2:
                        try:
                            os.rmdir(shard.path)  # only if empty: a write under way keeps it
                        except OSError:
                            pass
            except OSError:
                pass
        with self._lock:
            self._estimate = None
        return removed, freed


def _unlink(path: str | os.PathLike[str]) -> bool:
    try:
        os.unlink(path)
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
        entry = self.get_entry(key)
        return None if entry is None else entry[0]

    def get_entry(self, key: str) -> tuple[bytes, str | None] | None:
        """The data and receipt, from memory, else from disk (then kept in memory too)."""
        entry = self.memory.get_entry(key)
        if entry is not None:
            return entry
        entry = self.disk.get_entry(key)
        if entry is not None:
            self.memory.put(key, entry[0], receipt=entry[1])
        return entry

    def __contains__(self, key: object) -> bool:
        return key in self.memory or key in self.disk

    def put(self, key: str, data: bytes, *, receipt: str | None = None) -> None:
        """Into both layers (disk first: it is the one that survives)."""
        self.disk.put(key, data, receipt=receipt)
        self.memory.put(key, data, receipt=receipt)

    def discard(self, key: str) -> bool:
        """From both layers; True when either held it."""
        on_disk = self.disk.discard(key)
        return self.memory.discard(key) or on_disk



def cache_key_from_digest(upload_sha256: str, jconfig: dict[str, Any] | str) -> str:
    """:func:`cache_key` from the SHA-256 (hex) of the uploaded bytes rather than the bytes.

    A provenance record keeps that digest: the cached result of the job can be found again.

    Examples
    --------
    >>> cache_key_from_digest(hashlib.sha256(b"png bytes").hexdigest(), {"name": "m"}) == cache_key(
    ...     b"png bytes", {"name": "m"})
    True
    """
    digest = hashlib.sha256()
    digest.update(bytes.fromhex(upload_sha256))
    digest.update(canonical_jconfig(jconfig).encode("utf-8"))
    return digest.hexdigest()
