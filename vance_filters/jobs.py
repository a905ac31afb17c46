"""Waiting for server-side jobs: the poll schedule and the wait loop.

A job is polled through ``/progress`` until it reports ``finish`` or ``fatal``.
Polling starts fast, so a short job is noticed at once, and backs off towards
the vendor's suggested pace (about every 2 s), so a long one does not hammer
the service. Every wait has a deadline. The schedule lives in one small
function, :func:`poll_delay`, so it can be tuned in one place.

Why this schedule. The client cannot know how long a job will take, so the
delays grow geometrically (x1.3 per call): the gap between two polls is then
a fixed share of the time already waited (about 23%), which bounds the
*relative* notice delay for any job length, until the 2 s cap takes over
after about 8 s. A job that ends at a random moment is noticed on average
~12% of its run time later (at most ~30%; benchmarks/run.py prints both, for
job times between 2 and 10 s), while a 10 s job costs 6 progress calls after
its first two seconds (< 1 per second) and a long one one call per 2 s.
Tighter is not possible without more calls: an average notice delay of 5%
of any job time needs a gap of ~10% of the elapsed time, i.e. ~16 calls
between 2 s and 10 s (2 per second) - we chose the vendor's pace instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import JobFailedError, JobTimeoutError, VanceError
from .records import Progress

__all__ = [
    "FIRST_POLL",
    "POLL_GROWTH",
    "JobResult",
    "poll_delay",
    "wait_for_job",
]

#: Delay before the first ``/progress`` call (seconds).
FIRST_POLL = 0.15
#: Each delay is this many times the previous one, up to ``poll_interval``
#: (1.3: each gap is ~23% of the time waited so far; see the module docstring).
POLL_GROWTH = 1.3

#: Statuses that mean "still going" (anything unknown is treated the same).
RUNNING_STATUSES = ("waiting", "process", "busy", "webhook")


@dataclass(frozen=True)
class JobResult:
    """The outcome of :meth:`Client.run_job`.

    Attributes
    ----------
    data : bytes
        The result image's bytes as the service sent them.
    trans_id : str or None
        The job's id (None for a cache hit).
    uid : str or None
        The upload's id (None for a cache hit).
    cached : bool
        True when the result came from the cache (no request, no credit).
    status : str
        The job's final status (``"finish"``).

    Examples
    --------
    >>> JobResult(data=b"...", trans_id=None, uid=None, cached=True, status="finish").cached
    True
    """

    data: bytes
    trans_id: str | None
    uid: str | None
    cached: bool
    status: str

    def __repr__(self) -> str:
        return (
            f"JobResult(data=<{len(self.data)} bytes>, trans_id={self.trans_id!r}, "
            f"uid={self.uid!r}, cached={self.cached!r}, status={self.status!r})"
        )


def poll_delay(poll: int, poll_interval: float) -> float:
    """Seconds to wait before ``/progress`` call number ``poll`` (0-based).

    ``FIRST_POLL`` (0.15 s) growing by ``POLL_GROWTH`` (x1.3) per call, capped
    at ``poll_interval``: for the default 2 s, polls at 0.15, 0.34, 0.6, 0.93,
    1.36, 1.91, 2.64, 3.58, 4.8, 6.39, 8.39, 10.39, 12.39 s ... (plus each
    call's round trip): 6 calls in the first 2 s, 5 more up to 10 s, then one
    per ``poll_interval``.

    Examples
    --------
    >>> [round(poll_delay(i, 2.0), 3) for i in range(11)]
    [0.15, 0.195, 0.254, 0.33, 0.428, 0.557, 0.724, 0.941, 1.224, 1.591, 2.0]
    >>> poll_delay(0, 0.05)
    0.05
    """
    return min(poll_interval, FIRST_POLL * POLL_GROWTH ** min(poll, 64))


def _sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, in short steps."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.25))


def wait_for_job(
    progress: Callable[[str], Progress],
    trans_id: str,
    *,
    poll_interval: float,
    max_wait: float,
    on_status: Callable[[Progress], object] | None = None,
    last_status: str | None = None,
) -> Progress:
    """Poll ``progress(trans_id)`` until the job finishes; return its last Progress.

    Parameters
    ----------
    progress : callable
        ``Client.progress``.
    trans_id : str
        The job.
    poll_interval : float
        The slowest pace of polling, in seconds (the vendor suggests 2).
    max_wait : float
        Seconds from now after which :class:`JobTimeoutError` is raised.
    on_status : callable, optional
        Called with the :class:`Progress` each time the status changes.
    last_status : str, optional
        A status already known (e.g. transform's answer): not reported again.

    Raises
    ------
    JobFailedError
        The job ended ``fatal`` (carries ``trans_id``).
    JobTimeoutError
        Still running after ``max_wait`` (carries ``trans_id``: wait again later).
    VanceError
        From ``progress``; it carries ``trans_id`` so the job can be resumed.

    Examples
    --------
    >>> states = iter(["busy", "process", "finish"])
    >>> fake = lambda tid: Progress(status=next(states), trans_id=tid)
    >>> wait_for_job(fake, "t1", poll_interval=0.01, max_wait=5).status
    'finish'
    """
    start = time.monotonic()
    deadline = start + max_wait
    poll = 0
    # The first check comes quickly; transform has just answered.
    _sleep_until(min(deadline, start + poll_delay(0, poll_interval)))
    while True:
        try:
            current = progress(trans_id)
        except VanceError as exc:
            if exc.trans_id is None:
                exc.trans_id = trans_id
            raise
        if current.status != last_status:
            last_status = current.status
            if on_status is not None:
                on_status(current)
        if current.status == "finish":
            return current
        if current.status == "fatal":
            raise JobFailedError(
                "the job ended with status 'fatal' on the server; submit it again",
                endpoint="progress",
                trans_id=trans_id,
            )
        # Any other status (waiting, process, busy, webhook, or one the vendor
        # has not documented such as "wait") means the job is still going.
        now = time.monotonic()
        if now >= deadline:
            raise JobTimeoutError(
                f"the job was still {current.status!r} after max_wait={max_wait:g} s",
                trans_id=trans_id,
                hint="Raise max_wait=, or resume later",
            )
        poll += 1
        _sleep_until(min(deadline, now + poll_delay(poll, poll_interval)))
