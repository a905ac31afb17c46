"""Benchmarks of vance_filters against its emulator (issue 5).

Every figure is a ratio to a floor measured in the same run, on the same machine:

- overhead: ``vf.enlarge`` on a 1 MP photo (zero job time) vs. the same encode + a
  bare ``requests.Session`` doing upload / transform / progress / download + the same decode;
- upload preparation of a 33 MP noisy photo vs. one JPEG q95 encode (and: 1 MP goes lossless);
- notice latency for 0.3 s / 2 s / 10 s jobs: emulator ``JobRecord.finished_at`` to the
  client's download request, over a batch of like jobs (three waves of three) on the poll
  path (``transform`` answering at once, ``transform_wait=0``): the first wave meets a kind
  of job the client has not seen (blind polls; target: within 25% of the run time or
  0.5 s), the later waves a known kind (target: 0.4 s for short jobs); with the
  progress-request rate after each job's first two seconds (target: <= 1 a second) and
  the shortest gap between two progress calls of one job (never under 0.5 s: at most 2 a
  second); the default blocking transform is reported too;
- throughput: 64 images, 2 s jobs, concurrency 16, 16 emulator workers vs. 64/16 x 2 s (and
  0.5 s jobs, reported: shorter than a job polled at most twice a second can be seen); the
  client's shared request budget is lifted to 1000/s here: these figures measure the
  client's own cost, not the pace it keeps against the real service;
- the documented way (vendor's examples: ``requests.post`` per call, PNG, polling every 2 s,
  serially) vs. ``vf.map``;
- memory: a 33 MP RGB array through ``vf.denoise`` in a fresh process, emulator in another;
- cache: the second identical call vs. the first, and the requests it made;
- video (``--video``, needs the ``video`` extra): ``video.process(Enlarge(scale=2))`` at
  1080p -> 2160p on a 5 s and a 20 s clip vs. decoding + pixel-repetition enlarging +
  encoding the same clip alone (target >= 0.8x), and the peak RSS growth between the two
  clips (``benchmarks/video_throughput.py``; ``--quick``: 160x90, 2 s and 4 s).

Timing is ``time.perf_counter`` over several repetitions; figures are medians.

Usage::

    python benchmarks/run.py            # the full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # one repetition, small sizes: checks that it runs
    python benchmarks/run.py --video    # and the video figures (an hour at 1080p on 2 cores)
    python benchmarks/run.py --quick --video-only   # the video figures alone, small

Results go to ``benchmarks/results.json`` (``--out`` to change; quick runs write
``benchmarks/results-quick.json``).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    ExternalEmulator,
    Figure,
    machine,
    median_time,
    noisy_photo,
    run_json_subprocess,
)

import vance_filters as vf  # noqa: E402
from vance_filters import _encode  # noqa: E402
from vance_filters.imaging import prepare  # noqa: E402
from vance_filters.jobs import next_poll  # noqa: E402
from vance_filters.testing import Emulator, sample_image  # noqa: E402

DENOISE = vf.Denoise()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _client(emu: Emulator, **options: Any) -> vf.Client:
    return vf.Client(emu.api_token, emu.url, timeout=60, **options)


def _photos(n: int, size: tuple[int, int], offset: int = 0) -> list[Image.Image]:
    return [sample_image("photo", size=size, seed=offset + i) for i in range(n)]


# ---------------------------------------------------------------------------------------------
def bench_overhead(emu: Emulator, quick: bool) -> Figure:
    emu.reset()
    emu.configure(job_duration=0.0, workers=4, transform_wait=10.0)
    side = 256 if quick else 1000
    reps = 1 if quick else 9
    img = Image.fromarray(noisy_photo(side, side, seed=1))
    filt = vf.Enlarge(scale=2)
    jconfig = json.dumps(filt.to_jconfig())
    chosen = prepare(img)
    encode = _encode.encode_png if chosen.format == "png" else _encode.encode_jpeg
    session = requests.Session()
    base, token = emu.url, emu.api_token

    def floor() -> None:
        data = encode(img)
        up = session.post(f"{base}/upload", data={"api_token": token},
                          files={"file": (chosen.filename, data)}).json()["data"]
        job = session.post(f"{base}/transform", data={"api_token": token, "uid": up["uid"],
                                                      "jconfig": jconfig}).json()["data"]
        tid = job["trans_id"]
        session.post(f"{base}/progress", data={"api_token": token, "trans_id": tid}).json()
        body = session.post(f"{base}/download", data={"api_token": token, "trans_id": tid}).content
        Image.open(io.BytesIO(body)).load()

    client = _client(emu, cache=False)

    def library() -> None:
        filt.apply(img, client=client)

    floor(), library()  # warm up connections and imports
    floors, libs = [], []
    for _ in range(reps):  # interleaved, so both see the same machine load
        floors.append(median_time(floor, 1)[0])
        libs.append(median_time(library, 1)[0])
    client.close()
    session.close()
    f, v = statistics.median(floors), statistics.median(libs)
    return Figure(
        f"overhead: vf.enlarge {side}x{side} ({side * side / 1e6:.1f} MP), 0 s job", v * 1e3, "ms",
        f * 1e3, "encode + bare requests 4 calls + decode", v / f, "<= 1.10x", v / f <= 1.10,
        {"floor_runs_ms": [x * 1e3 for x in floors], "runs_ms": [x * 1e3 for x in libs],
         "upload_format": chosen.format},
    )


# ---------------------------------------------------------------------------------------------
def bench_prepare(quick: bool) -> list[Figure]:
    h, w = (900, 1300) if quick else (4700, 7000)
    max_bytes = 1_000_000 if quick else 10_000_000
    reps = 1 if quick else 3
    img = Image.fromarray(noisy_photo(h, w, seed=2))

    # The floor is the one encode the policy cannot avoid: JPEG q95 with 4:4:4 chroma (issue 5
    # item 1). Pillow's default q95 encode (4:2:0, ~1.5x faster still) is reported beside it.
    def floor() -> None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95, subsampling="4:4:4")

    def floor420() -> None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)

    holder: dict[str, Any] = {}

    def library() -> None:
        holder["p"] = prepare(img, max_bytes=max_bytes)

    floors, libs, f420s = [], [], []
    for _ in range(reps):
        floors.append(median_time(floor, 1)[0])
        f420s.append(median_time(floor420, 1)[0])
        libs.append(median_time(library, 1)[0])
    f, v, f420 = statistics.median(floors), statistics.median(libs), statistics.median(f420s)
    p = holder["p"]
    fits = len(p.data) <= max_bytes and p.size[0] * p.size[1] <= 34_000_000
    small = prepare(Image.fromarray(noisy_photo(1000, 1000, seed=3)))
    return [
        Figure(
            f"upload prep: {w}x{h} ({w * h / 1e6:.1f} MP) noisy photo", v * 1e3, "ms", f * 1e3,
            "one JPEG q95 4:4:4 encode", v / f, "<= 1.5x, fits limits", v / f <= 1.5 and fits,
            {"floor_runs_ms": [x * 1e3 for x in floors], "runs_ms": [x * 1e3 for x in libs],
             "format": p.format, "bytes": len(p.data), "size": p.size, "reason": p.reason},
        ),
        Figure(
            f"upload prep: {w}x{h} vs Pillow's default q95 (4:2:0)", v * 1e3, "ms", f420 * 1e3,
            "one JPEG q95 4:2:0 encode", v / f420, "(reported)", None,
            {"floor_runs_ms": [x * 1e3 for x in f420s]},
        ),
        Figure(
            "upload prep: 1000x1000 (1.0 MP) noisy photo is lossless", float(small.format == "png"),
            "bool", None, "-", None, "PNG", small.format == "png",
            {"format": small.format, "bytes": len(small.data), "reason": small.reason},
        ),
    ]


# ---------------------------------------------------------------------------------------------
def _job_metrics(emu: Emulator, trans_id: str) -> dict[str, float]:
    """Notice latency and progress calls of one job, from the emulator's own records."""
    job = emu.jobs[trans_id]
    records = emu.requests
    done = next(r.time for r in records if r.endpoint == "download" and r.params.get("trans_id") == trans_id)
    polls = [r.time for r in records if r.endpoint == "progress" and r.params.get("trans_id") == trans_id]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    return {
        "min_gap": min(gaps) if gaps else float("inf"),
        "latency": done - job.finished_at,
        "job_time": job.finished_at - job.started_at,
        "polls": len(polls),
        "polls_after_2s": len([t for t in polls if t - job.created_at > 2.0]),
        "time_after_2s": max(0.0, done - job.created_at - 2.0),
    }


