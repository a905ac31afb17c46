"""pytest plugin of vance_filters (registered through the ``pytest11`` entry point).

Fixtures
--------
vance_emulator_session
    One :class:`~vance_filters.testing.Emulator` for the whole test session, started on a
    free port of 127.0.0.1 and stopped at the end. Its state is shared between tests.
vance_emulator
    The session emulator after :meth:`~vance_filters.testing.Emulator.reset`: no uploads,
    jobs, faults or logged requests, the initial settings and credits.
vance_default_client
    Routes the library to the reset session emulator for one test, so code under test that
    calls ``vf.enlarge(img)`` without ``client=`` works offline and can never reach (or pay)
    the real service:

    - ``VANCE_API_TOKEN`` and ``VANCE_API_BASE`` name the emulator, so the default client
      and any ``vf.Client()`` built from the environment talk to it;
    - the default client (:func:`vance_filters.default_client`) is a fresh client of the
      emulator, with its cache in a temporary folder (``XDG_CACHE_HOME`` too);
    - every TCP connection to a non-loopback address is refused with an ``OSError`` naming
      the fixture, whatever URL a test builds a client with.

    The fixture's value is that default client. Everything (variables, default client,
    connection guard) is restored after the test.

Examples
--------
::

    import requests

    def test_balance(vance_emulator):
        r = requests.get(vance_emulator.url + "/point",
                         params={"api_token": vance_emulator.api_token})
        assert r.json()["data"]["max_num"] == "500.000"

    def test_my_code_enlarges(vance_default_client, vance_emulator):
        import vance_filters as vf
        from vance_filters.testing import sample_image

        big = vf.enlarge(sample_image("photo", size=(32, 24)), scale=2)  # no client=
        assert big.size == (64, 48) and vance_emulator.credits_used == 1
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from ..client import Client
    from ._emulator import Emulator

_GUARD_MESSAGE = (
    "vance_default_client: this test tried to connect to {host!r}; only loopback addresses "
    "(the emulator) are reachable while the fixture is active"
)


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


def _is_loopback(address: Any) -> bool:
    """Whether a socket address (a tuple for IP families) names this machine."""
    if not isinstance(address, tuple) or not address:
        return True  # not an IP address (a Unix socket path): not the network
    host = str(address[0]).split("%")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: connect() would resolve it elsewhere


def _guard(original: Any) -> Any:
    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            host = address[0] if isinstance(address, tuple) else address
            raise ConnectionRefusedError(_GUARD_MESSAGE.format(host=host))
        return original(self, address)

    return guarded


@pytest.fixture
def vance_default_client(
    vance_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Client]:
    """The default client of vance_filters, routed to the reset emulator for this test."""
    # Imported here: the emulator's modules never import the client.
    from .. import _defaults
    from ..client import Client

    cache_home = str(tmp_path_factory.mktemp("vance-cache"))
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    monkeypatch.setenv("XDG_CACHE_HOME", cache_home)
    monkeypatch.setenv("LOCALAPPDATA", cache_home)
    monkeypatch.setattr(socket.socket, "connect", _guard(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guard(socket.socket.connect_ex))
    client = Client()
    with _defaults._lock:
        previous, _defaults._client = _defaults._client, client
    try:
        yield client
    finally:
        with _defaults._lock:
            current, _defaults._client = _defaults._client, previous
        client.close()
        if current is not None and current is not client and current is not previous:
            current.close()
