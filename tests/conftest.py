"""Shared fixtures: the emulator comes from vance_filters' own pytest plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_vance_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the developer's VANCE_* variables, cache folder and default client out of every test."""
    import os

    for name in list(os.environ):
        if name.startswith("VANCE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    try:
        from vance_filters._defaults import set_default_client
    except ImportError:  # pragma: no cover - while the package is incomplete
        return
    set_default_client(None)


@pytest.fixture
def vance_client(vance_emulator):  # type: ignore[no-untyped-def]
    """A fresh client (empty cache) talking to the reset session emulator."""
    from vance_filters import Client

    with Client(vance_emulator.api_token, vance_emulator.url, backoff_base=0.01, backoff_max=0.05) as client:
        yield client


@pytest.fixture
def emu(vance_emulator):  # type: ignore[no-untyped-def]
    """The reset session emulator with instant jobs and a 5 s blocking-transform window."""
    vance_emulator.configure(job_duration=0.0, workers=4, transform_wait=5.0)
    return vance_emulator
