"""When this client's jobs finish, by kind of job (feeds the poll schedule).

A batch sends many jobs of one kind: the same feature and settings on images
of about the same size. Their server-side times are alike, so once a few have
finished the client knows when the next one will, and polls around that moment
instead of on the blind schedule (see :mod:`vance_filters.jobs`).

What a finished job tells is a bracket: it finished after the last
``/progress`` call that saw it running and by the call that saw it finished
(seconds since its ``/transform`` request, or since the last call that saw it
queued). The expected window of the next job is where most of the recent
brackets overlap: loose brackets from blind polling give a wide window, and
the probes in it give tight brackets, so the window closes in on the run time
within a job or two; one odd job does not move it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from typing import Any

from ._cache import canonical_jconfig

__all__ = ["JobDurations", "job_kind", "overlap"]


def job_kind(jconfig: dict[str, Any] | str, width: int, height: int) -> tuple[str, int]:
    """The kind of a job: its canonical jconfig and its image's size, in steps of sqrt(2) in pixels.

    Examples
    --------
    >>> job_kind({"b": 1, "a": 2}, 1000, 1000) == job_kind('{"a":2, "b":1}', 1100, 1000)
    True
    >>> job_kind({"name": "matting"}, 1000, 1000) == job_kind({"name": "matting"}, 2000, 2000)
    False
    """
    return canonical_jconfig(jconfig), round(2 * math.log2(max(1, width * height)))


def overlap(brackets: list[tuple[float, float]]) -> tuple[float, float]:
    """The span of the points covered by the most brackets ``(after, by)``.

    Examples
    --------
    A loose bracket from blind polling, then two tight ones inside it:

    >>> overlap([(9.4, 11.4), (9.9, 10.3), (10.0, 10.4)])
    (10.0, 10.3)

    Brackets that do not meet (run times that vary): the span of the densest ones.

    >>> overlap([(1.0, 1.1), (1.2, 1.3), (3.0, 3.1)])
    (1.0, 3.1)
    """
    spans_in = [(min(after, by - 1e-6), by) for after, by in brackets]
    # (after, by]: at a tie an end comes before a start, so (0, 1] and (1, 2] do not meet
    events = sorted([(after, 1) for after, _ in spans_in] + [(by, -1) for _, by in spans_in])
    best, depth = 0, 0
    spans: list[tuple[float, float]] = []
    for i, (at, step) in enumerate(events):
        depth += step
        if step > 0 and depth >= best:
            end = events[i + 1][0]
            if depth > best:
                best, spans = depth, []
            spans.append((at, end))
    return spans[0][0], spans[-1][1]


class JobDurations:
    """Recent finish brackets per kind of job (thread-safe, bounded).

    Parameters
    ----------
    keep : int
        Brackets remembered per kind.
    kinds : int
        Kinds remembered; the least recently used is forgotten first.

    Examples
    --------
    >>> durations = JobDurations()
    >>> durations.expected("k") is None
    True
    >>> durations.record("k", after=8.4, by=10.4)
    >>> durations.record("k", after=9.9, by=10.3)
    >>> durations.expected("k")
    (9.9, 10.3)
    """

    def __init__(self, *, keep: int = 9, kinds: int = 256) -> None:
        self._keep = keep
        self._kinds = kinds
        self._brackets: OrderedDict[object, deque[tuple[float, float]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, kind: object, *, after: float, by: float) -> None:
        """Remember that a job of ``kind`` finished after ``after`` and by ``by`` seconds."""
        with self._lock:
            brackets = self._brackets.get(kind)
            if brackets is None:
                brackets = self._brackets[kind] = deque(maxlen=self._keep)
                while len(self._brackets) > self._kinds:
                    self._brackets.popitem(last=False)
            self._brackets.move_to_end(kind)
            brackets.append((after, by))

    def expected(self, kind: object) -> tuple[float, float] | None:
        """The window in which a job of ``kind`` is expected to finish (seconds), or None."""
        with self._lock:
            brackets = list(self._brackets.get(kind, ()))
        return overlap(brackets) if brackets else None

    def __repr__(self) -> str:
        return f"JobDurations(kinds={len(self._brackets)})"
