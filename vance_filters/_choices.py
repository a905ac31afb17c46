"""The options every door shares, and how a value outside them is refused.

``on_limit`` and ``upload_format`` reach the filters, the functions, the plan,
the batch layer and Dask; each checks them here, so the message naming the
parameter and the allowed values is the same everywhere.
"""

from __future__ import annotations

import numbers
from typing import Literal

from .errors import ConfigError

__all__ = ["ON_LIMIT", "UPLOAD_FORMATS", "OnLimit", "UploadFormat", "check_choice", "check_max_credits"]

OnLimit = Literal["downscale", "raise", "tile"]
UploadFormat = Literal["auto", "png", "jpeg"]

#: What an image over the service's limits may get: downscaled, refused, or tiled.
ON_LIMIT: tuple[str, ...] = ("downscale", "raise", "tile")
#: How an upload may be encoded.
UPLOAD_FORMATS: tuple[str, ...] = ("auto", "png", "jpeg")


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    """Refuse ``value`` unless it is one of ``allowed``, naming ``name`` and the choices.

    Examples
    --------
    >>> check_choice("on_limit", "tile", ON_LIMIT)
    >>> check_choice("on_limit", "crop", ON_LIMIT)
    Traceback (most recent call last):
    ...
    vance_filters.errors.ConfigError: on_limit='crop' is not allowed: expected one of 'downscale', 'raise', 'tile'
    """
    if value not in allowed:
        raise ConfigError(
            f"{name}={value!r} is not allowed: expected one of "
            + ", ".join(repr(a) for a in allowed)
        )


def check_max_credits(max_credits: object) -> None:
    """Refuse a ``max_credits`` that is not None or a number >= 0.

    Examples
    --------
    >>> check_max_credits(None), check_max_credits(2.5)
    (None, None)
    """
    if max_credits is None:
        return
    if (
        isinstance(max_credits, bool)
        or not isinstance(max_credits, numbers.Real)
        or not float(max_credits) >= 0
    ):
        raise ConfigError(
            f"max_credits={max_credits!r} is not allowed: expected a number >= 0, or None for no limit"
        )
