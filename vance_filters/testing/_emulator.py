"""The Emulator: a local, faithful stand-in for the VanceAI web API on 127.0.0.1."""

from __future__ import annotations

import math
import secrets
import threading
from types import TracebackType
from typing import Any, Literal

from ._endpoints import Api, State
from ._faults import FaultPlan, make_fault
from ._ledger import Ledger
from ._records import JobRecord, RequestRecord, UploadRecord
from ._server import PREFIX, App, RequestLog, Server
from ._wire import FILESIZE_FORMS, WireOptions

_STOP_TIMEOUT = 10.0
#: How a multi-step job may be billed: every step's price, or the dearest step's.
BILLING_RULES = ("sum", "max")


def _seconds(name: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}={value!r} is not allowed: expected a number of seconds >= 0")
    return float(value)


def _workers(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 256:
        raise ValueError(f"workers={value!r} is not allowed: expected an integer from 1 to 256")
    return value


def _billing(value: Any) -> str:
    if value not in BILLING_RULES:
        raise ValueError(f"pipeline_billing={value!r} is not allowed: expected 'sum' (every "
                         "step's price) or 'max' (the dearest step's)")
    return str(value)


def _credits(value: Any) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0):
        raise ValueError(f"credits={value!r} is not allowed: expected a number >= 0")
    return float(value)


def _wire_options(
    drop_get_bodies: bool | None, download_content_type: str | None,
    omit_upload_size: bool | None, filesize: str | None, strict_file_type: bool | None,
) -> dict[str, Any]:
    """Validate the wire options of :class:`Emulator` (None: not given)."""
    for name, flag in (("drop_get_bodies", drop_get_bodies), ("omit_upload_size", omit_upload_size),
                       ("strict_file_type", strict_file_type)):
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"{name}={flag!r} is not allowed: expected True or False")
    if download_content_type is not None and (
        not isinstance(download_content_type, str) or not download_content_type.isprintable()
    ):
        raise ValueError(
            f"download_content_type={download_content_type!r} is not allowed: expected 'auto' "
            "(the image's own type), '' (no Content-Type header) or a media type string"
        )
    if filesize is not None and filesize not in FILESIZE_FORMS:
        raise ValueError(f"filesize={filesize!r} is not allowed: expected 'number' or 'string'")
    given = {"drop_get_bodies": drop_get_bodies, "download_content_type": download_content_type,
             "omit_upload_size": omit_upload_size, "filesize": filesize,
             "strict_file_type": strict_file_type}
    return {key: value for key, value in given.items() if value is not None}


