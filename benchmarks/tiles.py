"""Benchmark of tiled processing (issue 16): time and peak memory against a floor.

The floor is measured in the same run, on the same tiles, at the same concurrency: encoding
every tile once (the upload policy's own ``imaging.prepare``), the protocol (upload /
transform / progress / download through ``Client.run_job``) and decoding every result. The
tiled run adds the cutting, the blending in place and the batch machinery. Targets: time
<= 1.3x the floor; peak memory (``tracemalloc``: numpy's buffers included) <= 3x the
result's bytes in memory mode, and bounded by a few tiles when streamed to a PNG
(``out=``): the band of output rows (a row of tiles), the rows carried to the next band,
and the results in flight (twice the tiles in flight, which streaming caps at 2). The
emulator runs in its own process, so its memory is not counted.

What the memory figure measures beside the result: the tiles in flight. There is no
fixed overhead (a 64 x 64 image peaks at 0.5 MB); each tile being decoded holds its
response's bytes and its decoded array beside the result (Pillow's own copy is not
traced), and up to ``2 x concurrency`` tiles are in flight. So the figure is the result
plus the in-flight share: 4 MP cut for a 1 MP limit is 5 tiles, all in flight at once
(3.2-3.5x); for 3.4 MP, 2 tiles (2.9-3.2x); for 0.5 MP, 12 tiles (2.5x); for 0.25 MP,
24 tiles (1.7x). The full run (40 MP at the service's 34 MP: 2 strips, both in flight)
is that worst case at a size where the decodes rarely overlap (2.3x). ``--quick`` cuts
4 MP for a 0.5 MP limit: many tiles, as a big image has, with a few in flight.

Usage::

    python benchmarks/tiles.py            # a 40 MP photo enlarged x2 at the service's limits
    python benchmarks/tiles.py --quick    # 4 MP for a 0.5 MP limit: 12 tiles, a few in flight
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import ExternalEmulator, noisy_photo

import vance_filters as vf
from vance_filters import _tiles_stream, imaging, tiles


def floor(client: vf.Client, flt: vf.Filter, src: np.ndarray, concurrency: int) -> float:
    """Encode every tile once, run its job, decode its result: nothing else."""
    run = tiles._prepare_run(flt, src, margin=None, force=False, max_pixels=None, max_result_pixels=None)
    jconfig = flt.to_jconfig()

    def one(crop: np.ndarray) -> int:
        prepared = imaging.prepare(crop, on_limit="raise")
        result = client.run_job(prepared.data, jconfig, filename=prepared.filename)
        with Image.open(io.BytesIO(result.data)) as img:
            return int(np.asarray(img).nbytes)

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, run.uploads()))
    return time.perf_counter() - start


def tiled(
    client: vf.Client, flt: vf.Filter, src: np.ndarray, concurrency: int, out: Path | None = None
) -> tuple[float, int, int]:
    """``(seconds, peak bytes allocated, result bytes)`` of ``tiles.apply`` (streamed to ``out``)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    result = tiles.apply(flt, src, client=client, concurrency=concurrency, out=out)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    height, width = src.shape[:2]
    return elapsed, peak, height * width * flt.scale**2 * 3 if out is not None else int(result.nbytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4 MP cut for a 0.5 MP limit (12 tiles)")
    parser.add_argument("--max-pixels", type=int, default=None, help="the tiler's upload limit (default: the run's)")
    args = parser.parse_args(argv)
    if args.quick:
        height, width = 2448, 1632
        tiles.MAX_PIXELS = 500_000
    else:
        height, width = 5168, 7744  # 40 MP
    if args.max_pixels is not None:
        tiles.MAX_PIXELS = args.max_pixels
    src = noisy_photo(height, width)
    flt = vf.Enlarge(scale=2)
    concurrency = 4
    layout = tiles.layout(width, height, scale=2)
    with ExternalEmulator(workers=concurrency) as emu, \
            vf.Client(emu.token, emu.url, cache=False) as client:
        floor_s = floor(client, flt, src, concurrency)
        tiled_s, peak, result_bytes = tiled(client, flt, src, concurrency)
        with tempfile.TemporaryDirectory() as folder:
            stream_s, stream_peak, _ = tiled(client, flt, src, concurrency, Path(folder) / "out.png")
    tile_bytes = max(t.pixels for t in layout) * flt.scale**2 * 3
    ratio = tiled_s / floor_s
    memory = peak / result_bytes
    per_row = len({t.col for t in layout})
    in_flight = min(len(layout), 2 * min(concurrency, _tiles_stream.STREAM_CONCURRENCY))  # as tiles.apply streams
    # A band (a row of tiles) and the rows carried to the next, the results in flight (each its
    # response's bytes and its array: 2), one being decoded, and the uploads in flight (their
    # crops and encoded bytes, 2 x concurrency of them at 1 / scale**2 of a result each: 1).
    few = per_row + 1 + 2 * in_flight + 1 + 1
    print(f"tiles: {width}x{height} ({width * height / 1e6:.1f} MP) x2 in {len(layout)} tiles"
          f" ({len(layout) // per_row} rows of {per_row}), at most {tiles.MAX_PIXELS / 1e6:.1f} MP each")
    print(f"time: {tiled_s:.2f} s vs floor {floor_s:.2f} s (encode once + protocol + decode):"
          f" {ratio:.2f}x, target <= 1.3x: {'ok' if ratio <= 1.3 else 'MISSED'}")
    print(f"peak memory: {peak / 1e6:.0f} MB for a {result_bytes / 1e6:.0f} MB result: {memory:.2f}x,"
          f" target <= 3x: {'ok' if memory <= 3 else 'MISSED'}")
    tiles_held = stream_peak / tile_bytes
    print(f"streamed to PNG: {stream_s:.2f} s, peak memory {stream_peak / 1e6:.0f} MB ="
          f" {tiles_held:.1f} largest tile results ({tile_bytes / 1e6:.0f} MB each),"
          f" {stream_peak / result_bytes:.2f}x the result; target <= {few} tiles (a band of {per_row},"
          f" the rows carried, {in_flight} results in flight x2, 1 decoding, the uploads):"
          f" {'ok' if tiles_held <= few else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
