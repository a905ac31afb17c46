"""The disk cache is bounded: least recently used results go first, cheaply, under many processes (issue 13, point 7)."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import _cache
from vance_filters._cache import (
    CACHE_MAX_ENV,
    DEFAULT_DISK_BYTES,
    DiskCache,
    disk_max_bytes,
    format_bytes,
    parse_bytes,
)
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(90)

HEAD = 36  # magic + SHA-256 before the data of each entry


def key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()  # spread over the shard folders


def entry_keys(folder: Path) -> set[str]:
    return {p.stem for p in folder.rglob("*.bin")}


def age(cache: DiskCache, k: str, seconds: float) -> None:
    """Make the entry of ``k`` look last used ``seconds`` ago."""
    stamp = time.time() - seconds
    os.utime(cache._path(k), (stamp, stamp))


def test_a_full_cache_drops_the_least_recently_used(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=5 * (1000 + HEAD))
    for n in range(5):
        cache.put(key(n), bytes([n]) * 1000)
        age(cache, key(n), 100 - n)  # 0 oldest ... 4 newest
    assert cache.get(key(0)) is not None  # a hit makes 0 the most recently used
    cache.put(key(5), b"x" * 1000)  # over the bound: trimmed to 90 % of it, oldest first
    assert entry_keys(tmp_path) == {key(0), key(3), key(4), key(5)}
    assert cache.stats().bytes <= 0.9 * cache.max_bytes


def test_a_result_larger_than_the_bound_is_not_kept(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=500)
    cache.put(key(1), b"x" * 100)
    cache.put(key(2), b"y" * 1000)
    assert cache.get(key(2)) is None and cache.get(key(1)) == b"x" * 100


def test_the_newest_entry_survives_its_own_trim(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000 + HEAD)
    cache.put(key(1), b"a" * 500)
    cache.put(key(2), b"b" * 1000)  # alone it fills more than 90 % of the bound
    assert entry_keys(tmp_path) == {key(2)}


def test_puts_do_not_list_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One scan per process (the first write), then only when the estimate passes the bound."""
    cache = DiskCache(tmp_path, max_bytes=10 * 1024**2)
    scans = []
    real = _cache.os.scandir
    monkeypatch.setattr(_cache.os, "scandir", lambda path: scans.append(path) or real(path))
    for n in range(100):
        cache.put(key(n), b"z" * 100)
    first = len(scans)
    assert first <= 3  # the first write measured the folder (its root and a shard or two)
    for n in range(100, 150):
        cache.get(key(n - 100))
        cache.put(key(n), b"z" * 100)
    assert len(scans) == first  # 50 more writes and hits: no listing


def test_another_process_writing_is_seen_at_the_next_scan(tmp_path: Path) -> None:
    bound = 10 * (1000 + HEAD)
    mine, theirs = DiskCache(tmp_path, max_bytes=bound), DiskCache(tmp_path, max_bytes=bound)
    mine.put(key(0), b"m" * 1000)  # measured: one entry
    for n in range(1, 20):
        theirs.put(key(n), b"t" * 1000)  # the other writer keeps the folder within its bound
    assert mine.stats().bytes <= bound
    assert len(entry_keys(tmp_path)) <= 10


def _fill(directory: str, start: int, count: int, bound: int) -> None:
    cache = DiskCache(directory, max_bytes=bound)
    for n in range(start, start + count):
        cache.put(key(n), os.urandom(2000))
        cache.get(key(max(start, n - 3)))


def test_many_processes_trimming_one_folder(tmp_path: Path) -> None:
    """Files vanish under each other's scans: no error, no damaged entry, and the bound roughly holds."""
    bound = 40 * (2000 + HEAD)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_fill, args=(str(tmp_path), i * 1000, 120, bound)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    reader = DiskCache(tmp_path, max_bytes=bound)
    stats = reader.stats()
    # each writer may overshoot by an eighth of the bound before it measures again
    assert 0 < stats.bytes <= bound * (1 + 4 / 8)
    assert all(reader.get(k) is not None for k in entry_keys(tmp_path))  # every survivor is whole
    reader.trim()
    assert reader.stats().bytes <= bound


