"""Point warnings at the caller's code, not at vance_filters' internals."""

from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first frame outside this package.

    Dataclass-generated ``__init__`` frames (file ``<string>``) count as ours.
    """
    level = 1
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(_PACKAGE_DIR) or filename.startswith("<")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
