"""Waiting for server-side jobs: the poll schedule and the wait loop.

A job is polled through ``/progress`` until it reports ``finish`` or ``fatal``;
every wait has a deadline. The schedule is one pure function,
:func:`next_poll`, so it can be read, tested and tuned in one place.

Why this schedule. The service is paid for and shared: the vendor asks for a
fixed pace "such as every 2 seconds", so no job is ever polled more than twice
a second (:data:`MIN_GAP` between two ``/progress`` calls of one job, whatever
``poll_interval`` says), and a job the service reports queued (``busy``, or
``waiting`` from ``/progress``: every job is ``waiting`` for a moment when it is
submitted) is polled every :data:`QUEUED_GAP` (2 s) until it runs. The
client's total request rate is capped too (``Client(max_requests_per_second=)``,
a budget all its threads share).

Within that, a job of an unknown kind is polled *blind*: every 0.5 s for its
first two seconds (a job that short is noticed within 0.5 s), then with gaps of
a quarter of the time waited, up to ``poll_interval`` (the vendor suggests
2 s): a job that ends after two seconds is noticed within 25% of its run time,
and a 10 s job costs about one call a second after its first two seconds, a
longer one one call per ``poll_interval``.

What makes the difference is knowing the job: a batch sends many jobs of one
kind (same settings, images of about the same size), and their run times are
alike. So the client remembers when jobs of each kind finished
(:mod:`vance_filters._durations` keeps, per kind, the window in which recent
jobs were seen to finish) and polls the next one of that kind *in that
window*: a check at a quarter and at half of the window's start (when they fit
before it), then probes 4% of the window's end apart (at least 0.5 s), placed
so that one falls on the window's end, until three past it, then the blind
pace again. With calls at least 0.5 s apart, probing a window's end alone would
leave it as wide as the blind schedule made it (a 0.1 s job seen at 0.5 s,
every time): so a window wider than 0.4 s but at most two probe gaps wide is
probed inside it, at three quarters of its width. A hit cuts the window to
three quarters, a miss (that job is then seen one probe gap later) to the last
quarter; once the window is 0.4 s wide or less, its end is probed, and a job
finishing in it is seen within 0.4 s. A job of a known kind is noticed within moments of its usual
finish with few calls (a 10 s job: 3 or 4 calls instead of 12), and each probe
narrows the window for the next job.

A job seen queued (``waiting``, ``busy``) is timed from the last call that
saw it queued: its run started after that. A job that stays in a status the
vendor does not document is still polled (it may be new wording for
"running"), but it is reported by name: an :class:`UnknownStatusWarning`
naming the status and the trans_id once it has lasted
``min(UNKNOWN_REPORT_AFTER, UNKNOWN_REPORT_SHARE * max_wait)``, and the
:class:`~vance_filters.errors.JobTimeoutError` names it too.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from .errors import JobFailedError, JobTimeoutError, UnknownStatusWarning, VanceError
from .records import Progress

__all__ = [
    "FAST_GAP",
    "FAST_WINDOW",
    "GROWTH",
    "MIN_GAP",
    "PROBE",
    "QUEUED_GAP",
    "JobResult",
    "UnknownStatusWarning",
    "next_poll",
    "wait_for_job",
]

logger = logging.getLogger("vance_filters")

#: The shortest gap between two ``/progress`` calls of one job: at most 2 a second.
MIN_GAP = 0.5
#: A job reported queued (``busy``, ``waiting``) is polled at this fixed pace (the vendor's).
QUEUED_GAP = 2.0
#: For this many seconds after submitting a job of an unknown kind ...
FAST_WINDOW = 2.0
#: ... poll it every this many seconds.
FAST_GAP = MIN_GAP
#: After that, each gap is this share of the time waited so far (up to ``poll_interval``).
GROWTH = 0.25
#: Around the expected finish of a known kind of job, probe every this share of it ...
PROBE = 0.04
#: ... but not more often than this (seconds) ...
PROBE_MIN_GAP = MIN_GAP
#: A window wider than this (seconds, or ``PROBE`` of its end) and up to two probe gaps
#: wide is probed inside; a narrower one at its end, which sees a job finishing in it
#: within this long ...
PROBE_NARROW = 0.4
#: ... at this share of it: a hit cuts the window to that share, a miss (the next
#: call is a probe gap later) to the rest.
SPLIT = 0.75
#: ... from within the expected window to this many probes past its end.
PROBES_PAST = 3
#: Shares of the expected finish at which a known kind of job is checked early.
EARLY_CHECKS = (0.25, 0.5)

#: Statuses that mean "still going" (anything unknown is treated the same).
RUNNING_STATUSES = ("waiting", "process", "busy", "webhook")
#: Statuses that mean "queued, not running yet".
QUEUED_STATUSES = ("waiting", "busy")
#: A job that stays in an undocumented status this long (seconds) is reported ...
UNKNOWN_REPORT_AFTER = 120.0
#: ... or this share of ``max_wait``, whichever comes first.
UNKNOWN_REPORT_SHARE = 0.5




@dataclass(frozen=True)
class JobResult:
    """The outcome of :meth:`Client.run_job`.

    Attributes
    ----------
    data : bytes
        The result image's bytes as the service sent them.
    trans_id : str or None
        The job's id; for a cache hit, the job that made the cached result
        (its receipt), or None when that was not recorded.
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
    elapsed: float,
    *,
    poll_interval: float,
    expected: tuple[float, float] | None = None,
    last: float | None = None,
) -> float:
    """When to call ``/progress`` next, in seconds since the job was submitted.

    Parameters
    ----------
    elapsed : float
        Seconds since the job was submitted (now, after the last call).
    poll_interval : float
        The longest gap of the blind schedule, in seconds (gaps are never
        shorter than :data:`MIN_GAP`, whatever it says).
    expected : (float, float), optional
        The window in which jobs of this kind have been seen to finish
        (seconds); None when unknown. See the module docstring.
    last : float, optional
        When the last ``/progress`` call of this job was made (seconds since
        submission); None before the first one.

    Returns
    -------
    float
        The time of the next call: later than ``elapsed``, and at least
        :data:`MIN_GAP` after ``last``.

    Examples
    --------
    A job of unknown length: every 0.5 s, then gaps of a quarter of the time waited.

    >>> t, times = 0.0, []
    >>> while t < 10:
    ...     t = next_poll(t, poll_interval=2.0)
    ...     times.append(round(t, 2))
    >>> times
    [0.5, 1.0, 1.5, 2.0, 2.5, 3.12, 3.91, 4.88, 6.1, 7.63, 9.54, 11.54]

    A job of a kind seen to finish between 9.9 s and 10.3 s:

    >>> t, times = 0.0, []
    >>> while t < 14:
    ...     t = next_poll(t, poll_interval=2.0, expected=(9.9, 10.3))
    ...     times.append(round(t, 2))
    >>> times
    [2.48, 4.95, 10.3, 10.8, 11.3, 11.8, 13.8, 15.8]
    """
    floor = elapsed if last is None else max(elapsed, last + MIN_GAP)
    longest = max(poll_interval, MIN_GAP)
    if expected is not None:
        start, end = expected
        step = max(PROBE * end, PROBE_MIN_GAP)
        width = end - start
        if max(PROBE_NARROW, PROBE * end) < width <= 2 * step:
            # a window up to two probe gaps wide, not yet narrow: probe inside it, so that
            # the bracket this job leaves narrows it for the next one
            first_probe = start + SPLIT * width
        else:
            # probes `step` apart, the last of them inside the window exactly at its end
            first_probe = end - max(0, math.ceil(width / step) - 1) * step
        if elapsed < first_probe:
            # early checks only where they leave room for the first probe
            planned = [share * start for share in EARLY_CHECKS]
            fitting = (t for t in planned if floor <= t <= first_probe - MIN_GAP and t > elapsed)
            return max(next(fitting, first_probe), floor)
        if elapsed < end + (PROBES_PAST - 0.5) * step:
            return max(elapsed + min(longest, step), floor)
    if elapsed < FAST_WINDOW:
        return max(elapsed + FAST_GAP, floor)
    # the gap widens smoothly: a quarter of the time waited, up to poll_interval
    return max(elapsed + min(longest, max(MIN_GAP, GROWTH * elapsed)), floor)


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
    >>> states = iter(["process", "process", "finish"])
    >>> fake = lambda tid: Progress(status=next(states), trans_id=tid)
    >>> wait_for_job(fake, "t1", poll_interval=2.0, max_wait=5).status
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
    now = start = time.monotonic()
    deadline = now + max_wait
    base = now if submitted is None else submitted
    asked = base
    last: float | None = None  # when the last /progress call was made (monotonic)
    report_after = min(UNKNOWN_REPORT_AFTER, UNKNOWN_REPORT_SHARE * max_wait)
    unknown_since: float | None = None
    reported = False
    while True:
        if last_status in QUEUED_STATUSES and (last is not None or last_status == "busy"):
            # the vendor's fixed pace once the service said the job is queued (a job is
            # "waiting" for a moment when submitted: transform's "waiting" does not count)
            when = (start if last is None else last) + QUEUED_GAP
        else:
            when = base + next_poll(
                now - base, poll_interval=poll_interval, expected=expected,
                last=None if last is None else last - base,
            )
        _sleep_until(min(deadline, when))
        before, asked = asked, time.monotonic()
        last = asked
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
            unknown_since = None
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
        # has not documented such as "wait") means the job is still going ...
        unknown = current.status not in RUNNING_STATUSES
        if unknown and unknown_since is None:
            unknown_since = asked
        if unknown and unknown_since is not None and not reported and now - unknown_since >= report_after:
            # ... but one that stays in an undocumented status is reported, not silently waited on.
            reported = True
            text = (
                f"job {trans_id} has stayed in status {current.status!r}, which the vendor does "
                f"not document, for {now - unknown_since:.0f} s; still polling it until "
                f"max_wait={max_wait:g} s. The service may have changed: check the job on the "
                "vendor's dashboard, and report the status to vance_filters"
            )
            logger.warning("%s", text)
            warnings.warn(text, UnknownStatusWarning, stacklevel=4)
        if now >= deadline:
            if unknown and unknown_since is not None:
                message = (
                    f"the job stayed in status {current.status!r}, which the vendor does not "
                    f"document, for {now - unknown_since:.0f} s, until max_wait={max_wait:g} s"
                )
            else:
                message = f"the job was still {current.status!r} after max_wait={max_wait:g} s"
            raise JobTimeoutError(
                message,
                trans_id=trans_id,
                hint="Raise max_wait=, or resume later",
            )
