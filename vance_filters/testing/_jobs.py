"""Background jobs: a queue served by worker threads, stalls, injected failures, webhooks."""

from __future__ import annotations

import collections
import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ._jconfig import ParsedJConfig
from ._processing import ProcessingError, run
from ._records import JobRecord

_log = logging.getLogger("vance_filters.testing")
_SETTLED = ("finish", "fatal")
_WEBHOOK_TIMEOUT = 2.0
#: The vendor's rule: a webhook that fails (status >= 400) is called twice more, then given up.
WEBHOOK_ATTEMPTS = 3
#: Seconds between two attempts at one webhook (other webhooks are not held up meanwhile).
WEBHOOK_RETRY_DELAY = 0.5
# Webhooks go straight to their URL, whatever *_proxy variables say.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Job:
    """A job's mutable state; guarded by the engine's condition."""

    trans_id: str
    uid: str
    upload_data: bytes
    upload_format: str
    upload_name: str
    config: ParsedJConfig
    webhook: str | None
    created_at: float = field(default_factory=time.monotonic)
    status: str = "waiting"
    started_at: float | None = None
    finished_at: float | None = None
    result: bytes | None = None
    result_format: str | None = None
    downloads: int = 0
    charged: float = 0.0
    stalled: bool = False
    doomed: bool = False
    generation: int = 0

    @property
    def settled(self) -> bool:
        """Finished, failed, or stalled for ever: nothing more will happen to it."""
        return self.stalled or self.status in _SETTLED

    def snapshot(self) -> JobRecord:
        return JobRecord(
            trans_id=self.trans_id, uid=self.uid, jconfig=self.config.raw,
            steps=self.config.steps, status=self.status, created_at=self.created_at,
            started_at=self.started_at, finished_at=self.finished_at, result=self.result,
            result_format=self.result_format, downloads=self.downloads, charged=self.charged,
            name=self.config.name, webhook=self.webhook,
        )


