"""pytest plugin of vance_filters (registered through the ``pytest11`` entry point).

Fixtures
--------
vance_emulator_session
    One :class:`~vance_filters.testing.Emulator` for the whole test session, started on a
    free port of 127.0.0.1 and stopped at the end. Its state is shared between tests.
vance_emulator
    The session emulator after :meth:`~vance_filters.testing.Emulator.reset`: no uploads,
    jobs, faults or logged requests, the initial settings and credits.

Examples
--------
::

    import requests

    def test_balance(vance_emulator):
        r = requests.get(vance_emulator.url + "/point",
                         params={"api_token": vance_emulator.api_token})
        assert r.json()["data"]["max_num"] == "500.000"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from ._emulator import Emulator


@pytest.fixture(scope="session")
def vance_emulator_session() -> Iterator[Emulator]:
    """One emulator for the whole session (stopped when the session ends)."""
    from ._emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def vance_emulator(vance_emulator_session: Emulator) -> Iterator[Emulator]:
    """The session emulator, reset for this test."""
    vance_emulator_session.reset()
    yield vance_emulator_session
