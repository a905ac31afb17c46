"""The HTTP exchange with the VanceAI web API: session, retries, envelopes, downloads.

This module knows the wire: one :class:`requests.Session` with a pooled
adapter, form / multipart request bodies (the API token goes into a URL only
for ``GET /point?api_token=...``, the one form the vendor documents for it; a
logging filter, :mod:`vance_filters._redact`, keeps that URL out of urllib3's log records), the
``{"code", "msg"}`` / ``{"code": 200, "data"}`` envelopes, streamed downloads
(judged by their bytes, whatever their Content-Type says), one request budget
shared by every thread (:class:`~vance_filters._pace.RequestPace`), and retries
with capped exponential backoff, full jitter and ``Retry-After``. It knows
nothing about images or jobs.

Retried: connection errors, read timeouts, HTTP 429 / 5xx, API code 10010 and
truncated downloads. Never retried: API codes 10001, 10011-10014, 30001 and
30004 (retrying cannot change their answer). Retrying a download is free: the
service charges a result once per trans_id. A request that is not idempotent
(``/transform``: each one that reaches the service starts a job) is never sent
again after a read timeout, and at most once more after an ambiguous failure
(the connection broke after sending, HTTP 500 / 502 / 504); a failure before
anything was sent (connection refused, DNS, TLS) is retried as usual.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from . import _outage
from ._pace import RequestPace
from ._redact import excerpt, redact, redact_value
from ._sniff import image_format
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
    "RetryPolicy",
    "Transport",
]

logger = logging.getLogger("vance_filters")

T = TypeVar("T")

#: API codes whose answer a retry cannot change.
NEVER_RETRY_CODES = frozenset({10001, 10011, 10012, 10013, 10014, 30001, 30004})
#: HTTP statuses that are retried (with no API code, or with an unknown one).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Download chunk size: large reads, few Python-level iterations.
DOWNLOAD_CHUNK = 1 << 20
#: Cap on the total time one call may spend sleeping between retries (seconds).
MAX_RETRY_SLEEP = 120.0
#: Cap on a single ``Retry-After`` honoured (seconds).
MAX_RETRY_AFTER = 60.0
#: HTTP statuses after which a request may or may not have been acted on.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
#: Appended to the error that ends a transform which may have reached the service.
LOST_TRANSFORM_HINT = (
    "The transform may have reached the service, so a job may still be running there; it was "
    "not sent again, as a second request would start a second job. No credits are spent until "
    "a result is downloaded: look at client.credit_history() or the vendor's dashboard, and "
    "run the image again later (a webhook= or a larger max_wait= avoids a long blocking read)"
)
#: Largest Content-Length trusted for preallocating the download buffer (bytes).
_MAX_PREALLOC = 512 * 1024 * 1024
#: Bodies read in full when they are not the expected image (bytes).
_MAX_ERROR_BODY = 64 * 1024

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
    """Internal: an attempt failed in a way worth retrying.

    ``sent``: the request may have reached the service (and been acted on);
    ``read_timeout``: it was sent and no answer came in time.
    """

    def __init__(
        self,
        error: VanceError,
        retry_after: float | None = None,
        *,
        sent: bool = True,
        read_timeout: bool = False,
        throttled: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.sent = sent
        self.read_timeout = read_timeout
        self.throttled = throttled


def _reached_server(exc: BaseException) -> bool:
    """False when a requests exception says nothing was sent (refused, DNS, TLS, connect timeout)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
                        requests.exceptions.ProxyError)):
        return False
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return not isinstance(reason, (urllib3.exceptions.ConnectTimeoutError,
                                   urllib3.exceptions.SSLError,
                                   urllib3.exceptions.ProxyError))


def _lost(error: VanceError) -> VanceError:
    """``error`` (same class) saying that the transform may have started a job."""
    lost = type(error).__new__(type(error))
    VanceError.__init__(
        lost, error.message, code=error.code, endpoint=error.endpoint, trans_id=error.trans_id,
        hint=LOST_TRANSFORM_HINT,
    )
    return lost


