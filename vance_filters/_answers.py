"""Reading the fields of the service's JSON answers: typed, or a ProtocolError naming the endpoint.

The service is loose about types (``filesize`` comes as a number or a string,
dates in several layouts); these readers accept what it has been seen to send
and refuse the rest with a message quoting a short excerpt of the value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ._http import _as_int
from .errors import ProtocolError
from .records import HistoryEntry

__all__ = ["float_field", "history_entry", "int_field", "parse_time", "str_field"]


def str_field(data: dict[str, Any], key: str, endpoint: str) -> str:
    """``data[key]``, a non-empty string.

    Examples
    --------
    >>> str_field({"uid": "u1"}, "uid", "upload")
    'u1'
    """
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(
            f"/{endpoint} answered without a {key!r} string (got {type(value).__name__})",
            endpoint=endpoint,
        )
    return value


def int_field(data: dict[str, Any], key: str, endpoint: str, default: int | None = None) -> int:
    """``data[key]`` as an integer (a number or its text); ``default`` when absent, if given.

    Examples
    --------
    >>> int_field({"filesize": "1024"}, "filesize", "upload"), int_field({}, "w", "upload", 0)
    (1024, 0)
    """
    value = data.get(key)
    if value in (None, "") and default is not None:
        return default
    number = _as_int(value)
    if number is None:
        raise ProtocolError(
            f"/{endpoint} answered {key}={str(value)[:40]!r}, not an integer", endpoint=endpoint
        )
    return number


def float_field(data: dict[str, Any], key: str, endpoint: str) -> float:
    """``data[key]`` as a float (a number or its text; not a bool).

    Examples
    --------
    >>> float_field({"max_num": "500"}, "max_num", "point")
    500.0
    """
    value = data.get(key)
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProtocolError(
            f"/{endpoint} answered {key}={str(value)[:40]!r}, not a number", endpoint=endpoint
        ) from None


def parse_time(value: Any) -> dt.datetime | None:
    """A timestamp in one of the layouts the service uses, or None.

    Examples
    --------
    >>> parse_time("2024-05-01 12:30:00"), parse_time("yesterday")
    (datetime.datetime(2024, 5, 1, 12, 30), None)
    """
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def history_entry(row: dict[str, Any]) -> HistoryEntry:
    """One row of ``/points/record`` (missing or odd numbers read as 0).

    Examples
    --------
    >>> history_entry({"job": "denoise", "point": "1", "balance": 99}).point
    1.0
    """

    def number(key: str) -> float:
        try:
            return float(row.get(key) or 0)
        except (TypeError, ValueError):
            return 0.0

    return HistoryEntry(
        point_type=str(row.get("point_type", "")),
        job=str(row.get("job", "")),
        info=str(row.get("info", "")),
        point=number("point"),
        balance=number("balance"),
        created_at=parse_time(row.get("created_at")),
    )