def _batch_latency(emu: Emulator, duration: float, waves: int, per_wave: int,
                   seed: int) -> list[list[dict[str, float]]]:
    """A batch of like jobs on the poll path: ``waves`` waves of ``per_wave`` jobs at once.

    One client, as a batch would use it; the first wave meets a kind of job it has not
    seen (blind polling), the later ones one it has. Returns the metrics per wave.
    """
    emu.reset()
    emu.configure(job_duration=duration, workers=32, transform_wait=0.0)
    out = []
    with _client(emu, cache=False, pool_size=per_wave) as client:
        for wave in range(waves):
            images = [_png(sample_image("photo", size=(128, 96), seed=seed + wave * per_wave + i))
                      for i in range(per_wave)]
            with ThreadPoolExecutor(per_wave) as pool:
                results = list(pool.map(lambda data: client.run_job(data, DENOISE.to_jconfig()), images))
            out.append([_job_metrics(emu, r.trans_id or "") for r in results])
    return out


def _blocking_latency(emu: Emulator, durations: list[float], reps: int) -> dict[float, list[float]]:
    """The same jobs through the blocking ``transform`` (the emulator holds it up to 10 s), at once."""
    emu.reset()
    emu.configure(job_duration=0.0, workers=32, transform_wait=10.0)
    runs: dict[float, list[str]] = {d: [] for d in durations}
    with _client(emu, cache=False, pool_size=32) as client:
        threads = []
        for i, duration in enumerate(durations):
            emu.configure(job_duration=duration)  # jobs read it when they start
            for k in range(reps):
                data = _png(sample_image("photo", size=(128, 96), seed=2000 + i * reps + k))
                thread = threading.Thread(
                    target=lambda d=duration, b=data: runs[d].append(
                        client.run_job(b, DENOISE.to_jconfig()).trans_id or ""))
                thread.start()
                threads.append(thread)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sum(
                    1 for j in emu.jobs.values() if j.started_at is not None) < len(threads):
                time.sleep(0.005)
        for thread in threads:
            thread.join()
    return {d: [_job_metrics(emu, t)["latency"] for t in runs[d]] for d in durations}


