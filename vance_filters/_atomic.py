"""Atomic file writes: a temp file in the same folder, fsync, then ``os.replace``.

The result cache, the job journal and the output layer all write this way, so
a reader (another process, a Dask worker, the user's file browser) sees either
the whole new file or the old one, never a part. The temp file is removed on
any failure, KeyboardInterrupt included.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(
    path: str | os.PathLike[str],
    chunks: Iterable[bytes],
    *,
    private: bool = False,
    suffix: str = ".part",
) -> None:
    """Write ``chunks`` to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    chunks : iterable of bytes
        The content, written in order.
    private : bool
        Give the file mode ``0o600`` (cache and journal entries), instead of
        the usual ``0o666`` less the umask (outputs meant for the user).
    suffix : str
        The temp file's suffix (the cache sweeps stale ``.tmp`` files).

    Raises
    ------
    OSError
        The file could not be written; ``path`` is then untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> write_atomic(target, [b"ab", b"c"]); target.read_bytes()
    b'abc'
    """
    target = Path(path)
    tmp = target.parent / f".{target.name[:40]}.{secrets.token_hex(6)}{suffix}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
