"""One request budget shared by every thread of a client.

A batch runs many threads on one :class:`~vance_filters.Client`; each polls its
own job, uploads and downloads. Against a paid API what counts is the client's
total: :class:`RequestPace` is a token bucket all of them draw from (at most
``rate`` requests a second on average, bursts of at most ``burst``), and a
shared pause: when the service answers 429 with ``Retry-After``, every thread
of the client holds back until then, not only the one that got the answer.
"""

from __future__ import annotations

import threading
import time

__all__ = ["RequestPace"]

#: Longest single sleep while waiting for a turn (seconds), so shutdown stays quick.
_STEP = 0.25


class RequestPace:
    """A token bucket with a shared pause (thread-safe).

    Parameters
    ----------
    rate : float or None
        Requests a second, on average; None: no budget (pauses still apply).
    burst : float, optional
        Requests that may start at once after a quiet spell (default: ``rate``,
        at least 1).

    Examples
    --------
    >>> pace = RequestPace(100.0)
    >>> pace.acquire() >= 0.0
    True
    >>> pace.pause(0.01)
    >>> pace.acquire() > 0.0
    True
    """

    def __init__(self, rate: float | None, *, burst: float | None = None) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate={rate!r} is not allowed: expected requests per second > 0")
        self.rate = None if rate is None else float(rate)
        self.burst = max(1.0, float(burst if burst is not None else (rate or 1.0)))
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = time.monotonic()  # tokens are counted up to here (later while paused)
        self._paused_until = 0.0
        self._generation = 0  # bumped by pause(): reservations made before it are void

    def _reserve(self) -> tuple[float, int]:
        now = time.monotonic()
        if self.rate is None:
            return max(now, self._paused_until), self._generation
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        self._tokens -= 1.0
        ready = self._stamp + max(0.0, -self._tokens) / self.rate
        return ready, self._generation

    def acquire(self) -> float:
        """Wait for this request's turn; return the seconds waited."""
        start = time.monotonic()
        while True:
            with self._lock:
                ready, generation = self._reserve()
            while True:
                left = ready - time.monotonic()
                if left <= 0 or self._generation != generation:
                    break
                time.sleep(min(left, _STEP))
            with self._lock:
                if self._generation == generation and time.monotonic() >= self._paused_until:
                    return time.monotonic() - start

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` (e.g. a 429's ``Retry-After``)."""
        if not seconds > 0:
            return
        with self._lock:
            until = time.monotonic() + seconds
            if until <= self._paused_until:
                return
            self._paused_until = until
            # the bucket restarts empty at the pause's end, and waiting turns queue up again
            self._stamp = until
            self._tokens = 1.0
            self._generation += 1

    def __repr__(self) -> str:
        if self.rate is None:
            return "RequestPace(rate=None)"
        return f"RequestPace(rate={self.rate:g}, burst={self.burst:g})"
