"""A batch's view of whether the service can be reached at all, so a dead service fails fast.

One :class:`Outage` belongs to one batch (``vf.map``, ``vf.amap``, a CLI run,
a Dask partition). Every attempt that finds the service unreachable
(connection refused, unknown host, TLS failure) counts; any success resets
the count. After :data:`TRIP_AFTER` in a row the outage *trips*: the
transport stops retrying the requests in flight (their next failed attempt is
final) and the images not yet started fail at once with the same
:class:`~vance_filters.errors.ServiceUnreachableError`, without being read,
encoded or sent. Results finished before stay results (and in the cache).

The transport finds the batch's outage through a context variable that the
batch sets in each worker thread (:func:`watching`); a call outside a batch
has none and keeps its full retries.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import requests
import urllib3.exceptions

from .errors import APIError, ServiceUnreachableError

__all__ = [
    "TRIP_AFTER",
    "Outage",
    "Watched",
    "note_unreachable",
    "unreachable_reason",
    "watching",
]

#: Consecutive unreachable attempts, with no success between, that stop a batch.
TRIP_AFTER = 3

_current: contextvars.ContextVar[Outage | None] = contextvars.ContextVar(
    "vance_filters_outage", default=None
)


class Outage:
    """The fail-fast state of one batch: a count of unreachable attempts in a row.

    Parameters
    ----------
    trip_after : int
        How many unreachable attempts in a row stop the batch.

    Examples
    --------
    >>> from vance_filters.errors import ServiceUnreachableError
    >>> outage = Outage(trip_after=2)
    >>> outage.failed(ServiceUnreachableError("cannot reach x")) is None
    True
    >>> outage.succeeded()
    >>> outage.failed(ServiceUnreachableError("cannot reach x")) is None
    True
    >>> outage.failed(ServiceUnreachableError("cannot reach x")) is not None
    True
    >>> outage.tripped
    True
    """

    def __init__(self, *, trip_after: int = TRIP_AFTER) -> None:
        if not isinstance(trip_after, int) or trip_after < 1:
            raise ValueError(f"trip_after={trip_after!r} is not allowed: expected an integer >= 1")
        self.trip_after = trip_after
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._cause: ServiceUnreachableError | None = None

    @property
    def tripped(self) -> bool:
        """Whether the batch has given up on the service."""
        return self._cause is not None

    def succeeded(self) -> None:
        """The service answered: the count starts again (unless the batch already gave up)."""
        with self._lock:
            self._in_a_row = 0

    def failed(self, error: ServiceUnreachableError) -> ServiceUnreachableError | None:
        """Count one unreachable attempt; once tripped, the error that ends the batch."""
        with self._lock:
            if self._cause is None:
                self._in_a_row += 1
                if self._in_a_row >= self.trip_after:
                    self._cause = error
            if self._cause is None:
                return None
        return self.error()

    def error(self) -> ServiceUnreachableError | None:
        """A fresh copy of the error that ended the batch (None while it has not)."""
        cause = self._cause
        if cause is None:
            return None
        return ServiceUnreachableError(
            f"{cause.message} (the batch stopped after {self.trip_after} failed attempts in a "
            "row; the images not done were not sent)",
            endpoint=cause.endpoint,
            hint=cause.hint,
        )

    def check(self) -> None:
        """Raise the batch's error if it gave up (before an image is read or sent)."""
        error = self.error()
        if error is not None:
            raise error


@contextlib.contextmanager
def watching(outage: Outage | None) -> Iterator[None]:
    """Make ``outage`` the one the transport reports to, in this thread, for the block."""
    token = _current.set(outage)
    try:
        yield
    finally:
        _current.reset(token)


class Watched:
    """A filter whose every ``apply`` reports to one batch's :class:`Outage`.

    Once the outage tripped, ``apply`` raises its error at once (the image is
    not read, encoded or sent). A result, or an answer from the service (an
    ``APIError``), resets the count of unreachable attempts.
    """

    def __init__(self, flt: Any, outage: Outage) -> None:
        self.flt = flt
        self.outage = outage

    def apply(self, image: Any, *, client: Any, on_limit: Any, upload_format: Any) -> Any:
        self.outage.check()
        with watching(self.outage):
            try:
                result = self.flt.apply(
                    image, client=client, on_limit=on_limit, upload_format=upload_format
                )
            except APIError:
                self.outage.succeeded()  # the service answered
                raise
        self.outage.succeeded()
        return result


def note_unreachable(error: ServiceUnreachableError) -> ServiceUnreachableError | None:
    """Report an unreachable attempt to the current batch; its final error once it gave up.

    Outside a batch: None (the call keeps its retries).
    """
    outage = _current.get()
    return None if outage is None else outage.failed(error)


def current_error() -> ServiceUnreachableError | None:
    """The error of the calling thread's batch once it gave up; None otherwise (or outside a batch).

    The transport asks this while it sleeps between retries, so an image that
    was waiting to retry stops as soon as its batch gives up.
    """
    outage = _current.get()
    return None if outage is None else outage.error()


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a requests connection error means the service cannot be reached, or None.

    Connection refused (and other failures to open a connection), an unknown
    host and a TLS failure qualify; a connection dropped mid-answer does not.

    Examples
    --------
    >>> unreachable_reason(requests.exceptions.SSLError("bad certificate"))
    'TLS handshake failed: bad certificate'
    >>> unreachable_reason(requests.exceptions.ChunkedEncodingError("cut")) is None
    True
    """
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls(exc)
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return None
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, urllib3.exceptions.NameResolutionError):
            return "host name not found"
        if isinstance(item, urllib3.exceptions.SSLError):
            return _tls(item)
        if isinstance(item, urllib3.exceptions.NewConnectionError):
            return (
                "connection refused"
                if isinstance(item.__cause__ or item.__context__, ConnectionRefusedError)
                or "refused" in str(item).lower()
                else "no connection"
            )
        reason = getattr(item, "reason", None)
        todo += [
            reason if isinstance(reason, BaseException) else None,
            item.__cause__,
            item.__context__,
        ]
        todo += [a for a in item.args if isinstance(a, BaseException)]
    return None


def _tls(exc: BaseException) -> str:
    """A TLS failure in a few words: the innermost message says what was wrong."""
    inner: BaseException = exc
    for _ in range(10):  # a short chain: SSLError <- MaxRetryError <- ssl.SSLError
        reason = getattr(inner, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else inner.__cause__
        if nxt is None:
            args = [a for a in inner.args if isinstance(a, BaseException)]
            nxt = args[0] if args else None
        if nxt is None or nxt is inner:
            break
        inner = nxt
    text = " ".join(str(inner).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"TLS handshake failed: {text}" if text else "TLS handshake failed"
