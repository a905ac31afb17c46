"""The HTTP exchange with the VanceAI web API: session, retries, envelopes, redaction.

This module knows the wire: one :class:`requests.Session` with a pooled
adapter, form / multipart request bodies (the API token never goes into a
URL), the ``{"code", "msg"}`` / ``{"code": 200, "data"}`` envelopes, streamed
downloads, and retries with capped exponential backoff, full jitter and
``Retry-After``. It knows nothing about images or jobs.

Retried: connection errors, read timeouts, HTTP 429 / 5xx, API code 10010 and
truncated downloads. Never retried: API codes 10001, 10011-10014, 30001 and
30004 (retrying cannot change their answer). Retrying a download is free: the
service charges a result once per trans_id.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from . import _outage
from .errors import (
    IncompleteDownloadError,
    ProtocolError,
    RequestTimeoutError,
    ServiceUnreachableError,
    TransportError,
    VanceError,
    error_for_code,
)

__all__ = [
    "DOWNLOAD_CHUNK",
    "MAX_RETRY_SLEEP",
    "NEVER_RETRY_CODES",
    "TRANSFORM_READ_TIMEOUT",
    "RetryPolicy",
    "Transport",
    "excerpt",
    "redact",
]

logger = logging.getLogger("vance_filters")

T = TypeVar("T")

#: API codes whose answer a retry cannot change.
NEVER_RETRY_CODES = frozenset({10001, 10011, 10012, 10013, 10014, 30001, 30004})
#: HTTP statuses that are retried (with no API code, or with an unknown one).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Read timeout floor for ``/transform`` without a webhook: the service may hold
#: the request open until the job is done (the emulator: ``transform_wait``).
TRANSFORM_READ_TIMEOUT = 60.0
#: Download chunk size: large reads, few Python-level iterations.
DOWNLOAD_CHUNK = 1 << 20
#: Cap on the total time one call may spend sleeping between retries (seconds).
MAX_RETRY_SLEEP = 120.0
#: Cap on a single ``Retry-After`` honoured (seconds).
MAX_RETRY_AFTER = 60.0
#: How much of an unexpected body an error message quotes.
EXCERPT_CHARS = 200
#: Largest Content-Length trusted for preallocating the download buffer (bytes).
_MAX_PREALLOC = 512 * 1024 * 1024
#: Bodies read in full when they are not the expected image (bytes).
_MAX_ERROR_BODY = 64 * 1024

_TOKEN_FIELD = re.compile(r"""(api[_-]?token["']?\s*[=:]\s*["']?)[^&\s"',;<>}]+""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def redact(text: str, token: str | None = None) -> str:
    """Remove an API token from ``text``.

    The literal ``token`` is replaced, and so is the value of anything that
    looks like an ``api_token=...`` / ``"api_token": "..."`` field.

    Examples
    --------
    >>> redact("GET /point?api_token=abc123&x=1")
    'GET /point?api_token=***&x=1'
    >>> redact("token abc123 here", "abc123")
    'token *** here'
    """
    if token:
        text = text.replace(token, "***")
    return _TOKEN_FIELD.sub(r"\1***", text)


def _redact_obj(obj: Any, token: str | None) -> Any:
    if isinstance(obj, str):
        return redact(obj, token)[:500]
    if isinstance(obj, dict):
        return {redact(str(k), token): _redact_obj(v, token) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_redact_obj(v, token) for v in obj]
    return obj


