"""The credit account: balance, charges, and the paginated usage history."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry:
    point_type: str
    job: str
    info: str
    point: float
    balance: float
    created_at: str

    def wire(self) -> dict[str, str]:
        return {
            "point_type": self.point_type,
            "job": self.job,
            "info": self.info,
            "point": f"{self.point:.3f}",
            "balance": f"{self.balance:.3f}",
            "created_at": self.created_at,
        }


class Ledger:
    """Credits of the emulated account. Not thread-safe: the caller holds the state lock."""

    def __init__(self, credits: float) -> None:
        self.total = float(credits)
        self.used = 0.0
        self.charges: list[tuple[str, float]] = []
        self._history: list[_Entry] = []

    @property
    def balance(self) -> float:
        """Credits left."""
        return self.total - self.used

    def can_pay(self, points: float) -> bool:
        """Whether ``points`` credits are available (with a tolerance for float sums)."""
        return self.balance + 1e-9 >= points

    def charge(self, trans_id: str, points: float, *, job: str, info: str) -> None:
        """Book a download of ``trans_id``."""
        self.used += points
        self.charges.append((trans_id, points))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        self._history.append(_Entry("download", job, info, points, self.balance, stamp))

    def page(self, page: int, limit: int) -> dict[str, object]:
        """One page of the history, newest first, in the wire shape of ``/points/record``."""
        total = len(self._history)
        newest = self._history[::-1]
        rows = newest[(page - 1) * limit : page * limit]
        return {
            "datas": [e.wire() for e in rows],
            "current_page": page,
            "last_page": max(1, math.ceil(total / limit)),
            "per_page": limit,
            "total": total,
        }
