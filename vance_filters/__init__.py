"""vance_filters: every VanceAI image feature as a local-looking filter."""

from __future__ import annotations

from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .records import Credits, HistoryEntry, HistoryPage, Job, Progress, Upload

__version__ = "0.1.0"

__all__ = [
    *_errors_all,
    "Credits",
    "HistoryEntry",
    "HistoryPage",
    "Job",
    "Progress",
    "Upload",
]
