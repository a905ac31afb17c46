"""Concurrency soak: many images through vf.map at concurrency 32 with 5% random faults.

The short soak runs in the suite; the long one (500 images) is opt-in:
``VANCE_SOAK=1 pytest tests/test_soak.py -m soak``.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse

import numpy as np
import pytest

import vance_filters as vf
from vance_filters import errors
from vance_filters.testing import Emulator


def _fds() -> dict[int, str]:
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    return out


def _inodes_on(port: int) -> set[str]:
    """The inodes of the TCP sockets of this machine with ``port`` at either end."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            ends = {int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)}
            if port in ends:
                inodes.add(cols[9])
    return inodes


def _threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.ident is not None}


def soak(count: int, *, seed: int, settle: float = 10.0) -> None:
    images = [np.full((6, 8, 3), i % 256, np.uint8) + np.arange(8, dtype=np.uint8)[None, :, None]
              for i in range(count)]
    with Emulator(workers=16) as emu:
        emu.random_faults(0.05, seed=seed)
        fds, threads = _fds(), _threads()
        with vf.Client(emu.api_token, emu.url, timeout=5, backoff_base=0.01, backoff_max=0.05,
                       poll_interval=0.05, max_wait=30) as client:
            results = list(vf.map(vf.Enlarge(scale=2), images, concurrency=32,
                                  return_exceptions=True, client=client))
        # Settle: the client closed its pool; the server's connection threads notice and end.
        deadline = time.monotonic() + settle
        port = urllib.parse.urlsplit(emu.url).port
        while time.monotonic() < deadline:
            # This soak's connections (to or from its emulator): a socket another test's
            # background thread opens meanwhile, in this process, is not its business.
            own = {f"socket:[{inode}]" for inode in _inodes_on(port)} if port else set()
            new_fds = {fd: target for fd, target in _fds().items()
                       if fds.get(fd) != target and (not target.startswith("socket:") or target in own)}
            new_threads = _threads() - threads
            if not new_fds and not new_threads:
                break
            time.sleep(0.05)
        charged = [tid for tid, _ in emu.charges]
        faults = sum(1 for r in emu.requests if r.status is None or r.status >= 500 or r.code == 10010)
    assert len(results) == count
    ok = [r for r in results if isinstance(r, np.ndarray)]
    failed = [r for r in results if not isinstance(r, np.ndarray)]
    assert all(isinstance(r, errors.VanceError) for r in failed), [type(r) for r in failed]
    assert all(r.shape == (12, 16, 3) for r in ok)
    for image, result in zip(images, results):
        if isinstance(result, np.ndarray):
            assert abs(int(result.mean()) - int(image.mean())) <= 2  # its own result, in order
    assert len(charged) == len(set(charged)), "a result was charged twice"
    assert len(charged) <= len(ok) + sum(1 for r in failed if r.trans_id)
    assert len(ok) >= count * 0.9 and faults > 0
    assert not new_fds, f"file descriptors left open: {new_fds}"
    assert not new_threads, f"threads left running: {[t.name for t in threading.enumerate() if t.ident in new_threads]}"


@pytest.mark.timeout(60)
def test_short_soak() -> None:
    soak(100, seed=7)


@pytest.mark.soak
@pytest.mark.timeout(600)
@pytest.mark.skipif(os.environ.get("VANCE_SOAK") != "1", reason="the long soak is opt-in: set VANCE_SOAK=1")
def test_long_soak() -> None:
    soak(500, seed=11)
