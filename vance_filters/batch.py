"""Batches: many images through one filter, overlapping, in input order.

``vf.map(filter, images)`` keeps ``concurrency`` images in flight at once —
one uploading while another runs on the server and a third downloads — and
yields the results in the order the images came in.

A batch gives up on a service it cannot reach (``_outage``): after a few
connection failures in a row (refused, unknown host, TLS) the images not yet
done fail at once with the same ``ServiceUnreachableError``, instead of each
being retried in turn.
"""

from __future__ import annotations

import collections
import contextvars
import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _budget, _outage
from ._defaults import default_client
from ._outputs import IMAGE_SUFFIXES
from .errors import ConfigError, InputError
from .filters import Filter, OnLimit, UploadFormat

if TYPE_CHECKING:
    from .client import Client

__all__ = ["check_budget", "check_concurrency", "images_of", "map"]

_builtin_map = map


def check_concurrency(concurrency: object) -> None:
    """Refuse a ``concurrency`` that is not a positive integer (``ConfigError``).

    Examples
    --------
    >>> check_concurrency(8)
    """
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ConfigError(f"concurrency={concurrency!r} is not allowed: expected an integer >= 1")


def images_of(images: Any, *, parameter: str = "images") -> Iterable[Any]:
    """The images of a batch: a folder's image files (sorted by name), else ``images`` itself.

    A folder (``str`` or ``os.PathLike``) gives its image files
    (``.jpg``, ``.jpeg``, ``.png``, ``.webp``, ``.tif``, ``.tiff``, ``.bmp``),
    not recursive, sorted by name. Any other str, path or bytes would be iterated
    character by character, so it is refused.

    Raises
    ------
    TypeError
        ``images`` is a str, path or bytes that is not a folder.

    Examples
    --------
    >>> images_of(["a.png", "b.png"])
    ['a.png', 'b.png']
    >>> images_of("no-such-folder")
    Traceback (most recent call last):
    ...
    TypeError: images='no-such-folder' is not a folder: pass a list of images (e.g. ['no-such-folder'] for one file) or a folder's path
    """
    if isinstance(images, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{parameter}= is {type(images).__name__}, a single image: pass a list of images "
            "(e.g. [data])"
        )
    if isinstance(images, (str, os.PathLike)):
        folder = Path(os.fspath(images))  # type: ignore[arg-type]
        if not folder.is_dir():
            raise TypeError(
                f"{parameter}={os.fspath(images)!r} is not a folder: pass a list of images "
                f"(e.g. [{os.fspath(images)!r}] for one file) or a folder's path"
            )
        return sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: p.name,
        )
    return images  # type: ignore[no-any-return]


def check_budget(
    flt: Filter,
    count: int,
    *,
    max_credits: float | None,
    client: Client,
    uploads: int | None = None,
) -> float:
    """Refuse a batch that would cost more than ``max_credits`` or the balance.

    Parameters
    ----------
    flt : Filter
        The filter to run; its ``cost`` is the price of one result.
    count : int
        How many images the batch holds.
    max_credits : float or None
        The most the caller allows the batch to spend; None checks only the
        account's balance.
    client : Client
        Used to read the balance (``/point``).
    uploads : int, optional
        How many results the batch sends for (``_budget.cost_of``: every
        distinct frame of a multi-frame image); default ``count``.

    Returns
    -------
    float
        The batch's worst-case cost (cached results are free, so it may cost less).

    Raises
    ------
    CreditLimitError
        The batch's worst case exceeds ``max_credits`` or the remaining balance.

    Examples
    --------
    >>> import vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> with Emulator(credits=10) as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     vf.batch.check_budget(vf.Sharpen(), 5, max_credits=None, client=client)
    10.0
    """
    cost = float(flt.cost * (count if uploads is None else uploads))
    what = f"this batch of {_count(count, 'image')}"
    if uploads is not None and uploads != count:
        what += f" ({_count(uploads, 'upload')}: every distinct frame of an animation or stack)"
    return _budget.check(
        cost, max_credits=max_credits, client=client, what=what, per_result=flt.cost, fewer="fewer images"
    )


_count = _budget.count