def _blind_schedule_on_paper() -> dict[str, float]:
    """The blind schedule on paper, for job times spread log-uniformly over [2 s, 10 s]."""
    times, t = [], 0.0
    while t < 12:
        t = next_poll(t, poll_interval=2.0) + 0.003  # ~3 ms per progress round trip on loopback
        times.append(t)
    rel = []
    for k in range(400):
        job = 2.0 * 5.0 ** (k / 399)
        rel.append((next(t for t in times if t >= job) - job) / job)
    return {"mean_rel_latency_2_10s": statistics.mean(rel), "worst_rel_latency_2_10s": max(rel)}


def _rate(runs: list[dict[str, float]]) -> float:
    """Progress calls per second after each job's first two seconds, over ``runs``."""
    after = sum(r["time_after_2s"] for r in runs)
    return sum(r["polls_after_2s"] for r in runs) / after if after > 0 else 0.0


def bench_latency(emu: Emulator, quick: bool) -> list[Figure]:
    durations = [0.1, 0.3, 0.6] if quick else [0.3, 2.0, 10.0]
    waves, per_wave = (2, 1) if quick else (3, 3)
    figures = []
    batches = {d: _batch_latency(emu, d, waves, per_wave, 1000 + 100 * i) for i, d in enumerate(durations)}
    blocking = _blocking_latency(emu, durations, 1 if quick else 3)
    gaps = []
    for d in durations:
        runs = [run for wave in batches[d] for run in wave]
        known = [run for wave in batches[d][1:] for run in wave]
        gaps.extend(r["min_gap"] for r in runs)
        lat = statistics.median(r["latency"] for r in known)
        first = statistics.median(r["latency"] for r in batches[d][0])
        rate = _rate(runs)
        if d <= 2.0:
            target, ok = "<= 400 ms", lat <= 0.400
        else:
            target, ok = "<= 5% of job", lat <= 0.05 * d
        long_job = d > 2
        figures.append(Figure(
            f"notice latency: {d:g} s jobs, known kind (waves 2-{waves}, poll path)", lat * 1e3, "ms",
            d * 1e3, "job time", lat / d, target + ("; <= 1 poll/s after 2 s" if long_job else ""),
            ok and (rate <= 1.0 or not long_job),
            {"waves": batches[d], "rate_after_2s": rate, "first_wave_latency_ms": first * 1e3},
        ))
        new_bound = max(0.25 * d, 0.5)
        figures.append(Figure(
            f"notice latency: {d:g} s jobs, first wave of {per_wave} (new kind: blind polls)",
            first * 1e3, "ms",
            d * 1e3, "job time", first / d, f"<= 25% of job or 500 ms ({new_bound * 1e3:,.0f} ms)",
            first <= new_bound,
            {"blind_schedule_on_paper": _blind_schedule_on_paper()} if long_job else {},
        ))
        if d == durations[-1]:  # (quick runs have no job past 2 s: the line is shown, not judged)
            figures.append(Figure(
                f"progress requests/s after 2 s ({d:g} s jobs, batch)", rate, "req/s", None, "-", None,
                "<= 1.0", (rate <= 1.0) if long_job else None,
                {"blind_first_wave": _rate(batches[d][0])},
            ))
    shortest = min(gaps) if gaps else float("nan")
    figures.append(Figure(
        "progress calls of one job: shortest gap (every batch)", shortest * 1e3, "ms",
        None, "-", None, ">= 490 ms (at most 2 calls/s)",
        (shortest >= 0.49) if gaps and shortest != float("inf") else None,
        {"per_job_min_gaps": gaps},
    ))
    for d in durations:
        blat = statistics.median(blocking[d])
        figures.append(Figure(
            f"notice latency: {d:g} s job (default blocking transform)", blat * 1e3, "ms",
            d * 1e3, "job time", blat / d, "(reported)", None, {"runs": blocking[d]},
        ))
    return figures


