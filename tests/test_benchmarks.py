"""The benchmark suite still runs: a tiny version (one repetition, small sizes), no timing asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"

#: Every figure of issue 5 item 3, by the start of its table line.
FIGURES = (
    "overhead:",
    "upload prep:",
    "notice latency:",
    "progress requests/s after 2 s",
    "progress calls of one job:",
    "throughput:",
    "vs documented way:",
    "memory:",
    "cache:",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=100, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


@pytest.mark.timeout(120)
def test_quick_run_prints_every_figure_with_floor_and_target(quick_run: tuple[str, dict]) -> None:
    stdout, results = quick_run
    lines = stdout.splitlines()
    assert lines[0].startswith("machine: ") and "cores" in lines[0] and "Pillow" in lines[0]
    header = next(line for line in lines if line.startswith("figure"))
    assert all(word in header for word in ("measured", "floor", "ratio", "target"))
    for prefix in FIGURES:
        rows = [line for line in lines if line.startswith(prefix)]
        assert rows, f"no {prefix!r} line in:\n{stdout}"
        for row in rows:
            cells = [c.strip() for c in row.split("|")]
            assert len(cells) == 7 and cells[1] and cells[5], row
    names = [f["name"] for f in results["figures"]]
    assert len(names) == len([line for line in lines if line.startswith(FIGURES)])
    latency = [n for n in names if n.startswith("notice latency:") and "poll path" in n]
    assert len(latency) == 3 and any("blocking" in n for n in names) and any("blind" in n for n in names)


@pytest.mark.timeout(120)
def test_quick_run_writes_json_with_machine_and_every_figure(quick_run: tuple[str, dict]) -> None:
    _, results = quick_run
    assert results["quick"] is True
    assert {"cpu", "cores", "python", "pillow"} <= set(results["machine"])
    for figure in results["figures"]:
        assert {"name", "value", "unit", "floor", "ratio", "target", "ok"} <= set(figure)
        assert isinstance(figure["value"], (int, float)) and figure["target"]
    cache = [f for f in results["figures"] if f["name"].startswith("cache:")]
    assert all(f["detail"]["requests_second_call"] == [0] for f in cache)  # behaviour, not timing


@pytest.mark.timeout(120)
def test_quick_video_run_prints_its_figures_against_the_floor(tmp_path: Path) -> None:
    pytest.importorskip("av")
    out = tmp_path / "video.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--video-only", "--out", str(out)],
        capture_output=True, text=True, timeout=110, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("video")]
    assert len(rows) == 3, done.stdout  # two clips and the memory line
    for row in rows:
        cells = [c.strip() for c in row.split("|")]
        assert len(cells) == 7 and cells[1] and cells[2] and cells[4].endswith("x"), row
    figures = json.loads(out.read_text())["figures"]
    clips = [f for f in figures if f["name"].startswith("video:")]
    assert [f["detail"]["frames"] for f in clips] == [48, 96]  # every frame came out
    assert all(f["floor"] > 0 and f["target"] == ">= 0.8x" for f in clips)