class Emulator:
    """A local emulator of the VanceAI web API, served over real HTTP.

    Every endpoint of the API answers under ``url`` with the documented envelopes and
    error codes; jobs run classical stand-ins of the AI modules in background workers;
    credits are charged at the first download. Faults can be scripted per endpoint.

    Parameters
    ----------
    host : str
        The interface to listen on.
    port : int
        The port; 0 picks a free one.
    api_token : str, optional
        The token clients must send; None makes a random 32-hex one.
    credits : float
        The account's total credits (``max_num``).
    job_duration : float
        Seconds each job runs at least ("process" meanwhile).
    workers : int
        Jobs run at once; further jobs wait ("waiting").
    transform_wait : float
        Seconds ``/transform`` (without webhook) waits for the job before answering.
    error_status : int
        HTTP status of API error answers (the service sends 200).
    pipeline_billing : {"sum", "max"}
        How a multi-step job is billed at its download: every step's price (``"sum"``, as
        an older version of the vendor's documentation says, and as ``Filter.cost``
        counts) or the dearest step's (``"max"``).
    drop_get_bodies : bool
        Wire: behave like a CDN / edge proxy that drops the body of a GET, so only the
        query string of ``GET /point`` (or any GET) arrives.
    download_content_type : str
        Wire: the Content-Type label of ``/download`` answers: ``"auto"`` (the image's
        own type), ``""`` (no header), or any label (``"text/html; charset=UTF-8"``,
        ``"application/octet-stream"``...).
    omit_upload_size : bool
        Wire: ``/upload`` answers without ``w`` / ``h``.
    filesize : {"number", "string"}
        Wire: how ``filesize`` is answered in ``/upload`` and ``/progress``: a number
        (what the real service sends) or the documentation's string of digits.
    strict_file_type : bool
        Wire: refuse (10001) an upload whose file part is not labelled ``image/png`` or
        ``image/jpeg``, as a strict validator or WAF in front of the service may.
    echo_jobs : bool
        Jobs return their upload at the result's size (pixel repetition), in the format the
        service would answer, instead of running the stand-ins: everything but the pixels'
        effect is as usual, at the least CPU (benchmarks that measure the client use it).

    Examples
    --------
    >>> import requests
    >>> with Emulator(credits=10) as emu:
    ...     r = requests.get(emu.url + "/point", params={"api_token": emu.api_token})
    ...     r.json()["data"]
    {'max_num': '10.000', 'used_num': '0.000'}
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_token: str | None = None,
        credits: float = 500.0,
        job_duration: float = 0.0,
        workers: int = 4,
        transform_wait: float = 10.0,
        error_status: int = 200,
        pipeline_billing: Literal["sum", "max"] = "sum",
        # -- wire-level options (how the service and what stands before it dress the wire)
        drop_get_bodies: bool = False,
        download_content_type: str = "auto",
        omit_upload_size: bool = False,
        filesize: str = "number",
        strict_file_type: bool = False,
        # -- what jobs compute
        echo_jobs: bool = False,
    ) -> None:
        if echo_jobs is not True and echo_jobs is not False:
            raise ValueError(f"echo_jobs={echo_jobs!r} is not allowed: expected True or False")
        if not isinstance(host, str) or not host:
            raise ValueError(f"host={host!r} is not allowed: expected a host name or address")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port={port!r} is not allowed: expected 0-65535 (0: any free port)")
        if api_token is None:
            api_token = secrets.token_hex(16)
        if not isinstance(api_token, str) or not api_token or not api_token.isprintable():
            raise ValueError("api_token must be a non-empty printable string")
        if not isinstance(error_status, int) or not 200 <= error_status <= 599:
            raise ValueError(f"error_status={error_status!r} is not allowed: expected 200-599")
        self._host = host
        self._port = port
        self._token = api_token
        self._initial: dict[str, Any] = {
            "credits": _credits(credits),
            "job_duration": _seconds("job_duration", job_duration),
            "workers": _workers(workers),
            "transform_wait": _seconds("transform_wait", transform_wait),
        }
        self._error_status = error_status
        # -- the service's own rules (billing) --
        self._initial["pipeline_billing"] = _billing(pipeline_billing)
        self._state = State(
            token=api_token, credits=self._initial["credits"],
            workers=self._initial["workers"], job_duration=self._initial["job_duration"],
            transform_wait=self._initial["transform_wait"],
        )
        self._state.settings.pipeline_billing = self._initial["pipeline_billing"]
        self._state.engine.echo = echo_jobs
        # -- wire-level options
        self._initial_wire = _wire_options(drop_get_bodies, download_content_type,
                                           omit_upload_size, filesize, strict_file_type)
        self._wire = WireOptions(**self._initial_wire)
        self._faults = FaultPlan()
        self._log = RequestLog(self._state.cond)
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Emulator:
        """Listen and serve in background threads; returns self.

        Raises
        ------
        OSError
            When the address cannot be bound.
        RuntimeError
            When the emulator was already started.
        """
        if self._server is not None or self._stopped:
            raise RuntimeError("this Emulator was already started; create a new one")
        app = App(Api(self._state), self._faults, error_status=self._error_status,
                  log=self._log, stopping=self._stopping, wire=self._wire)
        self._server = Server(self._host, self._port, app)
        self._state.engine.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="vance-emulator-server", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close every connection and join every thread. Idempotent."""
        if self._server is None or self._stopped:
            self._stopped = True
            return
        self._stopped = True
        self._stopping.set()
        self._server.shutdown()
        self._state.engine.stop(_STOP_TIMEOUT)
        self._server.close_connections(_STOP_TIMEOUT)
        assert self._thread is not None
        self._thread.join(_STOP_TIMEOUT)
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in the foreground until KeyboardInterrupt (Ctrl-C), then stop.

        Examples
        --------
        >>> Emulator(port=8000).serve_forever()  # doctest: +SKIP
        """
        if self._server is None:
            self.start()
        try:
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Emulator:  # noqa: PYI034 - final class, no Self on 3.10
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None and not self._stopped else "not running"
        return (f"Emulator({where}, api_token='***', credits={self._state.ledger.total:g}, "
                f"workers={self._state.engine.workers}, "
                f"job_duration={self._state.engine.job_duration:g})")

    # -- addresses ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port listened on."""
        if self._server is None:
            raise RuntimeError("the Emulator is not started: use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/web_api/v1``."""
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"http://{host}:{self.port}{PREFIX.rstrip('/')}"

    @property
    def api_token(self) -> str:
        """The token clients must send."""
        return self._token

    # -- settings -------------------------------------------------------------------------
    def configure(
        self,
        *,
        job_duration: float | None = None,
        workers: int | None = None,
        transform_wait: float | None = None,
        credits: float | None = None,
        pipeline_billing: Literal["sum", "max"] | None = None,
        # -- wire-level options (see the class docstring; None: unchanged)
        drop_get_bodies: bool | None = None,
        download_content_type: str | None = None,
        omit_upload_size: bool | None = None,
        filesize: str | None = None,
        strict_file_type: bool | None = None,
    ) -> None:
        """Change settings for what comes next (``credits`` sets the account's total).

        Examples
        --------
        >>> Emulator().configure(job_duration=0.5, workers=1)
        """
        duration = None if job_duration is None else _seconds("job_duration", job_duration)
        count = None if workers is None else _workers(workers)
        wait = None if transform_wait is None else _seconds("transform_wait", transform_wait)
        total = None if credits is None else _credits(credits)
        billing = None if pipeline_billing is None else _billing(pipeline_billing)
        wire = _wire_options(drop_get_bodies, download_content_type, omit_upload_size, filesize,
                             strict_file_type)
        for key, value in wire.items():  # wire-level options
            setattr(self._wire, key, value)
        self._state.engine.configure(workers=count, job_duration=duration)
        with self._state.cond:
            if wait is not None:
                self._state.settings.transform_wait = wait
            if total is not None:
                self._state.ledger.total = total
            if billing is not None:
                self._state.settings.pipeline_billing = billing

    def reset(self) -> None:
        """Forget uploads, jobs, faults and the request log; restore the initial settings
        and a fresh ledger with the initial credits.

        Examples
        --------
        >>> Emulator().reset()
        """
        self._faults.clear()
        self._state.engine.reset()
        self.configure(**self._initial)
        self.configure(**self._initial_wire)  # wire-level options
        with self._state.cond:
            self._state.uploads.clear()
            self._state.jobs.clear()
            self._state.ledger = Ledger(self._initial["credits"])
            self._log.clear()

    # -- faults ---------------------------------------------------------------------------
    def fail(
        self,
        endpoint: str,
        *,
        times: int = 1,
        status: int | None = None,
        code: int | None = None,
        msg: object = None,
        drop: bool = False,
        delay: float | None = None,
        retry_after: float | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        truncate: bool = False,
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` (or ``"*"``) fail that way.

        ``status`` alone: that HTTP status with a short HTML body; ``code``: a JSON
        ``{code, msg}`` error (HTTP ``status`` or ``error_status``); ``drop``: close the
        connection without an answer; ``delay``: wait that long first (alone: then answer
        normally); ``retry_after``: add a Retry-After header; ``body``/``content_type``:
        answer exactly these bytes (HTTP ``status`` or 200); ``truncate``: announce the
        full Content-Length, send about half the body, close. Scripted faults queue up in
        order per endpoint; an endpoint's own queue goes before ``"*"``.

        Examples
        --------
        >>> emu = Emulator()
        >>> emu.fail("download", times=2, status=503, retry_after=1)
        >>> emu.fail("*", drop=True)
        """
        fault = make_fault(
            endpoint, times=times, status=status, code=code, msg=msg, drop=drop, delay=delay,
            retry_after=retry_after, body=body, content_type=content_type, truncate=truncate,
        )
        self._faults.add(endpoint, fault, times)

    def fail_jobs(self, times: int = 1) -> None:
        """The next ``times`` jobs end ``fatal``.

        Examples
        --------
        >>> Emulator().fail_jobs(2)
        """
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times={times!r} is not allowed: expected an integer >= 1")
        self._state.engine.fail_next(times)

    def stall_jobs(self, times: int = 1, status: str = "busy") -> None:
        """The next ``times`` jobs stay in ``status`` for ever (and ``transform`` says so at once).

        Examples
        --------
        >>> Emulator().stall_jobs(1, status="waiting")
        """
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times={times!r} is not allowed: expected an integer >= 1")
        if not isinstance(status, str) or not status:
            raise ValueError(f"status={status!r} is not allowed: expected a non-empty string")
        self._state.engine.stall_next(times, status)

    def random_faults(self, rate: float, *, seed: int = 0) -> None:
        """Each request fails with probability ``rate`` (HTTP 500/502/503, API 10010, or a drop).

        Examples
        --------
        >>> Emulator().random_faults(0.1, seed=3)
        """
        self._faults.set_random(rate, seed)

    # -- what happened --------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far, in arrival order (status None: not answered yet,
        or dropped)."""
        with self._state.cond:
            return list(self._log.records)

    def request_count(self, endpoint: str | None = None) -> int:
        """How many requests were made (to ``endpoint``, when given).

        Examples
        --------
        >>> Emulator().request_count("upload")
        0
        """
        with self._state.cond:
            return sum(1 for r in self._log.records if endpoint is None or r.endpoint == endpoint)

    @property
    def uploads(self) -> dict[str, UploadRecord]:
        """uid -> the upload."""
        with self._state.cond:
            return dict(self._state.uploads)

    @property
    def jobs(self) -> dict[str, JobRecord]:
        """trans_id -> a snapshot of the job."""
        with self._state.cond:
            return {tid: job.snapshot() for tid, job in self._state.jobs.items()}

    @property
    def balance(self) -> float:
        """Credits left."""
        with self._state.cond:
            return self._state.ledger.balance

    @property
    def credits_used(self) -> float:
        """Credits spent."""
        with self._state.cond:
            return self._state.ledger.used

    @property
    def webhook_calls(self) -> list[tuple[str, int, int | None]]:
        """``(url without query, attempt, HTTP status or None)`` per webhook call, in order.

        A webhook that fails (no answer, or status >= 400) is called again, up to 3
        attempts in all, as the service does.
        """
        with self._state.cond:
            return list(self._state.engine.webhook_calls)

    @property
    def charges(self) -> list[tuple[str, float]]:
        """``(trans_id, points)`` per charge, in order."""
        with self._state.cond:
            return list(self._state.ledger.charges)
