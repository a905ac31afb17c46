"""The job journal: a job sent but not yet cached is never sent twice.

Between "transform sent" and "result cached" a crash, a ``SIGKILL`` or a
Ctrl-C would forget the job, and a rerun would upload and transform again.
With a disk cache, the client writes the job's ``trans_id`` into a journal
beside the cache (``<cache folder>/journal/``) as soon as the service has
accepted the job, under the same scoped key as the result (service, account,
upload bytes and jconfig), and removes it once the result is cached. A rerun
that finds an entry resumes that job: it polls ``/progress`` and downloads the
result (the service charges a ``trans_id`` once), instead of uploading and
transforming again. An entry the service no longer knows (10011) is dropped
and the image done anew.

Every write is atomic (a temp file in the same folder, then ``os.replace``),
so any number of processes and Dask workers may share the folder: a reader
sees a whole entry or none, and an entry that vanishes under a reader (another
process finished the job) is simply a miss.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._atomic import write_atomic

__all__ = ["JOURNAL_FOLDER", "Journal", "JournalEntry"]

#: The journal's folder inside a cache folder.
JOURNAL_FOLDER = "journal"
_SUFFIX = ".job"


@dataclass(frozen=True)
class JournalEntry:
    """A job sent for a cache key and not yet cached.

    Attributes
    ----------
    trans_id : str
        The service's job.
    uid : str or None
        The upload it runs on.
    created : float
        When it was written (POSIX time).
    """

    trans_id: str
    uid: str | None = None
    created: float = 0.0


class Journal:
    """Jobs under way, one small file per scoped cache key, shared safely between processes.

    Parameters
    ----------
    directory : str or os.PathLike
        The journal's folder (created when first written), normally
        ``<cache folder>/journal``.

    Examples
    --------
    >>> import tempfile
    >>> journal = Journal(tempfile.mkdtemp())
    >>> journal.put("ab" * 32, "trans-1", uid="uid-1")
    >>> journal.get("ab" * 32).trans_id
    'trans-1'
    >>> journal.discard("ab" * 32), journal.get("ab" * 32)
    (True, None)
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser()

    def __repr__(self) -> str:
        return f"Journal({os.fspath(self.directory)!r})"

    def _path(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"journal key {key!r} must be lowercase hex")
        return self.directory / f"{key}{_SUFFIX}"

    def get(self, key: str) -> JournalEntry | None:
        """The job recorded under ``key``, or None (none, vanished meanwhile, or unreadable)."""
        try:
            with open(self._path(key), "rb") as handle:
                raw = handle.read(4096)
            value: Any = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError):
            return None
        trans_id = value.get("trans_id") if isinstance(value, dict) else None
        if not isinstance(trans_id, str) or not trans_id:
            return None
        uid = value.get("uid")
        created = value.get("created")
        return JournalEntry(
            trans_id=trans_id,
            uid=uid if isinstance(uid, str) else None,
            created=float(created) if isinstance(created, (int, float)) else 0.0,
        )

    def put(self, key: str, trans_id: str, *, uid: str | None = None) -> None:
        """Record ``trans_id`` under ``key`` atomically; a failure to write (full disk...) is ignored."""
        path = self._path(key)
        text = json.dumps({"trans_id": trans_id, "uid": uid, "created": time.time()})
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, [text.encode("utf-8")], private=True, suffix=".tmp")
        except OSError:
            return

    def discard(self, key: str, *, trans_id: str | None = None) -> bool:
        """Remove the entry of ``key`` (only if it names ``trans_id``, when given); True when one went.

        Examples
        --------
        >>> import tempfile
        >>> journal = Journal(tempfile.mkdtemp()); journal.put("cd" * 32, "trans-2")
        >>> journal.discard("cd" * 32, trans_id="other"), journal.discard("cd" * 32, trans_id="trans-2")
        (False, True)
        """
        if trans_id is not None:
            entry = self.get(key)
            if entry is None or entry.trans_id != trans_id:
                return False
        try:
            os.unlink(self._path(key))
        except OSError:
            return False
        return True

    def keys(self) -> list[str]:
        """The keys with a job recorded (a snapshot; entries may come and go meanwhile).

        Examples
        --------
        >>> import tempfile
        >>> journal = Journal(tempfile.mkdtemp()); journal.put("ef" * 32, "trans-3")
        >>> journal.keys() == ["ef" * 32]
        True
        """
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted(n[: -len(_SUFFIX)] for n in names if n.endswith(_SUFFIX) and not n.startswith("."))
