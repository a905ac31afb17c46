"""Waiting for server-side jobs: the poll schedule and the wait loop.

A job is polled through ``/progress`` until it reports ``finish`` or ``fatal``;
every wait has a deadline. The schedule is one pure function,
:func:`next_poll`, so it can be read, tested and tuned in one place.

Why this schedule. The service says nothing about how long a job will take,
so a job of an unknown kind is polled *blind*: every 0.1 s for its first two
seconds (a job that short is noticed within 0.1 s, and most jobs of small
images are that short), then with gaps that widen smoothly (by the time
waited past two seconds, at most 30% of all the time waited) up to
``poll_interval`` (the vendor suggests 2 s). A job that ends between 2 s
and 10 s is noticed on average ~13% of its run time late; a 10 s job costs 9
calls after its first two seconds, the one that sees it finished included
(under one per second), a longer one one call per ``poll_interval``.

That is as tight as a blind schedule can be at that pace: an average delay of
5% of *any* job length needs a gap of ~10% of the time waited, i.e. about two
calls per second between 2 s and 10 s. What makes the difference is knowing
the job: a batch sends many jobs of one kind (same settings, images of about
the same size), and their run times are alike. So the client remembers when
jobs of each kind finished (:mod:`vance_filters._durations` keeps, per kind,
the window in which recent jobs were seen to finish) and polls the next one
of that kind *in that window*: a check at a quarter and at half of the
window's start (in case this one is quick), then probes 4% of the window's
end apart (at least 0.05 s), placed so that one falls on the window's end,
until three past it, then the blind pace again. A job of a known kind is
noticed within 4% of its run time, with far fewer calls than blind (on the
emulator, a 2 s job: 4 or 5 calls instead of 19; a 10 s job: 5 or 6 instead
of 27, 4 or 5 of them after its first two seconds instead of 9), and each
probe narrows the window for the next job.

A job seen queued (``waiting``, ``busy``) is timed from the last call that
saw it queued: its run started after that.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import JobFailedError, JobTimeoutError, VanceError
from .records import Progress

__all__ = [
    "FAST_GAP",
    "FAST_WINDOW",
    "GROWTH",
    "PROBE",
    "JobResult",
    "next_poll",
    "wait_for_job",
]

#: For this many seconds after submitting a job of an unknown kind ...
FAST_WINDOW = 2.0
#: ... poll it every this many seconds.
FAST_GAP = 0.1
#: After that, each gap is this share of the time waited so far (up to ``poll_interval``).
GROWTH = 0.3
#: Around the expected finish of a known kind of job, probe every this share of it ...
PROBE = 0.04
#: ... but not more often than this (seconds) ...
PROBE_MIN_GAP = 0.05
#: ... from within the expected window to this many probes past its end.
PROBES_PAST = 3
#: Shares of the expected finish at which a known kind of job is checked early.
EARLY_CHECKS = (0.25, 0.5)

#: Statuses that mean "still going" (anything unknown is treated the same).
RUNNING_STATUSES = ("waiting", "process", "busy", "webhook")
#: Statuses that mean "queued, not running yet".
QUEUED_STATUSES = ("waiting", "busy")


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


def next_poll(
    elapsed: float, *, poll_interval: float, expected: tuple[float, float] | None = None
) -> float:
    """When to call ``/progress`` next, in seconds since the job was submitted.

    Parameters
    ----------
    elapsed : float
        Seconds since the job was submitted (now, after the last call).
    poll_interval : float
        The longest gap of the blind schedule, in seconds.
    expected : (float, float), optional
        The window in which jobs of this kind have been seen to finish
        (seconds); None when unknown. See the module docstring.

    Returns
    -------
    float
        The time of the next call, later than ``elapsed``.

    Examples
    --------
    A job of unknown length: every 0.1 s, then gaps widening to 30% of the time waited.

    >>> t, times = 0.0, []
    >>> while t < 10:
    ...     t = next_poll(t, poll_interval=2.0)
    ...     times.append(round(t, 2))
    >>> times[:3], times[19:]
    ([0.1, 0.2, 0.3], [2.0, 2.1, 2.3, 2.7, 3.5, 4.55, 5.92, 7.69, 9.69, 11.69])

    A job of a kind seen to finish between 9.9 s and 10.3 s:

    >>> t, times = 0.0, []
    >>> while t < 14:
    ...     t = next_poll(t, poll_interval=2.0, expected=(9.9, 10.3))
    ...     times.append(round(t, 2))
    >>> times
    [2.48, 4.95, 10.3, 10.71, 11.12, 11.54, 13.54, 15.54]
    """
    if expected is not None:
        start, end = expected
        step = max(PROBE * end, PROBE_MIN_GAP)
        # probes `step` apart, the last of them inside the window exactly at its end
        first_probe = end - max(0, math.ceil((end - start) / step) - 1) * step
        if elapsed < first_probe:
            planned = [share * start for share in EARLY_CHECKS]
            return next((t for t in planned if t > elapsed), first_probe)
        if elapsed < end + (PROBES_PAST - 0.5) * step:
            return elapsed + min(poll_interval, step)
    if elapsed < FAST_WINDOW:
        return elapsed + min(poll_interval, FAST_GAP)
    # the gap widens smoothly: by the time waited past the window, up to GROWTH of all of it
    return elapsed + min(poll_interval, GROWTH * elapsed, FAST_GAP + elapsed - FAST_WINDOW)


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
    submitted: float | None = None,
    expected: tuple[float, float] | None = None,
) -> Progress:
    """Poll ``progress(trans_id)`` until the job finishes; return its last Progress.

    Parameters
    ----------
    progress : callable
        ``Client.progress``.
    trans_id : str
        The job.
    poll_interval : float
        The longest gap of the blind schedule, in seconds (the vendor suggests 2).
    max_wait : float
        Seconds from now after which :class:`JobTimeoutError` is raised.
    on_status : callable, optional
        Called with the :class:`Progress` each time the status changes.
    last_status : str, optional
        A status already known (e.g. transform's answer): not reported again.
    submitted : float, optional
        ``time.monotonic()`` just before the job's ``/transform`` request
        (default: now).
    expected : (float, float), optional
        The window, in seconds after ``submitted``, in which jobs of this kind
        have been seen to finish (see :func:`next_poll`).

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
    return _wait(
        progress, trans_id, poll_interval=poll_interval, max_wait=max_wait, on_status=on_status,
        last_status=last_status, submitted=submitted, expected=expected,
    )[0]


def _wait(
    progress: Callable[[str], Progress],
    trans_id: str,
    *,
    poll_interval: float,
    max_wait: float,
    on_status: Callable[[Progress], object] | None,
    last_status: str | None,
    submitted: float | None,
    expected: tuple[float, float] | None,
) -> tuple[Progress, float, float]:
    """:func:`wait_for_job`, also returning when the job was seen finished.

    The other two items bracket when it finished: the times of the last
    ``/progress`` call that saw it running and of the one that saw it
    finished, counted from ``submitted`` or from the last call that saw the
    job queued.
    """
    now = time.monotonic()
    deadline = now + max_wait
    base = now if submitted is None else submitted
    asked = base
    while True:
        plan = None if last_status in QUEUED_STATUSES else expected
        _sleep_until(min(deadline, base + next_poll(now - base, poll_interval=poll_interval, expected=plan)))
        before, asked = asked, time.monotonic()
        try:
            current = progress(trans_id)
        except VanceError as exc:
            if exc.trans_id is None:
                exc.trans_id = trans_id
            raise
        now = time.monotonic()
        if current.status != last_status:
            if last_status in QUEUED_STATUSES and current.status not in QUEUED_STATUSES:
                base = before  # it started running after the previous call: time it from there
            last_status = current.status
            if on_status is not None:
                on_status(current)
        if current.status == "finish":
            return current, max(0.0, before - base), asked - base
        if current.status == "fatal":
            raise JobFailedError(
                "the job ended with status 'fatal' on the server; submit it again",
                endpoint="progress",
                trans_id=trans_id,
            )
        # Any other status (waiting, process, busy, webhook, or one the vendor
        # has not documented such as "wait") means the job is still going.
        if now >= deadline:
            raise JobTimeoutError(
                f"the job was still {current.status!r} after max_wait={max_wait:g} s",
                trans_id=trans_id,
                hint="Raise max_wait=, or resume later",
            )
