"""The emulator's public records: what it saw and what it holds (read-only snapshots)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered (or dropped).

    Attributes
    ----------
    time : float
        ``time.monotonic()`` when the request arrived (records are in arrival order).
    method : str
        The HTTP method, e.g. ``"POST"``.
    endpoint : str
        The path under ``/web_api/v1``, e.g. ``"upload"`` or ``"points/record"``.
    params : dict
        The parameters the endpoint read (Laravel input rules), without ``api_token``;
        an uploaded file appears as its file name.
    status : int or None
        The HTTP status sent; None while unanswered, or when the connection was dropped.
    code : int or None
        The API ``code`` of a JSON error answer, None otherwise.

    Examples
    --------
    >>> RequestRecord(0.0, "GET", "point", {}, 200, None).endpoint
    'point'
    """

    time: float
    method: str
    endpoint: str
    params: dict[str, Any]
    status: int | None
    code: int | None


@dataclass(frozen=True)
class UploadRecord:
    """One uploaded image as the emulator stored it.

    Attributes
    ----------
    uid : str
        32 lower-case hex digits.
    name : str
        The file name the client sent.
    data : bytes
        The bytes received.
    width, height : int
        The image's dimensions, from its header.
    format : str
        ``"jpeg"`` or ``"png"`` (by the bytes, not the name).

    Examples
    --------
    >>> UploadRecord("0" * 32, "cat.png", b"...", 4, 3, "png").width
    4
    """

    uid: str
    name: str
    data: bytes
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class Step:
    """One processing step of a job, as parsed from its jconfig.

    Examples
    --------
    >>> Step("enlarge3", "enlarge3", {"scale": 2}, {}).module
    'enlarge3'
    """

    name: str | None
    module: str
    module_params: dict[str, Any]
    out_params: dict[str, Any]


@dataclass(frozen=True)
class JobRecord:
    """A snapshot of one job.

    Attributes
    ----------
    trans_id : str
        32 lower-case hex digits.
    uid : str
        The upload it processes.
    jconfig : dict
        The parsed jconfig as received.
    steps : tuple of Step
        The steps run in order, as one job.
    status : str
        ``waiting``, ``process``, ``finish``, ``fatal`` or a stalled status.
    created_at, started_at, finished_at : float or None
        ``time.monotonic()`` stamps; None until reached.
    result : bytes or None
        The result image once finished.
    result_format : str or None
        ``"jpeg"`` or ``"png"``.
    downloads : int
        How many times the result was downloaded.
    charged : float
        Credits charged for it (at the first download; 0.0 before).
    name : str
        The job name booked in the credit history.
    webhook : str or None
        The webhook URL given to ``transform``.

    Examples
    --------
    >>> JobRecord("1" * 32, "0" * 32, {}, (), "waiting", 0.0, None, None, None, None, 0, 0.0,
    ...           "enlarge3", None).status
    'waiting'
    """

    trans_id: str
    uid: str
    jconfig: dict[str, Any]
    steps: tuple[Step, ...]
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: bytes | None
    result_format: str | None
    downloads: int
    charged: float
    name: str
    webhook: str | None