# ---------------------------------------------------------------------------------------------
def bench_throughput(emu: Emulator, quick: bool, *, long_jobs: bool = False) -> Figure:
    """``long_jobs``: 2 s jobs (judged); else 0.5 s jobs, shorter than the poll floor lets
    the client see (a job is polled at most twice a second): reported, not judged."""
    if long_jobs:
        n, conc, job = (4, 4, 0.6) if quick else (64, 16, 2.0)
        reps = 1 if quick else 2
    else:
        n, conc, job = (8, 4, 0.2) if quick else (64, 16, 0.5)
        reps = 1 if quick else 3
    ideal = n / conc * job
    times = []
    # The emulator runs in its own process here: its request handling and image work would
    # otherwise share this process's GIL with the client whose own cost is being measured.
    with ExternalEmulator(workers=conc, job_duration=job) as external:
        for rep in range(reps):
            images = _photos(n, (256, 192), offset=10_000 + rep * n)
            with vf.Client(external.token, external.url, cache=False,
                           max_requests_per_second=1000) as client:
                start = time.perf_counter()
                out = list(vf.map(DENOISE, images, concurrency=conc, client=client))
                times.append(time.perf_counter() - start)
            assert len(out) == n
    v = statistics.median(times)
    return Figure(
        f"throughput: {n} images, {job:g} s jobs, concurrency {conc}", v * 1e3, "ms", ideal * 1e3,
        f"ideal {n}/{conc} x {job:g} s", v / ideal,
        "<= 1.2x" if long_jobs else "(reported: jobs under the 0.5 s poll floor)",
        v / ideal <= 1.2 if long_jobs else None,
        {"runs_ms": [x * 1e3 for x in times]},
    )


# ---------------------------------------------------------------------------------------------
def bench_documented(emu: Emulator, quick: bool) -> Figure:
    n, job, interval = (3, 0.1, 0.2) if quick else (32, 0.5, 2.0)
    emu.reset()
    emu.configure(job_duration=job, workers=16, transform_wait=0.0)
    images = _photos(n, (640, 480), offset=20_000)
    base, token = emu.url, emu.api_token
    jconfig = json.dumps(DENOISE.to_jconfig())

    def vendor_way() -> None:
        # As the vendor's Python examples do it: one plain requests.post per call, PNG files,
        # progress every 2 s, one image after another.
        for img in images:
            buf = io.BytesIO()
            img.save(buf, "PNG")
            r = requests.post(f"{base}/upload", data={"api_token": token},
                              files={"file": ("image.png", buf.getvalue(), "image/png")})
            uid = r.json()["data"]["uid"]
            r = requests.post(f"{base}/transform",
                              data={"api_token": token, "uid": uid, "jconfig": jconfig})
            data = r.json()["data"]
            tid, status = data["trans_id"], data["status"]
            while status != "finish":
                time.sleep(interval)
                r = requests.post(f"{base}/progress", data={"api_token": token, "trans_id": tid})
                status = r.json()["data"]["status"]
            r = requests.post(f"{base}/download", data={"api_token": token, "trans_id": tid})
            Image.open(io.BytesIO(r.content)).load()

    vendor, _ = median_time(vendor_way, 1)
    emu.reset()
    emu.configure(job_duration=job, workers=16, transform_wait=0.0)
    with _client(emu, cache=False) as client:
        start = time.perf_counter()
        list(vf.map(DENOISE, images, concurrency=16, client=client))
        ours = time.perf_counter() - start
    return Figure(
        f"vs documented way: {n} images, {job:g} s jobs", ours * 1e3, "ms", vendor * 1e3,
        "vendor's examples, serial, 2 s polls", vendor / ours, "speed-up (reported)", None,
        {"speedup": vendor / ours},
    )


