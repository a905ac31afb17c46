"""The module-level default client, built on first use.

Like ``replicate.run``, the functions ``vf.enlarge(...)`` work without a
client argument: the first call builds one from ``VANCE_API_TOKEN`` and
``VANCE_API_BASE``, so a token set after import still works.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Client

_lock = threading.Lock()
_client: Client | None = None


def default_client() -> Client:
    """The client used when a call passes no ``client=``.

    Examples
    --------
    >>> import vance_filters as vf
    >>> isinstance(vf.default_client(), vf.Client)
    True
    """
    global _client
    with _lock:
        if _client is None:
            from .client import Client

            _client = Client()
        return _client


def set_default_client(client: Client | None) -> None:
    """Replace the default client (None: build a new one from the environment on next use).

    Examples
    --------
    >>> import vance_filters as vf
    >>> vf.set_default_client(None)
    """
    global _client
    with _lock:
        old, _client = _client, client
    if old is not None and old is not client:
        old.close()
