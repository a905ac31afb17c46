"""Video throughput and memory: ``vance_filters.video.process`` vs decoding + encoding alone.

    python benchmarks/video_throughput.py                          # 1080p -> 2160p, 5 s and 20 s clips
    python benchmarks/video_throughput.py --width 320 --height 180 --seconds 2 6   # quick

Needs the ``video`` extra (PyAV). Each clip (24 fps, H.264, every frame a
different picture, so nothing is a repeat: a photo-like picture — gradients,
grain, a textured band — panning, with a block moving across) is processed by
``video.process(Enlarge(scale=2), ...)`` against the emulator in its own
process (``vance-filters emulator``, zero-duration jobs: what is measured is
the client side — decode, upload encoding, HTTP, result decoding, encode).
The floor is the same run without the service: decode the clip, enlarge each
frame by pixel repetition and encode it with the same encoder settings, in
the same interpreter. Figures: frames per second of both, their ratio (target
>= 0.8x at enough concurrency), and each run's peak RSS in a fresh
subprocess, which must not grow with the clip's length (compare the clips).
CPU per frame is printed for the floor, the client and the emulator (whose
process shares the machine's cores with the client).

``--content noise`` makes every picture uniform noise instead: every codec's
worst case, and an unfair one here, since the encoder's cost depends on what
it is given: the floor encodes the decoded frames exactly repeated, the client
encodes the service's JPEG answers (the service's format for a JPEG upload),
and JPEG's error on noise is noise that H.264 at crf 18 spends several times
the bits (and CPU) on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import ExternalEmulator, machine, run_json_subprocess

_MAKE = """
import av, numpy as np, sys
sys.path.insert(0, sys.argv[6])
from _common import noisy_photo
path, width, height, seconds, content = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
out = av.open(path, "w")
stream = out.add_stream("libx264", rate=24)
stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
stream.options = {"preset": "ultrafast", "crf": "23"}
if content == "noise":
    base = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
