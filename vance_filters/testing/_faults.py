"""Scripted and random faults: what the next requests to an endpoint suffer."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

#: The endpoints a fault can target ("*" matches any of them).
ENDPOINTS = ("upload", "transform", "progress", "download", "point", "points/record")


@dataclass(frozen=True)
class Fault:
    """How one request fails (see :meth:`Emulator.fail`)."""

    status: int | None = None
    code: int | None = None
    msg: object = None
    drop: bool = False
    delay: float | None = None
    retry_after: float | None = None
    body: bytes | None = None
    content_type: str | None = None
    truncate: bool = False

    @property
    def answers_normally(self) -> bool:
        """True when the request is handled as usual (delay / Retry-After / truncate only)."""
        return not self.drop and self.status is None and self.code is None and self.body is None


def make_fault(
    endpoint: str,
    *,
    times: int,
    status: int | None,
    code: int | None,
    msg: object,
    drop: bool,
    delay: float | None,
    retry_after: float | None,
    body: bytes | None,
    content_type: str | None,
    truncate: bool,
) -> Fault:
    """Validate the arguments of :meth:`Emulator.fail` and build the fault."""
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(
            f"endpoint={endpoint!r} is not an endpoint: expected '*' or one of "
            + ", ".join(repr(e) for e in ENDPOINTS)
        )
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError(f"times={times!r} is not allowed: expected an integer >= 1")
    if status is not None and not (
        isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
    ):
        raise ValueError(f"status={status!r} is not allowed: expected an HTTP status 100-599")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise ValueError(f"code={code!r} is not allowed: expected an integer API code")
    for name, value in (("delay", delay), ("retry_after", retry_after)):
        if value is not None and not (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0
        ):
            raise ValueError(f"{name}={value!r} is not allowed: expected seconds >= 0")
    if body is not None and not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if content_type is not None and body is None:
        raise ValueError("content_type is only used with body=...: give the bytes to answer")
    if drop and (status is not None or code is not None or body is not None or truncate):
        raise ValueError("drop=True sends no answer: it cannot be combined with status, code, "
                         "body or truncate")
    if code is not None and body is not None:
        raise ValueError("give either code=... (a JSON error envelope) or body=..., not both")
    if msg is not None and code is None:
        raise ValueError("msg=... is the message of an API error: give code=... too")
    return Fault(
        status=status, code=code, msg=msg, drop=bool(drop), delay=delay,
        retry_after=retry_after, body=bytes(body) if body is not None else None,
        content_type=content_type, truncate=bool(truncate),
    )


#: What a random fault may be (rate-driven chaos): HTTP 500/502/503, API 10010, or a drop.
_RANDOM = (
    Fault(status=500),
    Fault(status=502),
    Fault(status=503),
    Fault(code=10010),
    Fault(drop=True),
)


class FaultPlan:
    """The queue of scripted faults per endpoint plus an optional random-fault rate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[list[object]]] = {}
        self._rate = 0.0
        self._rng = random.Random(0)

    def add(self, endpoint: str, fault: Fault, times: int) -> None:
        with self._lock:
            self._queues.setdefault(endpoint, []).append([fault, times])

    def set_random(self, rate: float, seed: int) -> None:
        if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and 0 <= rate <= 1):
            raise ValueError(f"rate={rate!r} is not allowed: expected a probability from 0 to 1")
        with self._lock:
            self._rate = float(rate)
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._rate = 0.0

    def take(self, endpoint: str) -> Fault | None:
        """The fault the next request to ``endpoint`` suffers, or None."""
        with self._lock:
            for key in (endpoint, "*"):
                queue = self._queues.get(key)
                if queue:
                    entry = queue[0]
                    entry[1] = int(entry[1]) - 1  # type: ignore[call-overload]
                    if entry[1] <= 0:  # type: ignore[operator]
                        queue.pop(0)
                    return entry[0]  # type: ignore[return-value]
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(_RANDOM)
        return None
