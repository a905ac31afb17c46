"""Know before you pay: what a run would send and what it would cost, without sending anything.

:func:`plan` prepares every upload with the very code a real run uses
(:func:`vance_filters.imaging.prepare`, :func:`vance_filters.frames.read` and
:func:`~vance_filters.frames.distinct`), looks each one up in the client's
result cache under the same key (service, account, upload bytes, jconfig),
and adds up the credits: a cached result, a repeat frame and an image met
earlier in the same plan cost nothing; every other upload costs the filter's
price (a pipeline's is the sum of its steps, :attr:`Filter.cost`). The only
request it may make is the balance check (``/point``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from . import frames as _frames
from . import imaging
from ._budget import count, pictures
from ._cache import cache_key, format_bytes
from ._choices import ON_LIMIT, UPLOAD_FORMATS, check_choice
from .errors import VanceError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter, OnLimit, UploadFormat

__all__ = ["Plan", "PlanRow", "PlannedUpload", "plan"]


@dataclass(frozen=True)
class PlannedUpload:
    """One upload a run would send (one per image, or per distinct frame).

    Attributes
    ----------
    format : {"png", "jpeg"}
        How it would be encoded.
    size : tuple of int
        Its ``(width, height)`` as sent.
    original : tuple of int
        The ``(width, height)`` of the image (or frame) it stands for.
    downscale : float
        The factor it would be shrunk by to fit the service's limits (1.0: not at all).
    bytes : int
        Its size in bytes.
    cached : bool
        The client's cache already holds its result (it costs nothing).
    repeat : bool
        The same upload comes earlier in this plan: the run does it once.
    pending : str or None
        The trans_id of a job sent earlier and not yet cached (the job journal),
        which the run would resume instead of sending a new one.
    credits : float
        What it would cost.
    """

    format: str
    size: tuple[int, int]
    original: tuple[int, int]
    downscale: float
    bytes: int
    cached: bool
    repeat: bool
    pending: str | None
    credits: float

    @property
    def pixels(self) -> int:
        """Pixels sent: ``width x height``."""
        return self.size[0] * self.size[1]

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this upload."""
        return {
            "format": self.format,
            "size": list(self.size),
            "original": list(self.original),
            "downscale": self.downscale,
            "bytes": self.bytes,
            "pixels": self.pixels,
            "cached": self.cached,
            "repeat": self.repeat,
            "pending": self.pending,
            "credits": self.credits,
        }