class JobEngine:
    """Runs jobs on ``workers`` threads at once; each takes at least ``job_duration`` seconds."""

    def __init__(self, cond: threading.Condition, *, workers: int, job_duration: float) -> None:
        self.cond = cond
        self.workers = workers
        self.job_duration = job_duration
        #: Jobs echo their upload at the result's size instead of running the stand-ins.
        self.echo = False
        self.generation = 0
        self._queue: collections.deque[Job] = collections.deque()
        self._running = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._fail_next = 0
        self._stall_next: collections.deque[str] = collections.deque()
        # Webhook deliveries due: (due time, order, url, body, attempt, generation).
        self._webhooks: list[tuple[float, int, str, bytes, int, int]] = []
        self._hooks_cond = threading.Condition()
        self._hooks_order = itertools.count()
        self._hooks_stop = False
        #: (url without query, attempt, HTTP status or None) per webhook call, in order.
        self.webhook_calls: list[tuple[str, int, int | None]] = []
        self._webhook_thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------
    def start(self) -> None:
        self._webhook_thread = threading.Thread(
            target=self._deliver_webhooks, name="vance-emulator-webhooks", daemon=True
        )
        self._webhook_thread.start()
        self._grow()

    def _grow(self) -> None:
        while len(self._threads) < self.workers and not self._stopping:
            thread = threading.Thread(
                target=self._work, name=f"vance-emulator-worker-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def configure(self, *, workers: int | None, job_duration: float | None) -> None:
        with self.cond:
            if workers is not None:
                self.workers = workers
            if job_duration is not None:
                self.job_duration = job_duration
            if self._threads:
                self._grow()
            self.cond.notify_all()

    def fail_next(self, times: int) -> None:
        with self.cond:
            self._fail_next += times

    def stall_next(self, times: int, status: str) -> None:
        with self.cond:
            self._stall_next.extend([status] * times)

    def reset(self) -> None:
        """Forget queued jobs and scripted outcomes; running jobs are abandoned."""
        with self.cond:
            self.generation += 1
            self._queue.clear()
            self._fail_next = 0
            self._stall_next.clear()
            self.webhook_calls = []
            self.cond.notify_all()
        with self._hooks_cond:
            self._webhooks.clear()

    def stop(self, timeout: float = 10.0) -> None:
        with self.cond:
            self._stopping = True
            self._queue.clear()
            self.cond.notify_all()
        with self._hooks_cond:
            self._hooks_stop = True
            self._hooks_cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, self._webhook_thread]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- jobs -------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job`` (the caller holds the condition)."""
        job.generation = self.generation
        if self._stall_next:
            job.status = self._stall_next.popleft()
            job.stalled = True
            return
        if self._fail_next:
            self._fail_next -= 1
            job.doomed = True
        self._queue.append(job)
        self.cond.notify_all()

    def wait_settled(self, job: Job, timeout: float) -> str:
        """Block up to ``timeout`` seconds until ``job`` is settled; its status then."""
        with self.cond:
            self.cond.wait_for(
                lambda: job.settled or self._stopping or job.generation != self.generation,
                timeout,
            )
            return job.status

    def _work(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(
                    lambda: self._stopping or (self._queue and self._running < self.workers)
                )
                if self._stopping:
                    return
                job = self._queue.popleft()
                self._running += 1
                job.status = "process"
                job.started_at = time.monotonic()
                duration = self.job_duration
                self.cond.notify_all()
            try:
                self._finish(job, duration)
            finally:
                with self.cond:
                    self._running -= 1
                    self.cond.notify_all()

    def _finish(self, job: Job, duration: float) -> None:
        result: tuple[bytes, str] | None = None
        if not job.doomed:
            try:
                result = run(job.upload_data, job.upload_format, job.config.steps, echo=self.echo)
            except ProcessingError as exc:
                _log.debug("job %s failed: %s", job.trans_id, exc)
            except Exception:  # noqa: BLE001 - a stand-in bug must not kill the worker
                _log.exception("job %s crashed", job.trans_id)
        assert job.started_at is not None
        with self.cond:
            self.cond.wait_for(
                lambda: self._stopping or job.generation != self.generation,
                max(0.0, job.started_at + duration - time.monotonic()),
            )
            if result is not None:
                job.result, job.result_format = result
                job.status = "finish"
            else:
                job.status = "fatal"
            job.finished_at = time.monotonic()
            self.cond.notify_all()
            deliver = job.webhook and not self._stopping and job.generation == self.generation
        if deliver:
            payload = {
                "trans_id": job.trans_id,
                "status": job.status,
                "filesize": str(len(job.result or b"")),
            }
            self._schedule_webhook(job.webhook or "", json.dumps(payload).encode(), 1, 0.0,
                                   job.generation)

    def _schedule_webhook(self, url: str, body: bytes, attempt: int, delay: float,
                          generation: int) -> None:
        with self._hooks_cond:
            item = (time.monotonic() + delay, next(self._hooks_order), url, body, attempt,
                    generation)
            heapq.heappush(self._webhooks, item)
            self._hooks_cond.notify_all()

    def _deliver_webhooks(self) -> None:
        while True:
            with self._hooks_cond:
                while not self._hooks_stop:
                    wait = self._webhooks[0][0] - time.monotonic() if self._webhooks else None
                    if wait is not None and wait <= 0:
                        break
                    self._hooks_cond.wait(wait)
                if self._hooks_stop:
                    return
                _, _, url, body, attempt, generation = heapq.heappop(self._webhooks)
            status = self._call_webhook(url, body)
            with self.cond:
                if generation != self.generation:  # reset() meanwhile: forget this delivery
                    continue
                self.webhook_calls.append((url.split("?")[0], attempt, status))
            if (status is None or status >= 400) and attempt < WEBHOOK_ATTEMPTS:
                self._schedule_webhook(url, body, attempt + 1, WEBHOOK_RETRY_DELAY, generation)

    @staticmethod
    def _call_webhook(url: str, body: bytes) -> int | None:
        """POST ``body`` to ``url``: the HTTP status, or None when nothing answered."""
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(request, timeout=_WEBHOOK_TIMEOUT) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            _log.debug("webhook %s answered %s", url.split("?")[0], exc.code)
            return int(exc.code)
        except Exception as exc:  # noqa: BLE001 - an unreachable webhook is the client's problem
            _log.debug("webhook %s failed: %s", url.split("?")[0], exc)
            return None
