"""A local emulator of the VanceAI web API, for tests, demos and offline work.

:class:`Emulator` serves every endpoint of the API over real HTTP on 127.0.0.1, with the
documented envelopes and error codes, background jobs running classical stand-ins of the
AI modules, a credit ledger, and scriptable faults. :func:`sample_image` makes
deterministic synthetic test images. The pytest plugin of this package provides the
``vance_emulator_session`` and ``vance_emulator`` fixtures, and ``vance_default_client``,
which routes the library's default client (and the environment) to the emulator for a test
and refuses connections off this machine.

Examples
--------
>>> import requests
>>> from vance_filters.testing import Emulator
>>> with Emulator() as emu:
...     requests.get(emu.url + "/point", params={"api_token": emu.api_token}).json()["code"]
200
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._emulator import Emulator
    from ._records import JobRecord, RequestRecord, Step, UploadRecord
    from .samples import sample_image

__all__ = ["Emulator", "JobRecord", "RequestRecord", "Step", "UploadRecord", "sample_image"]

# Imported on first use: the pytest plugin of this package is loaded by every pytest run
# where vance_filters is installed, and must stay cheap until a fixture is used.
_HOMES = {
    "Emulator": "._emulator",
    "JobRecord": "._records",
    "RequestRecord": "._records",
    "Step": "._records",
    "UploadRecord": "._records",
    "sample_image": ".samples",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