@dataclass(frozen=True)
class PlanRow:
    """What a run would do with one input.

    Attributes
    ----------
    name : str
        The input's path, or ``#<index>``.
    frames : int
        Frames the result would hold (1 for a single image).
    uploads : tuple of PlannedUpload
        One per distinct frame (identical frames are sent once).
    error : str or None
        Why the run would refuse this input before sending it (nothing is charged).
    skipped : str or None
        Why the run would not process it at all (e.g. the CLI's output exists).
    worst : float
        What it could cost with nothing cached: the figure ``max_credits``
        guards (:func:`vance_filters._budget.cost_of`).
    """

    name: str
    frames: int = 1
    uploads: tuple[PlannedUpload, ...] = ()
    error: str | None = None
    skipped: str | None = None
    worst: float = 0.0

    @property
    def distinct(self) -> int:
        """Distinct frames sent."""
        return len(self.uploads)

    @property
    def credits(self) -> float:
        """What this input would cost."""
        return float(sum(u.credits for u in self.uploads))

    @property
    def bytes(self) -> int:
        """Bytes uploaded for it."""
        return sum(u.bytes for u in self.uploads)

    @property
    def pixels(self) -> int:
        """Pixels uploaded for it."""
        return sum(u.pixels for u in self.uploads)

    @property
    def cached(self) -> bool:
        """Every upload's result is already cached (or comes earlier in the plan)."""
        return bool(self.uploads) and all(u.cached or u.repeat for u in self.uploads)

    @property
    def status(self) -> str:
        """``error``, ``skipped``, ``cached``, ``repeat`` (of an earlier input), ``resume`` or ``send``."""
        if self.error is not None:
            return "error"
        if self.skipped is not None:
            return "skipped"
        if self.cached:
            return "cached" if any(u.cached for u in self.uploads) else "repeat"
        if any(u.pending for u in self.uploads):
            return "resume"
        return "send"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this row."""
        return {
            "name": self.name,
            "status": self.status,
            "frames": self.frames,
            "distinct": self.distinct,
            "bytes": self.bytes,
            "pixels": self.pixels,
            "credits": self.credits,
            "worst": self.worst,
            "error": self.error,
            "skipped": self.skipped,
            "uploads": [u.as_json() for u in self.uploads],
        }


@dataclass(frozen=True)
class Plan:
    """What a run would send and cost: one :class:`PlanRow` per input, and the totals.

    Attributes
    ----------
    filter : str
        The filter, as its repr.
    per_result : float
        The price of one result (``filter.cost``).
    rows : tuple of PlanRow
        One per input, in order.
    balance : float or None
        The account's credits left (None when not checked).

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> frames = np.stack([np.zeros((8, 8, 3), np.uint8)] * 3 + [np.ones((8, 8, 3), np.uint8)])
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     p = vf.plan(vf.Sharpen(), frames, client=client)
    >>> row = p[0]
    >>> row.frames, row.distinct, row.status, p.credits, p.worst, p.enough
    (4, 2, 'send', 4.0, 4.0, True)
    """

    filter: str
    per_result: float
    rows: tuple[PlanRow, ...] = field(default=())
    balance: float | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[PlanRow]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> PlanRow:
        return self.rows[index]

    @property
    def credits(self) -> float:
        """The credits the run would spend."""
        return float(sum(row.credits for row in self.rows))

    @property
    def worst(self) -> float:
        """What the run could cost with nothing cached: what ``max_credits`` is checked against."""
        return float(sum(row.worst for row in self.rows))

    @property
    def uploads(self) -> int:
        """Uploads the run would send (cached, repeated and resumed ones excluded)."""
        return sum(
            1 for row in self.rows for u in row.uploads if not (u.cached or u.repeat or u.pending)
        )

    @property
    def bytes(self) -> int:
        """Bytes those uploads hold."""
        return sum(
            u.bytes for row in self.rows for u in row.uploads if not (u.cached or u.repeat or u.pending)
        )

    @property
    def enough(self) -> bool | None:
        """Whether the balance covers the run (None when it was not checked)."""
        return None if self.balance is None else self.credits <= self.balance

    def as_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict: ``filter``, ``rows`` and ``totals``.

        Examples
        --------
        >>> import json, numpy as np, vance_filters as vf
        >>> p = vf.plan(vf.Denoise(), [np.zeros((4, 4, 3), np.uint8)], client=vf.Client("t", "https://x.example/v1"),
        ...             check_balance=False)
        >>> json.dumps(p.as_json()["totals"])
        '{"images": 1, "uploads": 1, "bytes": 69, "credits": 1.0, "worst": 1.0, "balance": null, "enough": null}'
        """
        return {
            "filter": self.filter,
            "per_result": self.per_result,
            "rows": [row.as_json() for row in self.rows],
            "totals": {
                "images": len(self.rows),
                "uploads": self.uploads,
                "bytes": self.bytes,
                "credits": self.credits,
                "worst": self.worst,
                "balance": self.balance,
                "enough": self.enough,
            },
        }

    def __str__(self) -> str:
        lines = [f"plan: {self.filter}, {count(self.per_result, 'credit')} per result"]
        for row in self.rows:
            lines.append(f"  {row.name}: {_describe(row)}")
        total = (
            f"total: {count(self.credits, 'credit')}, {count(self.uploads, 'upload')} "
            f"({format_bytes(self.bytes)}) for {count(len(self.rows), 'input')}"
        )
        if self.balance is not None:
            verdict = "enough" if self.enough else "NOT enough: top up or process fewer images"
            total += f"; balance {self.balance:g} ({verdict})"
        lines.append(total)
        return "\n".join(lines)


def _describe(row: PlanRow) -> str:
    if row.error is not None:
        return f"refused before sending: {row.error}"
    if row.skipped is not None:
        return f"skipped: {row.skipped}"
    parts = []
    if row.frames > 1:
        distinct = f", {row.distinct} distinct" if row.distinct != row.frames else ""
        parts.append(f"{row.frames} frames{distinct}")
    formats = sorted({u.format.upper() for u in row.uploads})
    parts.append("/".join(formats))
    first = row.uploads[0]
    size = f"{first.size[0]}x{first.size[1]}"
    if any(u.downscale != 1.0 for u in row.uploads):
        size += f" (downscaled from {first.original[0]}x{first.original[1]})"
    parts.append(size)
    parts.append(f"{format_bytes(row.bytes)}, {row.pixels / 1e6:.2f} MP")
    if row.cached:
        parts.append("cached" if row.status == "cached" else "same as an earlier input")
    elif any(u.pending for u in row.uploads):
        parts.append("resumes a job under way")
    parts.append(count(row.credits, "credit"))
    return ", ".join(parts)


#: What a run sends for one single-frame input: the upload's bytes, format, size, original size, downscale.
_Prepare = Callable[[Any], "tuple[bytes, str, tuple[int, int], tuple[int, int], float]"]


def _filter_upload(on_limit: str, upload_format: str) -> _Prepare:
    def prepare(image: Any) -> tuple[bytes, str, tuple[int, int], tuple[int, int], float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the plan says it; the run warns
            prepared = imaging.prepare(
                image,
                upload_format=upload_format,  # type: ignore[arg-type]
                on_limit="raise" if on_limit == "tile" else on_limit,  # type: ignore[arg-type]
            )
        return prepared.data, prepared.format, prepared.size, prepared.source.size, prepared.downscale

    return prepare


def _as_list(images: Any) -> list[Any]:
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike, np.ndarray, Image.Image)):
        return [images]
    if isinstance(images, Iterable):
        return list(images)
    return [images]