# ---------------------------------------------------------------------------------------------
_MEMORY_CODE = r"""
import json, os, sys
sys.path.insert(0, {here!r})
from _common import noisy_photo
import numpy as np
import vance_filters as vf

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0

array = noisy_photo({h}, {w}, seed=5)
client = vf.Client(os.environ["VANCE_BENCH_TOKEN"], os.environ["VANCE_BENCH_URL"], timeout=120)
vf.denoise(np.zeros((8, 8, 3), np.uint8), client=client)  # imports, connection, thread pools
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the current RSS
    reset = True
except OSError:
    reset = False
base = status("VmRSS")
out = vf.denoise(array, client=client)
peak = status("VmHWM")
print(json.dumps({{"base": base, "peak": peak, "growth": peak - base, "nbytes": array.nbytes,
                  "reset": reset, "out_shape": list(out.shape), "out_dtype": str(out.dtype)}}))
"""


def bench_memory(quick: bool) -> Figure:
    h, w = (600, 800) if quick else (4700, 7000)
    with ExternalEmulator(workers=2) as emu:
        res = run_json_subprocess(
            _MEMORY_CODE.format(here=str(HERE), h=h, w=w),
            {"VANCE_BENCH_TOKEN": emu.token, "VANCE_BENCH_URL": emu.url},
        )
    ratio = res["growth"] / res["nbytes"]
    ok = ratio <= 4.0 and res["reset"]
    return Figure(
        f"memory: {w}x{h} ({w * h / 1e6:.1f} MP) uint8 RGB through vf.denoise",
        res["growth"] / 1e6, "MB", res["nbytes"] / 1e6, "array size", ratio, "<= 4x", ok, res,
    )


# ---------------------------------------------------------------------------------------------
def bench_cache(emu: Emulator, quick: bool) -> list[Figure]:
    """Second identical call vs the first, with a 2 s job (a real job takes seconds) and with
    a 0 s job (then the first call is only the local work plus loopback HTTP)."""
    reps = 1 if quick else 3
    side = 256 if quick else 1000
    figures = []
    for job in ((0.2, 0.0) if quick else (2.0, 0.0)):
        emu.reset()
        emu.configure(job_duration=job, workers=4, transform_wait=10.0)
        firsts, seconds, extra = [], [], []
        with _client(emu) as client:
            for rep in range(reps):
                img = Image.fromarray(noisy_photo(side, side, seed=100 + rep + int(job * 10)))
                firsts.append(median_time(lambda: vf.denoise(img, client=client), 1)[0])
                before = emu.request_count()
                seconds.append(median_time(lambda: vf.denoise(img, client=client), 1)[0])
                extra.append(emu.request_count() - before)
        f, s = statistics.median(firsts), statistics.median(seconds)
        # The target is judged with a job of realistic length; with a 0 s job the "first call"
        # is only local work on loopback, so that row is reported (with its request count).
        judged = job > 0
        figures.append(Figure(
            f"cache: 2nd identical vf.denoise ({side}x{side}), {job:g} s job", s * 1e3, "ms",
            f * 1e3, "first call", f / s,
            ">= 100x faster, 0 requests" if judged else "0 requests (ratio reported)",
            (f / s >= 100 if judged else True) and max(extra) == 0,
            {"requests_second_call": extra, "first_ms": [x * 1e3 for x in firsts],
             "second_ms": [x * 1e3 for x in seconds]},
        ))
    return figures


