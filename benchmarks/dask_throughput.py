"""Dask scale-out throughput: one worker process vs two, large photos, zero-duration emulator jobs.

    python benchmarks/dask_throughput.py                 # 8 photos of 33 MP (a few minutes on 2 cores)
    python benchmarks/dask_throughput.py --megapixels 4 --images 8   # quick

Each configuration runs ``vance_filters.dask.map(flt, paths, output_dir=...)``
on a fresh ``LocalCluster(n_workers=N, processes=True, threads_per_worker=1)``
against the emulator in its own process (``vance-filters emulator``), so the
service's stand-in work does not share a GIL with the workers. Jobs take no
server time: what is measured is the client side (decode, upload encoding,
HTTP, result decoding and writing), the part that scales with worker processes.
A local ``vf.map`` in this process at the same concurrency is the reference.

The workers get the token from their environment (the nanny's ``env``), as in
production; it is never in a task. Figures: wall time (median of
``--repeat``), images/s, MP/s and the speed-up over one worker. On a machine
with as many cores as workers plus the emulator the ideal speed-up is 2x; on
2 cores the emulator takes its share, so expect less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import ExternalEmulator, machine, median_time, noisy_photo

import vance_filters as vf


def _photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    """``count`` distinct noisy JPEG photos (q95, 4:3) of ``megapixels`` each."""
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = int(height * 4 / 3)
    base = noisy_photo(height, width, seed=0)
    paths = []
    for i in range(count):
        base[:16, :16] = i  # distinct bytes, so no result is a cache hit of another
        path = folder / f"photo{i:03d}.jpg"
        Image.fromarray(base).save(path, quality=95)
        paths.append(path)
    return paths


def run(*, megapixels: float, images: int, concurrency: int, workers: list[int], repeat: int) -> dict[str, Any]:
    import distributed

    import vance_filters.dask as vfd

    flt = vf.EnhanceFaces(format="jpg")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vf-dask-bench-") as tmp, ExternalEmulator(
        workers=max(8, 2 * concurrency * max(workers))
    ) as emu:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = _photos(folder, images, megapixels)
        print(f"made {images} photos of {megapixels:g} MP in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        env = {"VANCE_API_TOKEN": emu.token, "VANCE_API_BASE": emu.url}
        mp_total = images * megapixels

        run_id = 0

        def out_dir() -> Path:
            nonlocal run_id
            run_id += 1
            return folder / f"out{run_id}"

        # Reference: vf.map in this one process (threads, one GIL), the same concurrency.
        with vf.Client(emu.token, emu.url, cache=False) as client:
            def local() -> None:
                target = out_dir()
                target.mkdir()
                for path, data in zip(paths, vf.map(flt, (p.read_bytes() for p in paths),
                                                     concurrency=concurrency, client=client)):
                    (target / path.name).write_bytes(data)

            median, times = median_time(local, repeat)
        rows.append({"config": f"local vf.map, 1 process, concurrency {concurrency}",
                     "workers": 0, "seconds": median, "runs": times})

        for n in workers:
            with distributed.LocalCluster(
                n_workers=n, processes=True, threads_per_worker=1, host="127.0.0.1",
                dashboard_address=None, env=env,
            ) as cluster, distributed.Client(cluster) as dask_client, vf.Client(
                base_url=emu.url, cache=False
            ) as settings:
                # warm up the workers (imports) on a tiny image
                small = folder / "warm.png"
                Image.new("RGB", (8, 8)).save(small)
                vfd.map(flt, [small] * n, output_dir=out_dir(), client=settings, npartitions=n).compute()

                def scaled() -> None:
                    written = vfd.map(flt, paths, output_dir=out_dir(), client=settings,
                                      concurrency=concurrency).compute()
                    assert len(written) == images

                median, times = median_time(scaled, repeat)
                del dask_client
            rows.append({"config": f"dask, {n} worker process{'es' if n > 1 else ''}, "
                                   f"concurrency {concurrency} per partition",
                         "workers": n, "seconds": median, "runs": times})

    one = next((r["seconds"] for r in rows if r["workers"] == 1), None)
    for row in rows:
        row["images_per_s"] = images / row["seconds"]
        row["mp_per_s"] = mp_total / row["seconds"]
        row["speedup_vs_1_worker"] = (one / row["seconds"]) if one else None
    return {
        "benchmark": "dask_throughput",
        "megapixels": megapixels,
        "images": images,
        "concurrency": concurrency,
        "filter": repr(flt),
        "job_duration": 0.0,
        "machine": machine(),
        "rows": rows,
    }


def _table(result: dict[str, Any]) -> str:
    lines = [
        (f"{result['images']} photos x {result['megapixels']:g} MP, {result['filter']}, "
        f"zero-duration emulator jobs; {result['machine']['cores']} cores ({result['machine']['cpu']})"),
        f"{'configuration':<52} {'wall s':>8} {'img/s':>7} {'MP/s':>7} {'speed-up':>9}",
    ]
    for row in result["rows"]:
        speed = f"{row['speedup_vs_1_worker']:.2f}x" if row["speedup_vs_1_worker"] else "-"
        lines.append(
            f"{row['config']:<52} {row['seconds']:>8.2f} {row['images_per_s']:>7.2f} "
            f"{row['mp_per_s']:>7.1f} {speed:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=33.0, help="size of each photo [33]")
    parser.add_argument("--images", type=int, default=8, help="photos in the batch [8]")
    parser.add_argument("--concurrency", type=int, default=2, help="images in flight per partition [2]")
    parser.add_argument("--workers", default="1,2", help="worker-process counts to compare [1,2]")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (median) [1]")
    parser.add_argument("--json", type=Path, help="also write the figures there")
    args = parser.parse_args(argv)
    result = run(
        megapixels=args.megapixels,
        images=args.images,
        concurrency=args.concurrency,
        workers=[int(w) for w in args.workers.split(",")],
        repeat=args.repeat,
    )
    print(_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
