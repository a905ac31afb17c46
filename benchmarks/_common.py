"""Shared helpers for the benchmarks: timing, test images, the machine, subprocess emulators."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def noisy_photo(height: int, width: int, *, amp: int = 8, seed: int = 0) -> np.ndarray:
    """A synthetic noisy RGB photo: smooth gradients plus uniform noise (uint8, built in place)."""
    rng = np.random.default_rng(seed)
    photo = np.empty((height, width, 3), np.uint8)
    photo[:] = np.linspace(0, 120, width).astype(np.uint8)[None, :, None]
    photo += np.linspace(0, 100, height).astype(np.uint8)[:, None, None]
    photo[..., 1] //= 2
    for row in range(0, height, 512):  # noise in bands: no 8-byte-per-value temporaries
        band = photo[row : row + 512]
        band += rng.integers(0, amp, size=band.shape, dtype=np.uint8)
    return photo


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeat`` runs (``time.perf_counter``)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine() -> dict[str, Any]:
    """CPU model, cores, Python, Pillow, numpy, requests versions."""
    import PIL
    import requests

    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return {
        "cpu": model,
        "cores": cores,
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "requests": requests.__version__,
        "platform": platform.platform(),
    }


@dataclass
class Figure:
    """One line of the table: a measurement, its floor and its target."""

    name: str
    value: float
    unit: str
    floor: float | None
    floor_label: str
    ratio: float | None
    target: str
    ok: bool | None
    detail: dict[str, Any] = field(default_factory=dict)


class ExternalEmulator:
    """``vance-filters emulator --port 0`` in its own process (its memory is not ours)."""

    def __init__(self, *, workers: int = 4, job_duration: float = 0.0, echo_jobs: bool = False,
                 credits: float = 500.0) -> None:
        cmd = [sys.executable, "-m", "vance_filters", "emulator", "--port", "0",
               "--workers", str(workers), "--job-duration", str(job_duration), "--credits", str(credits)]
        cmd += ["--echo-jobs"] if echo_jobs else []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.url = self.token = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (self.url and self.token):
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on" in line:
                self.url = line.rsplit(" ", 1)[1].strip()
            elif line.startswith("API token:"):
                self.token = line.split(":", 1)[1].strip()
        if not (self.url and self.token):
            self.close()
            raise RuntimeError("the emulator subprocess did not start")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ExternalEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_json_subprocess(code: str, env: dict[str, str], timeout: float = 240) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"subprocess failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