def _name(image: Any, index: int) -> str:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    name = getattr(image, "filename", None) or getattr(image, "name", None)
    return name if isinstance(name, str) and name else f"#{index}"


def _rows(
    flt: Filter,
    images: list[Any],
    *,
    client: Client,
    prepare: _Prepare,
    frames: _frames.FramesOption,
    names: list[str] | None = None,
    on_limit: str = "downscale",
    upload_format: str = "auto",
) -> list[PlanRow]:
    """One row per input: every upload prepared as the run would, looked up in the cache
    (with ``on_limit="tile"``, every tile and anchor: :func:`vance_filters.tiles.pictures`)."""
    jconfig = flt.to_jconfig()
    price = float(flt.cost)
    seen: set[str] = set()
    rows = []
    for index, image in enumerate(images):
        name = names[index] if names is not None else _name(image, index)
        try:
            count_frames, units = pictures(image, frames=frames)  # as the run splits it
            if on_limit == "tile":
                from . import tiles  # tiles sits above this module

                units = [tile for unit in units for tile in tiles.pictures(
                    flt, unit, upload_format=upload_format, max_result_pixels=client.max_result_pixels
                )]
            uploads = []
            for unit in units:
                data, fmt, size, original, downscale = prepare(unit)
                key = cache_key(data, jconfig)
                repeat = key in seen
                seen.add(key)
                cached = not repeat and client.cached(data, jconfig)
                pending = None if cached or repeat else client.pending_job(data, jconfig)
                uploads.append(
                    PlannedUpload(
                        format=fmt,
                        size=size,
                        original=original,
                        downscale=downscale,
                        bytes=len(data),
                        cached=cached,
                        repeat=repeat,
                        pending=pending,
                        credits=0.0 if cached or repeat else price,
                    )
                )
        except (VanceError, ValueError, TypeError, OSError) as exc:
            rows.append(PlanRow(name=name, error=f"{type(exc).__name__}: {exc}"))
            continue
        rows.append(
            PlanRow(name=name, frames=count_frames, uploads=tuple(uploads), worst=len(units) * price)
        )
    return rows


def plan(
    filter: Filter,
    images: Any,
    *,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    frames: _frames.FramesOption = "all",
    check_balance: bool = True,
) -> Plan:
    """Say what running ``filter`` on ``images`` would send and cost, sending nothing.

    Every upload is prepared by the code a real run uses (PNG or JPEG,
    downscaled or not, each distinct frame of a multi-frame input), and
    looked up in the client's result cache under the run's own key, so the
    plan's credits are what the run spends: a cached result, a repeated
    frame and an input met earlier in the plan cost nothing; a job under way
    from an earlier, interrupted run (the job journal) is resumed and costs
    its price once.

    Parameters
    ----------
    filter : Filter
        Any filter or pipeline (a pipeline is one job costing every step).
    images : image or iterable of images
        One image (PIL, array, bytes, path) or several.
    client : Client, optional
        Whose cache and account count; default: the default client.
    on_limit, upload_format, frames
        As for :meth:`Filter.apply`; with ``on_limit="raise"`` an image over
        the limits is a row with an ``error``.
    check_balance : bool
        Read the account's balance (``/point``, the one request a plan
        makes) to compare it with the total.

    Returns
    -------
    Plan
        ``rows`` (one :class:`PlanRow` per input), ``credits``, ``balance``,
        ``enough``; ``str(plan)`` is a readable table, ``plan.as_json()`` a dict.

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> image = np.zeros((48, 64, 3), np.uint8)
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     before = vf.plan(vf.Denoise() | vf.Enlarge(scale=2), [image], client=client)
    ...     _ = (vf.Denoise() | vf.Enlarge(scale=2)).apply(image, client=client)
    ...     after = vf.plan(vf.Denoise() | vf.Enlarge(scale=2), [image], client=client)
    ...     spent = emu.credits_used
    >>> before.credits, spent, after.credits, after[0].status
    (2.0, 2.0, 0.0, 'cached')
    >>> print(before)  # doctest: +ELLIPSIS
    plan: Pipeline(...), 2 credits per result
      #0: PNG, 64x48, ..., 0.00 MP, 2 credits
    total: 2 credits, 1 upload (...) for 1 input; balance 500 (enough)
    """
    from ._defaults import default_client  # the default client sits above this module

    check_choice("on_limit", on_limit, ON_LIMIT)
    check_choice("upload_format", upload_format, UPLOAD_FORMATS)
    _frames.check_frames(frames)
    client = client if client is not None else default_client()
    rows = _rows(
        filter,
        _as_list(images),
        client=client,
        prepare=_filter_upload(on_limit, upload_format),
        frames=frames,
        on_limit=on_limit,
        upload_format=upload_format,
    )
    balance = client.credits().remaining if check_balance else None
    return Plan(filter=repr(filter), per_result=float(filter.cost), rows=tuple(rows), balance=balance)