def test_clear_and_clear_older_than(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    for n in range(4):
        cache.put(key(n), b"q" * 10)
    age(cache, key(0), 10 * 86400)
    age(cache, key(1), 3 * 86400)
    stale = tmp_path / key(2)[:2] / f".{key(2)[:8]}-crashed.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert cache.clear(older_than=7 * 86400) == (1, 10 + HEAD)
    assert entry_keys(tmp_path) == {key(1), key(2), key(3)} and not stale.exists()
    assert cache.clear() == (3, 3 * (10 + HEAD))
    assert cache.stats().entries == 0 and list(tmp_path.iterdir()) == []
    cache.put(key(9), b"after")  # the folder works after a clear
    assert cache.get(key(9)) == b"after"
    with pytest.raises(ValueError, match="older_than"):
        cache.clear(older_than=-1)


def test_a_missing_folder_is_an_empty_cache(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "never-written")
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.oldest) == (0, 0, None)
    assert cache.clear() == (0, 0) and cache.trim() == (0, 0)


# --------------------------------------------------------------------------- the bound's settings


def test_the_bound_argument_then_environment_then_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert disk_max_bytes() == DEFAULT_DISK_BYTES == 2 * 1024**3
    monkeypatch.setenv(CACHE_MAX_ENV, "500MB")
    assert disk_max_bytes() == 500_000_000
    assert disk_max_bytes(1234) == 1234
    with Client("t" * 32, "https://api-service.vanceai.com/web_api/v1", cache_dir=tmp_path) as client:
        assert client.cache.disk.max_bytes == 500_000_000  # type: ignore[union-attr]
    with Client("t" * 32, "https://api-service.vanceai.com/web_api/v1", cache_dir=tmp_path,
                cache_max_bytes=4096) as client:
        assert client.cache.disk.max_bytes == 4096  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1GB", True])
def test_a_bad_bound_argument_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match="cache_max_bytes=.*VANCE_CACHE_MAX_BYTES"):
        Client("t" * 32, "https://api-service.vanceai.com/web_api/v1", cache_max_bytes=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["lots", "-1", "0", "5 parsecs"])
def test_a_bad_bound_variable_is_named(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_MAX_ENV, bad)
    with pytest.raises(ValueError, match=CACHE_MAX_ENV):
        Client("t" * 32, "https://api-service.vanceai.com/web_api/v1")


@pytest.mark.parametrize(
    ("text", "size"),
    [("123", 123), ("2GiB", 2 * 1024**3), ("2 gib", 2 * 1024**3), ("1.5G", 1_500_000_000),
     ("500MB", 500_000_000), ("64k", 64_000), ("10 KiB", 10240)],
)
def test_sizes_written_by_people(text: str, size: int) -> None:
    assert parse_bytes(text) == size


def test_sizes_shown_to_people() -> None:
    assert [format_bytes(n) for n in (5, 2048, 5 * 1024**2, 3 * 1024**3, 5 * 1024**4)] == [
        "5 B", "2.0 KiB", "5.0 MiB", "3.0 GiB", "5.0 TiB"]


# --------------------------------------------------------------------------- over HTTP


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "PNG")
    return buf.getvalue()


ENLARGE = {
    "name": "enlarge3",
    "config": {"module": "enlarge3", "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2}},
}


def test_a_small_bound_evicts_the_least_recently_used_result(emu: Emulator, tmp_path: Path) -> None:
    colors = [(10, 20, 30), (40, 50, 60), (70, 80, 90)]

    def client(**kw: object) -> Client:
        return Client(emu.api_token, emu.url, cache_dir=tmp_path, max_retries=1,  # type: ignore[arg-type]
                      poll_interval=0.1, **kw)

    with client(cache=True) as first:
        for c in colors[:2]:
            first.run_job(_png(c), ENLARGE)
    sizes = [path.stat().st_size for path in tmp_path.rglob("*.bin")]  # data, header and receipt
    bound = int((sizes[0] + sizes[1]) * 1.2)  # room for two results (90 % of it after a trim), not three
    for path in tmp_path.rglob("*.bin"):
        os.utime(path, (time.time() - 60, time.time() - 60))
    with client(cache_max_bytes=bound) as second:
        assert second.run_job(_png(colors[1]), ENLARGE).cached  # now the most recently used
        assert not second.run_job(_png(colors[2]), ENLARGE).cached  # over the bound: colour 0 goes
    assert len(emu.charges) == 3 and len(list(tmp_path.rglob("*.bin"))) == 2
    with client(cache_max_bytes=bound) as third:
        count = emu.request_count()
        assert third.run_job(_png(colors[1]), ENLARGE).cached
        assert third.run_job(_png(colors[2]), ENLARGE).cached
        assert emu.request_count() == count
        assert not third.run_job(_png(colors[0]), ENLARGE).cached  # evicted: paid again
    assert len(emu.charges) == 4
