"""What a call costs before anything is sent, and the one guard against spending too much.

:func:`cost_of` says how many uploads (distinct frames) and credits one input
needs under a filter; :func:`check` refuses a cost over ``max_credits`` or
the account's balance with a :class:`CreditLimitError`. Batches
(``batch.check_budget``), multi-frame calls (``frames.run``) and the CLI's
cost lines all go through these two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import frames as _frames
from .errors import CreditLimitError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter

__all__ = ["Cost", "check", "cost_of", "count", "describe_frames", "pictures"]


@dataclass(frozen=True)
class Cost:
    """What one input costs under one filter, at most (cached results are free).

    Attributes
    ----------
    frames : int
        Frames the result will hold (1 for a single image).
    uploads : int
        Distinct frames sent (identical frames are sent once).
    credits : float
        ``uploads x filter.cost``.
    """

    frames: int
    uploads: int
    credits: float


def cost_of(
    flt: Filter,
    image: Any,
    *,
    frames: _frames.FramesOption = "all",
    on_limit: str = "downscale",
    upload_format: str = "auto",
    max_result_pixels: int | None = None,
) -> Cost:
    """How many frames, uploads and credits ``image`` needs under ``flt``.

    A single image is one upload; a multi-frame input (:mod:`vance_filters.frames`)
    is one upload per distinct frame (its frames are decoded to compare them).
    With ``on_limit="tile"`` every picture is as many uploads as its tiles and
    anchor (:func:`vance_filters.tiles.count`; ``upload_format`` and
    ``max_result_pixels`` as the run's).

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> stack = np.stack([np.zeros((4, 4, 3), np.uint8)] * 3 + [np.ones((4, 4, 3), np.uint8)])
    >>> cost_of(vf.Sharpen(), stack)
    Cost(frames=4, uploads=2, credits=4.0)
    >>> cost_of(vf.Sharpen(), stack, frames="first")
    Cost(frames=1, uploads=1, credits=2.0)
    """
    if on_limit == "tile":
        from . import tiles  # tiles sits above this module

        count_frames, sent = pictures(image, frames=frames)
        uploads = sum(
            tiles.results_of(flt, picture, upload_format=upload_format, max_result_pixels=max_result_pixels)
            for picture in sent
        )
        return Cost(frames=count_frames, uploads=uploads, credits=float(uploads * flt.cost))
    if not _frames.is_multiframe(image, frames=frames) or frames in ("first", False):
        _frames.check_frames(frames)
        return Cost(frames=1, uploads=1, credits=float(flt.cost))
    count_frames, sent = pictures(image, frames=frames)
    return Cost(frames=count_frames, uploads=len(sent), credits=float(len(sent) * flt.cost))


def pictures(image: Any, *, frames: _frames.FramesOption = "all") -> tuple[int, list[Any]]:
    """The frames a result of ``image`` holds, and the pictures a run uploads for it.

    As a filter's call does: a single image is itself; a multi-frame input
    gives each distinct frame once (``frames="first"``: the first frame of a
    stack, or the image itself for a file, whose first frame the upload takes).

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.stack([np.zeros((4, 4, 3), np.uint8)] * 3 + [np.ones((4, 4, 3), np.uint8)])
    >>> count_frames, sent = pictures(stack)
    >>> count_frames, len(sent), sent[0].shape
    (4, 2, (4, 4, 3))
    >>> pictures(stack, frames="first")[1][0].shape
    (4, 4, 3)
    """
    _frames.check_frames(frames)
    if not _frames.is_multiframe(image, frames=frames):
        return 1, [image]
    if frames is True or frames == "all":
        split = _frames.read(image, frames=frames)
        sent, _ = _frames.distinct(split)
        return len(split), [split.frames[i] for i in sent]
    return 1, [image[0]]  # frames="first" on a stack (T, H, W, C): its first frame


def count(number: float, noun: str) -> str:
    """``1 image``, ``2 images``, ``0.5 credits``, ``0 entries``: a number and its noun, for messages.

    Examples
    --------
    >>> count(1, "frame"), count(3.0, "credit"), count(0.5, "credit"), count(0, "entry")
    ('1 frame', '3 credits', '0.5 credits', '0 entries')
    >>> count(1234567, "frame")
    '1234567 frames'
    """
    text = f"{number:g}" if isinstance(number, float) and not number.is_integer() else f"{int(number)}"
    if number == 1:
        return f"{text} {noun}"
    return f"{text} {noun[:-1]}ies" if noun.endswith("y") else f"{text} {noun}s"


def describe_frames(frames: int, uploads: int) -> str:
    """``this animation of 24 frames (15 distinct)``.

    Examples
    --------
    >>> describe_frames(24, 15), describe_frames(3, 3)
    ('this call of 24 frames (15 distinct)', 'this call of 3 frames')
    """
    distinct = f" ({uploads} distinct)" if uploads != frames else ""
    return f"this call of {count(frames, 'frame')}{distinct}"


def check(
    cost: float,
    *,
    max_credits: float | None,
    client: Client,
    what: str,
    per_result: float,
    fewer: str,
) -> float:
    """Refuse a ``cost`` over ``max_credits`` or the account's balance, before anything is sent.

    Parameters
    ----------
    cost : float
        The worst case, in credits.
    max_credits : float or None
        The caller's limit; None checks the balance only.
    client : Client
        Reads the balance (``/point``).
    what : str
        What costs it, for the message (``"this batch of 3 images"``).
    per_result : float
        The price of one result (``filter.cost``).
    fewer : str
        What to process fewer of (``"fewer images"``).

    Returns
    -------
    float
        ``cost``.

    Raises
    ------
    CreditLimitError
        Over ``max_credits`` or the balance.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> with Emulator(credits=10) as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     check(12, max_credits=20, client=client, what="this call", per_result=1, fewer="fewer frames")
    Traceback (most recent call last):
    ...
    vance_filters.errors.CreditLimitError: this call costs up to 12 credits but the account has 10 left: top up or process fewer frames
    """
    if max_credits is not None and cost > max_credits:
        raise CreditLimitError(
            f"{what} costs up to {count(cost, 'credit')} "
            f"({count(per_result, 'credit')} per result), more than max_credits={max_credits:g}: "
            f"raise max_credits or process {fewer}"
        )
    remaining = client.credits().remaining
    if cost > remaining:
        raise CreditLimitError(
            f"{what} costs up to {count(cost, 'credit')} but "
            f"the account has {remaining:g} left: top up or process {fewer}"
        )
    return cost
