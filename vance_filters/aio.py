"""asyncio: await a filter, or iterate over a batch, without blocking the event loop.

``await flt.apply_async(img)`` and ``async for r in vf.amap(flt, images)``
run on :meth:`Client.submit` (the same HTTP stack, connection pool and cache
as everything else, in the client's threads) and only *wait* in the event
loop. Cancelling a waiting task stops its waiting: a job not yet started is
never started, and a job under way (an upload, a server job, a download) runs
to its end in the background and lands in the result cache, so asking again
costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from . import _outage
from ._defaults import default_client
from .batch import check_concurrency, images_of
from .filters import Filter, OnLimit, UploadFormat

if TYPE_CHECKING:
    from .client import Client

__all__ = ["amap", "apply_async"]


async def apply_async(
    flt: Filter,
    image: Any,
    *,
    client: Client | None = None,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
) -> Any:
    """Await ``flt.apply(image)``, run in the client's threads: :meth:`Filter.apply_async`.

    Examples
    --------
    >>> import asyncio, numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = asyncio.run(apply_async(vf.Denoise(), np.zeros((6, 8), np.uint8), client=client))
    >>> out.shape
    (6, 8)
    """
    return await flt.apply_async(
        image, client=client, on_limit=on_limit, upload_format=upload_format
    )


async def amap(
    flt: Filter,
    images: Iterable[Any] | AsyncIterable[Any] | os.PathLike[str],
    *,
    concurrency: int = 8,
    client: Client | None = None,
    return_exceptions: bool = False,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
) -> AsyncIterator[Any]:
    """Apply ``flt`` to every image, ``concurrency`` at a time, yielding results in input order.

    The asyncio twin of :func:`vance_filters.map`.

    Parameters
    ----------
    flt : Filter
        Any filter or pipeline.
    images : iterable, async iterable, or a folder (str or os.PathLike)
        PIL images, arrays, bytes or paths; consumed lazily (at most about
        ``2 * concurrency`` are held at once). A folder stands for its image
        files, sorted by name.
    concurrency : int
        How many images are in flight at once (default 8). The client's
        connection pool is grown to match.
    client : Client, optional
        Default: the module-level client.
    return_exceptions : bool
        Yield a failed image's exception in its place and go on, instead of
        raising it (which cancels the images not yet started).
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
        As for :func:`vance_filters.map`: a few connection failures in a row
        and the images not done fail at once.

    Examples
    --------
    >>> import asyncio, numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> async def main(client):
    ...     images = [np.full((4, 4), i, np.uint8) for i in range(5)]
    ...     return [r.shape async for r in amap(vf.Enlarge(scale=2), images, client=client)]
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     asyncio.run(main(client))
    [(8, 8), (8, 8), (8, 8), (8, 8), (8, 8)]
    """
    check_concurrency(concurrency)
    if not isinstance(images, AsyncIterable):
        images = images_of(images)
    client = client if client is not None else default_client()
    client.ensure_pool(concurrency)
    slots = asyncio.Semaphore(concurrency)
    watched = _outage.Watched(flt, _outage.Outage())

    async def one(image: Any) -> Any:
        async with slots:
            watched.outage.check()  # the service is gone: fail without a thread or a read
            future = client.submit(image, watched, on_limit=on_limit, upload_format=upload_format)
            return await asyncio.wrap_future(future)

    source = _aiter(images)
    window: collections.deque[asyncio.Task[Any]] = collections.deque()
    exhausted = False

    async def refill(limit: int) -> None:
        nonlocal exhausted
        while not exhausted and len(window) < limit:
            try:
                image = await source.__anext__()
            except StopAsyncIteration:
                exhausted = True
                return
            window.append(asyncio.ensure_future(one(image)))

    try:
        await refill(2 * concurrency)
        while window:
            task = window[0]
            try:
                result = await task
            except Exception as exc:
                if not return_exceptions:
                    raise
                result = exc
            window.popleft()
            await refill(2 * concurrency)
            yield result
    finally:
        for task in window:
            task.cancel()
        if window:
            await asyncio.gather(*window, return_exceptions=True)


async def _aiter(images: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(images, AsyncIterable):
        async for image in images:
            yield image
    else:
        for image in images:
            yield image