else:  # a photo-like picture: gradients, grain, a textured band, and a block that moves
    base = noisy_photo(height, width, amp=12)
    yy, xx = np.mgrid[0:height, 0:width]
    base[((xx // 40 + yy // 40) % 2 == 0) & (yy < height // 3)] //= 2
for index in range(int(seconds * 24)):
    picture = np.roll(base, index * 7, axis=1)
    if content != "noise":
        left = (index * 23) % width
        picture[height // 2 : height // 2 + height // 9, left : left + width // 16] = (200, 60, 40)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
    frame.pts = index
    for packet in stream.encode(frame):
        out.mux(packet)
for packet in stream.encode():
    out.mux(packet)
out.close()
"""

_FLOOR = """
import av, json, resource, sys, time
from fractions import Fraction
import numpy as np
source, target = sys.argv[1], sys.argv[2]
start, cpu = time.perf_counter(), time.process_time()
frames = 0
with av.open(source) as inp, av.open(target, "w") as out:
    istream = inp.streams.video[0]
    ostream = out.add_stream("libx264", rate=istream.average_rate)
    ostream.width, ostream.height = istream.width * 2, istream.height * 2
    ostream.pix_fmt = "yuv420p"
    ostream.time_base = ostream.codec_context.time_base = istream.time_base
    ostream.options = {"crf": "18"}
    for frame in inp.decode(istream):
        picture = frame.to_ndarray(format="rgb24").repeat(2, axis=0).repeat(2, axis=1)
        result = av.VideoFrame.from_ndarray(picture, format="rgb24")
        result.pts, result.time_base = frame.pts, istream.time_base
        for packet in ostream.encode(result):
            out.mux(packet)
        frames += 1
    for packet in ostream.encode():
        out.mux(packet)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"frames": frames, "seconds": elapsed, "cpu_seconds": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_RUN = """
import json, os, resource, sys, time
import vance_filters as vf
from vance_filters import video
source, target, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
with vf.Client(os.environ["BENCH_TOKEN"], os.environ["BENCH_URL"], cache=False) as client:
    start, cpu = time.perf_counter(), time.process_time()
    report = video.process(vf.Enlarge(scale=2), source, target, client=client, concurrency=concurrency)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"frames": report.frames, "distinct": report.distinct, "seconds": elapsed, "cpu_seconds": cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _script(code: str, *args: object, env: dict[str, str] | None = None) -> dict[str, Any]:
    wrapped = f"import sys\nsys.argv = ['bench', {', '.join(repr(str(a)) for a in args)}]\n{code}"
    return run_json_subprocess(wrapped, env or {}, timeout=3600)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:  # pragma: no cover - not Linux
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(
    *, width: int, height: int, seconds: list[float], concurrency: int, content: str = "photo"
) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "size": [width, height], "concurrency": concurrency,
                               "content": content, "clips": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, ExternalEmulator(workers=concurrency, echo_jobs=True, credits=1e9) as emu:
        env = {"BENCH_TOKEN": emu.token, "BENCH_URL": emu.url}
        for length in seconds:
            clip = Path(folder) / f"clip{length:g}.mp4"
            here = os.path.dirname(os.path.abspath(__file__))
            make = (f"import sys\nsys.argv = ['make', {str(clip)!r}, '{width}', '{height}', '{length}', "
                    f"{content!r}, {here!r}]\n")  # fmt: skip
            run_json_or_none(make + _MAKE)
            floor = _script(_FLOOR, clip, Path(folder) / "floor.mp4")
            emulator_cpu = _cpu_of(emu.proc.pid)
            ours = _script(_RUN, clip, Path(folder) / "out.mp4", concurrency, env=env)
            emulator_cpu = _cpu_of(emu.proc.pid) - emulator_cpu
            row = {
                "seconds_of_video": length,
                "frames": ours["frames"],
                "floor_fps": floor["frames"] / floor["seconds"],
                "fps": ours["frames"] / ours["seconds"],
                "floor_peak_rss_mb": floor["peak_rss_mb"],
                "peak_rss_mb": ours["peak_rss_mb"],
                "floor_cpu_ms_per_frame": 1000 * floor["cpu_seconds"] / floor["frames"],
                "client_cpu_ms_per_frame": 1000 * ours["cpu_seconds"] / ours["frames"],
                "emulator_cpu_ms_per_frame": 1000 * emulator_cpu / ours["frames"],
                "floor_cores_busy": floor["cpu_seconds"] / floor["seconds"],
                "cores_busy": (ours["cpu_seconds"] + emulator_cpu) / ours["seconds"],
            }
            row["ratio"] = row["fps"] / row["floor_fps"]
            results["clips"].append(row)
            print(
                f"{length:g} s clip ({row['frames']} frames {width}x{height} -> {2 * width}x{2 * height}): "
                f"{row['fps']:.2f} fps vs floor {row['floor_fps']:.2f} fps ({row['ratio']:.2f}x, "
                f"target >= 0.8x); peak RSS {row['peak_rss_mb']:.0f} MB "
                f"(floor {row['floor_peak_rss_mb']:.0f} MB)\n"
                f"  CPU per frame: floor {row['floor_cpu_ms_per_frame']:.0f} ms "
                f"({row['floor_cores_busy']:.2f} cores busy); ours {row['client_cpu_ms_per_frame']:.0f} ms "
                f"client + {row['emulator_cpu_ms_per_frame']:.0f} ms emulator "
                f"({row['cores_busy']:.2f} cores busy of {results['machine']['cores']})",
                flush=True,
            )
    clips = results["clips"]
    if len(clips) > 1:
        growth = clips[-1]["peak_rss_mb"] - clips[0]["peak_rss_mb"]
        print(f"memory: peak RSS grows {growth:+.0f} MB from the {clips[0]['seconds_of_video']:g} s "
              f"to the {clips[-1]['seconds_of_video']:g} s clip")  # fmt: skip
        results["memory_growth_mb"] = growth
    return results


def run_json_or_none(code: str) -> None:
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, timeout=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--content", choices=("photo", "noise"), default="photo",
                        help="the clip's pictures: photo-like (default) or uniform noise (every "
                        "codec's worst case)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    results = run(width=args.width, height=args.height, seconds=args.seconds, concurrency=args.concurrency,
                  content=args.content)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
