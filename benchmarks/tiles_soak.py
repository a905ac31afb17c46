"""Soak of streamed tiles (issue 16): a 100 MP image enlarged x4 (1.6 GP) written to disk.

The command line does it, as a user would (``vance-filters enlarge big.png --scale 4
--on-limit tile -o out/``), in a subprocess whose peak RSS is measured; the emulator
runs in a process of its own. The result (4.8 GB of pixels) is never whole in memory:
the command holds the input, a band of output rows (a row of tiles), the results in
flight and the client's bounded in-memory caches. The bound checked is written down
in :func:`bound`; it grows with the image's width (a row of tiles), not its height.

The written PNG is then checked without decoding it whole: its header's size, and
bands of rows around seams and in a tile's middle, decoded by zlib over its IDAT
chunks (the stream writes Up-filtered rows), against the emulator's stand-in run
locally on the matching crops.

Tiles are cut for a 64 MP result cap (``--result-cap``, the module constant the
tiler reads: 4 rows of 7 tiles of ~180 MB results): at the service's 256 MP the
image is 7 strips of ~750 MB results each, and "a few tiles" would be most of the
result; smaller tiles also keep the emulator's own memory (it keeps every result it
made) reasonable on a shared machine.

Usage::

    python benchmarks/tiles_soak.py                # 12288 x 8192 (100.7 MP) x4
    python benchmarks/tiles_soak.py --json         # one JSON line of figures at the end
    VANCE_TILES_SOAK=1 pytest tests/test_tiles_stream.py -k soak
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import ExternalEmulator, noisy_photo

import vance_filters as vf
from vance_filters import _tiles_stream, tiles
from vance_filters._cache import DEFAULT_MEMORY_BYTES
from vance_filters._memo import MEMO_BYTES
from vance_filters.testing import _images, _processing
from vance_filters.testing._jconfig import parse

#: Input pixels each side of a seam compared, and context for the stand-in's reach.
BAND, CONTEXT = 32, 48
#: The command run in the measured subprocess: the CLI, with the tiler's result cap set.
_RUN = """
import json, resource, sys, time
from vance_filters import cli, tiles
tiles.MAX_RESULT_PIXELS = int(sys.argv[1])
start = time.perf_counter()
code = cli.main(sys.argv[2:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def bound(input_file: int, input_array: int, tile_result: int, per_row: int, concurrency: int) -> int:
    """What the streaming command may hold at its peak, whatever the result's height.

    The input: its file's bytes (and the copy Pillow opens), the decoded array (and Pillow's
    own while decoding). Tiles: the band of output rows (a row of tiles) and the rows carried
    to the next (1), the results in flight (twice the tiles in flight, each as its
    response's bytes and its decoded array: 2 each), one being decoded (Pillow's and
    numpy's: 2). Then the client's in-memory result cache and memo (their own caps) and
    the interpreter.
    """
    tiles_held = per_row + 1 + 2 * (2 * concurrency) + 2
    return (2 * input_file + 2 * input_array + tiles_held * tile_result
            + DEFAULT_MEMORY_BYTES + MEMO_BYTES + 400_000_000)


def read_rows(path: Path, width: int, channels: int, wanted: list[tuple[int, int]]) -> dict[int, np.ndarray]:
    """Rows ``[a, b)`` for each wanted range, decoded by zlib over the IDAT chunks of a PNG
    whose rows are unfiltered or Up-filtered, one chunk at a time (only the wanted rows and
    the row above are kept)."""
    stride = 1 + width * channels
    above = np.zeros(width * channels, np.uint8)
    inflate = zlib.decompressobj()
    pending = bytearray()
    row = 0
    out: dict[int, list[bytes]] = {a: [] for a, _ in wanted}
    last = max(b for _, b in wanted)
    with path.open("rb") as fh:
        fh.seek(8)
        while row < last:
            header = fh.read(8)
            if len(header) < 8:
                break
            (length,) = struct.unpack(">I", header[:4])
            if header[4:] != b"IDAT":
                fh.seek(length + 4, os.SEEK_CUR)
                continue
            pending += inflate.decompress(fh.read(length))
            fh.seek(4, os.SEEK_CUR)
            whole = len(pending) // stride
            if not whole:
                continue
            lines = np.frombuffer(bytes(pending[: whole * stride]), np.uint8).reshape(whole, stride)
            assert set(np.unique(lines[:, 0]).tolist()) <= {0, 2}, "rows filtered otherwise: not the stream's"
            decoded = np.empty((whole, stride - 1), np.uint8)
            for i in range(whole):  # Up: each byte plus the byte above, modulo 256
                above = lines[i, 1:] + above if lines[i, 0] == 2 else lines[i, 1:].copy()
                decoded[i] = above
            for a, b in wanted:
                lo, hi = max(a, row), min(b, row + whole)
                for r in range(lo, hi):
                    out[a].append(decoded[r - row].tobytes())
            del pending[: whole * stride]
            row += whole
    return {a: np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), width, channels)
            for a, rows in out.items()}


