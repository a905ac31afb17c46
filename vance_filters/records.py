"""Small typed records returned by :class:`vance_filters.Client`.

The API sends loosely typed JSON (numbers as strings, ``"500.000"`` credits);
these records hold the parsed values so callers never handle raw dicts.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

__all__ = [
    "Credits",
    "HistoryEntry",
    "HistoryPage",
    "Job",
    "Progress",
    "Upload",
    "STATUSES",
    "TERMINAL_STATUSES",
]

#: Every job status the vendor documents.
STATUSES = ("waiting", "process", "busy", "finish", "fatal", "webhook")
#: Statuses after which polling stops.
TERMINAL_STATUSES = ("finish", "fatal")


@dataclass(frozen=True)
class Upload:
    """An uploaded image, as ``/upload`` reports it.

    Examples
    --------
    >>> Upload(uid="ab" * 16, name="cat.png", width=1200, height=1199, filesize=3618416).width
    1200
    """

    uid: str
    name: str
    width: int
    height: int
    filesize: int


@dataclass(frozen=True)
class Job:
    """A transform job: its id and the status ``/transform`` answered.

    Examples
    --------
    >>> Job(trans_id="6de4b562d1a01c3d2520608eae929646", status="webhook").done
    False
    """

    trans_id: str
    status: str

    @property
    def done(self) -> bool:
        """True once the job has finished or failed."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Progress:
    """The state of a job, as ``/progress`` reports it.

    ``filesize`` is the result's size in bytes (0 while unknown).

    Examples
    --------
    >>> Progress(status="finish", filesize=16794935).done
    True
    """

    status: str
    filesize: int = 0
    trans_id: str | None = None

    @property
    def done(self) -> bool:
        """True once the job has finished or failed."""
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class Credits:
    """The account's credit balance.

    Examples
    --------
    >>> Credits(total=500.0, used=107.8).remaining
    392.2
    """

    total: float
    used: float

    @property
    def remaining(self) -> float:
        """Credits left to spend."""
        return round(self.total - self.used, 3)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the credit history (``/points/record``)."""

    point_type: str
    job: str
    info: str
    point: float
    balance: float
    created_at: _dt.datetime | None


@dataclass(frozen=True)
class HistoryPage:
    """One page of the credit history.

    Examples
    --------
    >>> HistoryPage(entries=(), current_page=1, last_page=1, per_page=20, total=0).has_next
    False
    """

    entries: tuple[HistoryEntry, ...]
    current_page: int
    last_page: int
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        """True when a later page exists."""
        return self.current_page < self.last_page
