"""Whose result a cached entry is: the service and the account, never the token.

A client's cache is a :class:`ScopedCache`: every key is qualified by the
service (:func:`service_id`, the normalised base URL) and the account
(:func:`account_fingerprint`, a keyed hash of the token), hashed together with
the key (:func:`scoped_key`), so neither the token nor its fingerprint is
written anywhere. :func:`cache_folder` keeps the results of a service on this
machine (an emulator, a test server) out of the platform's cache folder.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from ._cache import DiskCache, MemoryCache, TieredCache, default_cache_dir

__all__ = [
    "ScopedCache",
    "account_fingerprint",
    "cache_folder",
    "cache_scope",
    "is_local_service",
    "scoped_key",
    "service_id",
]

# A fixed library key: the fingerprint identifies an account inside this cache
# only; it is never written anywhere (see scoped_key) and cannot give the token back.
_ACCOUNT_KEY = b"vance_filters/cache/account/v1"
_NO_TOKEN = "no-token"
_LOOPBACK_NAMES = ("localhost",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def service_id(base_url: str) -> str:
    """The service a base URL names: scheme, lower-case host, port and path, no trailing slash.

    Examples
    --------
    >>> service_id("HTTPS://API-Service.VanceAI.com/web_api/v1/")
    'https://api-service.vanceai.com:443/web_api/v1'
    >>> service_id("http://127.0.0.1:8000/web_api/v1") == service_id("http://127.0.0.1:8000/web_api/v1//")
    True
    """
    parts = urllib.parse.urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def account_fingerprint(token: str | None) -> str:
    """A keyed hash (HMAC-SHA256, truncated) naming an account without its token.

    The same token always gives the same fingerprint; the fingerprint does not
    give the token back. No token gives a fingerprint of its own.

    Examples
    --------
    >>> a = account_fingerprint("my-token")
    >>> len(a), a == account_fingerprint(" my-token "), a == account_fingerprint("other")
    (32, True, False)
    >>> "my-token" in a
    False
    """
    token = (token or "").strip()
    if not token:
        return _NO_TOKEN
    return hmac.new(_ACCOUNT_KEY, token.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def cache_scope(base_url: str, token: str | None) -> str:
    """What a cached result belongs to: the service and the account fingerprint.

    Examples
    --------
    >>> cache_scope("https://api-service.vanceai.com/web_api/v1", None)
    'https://api-service.vanceai.com:443/web_api/v1 no-token'
    """
    return f"{service_id(base_url)} {account_fingerprint(token)}"


def scoped_key(scope: str, key: str) -> str:
    """The key under which a layer stores ``key`` for ``scope`` (SHA-256, lowercase hex).

    Examples
    --------
    >>> from vance_filters._cache import cache_key
    >>> k = cache_key(b"png", {"name": "matting"})
    >>> scoped_key("service-a account", k) != scoped_key("service-b account", k)
    True
    """
    digest = hashlib.sha256(b"vance_filters/cache/scope/v1\0")
    digest.update(scope.encode("utf-8"))
    digest.update(b"\0")
    digest.update(key.encode("ascii"))
    return digest.hexdigest()


def is_local_service(base_url: str) -> bool:
    """True when ``base_url`` names this machine (loopback), where only an emulator or a test runs.

    Examples
    --------
    >>> is_local_service("http://127.0.0.1:8000/web_api/v1"), is_local_service("http://[::1]:80")
    (True, True)
    >>> is_local_service("https://api-service.vanceai.com/web_api/v1")
    False
    """
    host = (urllib.parse.urlsplit(base_url.strip()).hostname or "").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cache_folder(cache_dir: str | os.PathLike[str] | bool | None, base_url: str) -> Path | None:
    """The folder a client keeps results in, or None (memory only).

    ``True`` means the platform's cache folder, except for a service on this
    machine (an emulator, a test server): its stand-in results stay in memory,
    so they can never be served later as results of the real service. A path
    given explicitly is always used.

    Examples
    --------
    >>> cache_folder(True, "http://127.0.0.1:8000/web_api/v1") is None
    True
    >>> cache_folder("/tmp/results", "http://127.0.0.1:8000/web_api/v1")
    PosixPath('/tmp/results')
    >>> cache_folder(True, "https://api-service.vanceai.com/web_api/v1") == default_cache_dir()
    True
    """
    if cache_dir is None or cache_dir is False:
        return None
    if cache_dir is True:
        return None if is_local_service(base_url) else default_cache_dir()
    return Path(cache_dir).expanduser()


class ScopedCache:
    """A cache as one service and account see it: what a :class:`~vance_filters.Client` holds.

    Every key is qualified by ``scope()`` (see :func:`cache_scope`), called at
    each access, so a token set in the environment after the client was built
    counts. A result stored for one service or account is a miss for any
    other; the token itself is never stored, and neither is its fingerprint
    (both are inside a SHA-256).

    Parameters
    ----------
    inner : MemoryCache or TieredCache
        Where the results are kept.
    scope : callable
        Returns the current scope.

    Examples
    --------
    >>> account = ["token-a"]
    >>> cache = ScopedCache(MemoryCache(), lambda: cache_scope("https://x.example/v1", account[0]))
    >>> cache.put("ab" * 32, b"result", receipt="tid-1"); cache.get_entry("ab" * 32)
    (b'result', 'tid-1')
    >>> account[0] = "token-b"; cache.get("ab" * 32) is None
    True
    """

    def __init__(self, inner: MemoryCache | TieredCache, scope: Callable[[], str]) -> None:
        self.inner = inner
        self._scope = scope

    def __len__(self) -> int:
        return len(self.memory)

    @property
    def memory(self) -> MemoryCache:
        """The memory layer."""
        return self.inner.memory if isinstance(self.inner, TieredCache) else self.inner

    @property
    def disk(self) -> DiskCache | None:
        """The disk layer, or None (memory only)."""
        return self.inner.disk if isinstance(self.inner, TieredCache) else None

    def scoped(self, key: str) -> str:
        """The key the layers store ``key`` under, for the current service and account."""
        return scoped_key(self._scope(), key)

    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key`` for this service and account, or None."""
        return self.inner.get(self.scoped(key))

    def get_entry(self, key: str) -> tuple[bytes, str | None] | None:
        """The bytes stored under ``key`` and their receipt (the trans_id that made them, when known)."""
        return self.inner.get_entry(self.scoped(key))

    def __contains__(self, key: object) -> bool:
        """True when a result is stored under ``key`` for this service and account (nothing is touched)."""
        return isinstance(key, str) and self.scoped(key) in self.inner

    def put(self, key: str, data: bytes, *, receipt: str | None = None) -> None:
        """Store ``data`` under ``key`` for this service and account, with the trans_id that made it."""
        self.inner.put(self.scoped(key), data, receipt=receipt)

    def discard(self, key: str) -> bool:
        """Forget ``key`` for this service and account; True when something was stored."""
        return self.inner.discard(self.scoped(key))
