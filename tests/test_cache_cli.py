"""``vance-filters cache``: where the kept results are, how big, and clearing them (issue 13, point 7)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import cli
from vance_filters._cache import DiskCache
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def filled(folder: Path, count: int, *, size: int = 1000, days_old: float = 0.0) -> DiskCache:
    cache = DiskCache(folder)
    for n in range(count):
        cache.put(key(n), b"r" * size)
        stamp = time.time() - days_old * 86400
        os.utime(cache._path(key(n)), (stamp, stamp))
    return cache


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "vance_filters"


def test_show_says_where_and_how_big(capsys: pytest.CaptureFixture[str], platform: Path) -> None:
    code, out, _ = run(capsys, "cache")
    assert code == 0
    assert f"folder:  {platform} (not created yet)" in out and "0 results, 0 B (0 bytes) of at most 2.0 GiB" in out
    filled(platform, 3, size=1000)
    code, out, _ = run(capsys, "cache", "show")
    assert code == 0 and "(not created yet)" not in out
    assert "3 results, 3.0 KiB (3108 bytes) of at most 2.0 GiB" in out and "used:" in out
    assert "removed 3 results" in run(capsys, "cache", "clear")[1]
    filled(platform, 1)
    assert "1 result," in run(capsys, "cache")[1]  # one result, not "1 results"


def test_show_as_json(capsys: pytest.CaptureFixture[str], platform: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filled(platform, 2, size=100)
    monkeypatch.setenv("VANCE_CACHE_MAX_BYTES", "1MiB")
    code, out, _ = run(capsys, "cache", "--json")
    report = json.loads(out)
    assert code == 0 and report["directory"] == str(platform)
    assert (report["entries"], report["bytes"], report["max_bytes"]) == (2, 272, 1024**2)
    assert report["oldest_use"] <= report["newest_use"] and "removed" not in report


def test_cache_dir_names_the_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, platform: Path) -> None:
    filled(tmp_path / "mine", 4, size=10)
    filled(platform, 1, size=10)
    report = json.loads(run(capsys, "--cache-dir", tmp_path / "mine", "cache", "--json")[1])
    assert report["directory"] == str(tmp_path / "mine") and report["entries"] == 4


def test_clear_everything(capsys: pytest.CaptureFixture[str], platform: Path) -> None:
    filled(platform, 5, size=1000)
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and "removed 5 results (5.1 KiB)" in out and "0 results, 0 B" in out
    assert not list(platform.rglob("*.bin"))


def test_clear_older_than_days(capsys: pytest.CaptureFixture[str], platform: Path) -> None:
    filled(platform, 3, size=10, days_old=40)
    cache = DiskCache(platform)
    cache.put(key(99), b"fresh")
    code, out, _ = run(capsys, "cache", "clear", "--older-than", "30", "--json")
    report = json.loads(out)
    assert code == 0 and (report["removed"], report["bytes_removed"]) == (3, 3 * 46)
    assert report["entries"] == 1 and cache.get(key(99)) == b"fresh"


def test_trim_to_a_size(capsys: pytest.CaptureFixture[str], platform: Path) -> None:
    cache = filled(platform, 10, size=1000, days_old=2)
    os.utime(cache._path(key(0)))  # just used: kept
    code, out, _ = run(capsys, "cache", "trim", "--max-size", "5kB", "--json")
    report = json.loads(out)
    assert code == 0 and report["max_bytes"] == 5000 and report["bytes"] <= 4500
    assert report["removed"] == 10 - report["entries"] and cache.get(key(0)) is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cache", "--older-than", "3"], "--older-than goes with 'cache clear'"),
        (["cache", "trim", "--max-size", "big"], "--max-size: 'big' is not a size"),
        (["cache", "clear", "--older-than", "-1"], "not allowed"),
        (["cache", "purge"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], platform: Path, argv: list[str], message: str) -> None:
    filled(platform, 1)
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert len(list(platform.rglob("*.bin"))) == 1  # nothing cleared


def test_a_bad_bound_variable_is_named(capsys: pytest.CaptureFixture[str], platform: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANCE_CACHE_MAX_BYTES", "plenty")
    code, _, err = run(capsys, "cache")
    assert code == 2 and "VANCE_CACHE_MAX_BYTES='plenty'" in err


def test_a_batch_fills_the_folder_the_command_shows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, vance_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vance_emulator.configure(job_duration=0.0)
    photos = tmp_path / "in"
    photos.mkdir()
    for n in range(3):
        Image.new("RGB", (16, 12), (n * 40, 90, 200)).save(photos / f"p{n}.png")
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    folder = tmp_path / "kept"
    assert run(capsys, "--cache-dir", folder, "denoise", photos, "-o", tmp_path / "out", "-q")[0] == 0
    report = json.loads(run(capsys, "--cache-dir", folder, "cache", "--json")[1])
    assert report["entries"] == 3 and report["bytes"] == sum(p.stat().st_size for p in folder.rglob("*.bin"))
    assert run(capsys, "--cache-dir", folder, "cache", "clear")[0] == 0
    count = vance_emulator.request_count("upload")
    assert run(capsys, "--cache-dir", folder, "denoise", photos, "-o", tmp_path / "out", "-q", "--overwrite")[0] == 0
    assert vance_emulator.request_count("upload") == count + 3  # cleared: asked (and paid) again
