"""The VanceAI web API client: one method per endpoint, and the whole exchange.

>>> from vance_filters.testing import Emulator  # doctest: +SKIP
>>> with Emulator() as emu, Client(emu.api_token, emu.url) as client:  # doctest: +SKIP
...     client.credits().remaining
500.0

The client speaks HTTP and knows no images: it moves bytes and jconfigs (it
reads no more of an image than the size in a PNG / JPEG header, for an upload
answer without ``w`` / ``h``). The API token travels in request bodies, and in
the query string of ``GET /point?api_token=...`` (the one form the vendor
documents for it); it never appears in a log record, a repr or an error
message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import socket
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Protocol

from . import _answers, _http, _jconfig, _redact, jobs
from ._cache import (
    DiskCache,
    MemoryCache,
    TieredCache,
    cache_key,
    disk_max_bytes,
)
from ._cache_scope import ScopedCache, cache_folder, cache_scope
from ._durations import JobDurations, job_kind
from ._files import FileInput, read_file
from ._http import RetryPolicy, Transport
from ._jconfig import JConfig
from ._pace import RequestPace
from ._sniff import image_size, image_type
from .errors import (
    AuthenticationError,
    InsecureWebhookWarning,
    JobFailedError,
    NotFoundError,
    ProtocolError,
    VanceError,
)
from .jobs import JobResult
from .journal import JOURNAL_FOLDER, Journal
from .records import Credits, HistoryEntry, HistoryPage, Job, Progress, Upload

__all__ = ["DEFAULT_BASE_URL", "Client", "JobResult"]

#: The service's base URL.
DEFAULT_BASE_URL = "https://api-service.vanceai.com/web_api/v1"
TOKEN_ENV = "VANCE_API_TOKEN"
BASE_ENV = "VANCE_API_BASE"


_LOOPBACK_NAMES = ("localhost",)
#: The shared request budget of a client of a remote service (requests a second).
DEFAULT_REQUESTS_PER_SECOND = 10.0
#: How ``credits()`` sends the token: the documented query string, or a JSON body.
POINT_FORMS = ("query", "json")


class SupportsApply(Protocol):
    """What :meth:`Client.submit` runs: a filter's ``apply`` (the client knows no images)."""

    def apply(self, image: Any, *, client: Any, on_limit: Any, upload_format: Any) -> Any: ...


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"vance-filters/{version('vance-filters')}"
    except PackageNotFoundError:  # pragma: no cover - not installed as a distribution
        return "vance-filters"


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r} is not allowed: expected a number > 0 (seconds)")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not allowed: expected a finite number > 0")
    return float(value)


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r} is not allowed: expected an integer >= {low}")
    return value