def excerpt(body: bytes, token: str | None = None, *, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable, token-free excerpt of a response body.

    HTML tags are dropped, whitespace collapsed and the result cut to
    ``limit`` characters.

    Examples
    --------
    >>> excerpt(b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    '502 Bad Gateway'
    """
    text = body[: limit * 20].decode("utf-8", errors="replace")
    text = _TAG.sub(" ", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = redact(_SPACE.sub(" ", text).strip(), token)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """How failed exchanges are retried.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (0 = no retry).
    backoff_base : float
        The first backoff ceiling in seconds; it doubles per retry.
    backoff_max : float
        The largest backoff ceiling in seconds.
    max_sleep : float
        The most one call sleeps in total between its attempts.

    Examples
    --------
    >>> policy = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=4.0)
    >>> 0.0 <= policy.delay(2) <= 2.0
    True
    >>> policy.delay(0, retry_after=3.0)
    3.0
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_sleep: float = MAX_RETRY_SLEEP

    def delay(self, retry: int, *, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (0-based).

        Full jitter: uniform in ``[0, min(backoff_max, backoff_base * 2**retry)]``;
        a server's ``Retry-After`` is a floor.
        """
        ceiling = min(self.backoff_max, self.backoff_base * (2.0**retry))
        sleep = random.uniform(0.0, max(ceiling, 0.0))
        if retry_after is not None:
            sleep = max(sleep, retry_after)
        return sleep


class _Retry(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(self, error: VanceError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _sleep(seconds: float) -> None:
    """Sleep in small steps so Ctrl-C and interpreter shutdown are honoured quickly."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.25))


def _is_json_type(content_type: str) -> bool:
    return "json" in content_type.lower()


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip()[:1] in (b"{", b"[")


class Transport:
    """One pooled session speaking the VanceAI wire protocol.

    Parameters
    ----------
    base_url : str
        ``https://.../web_api/v1`` without a trailing slash.
    token : callable
        Returns the API token (raises :class:`~vance_filters.errors.AuthenticationError`
        when there is none); called for each request, so a token set later works.
    timeout : float
        Connect and read timeout in seconds.
    policy : RetryPolicy
        Retry behaviour.
    pool_size : int
        Connections kept per host (size it to the number of threads).
    verify : bool or str
        Certificate checks, or the path of a CA bundle.
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout: float,
        policy: RetryPolicy,
        pool_size: int,
        verify: bool | str,
        user_agent: str = "vance-filters",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.policy = policy
        self.session = requests.Session()
        self.pool_size = 0
        self._pool_lock = threading.Lock()
        self.ensure_pool(pool_size)
        self.session.verify = verify
        self.session.headers["User-Agent"] = user_agent
        self._closed = threading.Event()

    def ensure_pool(self, size: int) -> None:
        """Keep at least ``size`` connections per host (the pool only grows).

        Requests in flight keep their connections; new ones use the larger pool.
        """
        with self._pool_lock:
            if size <= self.pool_size:
                return
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, max_retries=0)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
            self.pool_size = size

    def close(self) -> None:
        """Close the pooled connections."""
        self._closed.set()
        self.session.close()

    # -- the generic retry loop -------------------------------------------------------------

    def _retrying(self, endpoint: str, attempt: Callable[[], T]) -> T:
        slept = 0.0
        retry = 0
        while True:
            failure: _Retry | None = None
            try:
                return attempt()
            except _Retry as caught:
                failure = caught
            # Raised outside the ``except`` clause: the error's __context__ stays
            # empty, so no library-internal (or requests) exception rides along.
            error = failure.error
            if retry >= self.policy.max_retries:
                raise error
            delay = self.policy.delay(retry, retry_after=failure.retry_after)
            if slept + delay > self.policy.max_sleep:
                raise error
            logger.debug(
                "retrying /%s in %.2f s (retry %d of %d) after: %s",
                endpoint,
                delay,
                retry + 1,
                self.policy.max_retries,
                error,
            )
            _sleep(delay)
            slept += delay
            retry += 1

    # -- one attempt ----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        data: Mapping[str, Any] | None,
        files: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        read_timeout: float | None,
        stream: bool,
        token: str,
    ) -> requests.Response:
        url = f"{self.base_url}/{endpoint}"
        timeout = (self.timeout, read_timeout if read_timeout is not None else self.timeout)
        start = time.monotonic()
        failure: VanceError | None = None
        fatal: VanceError | None = None
        response: requests.Response | None = None
        try:
            response = self.session.request(
                method,
                url,
                data=data,
                files=files,
                json=json_body,
                timeout=timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout as exc:
            failure = RequestTimeoutError(
                f"no answer from {self._where(endpoint)} within {timeout[1]:g} s "
                f"({type(exc).__name__}); raise timeout= if the service is slow",
                endpoint=endpoint,
            )
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            unreachable = _outage.unreachable_reason(exc)
            if unreachable is not None:
                # Refused, unknown host, TLS: retried for one call; a batch gives up after a
                # few in a row (``_outage``), and this attempt is then final.
                failure = ServiceUnreachableError(
                    f"connection to the service at {self.base_url} failed "
                    f"({redact(unreachable, token) if ':' in unreachable else unreachable}): "
                    "is the service (or the emulator) running, and is the base URL "
                    "(VANCE_API_BASE) right?",
                    endpoint=endpoint,
                )
                fatal = _outage.note_unreachable(failure)
            else:
                failure = TransportError(
                    f"connection to {self._where(endpoint)} failed: "
                    f"{type(exc).__name__}: {redact(self._short(exc), token)}",
                    endpoint=endpoint,
                )
        except requests.exceptions.RequestException as exc:
            # Invalid URL, unreadable CA bundle, ...: retrying cannot help.
            fatal = TransportError(
                f"request to {self._where(endpoint)} could not be made: "
                f"{type(exc).__name__}: {redact(self._short(exc), token)}",
                endpoint=endpoint,
            )
        # Raised outside the ``except`` clauses, so the requests exception is not
        # the error's __context__ (its text could describe the request).
        if fatal is not None:
            self._log(method, endpoint, "error", start)
            raise fatal
        if failure is not None or response is None:
            self._log(method, endpoint, "error", start)
            raise _Retry(failure or TransportError("no response", endpoint=endpoint))
        self._log(method, endpoint, response.status_code, start)
        return response

    @staticmethod
    def _short(exc: BaseException) -> str:
        text = str(exc)
        return text if len(text) <= 300 else text[:297] + "..."

    def _where(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    @staticmethod
    def _log(method: str, endpoint: str, status: object, start: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s /%s -> %s in %.1f ms", method, endpoint, status, (time.monotonic() - start) * 1e3
            )

    def _error_from_body(
        self,
        endpoint: str,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        token: str,
        trans_id: str | None,
    ) -> VanceError:
        """The typed error for a body that is not a success (API error or proxy page)."""
        retry_after = _parse_retry_after(headers.get("Retry-After"))
        envelope: Any = None
        if _looks_like_json(body):
            try:
                envelope = json.loads(body.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError):
                envelope = None
        if isinstance(envelope, dict) and "code" in envelope:
            code = _as_int(envelope.get("code"))
            if code is not None and code != 200:
                error: VanceError = error_for_code(
                    code,
                    _redact_obj(envelope.get("msg"), token),
                    endpoint=endpoint,
                    trans_id=trans_id,
                )
                if code == 10010 or (code not in NEVER_RETRY_CODES and status in RETRY_STATUSES):
                    raise _Retry(error, retry_after)
                return error
        kind = "JSON without an error code" if envelope is not None else "a non-API answer"
        text = excerpt(body, token)
        error = ProtocolError(
            f"/{endpoint} answered HTTP {status} with {kind}"
            + (f": {text!r}" if text else " (empty body)")
            + " - a proxy or gateway may stand between you and the service",
            endpoint=endpoint,
            trans_id=trans_id,
        )
        if status in RETRY_STATUSES:
            raise _Retry(error, retry_after)
        return error

    # -- JSON endpoints ------------------------------------------------------------------

    def call(
        self,
        endpoint: str,
        *,
        method: str = "POST",
        fields: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
        trans_id: str | None = None,
    ) -> dict[str, Any]:
        """Call a JSON endpoint with retries; return the envelope's ``data``.

        POST sends ``fields`` form-encoded (multipart when ``files`` is given);
        GET sends them as a JSON body (the service reads a GET's JSON body the
        Laravel way), so no URL ever carries the token.

        Raises
        ------
        APIError
            The typed subclass for the API code.
        TransportError
            Connection failures, timeouts (``RequestTimeoutError``), non-API
            answers (``ProtocolError``), after the retries.
        """
        token = self._token()

        def attempt() -> dict[str, Any]:
            body = {"api_token": token, **(fields or {})}
            response = self._send(
                method,
                endpoint,
                data=body if method != "GET" else None,
                files=files,
                json_body=body if method == "GET" else None,
                read_timeout=read_timeout,
                stream=False,
                token=token,
            )
            return self._parse_json(endpoint, response, token, trans_id)

        return self._retrying(endpoint, attempt)

    def _parse_json(
        self, endpoint: str, response: requests.Response, token: str, trans_id: str | None
    ) -> dict[str, Any]:
        body = response.content
        status = response.status_code
        if 200 <= status < 300 and _looks_like_json(body):
            try:
                envelope = json.loads(body.decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError):
                envelope = None
            if isinstance(envelope, dict) and _as_int(envelope.get("code")) == 200:
                data = envelope.get("data")
                if isinstance(data, dict):
                    return data
                raise ProtocolError(
                    f"/{endpoint} answered code 200 without a data object: "
                    f"{excerpt(body, token)!r}",
                    endpoint=endpoint,
                    trans_id=trans_id,
                )
        raise self._error_from_body(endpoint, status, body, response.headers, token, trans_id)

    # -- download --------------------------------------------------------------------------

    def download(
        self,
        endpoint: str,
        fields: Mapping[str, Any],
        *,
        trans_id: str | None,
        to: str | os.PathLike[str] | IO[bytes] | None = None,
    ) -> bytes:
        """Fetch a result's bytes (streamed), with retries.

        Returns the bytes, or ``b""`` when ``to`` (a path or binary file
        object) received them instead. A path is written atomically (temp file
        in the same folder + ``os.replace``); a file object is rewound before a
        retry when it is seekable.
        """
        token = self._token()
        sink_start: int | None = None
        if to is not None and not isinstance(to, (str, os.PathLike)):
            try:
                sink_start = to.tell() if to.seekable() else None
            except (AttributeError, OSError, ValueError):
                sink_start = None
        written = [False]

        def attempt() -> bytes:
            response = self._send(
                "POST",
                endpoint,
                data={"api_token": token, **fields},
                files=None,
                json_body=None,
                read_timeout=None,
                stream=True,
                token=token,
            )
            try:
                return self._read_download(endpoint, response, token, trans_id, to, sink_start, written)
            finally:
                response.close()

        return self._retrying(endpoint, attempt)

    def _read_download(
        self,
        endpoint: str,
        response: requests.Response,
        token: str,
        trans_id: str | None,
        to: str | os.PathLike[str] | IO[bytes] | None,
        sink_start: int | None,
        written: list[bool],
    ) -> bytes:
        status = response.status_code
        ctype = response.headers.get("Content-Type", "")
        is_image = 200 <= status < 300 and not _is_json_type(ctype) and not ctype.lower().startswith("text/")
        if is_image:
            first = self._read_chunk(endpoint, response, 64, token, trans_id)
            # No JPG or PNG starts with "{", "[" or "<": that is JSON or a proxy's HTML page.
            if _looks_like_json(first) or first.lstrip()[:1] == b"<":
                is_image = False
            else:
                return self._stream_body(
                    endpoint, response, first, token, trans_id, to, sink_start, written
                )
        else:
            first = b""
        body = first + self._read_chunk(endpoint, response, _MAX_ERROR_BODY, token, trans_id)
        error = self._error_from_body(endpoint, status, body, response.headers, token, trans_id)
        if isinstance(error, ProtocolError) and 200 <= status < 300:
            error = ProtocolError(
                f"/{endpoint} answered {ctype or 'no Content-Type'} instead of an image: "
                f"{excerpt(body, token)!r}",
                endpoint=endpoint,
                trans_id=trans_id,
            )
        raise error

    def _read_chunk(
        self, endpoint: str, response: requests.Response, size: int, token: str, trans_id: str | None
    ) -> bytes:
        failure: VanceError | None = None
        try:
            return response.raw.read(size, decode_content=True) or b""
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            failure = RequestTimeoutError(
                f"/{endpoint} stopped sending within {self.timeout:g} s",
                endpoint=endpoint,
                trans_id=trans_id,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            failure = IncompleteDownloadError(
                f"/{endpoint} broke off mid-answer ({redact(self._short(exc), token)}); "
                "retrying is free",
                endpoint=endpoint,
                trans_id=trans_id,
            )
        raise _Retry(failure)

    def _stream_body(
        self,
        endpoint: str,
        response: requests.Response,
        first: bytes,
        token: str,
        trans_id: str | None,
        to: str | os.PathLike[str] | IO[bytes] | None,
        sink_start: int | None,
        written: list[bool],
    ) -> bytes:
        length = _as_int(response.headers.get("Content-Length"))
        encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
        expected = None if encoded else length
        if to is None:
            # Preallocate from Content-Length, but never trust a huge claim up front.
            prealloc = expected is not None and len(first) <= expected <= _MAX_PREALLOC
            buffer = bytearray(expected) if prealloc else bytearray()  # type: ignore[arg-type]
            view_len = len(buffer)
            pos = 0

            def put(chunk: bytes) -> None:
                nonlocal pos
                end = pos + len(chunk)
                if end <= view_len:
                    buffer[pos:end] = chunk
                else:
                    del buffer[pos:]
                    buffer.extend(chunk)
                pos = end

            put(first)
            while True:
                chunk = self._read_chunk(endpoint, response, DOWNLOAD_CHUNK, token, trans_id)
                if not chunk:
                    break
                put(chunk)
            self._check_length(endpoint, pos, expected, trans_id)
            if pos < len(buffer):
                del buffer[pos:]
            return bytes(buffer)
        if isinstance(to, (str, os.PathLike)):
            return self._stream_to_path(endpoint, response, first, os.fspath(to), expected, token, trans_id)
        return self._stream_to_file(
            endpoint, response, first, to, expected, token, trans_id, sink_start, written
        )

    def _stream_to_path(
        self,
        endpoint: str,
        response: requests.Response,
        first: bytes,
        path: str,
        expected: int | None,
        token: str,
        trans_id: str | None,
    ) -> bytes:
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".vance-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                # A fresh temp file per attempt: it can always be started over.
                self._stream_to_file(
                    endpoint, response, first, handle, expected, token, trans_id, 0, [False]
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return b""

    def _stream_to_file(
        self,
        endpoint: str,
        response: requests.Response,
        first: bytes,
        sink: IO[bytes],
        expected: int | None,
        token: str,
        trans_id: str | None,
        sink_start: int | None,
        written: list[bool],
    ) -> bytes:
        if written[0] and sink_start is not None:
            sink.seek(sink_start)  # a retry: start the file object over
            sink.truncate()
        written[0] = True
        total = 0
        broken: _Retry | None = None
        try:
            sink.write(first)
            total = len(first)
            while True:
                chunk = self._read_chunk(endpoint, response, DOWNLOAD_CHUNK, token, trans_id)
                if not chunk:
                    break
                sink.write(chunk)
                total += len(chunk)
            self._check_length(endpoint, total, expected, trans_id)
        except _Retry as caught:
            if sink_start is not None or total == 0:
                raise
            broken = caught
        if broken is not None:
            # Part of the result is in a file object we cannot rewind: retrying would
            # append a second copy, so stop here (the next download is free).
            raise IncompleteDownloadError(
                f"{broken.error.message}; part of the result was already written to a file "
                "object that cannot be rewound: download again into a fresh file",
                endpoint=endpoint,
                trans_id=trans_id,
            )
        return b""

    @staticmethod
    def _check_length(endpoint: str, got: int, expected: int | None, trans_id: str | None) -> None:
        if got == 0 and not expected:
            raise ProtocolError(
                f"/{endpoint} answered an empty body instead of an image",
                endpoint=endpoint,
                trans_id=trans_id,
            )
        if expected is not None and got != expected:
            raise _Retry(
                IncompleteDownloadError(
                    f"/{endpoint} sent {got} bytes of the {expected} announced; retrying is free",
                    endpoint=endpoint,
                    trans_id=trans_id,
                )
            )


def _as_int(value: Any) -> int | None:
    """An int from an int, a float with no fraction or a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None

