"""``tiles.apply(..., out=path)`` (private): a tiled result streamed to a PNG band by band.

Rows of tiles are blended into a band of output rows; the rows no later tile touches
are written (:class:`vance_filters._pngstream.PngStream`, Up-filtered, atomically) and
the band is dropped before the next is made, so only a band (a row of tiles) and the
results in flight are held, whatever the result's height. The file's provenance record
goes into room reserved before the image data.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import provenance as _provenance
from ._pngstream import PngStream
from .tiles import FEATHER, Tile, _blend, _Run

if TYPE_CHECKING:
    from .filters import Filter

__all__ = ["STREAM_CONCURRENCY", "run"]

#: Tiles in flight at most when streaming (their results wait in memory, up to twice as many).
STREAM_CONCURRENCY = 2


def _record_room(flt: Filter, results: int, service: str) -> int:
    """Bytes the provenance record of ``results`` results of ``flt`` takes, with room to spare."""
    job = _provenance.JobRecord(
        trans_id="x" * 64, cached=False, upload_sha256="0" * 64, jconfig=flt.to_jconfig(),
        credits=float(flt.cost) + 0.125, service=service, filter=repr(flt), input_sha256="0" * 64,
        spec=_provenance.filter_spec(flt),
    )
    recorder = _provenance.Recorder()
    for _ in range(results * len(flt.steps())):
        recorder.add(job)
    record = recorder.provenance()
    assert record is not None
    return len(record.to_xmp()) + 1024


def run(
    path: Path,
    flt: Filter,
    run: _Run,
    tiles_done: Callable[[int], Iterator[Any]],
    concurrency: int,
    service: str,
    digest: str | None,
) -> Path:
    """``apply(..., out=path)``: at most 2 tiles in flight (their results wait in memory), the
    jobs recorded for the file's provenance record."""
    tiles = run.tiles
    concurrency = min(concurrency, STREAM_CONCURRENCY)
    with _provenance.recording() as recorder:
        done = tiles_done(concurrency)
        anchor = np.asarray(next(done), dtype=np.float64) if run.anchored else None
        xs = sorted({(t.core[0], t.core[2]) for t in tiles})
        ys = sorted({(t.core[1], t.core[3]) for t in tiles})
        return _stream(
            path, done, tiles, xs, ys, flt.scale, anchor, run.factor, run.arr.shape[:2],
            room=_record_room(flt, len(tiles) + int(run.anchored), service),
            record=lambda: recorder.provenance(input_sha256=digest),
        )


def _stream(
    path: Path,
    done: Iterator[Any],
    tiles: list[Tile],
    xs: list[tuple[int, int]],
    ys: list[tuple[int, int]],
    scale: int,
    anchor: np.ndarray | None,
    factor: int,
    size: tuple[int, int],
    *,
    room: int,
    record: Callable[[], _provenance.Provenance | None],
) -> Path:
    """Blend row of tiles by row of tiles into a band, writing the rows no later tile touches;
    the file gets its name, with ``record()`` as its XMP, once every row is in."""
    height, width = size
    png: PngStream | None = None
    band: np.ndarray | None = None
    top = written = 0
    try:
        for tile, result in zip(tiles, done):
            result = np.asarray(result)
            if png is None:
                channels = result.shape[2] if result.ndim == 3 else 1
                png = PngStream(path, width=width * scale, height=height * scale, channels=channels,
                                dtype=result.dtype, xmp_room=room)
            if tile.col == 0:  # a new row of tiles: a new band, carrying the rows still open
                new_top = tile.crop[1] * scale
                rows = (tile.crop[3] - tile.crop[1]) * scale
                if band is not None:
                    final = (ys[tile.row][0] - FEATHER // 2) * scale  # this row's weights start here
                    png.write(band[written - top:final - top])
                    written = final
                    carried = band[new_top - top:].copy()
                    band = None  # dropped before the next band is made: one band at a time
                    _trim_heap()
                else:
                    carried = None
                band = np.zeros((rows, width * scale, *result.shape[2:]), result.dtype)
                if carried is not None:
                    band[: carried.shape[0]] = carried
                    del carried
                top = new_top
            assert band is not None
            _blend(band, top, result, tile, xs, ys, scale, anchor, factor)
            del result
        assert png is not None and band is not None  # layout gives at least one tile
        png.write(band[written - top:])
        provenance = record()
        png.xmp = None if provenance is None else provenance.to_xmp()
        return png.close()
    except BaseException:
        if png is not None:
            png.abort()
        raise


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def _trim_heap() -> None:
    """Give the memory freed so far back to the system (glibc's ``malloc_trim``).

    Decoded tiles come and go in blocks below glibc's mmap threshold, which its
    per-thread arenas keep once freed: without this a long stream's resident size
    creeps up with every tile (Dask's workers trim for the same reason).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