class Client:
    """A client of the VanceAI web API.

    Parameters
    ----------
    api_token : str, optional
        The API token. Default: the ``VANCE_API_TOKEN`` environment variable,
        read when a call first needs it.
    base_url : str, optional
        Default: ``VANCE_API_BASE``, else ``https://api-service.vanceai.com/web_api/v1``.
    timeout : float
        Connect and read timeout of each request, in seconds. ``/transform``
        without a webhook may hold the request until the job is done, so its
        answer is read for as long as the job's deadline allows (``max_wait``,
        or what :meth:`run_job` has left of it).
    max_retries : int
        Retries of a failed exchange (connection errors, timeouts, HTTP 429 /
        5xx, API code 10010, truncated downloads), with capped exponential
        backoff, full jitter and ``Retry-After``. Never for codes 10001,
        10011-10014, 30001, 30004. A ``/transform`` that may have reached the
        service is never sent again after a read timeout, and at most once
        more after an ambiguous failure (connection broken after sending,
        HTTP 500 / 502 / 504): each one that arrives starts a job.
    poll_interval : float
        The longest gap between ``/progress`` calls for a job of unknown
        length (the vendor suggests 2 s): such a job is polled every 0.5 s
        for two seconds, then with gaps of a quarter of the time waited, up
        to it. Jobs of a kind this client has seen finish are polled around
        their usual finish instead (:func:`vance_filters.jobs.next_poll`).
        Whatever it says, a job is polled at most twice a second, and every
        2 s (the vendor's pace) once the service has answered ``busy``, or
        ``waiting`` to a ``/progress`` call, until it runs.
    max_wait : float
        Default deadline of :meth:`wait` and :meth:`run_job`, in seconds.
    max_requests_per_second : float, optional
        One request budget shared by every thread of this client (a token
        bucket: that many requests a second on average, bursts of as many).
        Default: 10 for a remote service; no limit for a loopback base URL
        (the local emulator), unless given. A 429 answer holds every thread
        of the client back for its ``Retry-After`` (or the backoff), not only
        the one that got it.
    point_form : {"query", "json"}
        How :meth:`credits` sends the token: ``"query"`` (default) is the
        documented ``GET /point?api_token=...`` (that URL is redacted from log
        records and errors); ``"json"`` sends it in a JSON body, which CDNs and
        edge proxies may drop.
    max_result_pixels : int, optional
        The largest result the service returns, in pixels: ``on_limit="tile"``
        cuts tiles whose results fit it (default ``vance_filters.tiles.MAX_RESULT_PIXELS``).
    cache : bool
        Keep results in memory (LRU, 512 MiB) so the same image and jconfig are
        never paid for twice. ``False`` turns every cache off. A result is
        served only to the service (base URL) and account (token) that paid
        for it: the cache keeps a keyed hash of the token, never the token.
    cache_dir : str, os.PathLike or True, optional
        Also keep results on disk there (``True``: the platform's cache folder,
        e.g. ``~/.cache/vance_filters``, except for a service on this machine,
        such as the emulator, whose results stay in memory). Shared safely
        between processes. A job journal lives beside it (``journal/``): a
        job sent and not yet cached when the process died is resumed by the
        next call for the same image instead of being sent again
        (:mod:`vance_filters.journal`).
    cache_max_bytes : int, optional
        Bound of the disk cache; past it the least recently used results go.
        Default: ``VANCE_CACHE_MAX_BYTES`` (bytes, or e.g. ``500MB``, ``4GiB``),
        else 2 GiB.
    pool_size : int
        Connections kept open to the service; size it to the number of threads.
    verify : bool or str
        Check HTTPS certificates (default), or the path of a CA bundle.
        ``False`` warns: it lets anyone on the network path read your token.
    pickle_token : bool
        Include the token when the client is pickled (default: no; the
        unpickled client reads ``VANCE_API_TOKEN``).
    backoff_base, backoff_max : float
        The first and the largest retry backoff ceilings, in seconds.

    Examples
    --------
    >>> client = Client("my-token", "https://api-service.vanceai.com/web_api/v1")
    >>> client
    Client(base_url='https://api-service.vanceai.com/web_api/v1', api_token='***')
    >>> client.close()
    """

    def __init__(
        self,
        api_token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        poll_interval: float = 2.0,
        max_wait: float = 900.0,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        cache_max_bytes: int | None = None,
        pool_size: int = 10,
        verify: bool | str | os.PathLike[str] = True,
        pickle_token: bool = False,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_requests_per_second: float | None = None,
        point_form: str = "query",
        max_result_pixels: int | None = None,
    ) -> None:
        if api_token is not None and (not isinstance(api_token, str) or not api_token.strip()):
            raise ValueError(
                "api_token= must be a non-empty string (or None to read VANCE_API_TOKEN)"
            )
        base = base_url if base_url is not None else os.environ.get(BASE_ENV) or DEFAULT_BASE_URL
        if not isinstance(base, str):
            raise TypeError(f"base_url={base!r} must be a string")
        parsed = urllib.parse.urlsplit(base.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            source = "base_url" if base_url is not None else BASE_ENV
            raise ValueError(
                f"{source}={base!r} is not allowed: expected an http(s) URL such as {DEFAULT_BASE_URL!r}"
            )
        if parsed.query or parsed.username or parsed.password:
            raise ValueError(
                "base_url must not carry a query string or credentials: the client adds the "
                "token to each request itself"
            )
        if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
            warnings.warn(
                f"base_url {base!r} is plain http: the API token would cross the network "
                "unencrypted; use https",
                UserWarning,
                stacklevel=2,
            )
        if point_form not in POINT_FORMS:
            raise ValueError(
                f"point_form={point_form!r} is not allowed: expected 'query' (GET "
                "/point?api_token=..., the documented form) or 'json'"
            )
        if cache not in (True, False):
            raise ValueError(f"cache={cache!r} is not allowed: expected True or False")
        if cache_dir is not None and not isinstance(cache_dir, (bool, str, os.PathLike)):
            raise TypeError(f"cache_dir={cache_dir!r} must be a path, True or None")
        max_bytes = disk_max_bytes(cache_max_bytes)
        if isinstance(verify, os.PathLike):
            verify = os.fspath(verify)
        if not isinstance(verify, (bool, str)):
            raise TypeError(f"verify={verify!r} must be True, False or the path of a CA bundle")
        if isinstance(verify, str) and not os.path.exists(verify):
            raise ValueError(f"verify={verify!r}: no CA bundle at that path")
        if verify is False:
            warnings.warn(
                "verify=False turns off HTTPS certificate checks: anyone on the network path "
                "can impersonate the service and read your API token. Pass verify='/path/ca.pem' "
                "to trust a private CA instead",
                UserWarning,
                stacklevel=2,
            )
        self._settings: dict[str, Any] = {
            "base_url": base.strip().rstrip("/"),
            "timeout": _positive("timeout", timeout),
            "max_retries": _count("max_retries", max_retries, 0),
            "poll_interval": _positive("poll_interval", poll_interval),
            "max_wait": _positive("max_wait", max_wait),
            "cache": bool(cache),
            "cache_dir": (
                os.fspath(cache_dir) if isinstance(cache_dir, os.PathLike) else cache_dir
            ),
            "cache_max_bytes": max_bytes,
            "pool_size": _count("pool_size", pool_size, 1),
            "verify": verify,
            "pickle_token": bool(pickle_token),
            "backoff_base": _nonneg("backoff_base", backoff_base),
            "backoff_max": _nonneg("backoff_max", backoff_max),
            "max_requests_per_second": (
                _positive("max_requests_per_second", max_requests_per_second)
                if max_requests_per_second is not None
                else None if _is_loopback(parsed.hostname) else DEFAULT_REQUESTS_PER_SECOND
            ),
            "point_form": point_form,
            "max_returned_pixels": (  # max_result_pixels
                _count("max_result_pixels", max_result_pixels, 1) if max_result_pixels is not None else None
            ),
        }
        self._api_token = api_token
        self._setup()

    # -- construction, pickling, lifetime -----------------------------------------------

    def _setup(self) -> None:
        s = self._settings
        self.base_url: str = s["base_url"]
        self.timeout: float = s["timeout"]
        self.max_retries: int = s["max_retries"]
        self.poll_interval: float = s["poll_interval"]
        self.max_wait: float = s["max_wait"]
        self.max_requests_per_second: float | None = s.get("max_requests_per_second")
        self.point_form: str = s.get("point_form", "query")
        self.max_result_pixels: int | None = s.get("max_returned_pixels")
        self._transport = Transport(
            self.base_url,
            self._token,
            timeout=self.timeout,
            policy=RetryPolicy(
                max_retries=self.max_retries,
                backoff_base=s["backoff_base"],
                backoff_max=s["backoff_max"],
                max_sleep=_http.MAX_RETRY_SLEEP,
            ),
            pool_size=s["pool_size"],
            verify=s["verify"],
            user_agent=_user_agent(),
            pace=RequestPace(self.max_requests_per_second),
        )
        self._cache: ScopedCache | None = None
        # jobs sent and not yet cached, beside the disk cache (none without one)
        self._journal: Journal | None = None
        if s["cache"]:
            # a service on this machine (the emulator) stays out of the platform's folder
            folder = cache_folder(s["cache_dir"], self.base_url)
            memory = MemoryCache()
            layers: MemoryCache | TieredCache = memory
            if folder is not None:
                layers = TieredCache(memory, DiskCache(folder, max_bytes=s.get("cache_max_bytes")))
                self._journal = Journal(folder / JOURNAL_FOLDER)
            # results belong to one service and account; the token is read when needed
            self._cache = ScopedCache(
                layers, lambda: cache_scope(self.base_url, self._api_token or os.environ.get(TOKEN_ENV))
            )
        self._inflight: dict[str, threading.Lock] = {}
        self._inflight_lock = threading.Lock()
        # when this client's jobs of each kind finish, for the poll schedule
        self._durations = JobDurations()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_size = 0
        self._executor_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        token = self._api_token if self._settings["pickle_token"] else None
        return {"settings": dict(self._settings), "api_token": token}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._settings = dict(state["settings"])
        self._api_token = state["api_token"]
        self._setup()

    def __repr__(self) -> str:
        known = self._api_token is not None or bool(os.environ.get(TOKEN_ENV))
        return f"Client(base_url={self.base_url!r}, api_token={'***' if known else None!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (the client can still be used: it reconnects).

        Jobs already handed to :meth:`submit` run to completion first.
        """
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._transport.session.close()

    def submit(
        self,
        image: Any,
        filter: SupportsApply,
        *,
        on_limit: str = "downscale",
        upload_format: str = "auto",
    ) -> Future[Any]:
        """Start ``filter.apply(image)`` on this client in the background.

        Parameters
        ----------
        image : PIL.Image.Image, numpy.ndarray, bytes, str or os.PathLike
            Any image a filter accepts.
        filter : Filter
            Any filter or pipeline.
        on_limit, upload_format : str
            As for ``Filter.apply``.

        Returns
        -------
        concurrent.futures.Future
            Resolves to the result (the input's kind) or raises its typed error.
            Up to ``pool_size`` submitted jobs run at once; the rest queue.

        Examples
        --------
        >>> import vance_filters as vf
        >>> from vance_filters.testing import Emulator, sample_image
        >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
        ...     future = client.submit(sample_image(size=(8, 6)), vf.Enlarge(scale=2))
        ...     future.result().size
        (16, 12)
        """
        with self._executor_lock:
            if self._executor is None:
                self._executor_size = self.pool_size
                self._executor = ThreadPoolExecutor(
                    max_workers=self._executor_size, thread_name_prefix="vance-submit"
                )
            executor = self._executor
        return executor.submit(
            filter.apply, image, client=self, on_limit=on_limit, upload_format=upload_format
        )

    def ensure_pool(self, size: int) -> None:
        """Grow the HTTP connection pool to at least ``size`` connections.

        The batch layer calls this with its concurrency, so that many threads
        sharing this client never wait for a connection. The pool never shrinks.

        Examples
        --------
        >>> client = Client("token", "https://api-service.vanceai.com/web_api/v1", pool_size=2)
        >>> client.ensure_pool(16); client.pool_size
        16
        """
        _count("size", size, 1)
        self._transport.ensure_pool(size)
        self._settings["pool_size"] = self._transport.pool_size
        with self._executor_lock:
            if self._executor is not None and self._executor_size < self.pool_size:
                # submit() gets a larger pool next time; queued work finishes on the old one
                old, self._executor = self._executor, None
                old.shutdown(wait=False)

    @property
    def pool_size(self) -> int:
        """Connections kept per host."""
        return self._transport.pool_size

    @property
    def cache(self) -> ScopedCache | None:
        """The result cache (None when ``cache=False``)."""
        return self._cache

    def _token(self) -> str:
        token = self._api_token or os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise AuthenticationError(
                f"no API token: pass Client(api_token=...) or set the {TOKEN_ENV} environment "
                f"variable (it is not set in this process on host {socket.gethostname()!r})",
                code=None,
            )
        return token

    # -- endpoints ---------------------------------------------------------------------

    def upload(self, file: FileInput, *, filename: str | None = None, job: str | None = None) -> Upload:
        """Upload an image (``/upload``).

        Parameters
        ----------
        file : bytes, str, os.PathLike or binary file object
            A JPG or PNG file's bytes or path (at most 10 MB and 34 MP).
        filename : str, optional
            The name sent; default: the path's or file object's name, else
            ``image.png`` / ``image.jpg`` by the bytes.
        job : str, optional
            The vendor's optional ``job`` field (``"ai"``, ``"compress"``).

        Returns
        -------
        Upload
            ``uid``, ``name``, ``width``, ``height``, ``filesize``.

        Raises
        ------
        InvalidParameterError
            Not a JPG or PNG (10001).
        LimitExceededError
            Over 10 MB or 34 MP (10012).

        Examples
        --------
        >>> client.upload("cat.jpg").uid  # doctest: +SKIP
        '3f8484a52c47b9cc0c34067b5bdf08d3'
        """
        data, name = read_file(file, filename)
        fields = {"job": job} if job else {}
        ctype = image_type(data) or "application/octet-stream"
        answer = self._transport.call("upload", fields=fields, files={"file": (name, data, ctype)})
        # An answer without w / h: the size in the uploaded file's own header (0 if unreadable).
        width, height = image_size(data) or (0, 0)
        return Upload(
            uid=_answers.str_field(answer, "uid", "upload"),
            name=str(answer.get("name") or name),
            width=_answers.int_field(answer, "w", "upload", default=width),
            height=_answers.int_field(answer, "h", "upload", default=height),
            filesize=_answers.int_field(answer, "filesize", "upload", default=len(data)),
        )

    def transform(
        self,
        uid: str,
        jconfig: JConfig,
        *,
        webhook: str | None = None,
        max_wait: float | None = None,
    ) -> Job:
        """Start a job on an upload (``/transform``).

        Without a webhook the service may hold the request until the job is
        done (then the status is ``"finish"``): the answer is read for as long
        as ``max_wait`` allows, and the request is never sent again once it
        may have reached the service (a second one would start a second job;
        an ambiguous failure, such as a connection broken mid-answer or a 502 /
        504, is retried once). The error that ends such a transform says that
        a job may still be running, and what to do.

        Parameters
        ----------
        uid : str
            From :meth:`upload`.
        jconfig : dict or str
            The job configuration (a dict, or JSON text as in the vendor's files).
        webhook : str, optional
            A URL the service POSTs the outcome to; plain http warns
            (:class:`InsecureWebhookWarning`).
        max_wait : float, optional
            How long to read a blocking answer, in seconds (default: the
            client's ``max_wait``; at least ``timeout``).

        Returns
        -------
        Job
            ``trans_id`` and ``status``.

        Examples
        --------
        >>> client.transform(uid, {"name": "matting", "config": {"module": "matting",
        ...     "module_params": {"model_name": "MattingStable"}}}).status  # doctest: +SKIP
        'finish'
        """
        if not isinstance(uid, str) or not uid:
            raise ValueError(f"uid={uid!r} must be the non-empty uid returned by upload()")
        fields = {"uid": uid, "jconfig": _jconfig.text(jconfig)}
        if webhook is not None:
            fields["webhook"] = self._check_webhook(webhook)
        wait = self.max_wait if max_wait is None else _positive("max_wait", max_wait)
        read_timeout = self.timeout if webhook else max(self.timeout, wait)
        answer = self._transport.call(
            "transform", fields=fields, read_timeout=read_timeout, idempotent=False
        )
        return Job(
            trans_id=_answers.str_field(answer, "trans_id", "transform"),
            status=str(answer.get("status") or "waiting"),
        )

    @staticmethod
    def _check_webhook(webhook: str) -> str:
        if not isinstance(webhook, str):
            raise TypeError(f"webhook={webhook!r} must be a URL string")
        parts = urllib.parse.urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook={webhook!r} is not allowed: expected an https:// URL")
        if parts.scheme != "https":
            warnings.warn(
                f"webhook {webhook!r} is not https: the vendor requires https, and the "
                "job's outcome would cross the network unencrypted",
                InsecureWebhookWarning,
                stacklevel=3,
            )
        return webhook

    def progress(self, trans_id: str) -> Progress:
        """A job's status (``/progress``).

        Returns
        -------
        Progress
            ``status`` (any string: unknown ones mean "still running"),
            ``filesize`` (int; the API sends a string), ``trans_id``.

        Examples
        --------
        >>> client.progress(trans_id).status  # doctest: +SKIP
        'process'
        """
        _check_trans_id(trans_id)
        with _naming(trans_id):
            answer = self._transport.call("progress", fields={"trans_id": trans_id}, trans_id=trans_id)
        status = answer.get("status")
        if not isinstance(status, str) or not status:
            raise ProtocolError(
                "/progress answered without a status", endpoint="progress", trans_id=trans_id
            )
        return Progress(
            status=status,
            filesize=_answers.int_field(answer, "filesize", "progress", default=0),
            trans_id=trans_id,
        )

    def wait(
        self,
        trans_id: str,
        *,
        max_wait: float | None = None,
        on_status: Callable[[Progress], object] | None = None,
    ) -> Progress:
        """Poll a job until it finishes (see :func:`vance_filters.jobs.next_poll`).

        Parameters
        ----------
        trans_id : str
            The job.
        max_wait : float, optional
            Deadline in seconds (default: the client's ``max_wait``).
        on_status : callable, optional
            Called with a :class:`Progress` each time the status changes.

        Returns
        -------
        Progress
            The final ``finish`` progress.

        Raises
        ------
        JobFailedError
            The job ended ``fatal``.
        JobTimeoutError
            Still running past ``max_wait``; carries ``trans_id`` to wait again.

        Examples
        --------
        >>> client.wait(job.trans_id, max_wait=60).status  # doctest: +SKIP
        'finish'
        """
        _check_trans_id(trans_id)
        return self._wait(trans_id, max_wait=max_wait, on_status=on_status, last_status=None)[0]

    def _wait(
        self,
        trans_id: str,
        *,
        max_wait: float | None,
        on_status: Callable[[Progress], object] | None,
        last_status: str | None,
        submitted: float | None = None,
        expected: tuple[float, float] | None = None,
    ) -> tuple[Progress, float, float]:
        deadline = self.max_wait if max_wait is None else _positive("max_wait", max_wait)
        return jobs._wait(
            self.progress,
            trans_id,
            poll_interval=self.poll_interval,
            max_wait=deadline,
            on_status=on_status,
            last_status=last_status,
            submitted=submitted,
            expected=expected,
        )

    def download(self, trans_id: str, *, to: str | os.PathLike[str] | IO[bytes] | None = None) -> bytes:
        """Fetch a finished job's result (``/download``), streamed in 1 MiB chunks.

        The first download of a trans_id is charged; later ones (and retries)
        are free.

        Parameters
        ----------
        trans_id : str
            The job.
        to : str, os.PathLike or binary file object, optional
            Write the result there instead of returning it. A path is written
            atomically (temp file + rename): it holds the whole result or is
            left untouched.

        Returns
        -------
        bytes
            The result's bytes; ``b""`` when ``to`` is given (nothing is kept
            in memory).

        Raises
        ------
        NotFoundError
            Unknown trans_id, or the job is not finished (10011).
        InsufficientCreditsError
            Too few credits (30004).
        IncompleteDownloadError
            Still short after the retries.

        Examples
        --------
        >>> client.download(trans_id, to="enlarged-cat.jpg")  # doctest: +SKIP
        b''
        """
        _check_trans_id(trans_id)
        with _naming(trans_id):
            return self._transport.download(
                "download", {"trans_id": trans_id}, trans_id=trans_id, to=to
            )

    def credits(self) -> Credits:
        """The account's credits (``/point``).

        Sent as ``GET /point?api_token=...``, the documented form (that URL is
        kept out of log records and errors), or with the token in a JSON body
        when the client was made with ``point_form="json"``.

        Returns
        -------
        Credits
            ``total``, ``used`` (floats; the API sends ``"500.000"``), ``remaining``.

        Examples
        --------
        >>> client.credits().remaining  # doctest: +SKIP
        392.2
        """
        answer = self._transport.call("point", method="GET", query=self.point_form == "query")
        return Credits(
            total=_answers.float_field(answer, "max_num", "point"),
            used=_answers.float_field(answer, "used_num", "point"),
        )

    def credit_history(self, *, page: int = 1, limit: int = 20) -> HistoryPage:
        """One page of the credit history (``/points/record``), newest first as the API sends it.

        Examples
        --------
        >>> client.credit_history(page=1, limit=20).total  # doctest: +SKIP
        100
        """
        _count("page", page, 1)
        _count("limit", limit, 1)
        answer = self._transport.call("points/record", fields={"page": page, "limit": limit})
        rows = answer.get("datas", answer.get("data", []))
        if not isinstance(rows, list):
            raise ProtocolError("/points/record answered without a 'datas' list", endpoint="points/record")
        entries = tuple(_answers.history_entry(row) for row in rows if isinstance(row, dict))
        return HistoryPage(
            entries=entries,
            current_page=_answers.int_field(answer, "current_page", "points/record", default=page),
            last_page=_answers.int_field(answer, "last_page", "points/record", default=page),
            per_page=_answers.int_field(answer, "per_page", "points/record", default=limit),
            total=_answers.int_field(answer, "total", "points/record", default=len(entries)),
        )

    def iter_credit_history(self, *, limit: int = 20) -> Iterator[HistoryEntry]:
        """Every entry of the credit history, page after page.

        Examples
        --------
        >>> sum(e.point for e in client.iter_credit_history())  # doctest: +SKIP
        107.8
        """
        page = 1
        while True:
            current = self.credit_history(page=page, limit=limit)
            yield from current.entries
            if not current.entries or not current.has_next:
                return
            page = current.current_page + 1

    # -- the whole exchange -----------------------------------------------------------------

    def run_job(
        self,
        file: FileInput,
        jconfig: JConfig,
        *,
        filename: str | None = None,
        webhook: str | None = None,
        max_wait: float | None = None,
        on_status: Callable[[Progress], object] | None = None,
    ) -> JobResult:
        """Upload, transform, wait and download, through the result cache.

        The cache key is the SHA-256 of the uploaded bytes plus the canonical
        jconfig; a hit makes no request and spends no credit, and names the
        job that made the result when it was recorded. With a disk cache, a
        job is journaled from the moment the service accepts it until its
        result is cached; a journaled job is resumed (waited for, then
        downloaded) rather than sent again. In
        ``jconfig["cn_configs"]`` an ``image_uid`` of None or
        ``"<uid_from_upload>"`` becomes this upload's uid. A downloaded result
        is cached before it is returned. Identical jobs run concurrently in
        threads of one client are done once.

        Parameters
        ----------
        file : bytes, str, os.PathLike or binary file object
            The image file to upload.
        jconfig : dict or str
            The job configuration.
        filename, webhook, max_wait, on_status
            As for :meth:`upload`, :meth:`transform` and :meth:`wait`.

        Returns
        -------
        JobResult
            ``data``, ``trans_id``, ``uid``, ``cached``, ``status``.

        Raises
        ------
        VanceError
            Errors after the job started carry its ``trans_id``: resume with
            ``wait(trans_id)`` and ``download(trans_id)`` (free if already paid).

        Examples
        --------
        >>> result = client.run_job("cat.png", {"name": "matting", "config": {
        ...     "module": "matting", "module_params": {"model_name": "MattingStable"}}})  # doctest: +SKIP
        >>> result.cached  # doctest: +SKIP
        False
        """
        data, name = read_file(file, filename)
        config = _jconfig.parse(jconfig)
        if webhook is not None:
            self._check_webhook(webhook)
        if max_wait is not None:
            _positive("max_wait", max_wait)
        if self._cache is None:
            return self._run(data, name, config, webhook, max_wait, on_status)
        key = cache_key(data, config)
        hit = self._cache.get_entry(key)
        if hit is not None:
            return JobResult(data=hit[0], trans_id=hit[1], uid=None, cached=True, status="finish")
        with self._inflight_lock:
            lock = self._inflight.setdefault(key, threading.Lock())
        try:
            with lock:
                hit = self._cache.get_entry(key)
                if hit is not None:
                    return JobResult(data=hit[0], trans_id=hit[1], uid=None, cached=True, status="finish")
                journal_key = self._cache.scoped(key) if self._journal is not None else None
                result = self._run(data, name, config, webhook, max_wait, on_status, journal_key)
                self._cache.put(key, result.data, receipt=result.trans_id)
                if self._journal is not None and journal_key is not None:
                    self._journal.discard(journal_key)  # cached: the job is done
                return result
        finally:
            with self._inflight_lock:
                if self._inflight.get(key) is lock and not lock.locked():
                    del self._inflight[key]

    def _run(
        self,
        data: bytes,
        name: str,
        config: dict[str, Any] | str,
        webhook: str | None,
        max_wait: float | None,
        on_status: Callable[[Progress], object] | None,
        journal_key: str | None = None,
    ) -> JobResult:
        journal = self._journal if journal_key is not None else None
        if journal is not None and journal_key is not None:
            entry = journal.get(journal_key)
            if entry is not None:
                resumed = self._resume(entry.trans_id, entry.uid, max_wait, on_status)
                if resumed is not None:
                    return resumed
                journal.discard(journal_key, trans_id=entry.trans_id)  # unknown or failed: redo
        upload = self.upload(data, filename=name)
        sent = _jconfig.with_uid(config, upload.uid) if isinstance(config, dict) else config
        kind = job_kind(config, upload.width, upload.height)
        submitted = time.monotonic()
        budget = self.max_wait if max_wait is None else max_wait
        deadline = submitted + budget
        job = self.transform(upload.uid, sent, webhook=webhook, max_wait=budget)
        if journal is not None and journal_key is not None and job.status != "fatal":
            # before waiting: a process killed from here on resumes this job instead of paying twice
            journal.put(journal_key, job.trans_id, uid=upload.uid)
        try:
            if on_status is not None:
                on_status(Progress(status=job.status, trans_id=job.trans_id))
            if job.status == "fatal":
                raise JobFailedError(
                    "the job ended with status 'fatal' on the server; submit it again",
                    endpoint="transform",
                    trans_id=job.trans_id,
                )
            status = job.status
            if status != "finish":
                left = max(deadline - time.monotonic(), 0.001)
                final, after, by = self._wait(
                    job.trans_id, max_wait=left, on_status=on_status, last_status=job.status,
                    submitted=submitted, expected=self._durations.expected(kind),
                )
                status = final.status
                self._durations.record(kind, after=after, by=by)
            result = self.download(job.trans_id)
        except VanceError as exc:
            if exc.trans_id is None:
                exc.trans_id = job.trans_id
            if isinstance(exc, JobFailedError) and journal is not None and journal_key is not None:
                journal.discard(journal_key, trans_id=job.trans_id)  # nothing left to resume
            raise
        return JobResult(data=result, trans_id=job.trans_id, uid=upload.uid, cached=False, status=status)

    def _resume(
        self,
        trans_id: str,
        uid: str | None,
        max_wait: float | None,
        on_status: Callable[[Progress], object] | None,
    ) -> JobResult | None:
        """Finish a job the journal recorded: wait for it, then download it (charged once by the service).

        None when the service no longer knows it (10011) or it failed: the caller redoes the image.
        """
        try:
            final = self._wait(trans_id, max_wait=max_wait, on_status=on_status, last_status=None)[0]
            data = self.download(trans_id)
        except (NotFoundError, JobFailedError):
            return None
        return JobResult(data=data, trans_id=trans_id, uid=uid, cached=False, status=final.status)

    def cached(self, file: FileInput, jconfig: JConfig) -> bool:
        """Whether the result of ``file`` under ``jconfig`` is cached for this service and account.

        Makes no request and changes nothing (not even the entry's last use):
        what :func:`vance_filters.plan` asks to predict a free result.

        Examples
        --------
        >>> with Client("token", "https://api-service.vanceai.com/web_api/v1") as client:
        ...     client.cached(b"png bytes", {"name": "denoise"})
        False
        """
        if self._cache is None:
            return False
        data, _ = read_file(file, None)
        return cache_key(data, _jconfig.parse(jconfig)) in self._cache

    def pending_job(self, file: FileInput, jconfig: JConfig) -> str | None:
        """The trans_id of a job sent for ``file`` under ``jconfig`` and not yet cached (the journal's), or None.

        :meth:`run_job` resumes that job rather than sending a new one. Only a
        client with a disk cache keeps a journal. Makes no request.

        Examples
        --------
        >>> with Client("token", "https://api-service.vanceai.com/web_api/v1") as client:
        ...     client.pending_job(b"png bytes", {"name": "denoise"}) is None
        True
        """
        if self._cache is None or self._journal is None:
            return None
        data, _ = read_file(file, None)
        entry = self._journal.get(self._cache.scoped(cache_key(data, _jconfig.parse(jconfig))))
        return None if entry is None else entry.trans_id

    def redact(self, text: str) -> str:
        """``text`` with this client's API token (and any ``api_token=...`` value) replaced by ``***``.

        For messages quoting what a server sent, which may echo the token.

        Examples
        --------
        >>> Client("s3cr3t-token", "https://api-service.vanceai.com/web_api/v1").redact("got s3cr3t-token")
        'got ***'
        """
        token = self._api_token or os.environ.get(TOKEN_ENV, "").strip() or None
        return _redact.redact(text, token)

    def forget(self, file: FileInput, jconfig: JConfig) -> bool:
        """Drop the cached result of ``file`` under ``jconfig`` (memory and disk).

        The next :meth:`run_job` of that pair runs the job again (and is
        charged again). Used when a cached result turns out to be unusable.

        Returns
        -------
        bool
            True when a cached result was dropped.

        Examples
        --------
        >>> client.forget(png, jconfig)  # doctest: +SKIP
        True
        """
        if self._cache is None:
            return False
        data, _ = read_file(file, None)
        return self._cache.discard(cache_key(data, _jconfig.parse(jconfig)))

    def redownload(self, trans_id: str, file: FileInput, jconfig: JConfig) -> bytes:
        """Download a paid result again (free) and make it the cached result of ``file`` under ``jconfig``.

        For a result that arrived damaged: the service charges a trans_id once,
        so fetching it again costs nothing, and the fresh copy replaces the
        damaged one in the cache.

        Returns
        -------
        bytes
            The result's bytes, as now cached.

        Examples
        --------
        >>> data = client.redownload(error.trans_id, png, jconfig)  # doctest: +SKIP
        """
        data = self.download(trans_id)
        if self._cache is not None:
            upload, _ = read_file(file, None)
            self._cache.put(cache_key(upload, _jconfig.parse(jconfig)), data, receipt=trans_id)
        return data

    def process(self, file: FileInput, jconfig: JConfig, *, webhook: str | None = None) -> bytes:
        """The result's bytes for ``file`` under ``jconfig``: ``run_job(...).data``.

        Examples
        --------
        >>> png = client.process(open("cat.png", "rb"), jconfig)  # doctest: +SKIP
        """
        return self.run_job(file, jconfig, webhook=webhook).data


def _nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r} is not allowed: expected a number >= 0 (seconds)")
    return float(value)


@contextlib.contextmanager
def _naming(trans_id: str) -> Iterator[None]:
    """Errors raised inside name ``trans_id`` (even transport failures), so the job can be resumed."""
    try:
        yield
    except VanceError as exc:
        if exc.trans_id is None:
            exc.trans_id = trans_id
        raise


def _check_trans_id(trans_id: Any) -> None:
    if not isinstance(trans_id, str) or not trans_id:
        raise ValueError(f"trans_id={trans_id!r} must be the non-empty trans_id of a job")