# ---------------------------------------------------------------------------------------------
def bench_video(quick: bool) -> list[Figure]:
    """``benchmarks/video_throughput.py``'s figures as table lines (skipped without PyAV)."""
    try:
        import av  # noqa: F401
    except ImportError:
        print("video: skipped (PyAV is missing: pip install 'vance-filters[video]')")
        return []
    import video_throughput

    (w, h), seconds = ((160, 90), [2.0, 4.0]) if quick else ((1920, 1080), [5.0, 20.0])
    results = video_throughput.run(width=w, height=h, seconds=seconds, concurrency=8)
    figures = []
    for row in results["clips"]:
        figures.append(Figure(
            f"video: {w}x{h} -> {2 * w}x{2 * h} Enlarge x2, {row['seconds_of_video']:g} s clip",
            row["fps"], "frames/s", row["floor_fps"], "decode + enlarge + encode alone",
            row["ratio"], ">= 0.8x", row["ratio"] >= 0.8, row,
        ))
    first, last = results["clips"][0], results["clips"][-1]
    growth = last["peak_rss_mb"] / first["peak_rss_mb"]
    figures.append(Figure(
        f"video memory: peak RSS, {last['seconds_of_video']:g} s vs {first['seconds_of_video']:g} s clip",
        last["peak_rss_mb"], "MB", first["peak_rss_mb"], "the shorter clip", growth,
        "<= 1.1x (no growth with length)", growth <= 1.1,
    ))
    return figures


# ---------------------------------------------------------------------------------------------
def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "bool":
        return "yes" if value else "no"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()


def print_table(figures: list[Figure], info: dict[str, Any], elapsed: float) -> None:
    print(f"machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
          f"Pillow {info['pillow']}, numpy {info['numpy']}, requests {info['requests']}")
    head = ("figure", "measured", "floor", "floor is", "ratio", "target", "ok")
    rows = [head]
    for f in figures:
        ok = "-" if f.ok is None else ("PASS" if f.ok else "FAIL")
        rows.append((f.name, _fmt(f.value, f.unit), _fmt(f.floor, f.unit if f.floor is not None
                     and f.unit != "bool" else ""), f.floor_label, _fmt(f.ratio, "x"), f.target, ok))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        print(" | ".join(c.ljust(widths[i]) for i, c in enumerate(row)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))
    print(f"total benchmark time: {elapsed:.0f} s")


def markdown_table(results: dict[str, Any]) -> str:
    """The README's table from a results file (``--markdown``)."""
    info = results["machine"]
    lines = [
        f"Latest run ({info['cpu']}, {info['cores']} cores; Python {info['python']}, Pillow "
        f"{info['pillow']}, numpy {info['numpy']}, requests {info['requests']}; "
        f"{results['elapsed_s']:.0f} s):",
        "",
        "| figure | measured | floor | ratio | target | ok |",
        "|---|---|---|---|---|---|",
    ]
    for f in results["figures"]:
        unit = f["unit"]
        floor = _fmt(f["floor"], unit if f["floor"] is not None and unit != "bool" else "")
        floor = f"{floor} ({f['floor_label']})" if f["floor"] is not None else "-"
        ok = "-" if f["ok"] is None else ("PASS" if f["ok"] else "FAIL")
        lines.append(f"| {f['name']} | {_fmt(f['value'], unit)} | {floor} | {_fmt(f['ratio'], 'x')} "
                     f"| {f['target']} | {ok} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repetition, small sizes (checks that it runs; no real figures)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON results")
    parser.add_argument("--video", action="store_true",
                        help="add the video figures (needs the video extra; long at full size)")
    parser.add_argument("--video-only", action="store_true", help="only the video figures")
    parser.add_argument("--markdown", type=Path, default=None, metavar="RESULTS",
                        help="print the README's table from a results file, without running")
    args = parser.parse_args(argv)
    if args.markdown is not None:
        print(markdown_table(json.loads(args.markdown.read_text())))
        return 0
    out = args.out or HERE / ("results-quick.json" if args.quick else "results.json")
    start = time.perf_counter()
    info = machine()
    figures: list[Figure] = []
    if not args.video_only:
        with Emulator(workers=16) as emu:
            figures.append(bench_overhead(emu, args.quick))
            figures += bench_prepare(args.quick)
            figures += bench_latency(emu, args.quick)
            figures.append(bench_throughput(emu, args.quick))
            figures.append(bench_throughput(emu, args.quick, long_jobs=True))
            figures.append(bench_documented(emu, args.quick))
            figures += bench_cache(emu, args.quick)
        figures.append(bench_memory(args.quick))
    if args.video or args.video_only:
        figures += bench_video(args.quick)
    elapsed = time.perf_counter() - start
    print_table(figures, info, elapsed)
    out.write_text(json.dumps({"machine": info, "quick": args.quick, "elapsed_s": elapsed,
                               "figures": [asdict(f) for f in figures]}, indent=2, default=str))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