def map(  # noqa: A001 - the point is to read like the builtin
    flt: Filter,
    images: Iterable[Any] | os.PathLike[str],
    *,
    concurrency: int = 8,
    progress: bool = False,
    return_exceptions: bool = False,
    max_credits: float | None = None,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
) -> Iterator[Any]:
    """Apply ``flt`` to every image, ``concurrency`` at a time, yielding results in order.

    Parameters
    ----------
    flt : Filter
        Any filter or pipeline.
    images : iterable, or a folder (str or os.PathLike)
        PIL images, arrays, bytes or paths (mixed kinds are fine). Consumed
        lazily: at most about ``2 * concurrency`` are held at once. A folder
        stands for its image files, sorted by name (:func:`images_of`).
    concurrency : int
        How many images are in flight at once (default 8). The client's HTTP
        connection pool is sized to match.
    progress : bool
        Show a tqdm progress bar on stderr.
    return_exceptions : bool
        Yield a failed image's exception in its place and go on, instead of
        raising it (and cancelling the rest).
    max_credits : float, optional
        Refuse to start (``CreditLimitError``) if the batch could cost more
        than this or than the account's balance; needs a sized ``images``.
        Every distinct frame of a multi-frame image counts as one result.
    client : Client, optional
        Default: the module-level client.
    on_limit, upload_format : str
        As for :meth:`Filter.apply`.

    Yields
    ------
    result
        Each image's result (of its own kind), or its exception.

    Raises
    ------
    TypeError
        ``images`` is a str, path or bytes that is not a folder.
    ServiceUnreachableError
        The service could not be reached (refused, unknown host, TLS) a few
        times in a row: the images not done fail at once with it (yielded in
        their places with ``return_exceptions=True``).

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> images = [np.full((4, 4), i, np.uint8) for i in range(5)]
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = list(vf.map(vf.Enlarge(scale=2), images, client=client))
    >>> [o.shape for o in out] == [(8, 8)] * 5
    True
    """
    check_concurrency(concurrency)
    images = images_of(images)
    client = client if client is not None else default_client()
    total = len(images) if isinstance(images, Sized) else None
    if max_credits is not None and total is None:
        images = list(images)
        total = len(images)
    if max_credits is not None:
        # Every distinct frame of an animation or stack is a result: the images are read
        # once here to count them (a sized iterable is iterated again below).
        uploads = sum(_uploads(flt, image, on_limit, upload_format, client.max_result_pixels) for image in images)
        check_budget(flt, total or 0, max_credits=max_credits, client=client, uploads=uploads)
    client.ensure_pool(concurrency)
    return _ordered(
        flt,
        iter(images),
        concurrency=concurrency,
        total=total,
        progress=progress,
        return_exceptions=return_exceptions,
        client=client,
        on_limit=on_limit,
        upload_format=upload_format,
    )


def _uploads(
    flt: Filter,
    image: Any,
    on_limit: str = "downscale",
    upload_format: str = "auto",
    max_result_pixels: int | None = None,
) -> int:
    """The results ``image`` costs (every tile and anchor with ``on_limit="tile"``); an
    unusable one counts 1 (its own error comes in its place)."""
    try:
        return _budget.cost_of(
            flt, image, on_limit=on_limit, upload_format=upload_format, max_result_pixels=max_result_pixels
        ).uploads
    except (InputError, ConfigError):
        return 1


def _ordered(
    flt: Filter,
    images: Iterator[Any],
    *,
    concurrency: int,
    total: int | None,
    progress: bool,
    return_exceptions: bool,
    client: Client,
    on_limit: OnLimit,
    upload_format: UploadFormat,
) -> Iterator[Any]:
    bar = None
    if progress:
        # The plain bar: tqdm.auto wants ipywidgets in notebooks and warns without it.
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        bar = tqdm(total=total, desc=type(flt).__name__, unit="img", file=sys.stderr)
    window: collections.deque[Future[Any]] = collections.deque()
    executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vance-map")
    watched = _outage.Watched(flt, _outage.Outage())

    def apply(image: Any) -> Any:
        return watched.apply(image, client=client, on_limit=on_limit, upload_format=upload_format)

    def submit(image: Any) -> Future[Any]:
        error = watched.outage.error()
        if error is not None:
            # The service is gone: fail the image here, without a thread or a read.
            failed: Future[Any] = Future()
            failed.set_exception(error)
            return failed
        # In the caller's context: a provenance recording around the batch sees every job.
        return executor.submit(contextvars.copy_context().run, apply, image)

    def close(wait: bool) -> None:
        for future in window:
            future.cancel()
        executor.shutdown(wait=wait, cancel_futures=True)
        if bar is not None:
            bar.close()

    closed = False
    try:
        for image in itertools.islice(images, 2 * concurrency):
            window.append(submit(image))
        while window:
            future = window.popleft()
            try:
                result = future.result()
            except BaseException as exc:
                if not return_exceptions or not isinstance(exc, Exception):
                    raise
                result = exc
            for image in itertools.islice(images, 1):
                window.append(submit(image))
            if bar is not None:
                bar.update(1)
            if not window:
                # The last result: tidy up before handing it out, since a caller such as
                # zip() may never ask for the next one.
                closed = True
                close(wait=True)
            yield result
    finally:
        if not closed:
            # An error, Ctrl-C or an abandoned iteration: don't make the caller wait for
            # the jobs in flight; they finish in the background and land in the cache.
            close(wait=False)