def _sleep(seconds: float, *, stop: Callable[[], bool] | None = None) -> None:
    """Sleep in small steps so Ctrl-C, interpreter shutdown and ``stop()`` are honoured quickly."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or (stop is not None and stop()):
            return
        time.sleep(min(left, 0.25))


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
        pace: RequestPace | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.policy = policy
        self.pace = pace
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

    def _retrying(self, endpoint: str, attempt: Callable[[], T], *, idempotent: bool = True) -> T:
        slept = 0.0
        retry = 0
        ambiguous = 0
        while True:
            failure: _Retry | None = None
            try:
                return attempt()
            except _Retry as caught:
                failure = caught
            # Raised outside the ``except`` clause: the error's __context__ stays
            # empty, so no library-internal (or requests) exception rides along.
            error = failure.error
            if failure.throttled and self.pace is not None:
                # 429: every thread of this client holds back, not only this one
                self.pace.pause(failure.retry_after or self.policy.delay(retry))
            if not idempotent and failure.sent:
                # It may have been acted on: never again after a read timeout (the
                # service is still working on it), at most once after a broken answer.
                if failure.read_timeout or ambiguous >= 1:
                    raise _lost(error)
                ambiguous += 1
            if retry >= self.policy.max_retries:
                raise _lost(error) if not idempotent and ambiguous else error
            delay = self.policy.delay(retry, retry_after=failure.retry_after)
            if slept + delay > self.policy.max_sleep:
                raise _lost(error) if not idempotent and ambiguous else error
            logger.debug(
                "retrying /%s in %.2f s (retry %d of %d) after: %s",
                endpoint,
                delay,
                retry + 1,
                self.policy.max_retries,
                error,
            )
            _sleep(delay, stop=lambda: _outage.current_error() is not None)
            gave_up = _outage.current_error()
            if gave_up is not None:
                raise gave_up  # the batch stopped while this call waited to retry
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
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        # ``params`` (the query string) carries the token only for GET /point: the URL
        # requests builds from it is redacted in every error below and in urllib3's log
        # records (see _RedactingFilter); it is never logged here.
        url = f"{self.base_url}/{endpoint}"
        timeout = (self.timeout, read_timeout if read_timeout is not None else self.timeout)
        if self.pace is not None:
            self.pace.acquire()
        start = time.monotonic()
        failure: VanceError | None = None
        fatal: VanceError | None = None
        sent = True
        timed_out = False
        response: requests.Response | None = None
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                data=data,
                files=files,
                json=json_body,
                timeout=timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout as exc:
            sent = not isinstance(exc, requests.exceptions.ConnectTimeout)
            timed_out = sent
            failure = RequestTimeoutError(
                f"no answer from {self._where(endpoint)} within "
                f"{timeout[1] if sent else timeout[0]:g} s "
                f"({type(exc).__name__}); raise "
                f"{'max_wait=' if sent and read_timeout is not None else 'timeout='} "
                "if the service is slow",
                endpoint=endpoint,
            )
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            # The one spot where a connection failure becomes an error.
            sent = _reached_server(exc)
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
            raise _Retry(
                failure or TransportError("no response", endpoint=endpoint),
                sent=sent,
                read_timeout=timed_out,
            )
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
                    redact_value(envelope.get("msg"), token),
                    endpoint=endpoint,
                    trans_id=trans_id,
                )
                if code == 10010 or (code not in NEVER_RETRY_CODES and status in RETRY_STATUSES):
                    raise _Retry(error, retry_after, sent=code != 10010 and status in
                                 AMBIGUOUS_STATUSES, throttled=status == 429)
                return error
        kind = "JSON without an error code" if envelope is not None else "a non-API answer"
        text = excerpt(body, token)
        error = ProtocolError(
            f"/{endpoint} answered HTTP {status} with {kind}"
            + (f": {text!r}" if text else " (empty body)")
            + " - a proxy or gateway may stand between you and the service",
            endpoint=endpoint,
            trans_id=trans_id,
            hint=self._base_url_hint(status, envelope is not None),
        )
        if status in RETRY_STATUSES:
            raise _Retry(error, retry_after, sent=status in AMBIGUOUS_STATUSES,
                         throttled=status == 429)
        return error

    def _base_url_hint(self, status: int, json_answer: bool) -> str | None:
        """Name a base URL missing ``/web_api/v1`` as the likely cause of a 404 / non-API page."""
        path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")
        if path.endswith("/web_api/v1") or (json_answer and status != 404):
            return None
        if status == 404 or not json_answer:
            return (
                f"the base URL {self.base_url!r} does not end in /web_api/v1: it is the likely "
                "cause (the API lives under https://api-service.vanceai.com/web_api/v1); fix "
                "base_url= or VANCE_API_BASE"
            )
        return None

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
        query: bool = False,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Call a JSON endpoint with retries; return the envelope's ``data``.

        POST sends ``fields`` form-encoded (multipart when ``files`` is given).
        A GET sends them in the query string when ``query`` is true (the form
        the vendor documents for ``GET /point?api_token=...``; the URL is
        redacted wherever it could be quoted), else as a JSON body (read by a
        Laravel origin, but dropped by CDNs and edges that drop GET bodies).
        ``idempotent=False`` (``/transform``): never sent again once it may
        have reached the service, except once after an ambiguous failure.

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
            in_query = method == "GET" and query
            response = self._send(
                method,
                endpoint,
                data=body if method != "GET" else None,
                files=files,
                json_body=body if method == "GET" and not in_query else None,
                params=body if in_query else None,
                read_timeout=read_timeout,
                stream=False,
                token=token,
            )
            return self._parse_json(endpoint, response, token, trans_id)

        return self._retrying(endpoint, attempt, idempotent=idempotent)

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
        first = b""
        if 200 <= status < 300:
            # Judged by the bytes, not the label: a framework that sets no type says
            # ``text/html; charset=UTF-8`` even for a PNG, others octet-stream.
            first = self._read_chunk(endpoint, response, 64, token, trans_id)
            while len(first) < 12:
                more = self._read_chunk(endpoint, response, 64 - len(first), token, trans_id)
                if not more:
                    break
                first += more
            if image_format(first) is not None:
                return self._stream_body(
                    endpoint, response, first, token, trans_id, to, sink_start, written
                )
        body = first + self._read_chunk(endpoint, response, _MAX_ERROR_BODY, token, trans_id)
        error = self._error_from_body(endpoint, status, body, response.headers, token, trans_id)
        if isinstance(error, ProtocolError) and 200 <= status < 300:
            text = excerpt(body, token)
            error = ProtocolError(
                f"/{endpoint} answered {ctype or 'no Content-Type'} that is not a PNG, JPEG or "
                "WebP image" + (f": {text!r}" if text else " (empty body)"),
                endpoint=endpoint,
                trans_id=trans_id,
                hint=error.hint,
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