def stand_in(flt: vf.Filter, crop: np.ndarray) -> np.ndarray:
    """The emulator's stand-in run here on ``crop`` uploaded as PNG (as the tiles were)."""
    steps = parse(flt.to_jconfig(), known_uid=lambda uid: True).steps
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, "PNG", compress_level=1)
    limit = _images.MAX_UPLOAD_PIXELS
    _images.MAX_UPLOAD_PIXELS = 10**9  # a local run: no upload limit
    try:
        data, _ = _processing.run(buf.getvalue(), "png", steps)
    finally:
        _images.MAX_UPLOAD_PIXELS = limit
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def verify(path: Path, src: np.ndarray, flt: vf.Filter, layout: list[tiles.Tile]) -> dict[str, object]:
    """The header's size, and bands around seams / in a middle against the stand-in."""
    scale = flt.scale
    height, width = src.shape[:2]
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as img:  # the header only: nothing is decoded
        size = list(img.size)
    seams = sorted({t.core[1] for t in layout if t.core[1] > 0})
    picked = sorted({seams[0], seams[len(seams) // 2], seams[-1]})
    middle = (layout[0].core[1] + layout[0].core[3]) // 2
    centres = [*picked, middle]
    wanted = [((c - BAND) * scale, (c + BAND) * scale) for c in centres]
    bands = read_rows(path, width * scale, 3, wanted)
    errors = []
    for c, (a, _) in zip(centres, wanted):
        lo, hi = max(0, c - BAND - CONTEXT), min(height, c + BAND + CONTEXT)
        ref = stand_in(flt, np.ascontiguousarray(src[lo:hi]))
        ref_band = ref[(c - BAND - lo) * scale:(c + BAND - lo) * scale]
        diff = np.abs(ref_band.astype(np.int16) - bands[a].astype(np.int16))
        errors.append({"row": c, "seam": c in picked, "max": int(diff.max()), "mean": float(diff.mean())})
    return {"size": size, "bands": errors, "max_band_error": max(e["max"] for e in errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=12288)
    parser.add_argument("--height", type=int, default=8192)
    parser.add_argument("--result-cap", type=int, default=64_000_000, help="pixels per tile result")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)
    flt = vf.Enlarge(scale=4)
    width, height = args.width, args.height
    folder = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        started = time.perf_counter()
        src = noisy_photo(height, width)
        source = folder / "big.png"
        Image.fromarray(src).save(source, compress_level=1)
        made = time.perf_counter() - started
        layout = tiles.layout(width, height, scale=4, max_result_pixels=args.result_cap)
        per_row = len({t.col for t in layout})
        concurrency = _tiles_stream.STREAM_CONCURRENCY  # as tiles.apply streams
        out = folder / "out"
        with ExternalEmulator(workers=2) as emu:
            env = {**os.environ, "VANCE_API_TOKEN": emu.token, "VANCE_API_BASE": emu.url}
            cmd = [sys.executable, "-c", _RUN, str(args.result_cap), "enlarge", os.fspath(source), "--scale", "4",
                   "--on-limit", "tile", "-o", os.fspath(out), "-q", "-j", "1"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        run = json.loads(done.stdout.strip().splitlines()[-1])
        written = out / "big.png"
        tile_result = max(t.pixels for t in layout) * 16 * 3
        figures: dict[str, object] = {
            "width": width,
            "height": height,
            "tiles": len(layout),
            "result_cap": args.result_cap,
            "input_seconds": round(made, 1),
            "seconds": round(run["seconds"], 1),
            "code": run["code"],
            "peak_rss": run["peak_rss"],
            "result_bytes": width * height * 16 * 3,
            "tile_result_bytes": tile_result,
            "file_bytes": written.stat().st_size,
            "tiles_per_row": per_row,
            "bound": bound(source.stat().st_size, src.nbytes, tile_result, per_row, concurrency),
            "record_trans_ids": len(vf.provenance.read(written).trans_ids),  # type: ignore[union-attr]
        }
        figures.update(verify(written, src, flt, layout))
    finally:
        if args.dir is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    gb = 1e9
    print(f"soak: {width}x{height} ({width * height / 1e6:.1f} MP) x4 -> {figures['size']}"
          f" in {figures['tiles']} tiles of <= {args.result_cap / 1e6:.0f} MP results, {figures['seconds']} s")
    print(f"peak RSS {int(figures['peak_rss']) / gb:.2f} GB (bound {int(figures['bound']) / gb:.2f} GB;"  # type: ignore[call-overload]
          f" the result is {int(figures['result_bytes']) / gb:.2f} GB, one tile's {tile_result / gb:.2f} GB);"  # type: ignore[call-overload]
          f" PNG {int(figures['file_bytes']) / gb:.2f} GB")  # type: ignore[call-overload]
    print("bands vs the stand-in: " + ", ".join(
        f"row {e['row']}{' (seam)' if e['seam'] else ''}: max {e['max']}, mean {e['mean']:.3f}"  # type: ignore[index]
        for e in figures["bands"]))  # type: ignore[attr-defined]
    if args.json:
        print(json.dumps(figures))
    return 0 if figures["code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
