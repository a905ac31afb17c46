"""The result cache: hits make no request and spend no credit; disk entries are crash-safe."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import _cache
from vance_filters._cache import (
    UID_PLACEHOLDER,
    DiskCache,
    MemoryCache,
    TieredCache,
    cache_key,
    canonical_jconfig,
    default_cache_dir,
)
from vance_filters._cache_scope import ScopedCache
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)

ENLARGE = {
    "name": "enlarge3",
    "config": {
        "module": "enlarge3",
        "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2},
    },
}
ANIME = {
    "name": "img2anime",
    "config": {
        "module": "img2anime",
        "module_params": {"model_name": "style1", "prompt": "", "overwrite": False, "denoising_strength": 0.75},
    },
    "cn_configs": [{"image_uid": None, "cn_name": "cartoon_tile"}],
}


def image_bytes(color: tuple[int, int, int] = (90, 80, 70)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "PNG")
    return buf.getvalue()


def make_client(emu: Emulator, **kwargs) -> Client:
    return Client(emu.api_token, emu.url, timeout=5, max_retries=2, backoff_base=0.01,
                  poll_interval=0.1, max_wait=10, **kwargs)


def test_memory_hit_makes_no_request_and_no_charge(emu: Emulator) -> None:
    with make_client(emu) as client:
        first = client.run_job(image_bytes(), ENLARGE)
        count = emu.request_count()
        second = client.run_job(image_bytes(), json.dumps(ENLARGE, indent=2))  # same config as text
        assert emu.request_count() == count
        assert second.cached and not first.cached
        assert second.data == first.data and second.trans_id == first.trans_id and second.status == "finish"
        assert client.process(image_bytes(), ENLARGE) == first.data
        assert emu.request_count() == count
    assert len(emu.charges) == 1


def test_different_bytes_or_config_miss(emu: Emulator) -> None:
    with make_client(emu) as client:
        client.run_job(image_bytes(), ENLARGE)
        other = json.loads(json.dumps(ENLARGE))
        other["config"]["module_params"]["suppress_noise"] = 10
        assert not client.run_job(image_bytes(), other).cached
        assert not client.run_job(image_bytes((1, 1, 1)), ENLARGE).cached
    assert len(emu.charges) == 3


def test_cache_false_always_asks(emu: Emulator) -> None:
    with make_client(emu, cache=False) as client:
        assert client.cache is None
        a = client.run_job(image_bytes(), ENLARGE)
        b = client.run_job(image_bytes(), ENLARGE)
    assert not a.cached and not b.cached
    assert emu.request_count("upload") == 2


def test_disk_hit_across_clients(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu, cache_dir=tmp_path) as first:
        paid = first.run_job(image_bytes(), ENLARGE)
    count = emu.request_count()
    with make_client(emu, cache_dir=str(tmp_path)) as second:
        hit = second.run_job(image_bytes(), ENLARGE)
    assert hit.cached and hit.data == paid.data
    assert emu.request_count() == count and len(emu.charges) == 1
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(entries) == 1 and entries[0].suffix == ".bin"
    assert oct(entries[0].stat().st_mode & 0o777) == "0o600"


def test_cache_dir_true_uses_the_platform_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with Client("t" * 32, "https://api-service.vanceai.com/web_api/v1", cache_dir=True) as client:
        assert client.cache is not None
        client.cache.put(cache_key(image_bytes(), ENLARGE), b"result")
    assert list((tmp_path / "vance_filters").rglob("*.bin"))
    # ...but never for a service on this machine (the emulator): tests/test_cache_scope.py


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/vance_filters"),
        ("linux", {"XDG_CACHE_HOME": "relative"}, "~/.cache/vance_filters"),
        ("linux", {}, "~/.cache/vance_filters"),
        ("darwin", {}, "~/Library/Caches/vance_filters"),
        ("win32", {"LOCALAPPDATA": "/appdata"}, "/appdata/vance_filters/Cache"),
        ("win32", {}, "~/AppData/Local/vance_filters/Cache"),
    ],
)
def test_default_cache_dir_per_platform(monkeypatch: pytest.MonkeyPatch, platform: str, env: dict, expected: str) -> None:
    monkeypatch.setattr(_cache.sys, "platform", platform)
    for name in ("XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_cache_dir() == Path(os.path.expanduser(expected))


def test_stray_temp_and_damaged_entries_are_ignored(emu: Emulator, tmp_path: Path) -> None:
    data = image_bytes()
    client = make_client(emu, cache_dir=tmp_path)
    assert isinstance(client.cache, ScopedCache)
    key = client.cache.scoped(cache_key(data, ENLARGE))  # as this service and account store it
    folder = tmp_path / key[:2]
    folder.mkdir()
    # A crash mid-write leaves a temp file: it is never read.
    (folder / f".{key[:8]}-crashed.tmp").write_bytes(b"VFC1" + b"\0" * 32 + b"half")
    # A damaged entry (bad digest) is a miss, and is replaced by the next write.
    (folder / f"{key}.bin").write_bytes(b"VFC1" + b"\0" * 32 + b"garbage")
    with client:
        result = client.run_job(data, ENLARGE)
    assert not result.cached and emu.request_count("download") == 1
    assert DiskCache(tmp_path).get(key) == result.data
    (folder / f"{key}.bin").write_bytes(b"short")
    assert DiskCache(tmp_path).get(key) is None


def test_disk_cache_survives_an_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    cache = DiskCache(blocker)  # a file where the folder should be
    cache.put("ab" * 32, b"data")  # best effort: no exception
    assert cache.get("ab" * 32) is None
    with pytest.raises(ValueError, match="hex"):
        cache.get("../../etc/passwd")


def _writer(directory: str, key: str, payload: bytes, rounds: int) -> None:
    cache = DiskCache(directory)
    for _ in range(rounds):
        cache.put(key, payload)


def test_many_processes_writing_one_key(tmp_path: Path) -> None:
    key = "cd" * 32
    payload = os.urandom(300_000)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), key, payload, 15)) for _ in range(4)]
    for p in procs:
        p.start()
    reader = DiskCache(tmp_path)
    seen = set()
    while any(p.is_alive() for p in procs):
        got = reader.get(key)
        seen.add(None if got is None else got == payload)
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert False not in seen  # a reader sees the whole entry or nothing
    assert reader.get(key) == payload
    assert [p.name for p in (tmp_path / key[:2]).iterdir()] == [f"{key}.bin"]  # no temp left


def test_memory_cache_is_a_bounded_lru() -> None:
    cache = MemoryCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"90")
    cache.put("d", b"xy")  # 12 bytes > 10: b (least recent) goes
    assert cache.get("b") is None and cache.get("a") == b"1234"
    assert cache.size <= 10 and len(cache) == 3
    cache.put("a", b"z")  # replacing updates the size
    assert cache.size == 5
    cache.put("huge", b"x" * 11)  # larger than the bound: not kept
    assert cache.get("huge") is None
    cache.clear()
    assert len(cache) == 0 and cache.size == 0
    with pytest.raises(ValueError):
        MemoryCache(max_bytes=-1)


def test_memory_cache_thread_safety() -> None:
    cache = MemoryCache(max_bytes=1000)

    def work(n: int) -> None:
        for i in range(500):
            cache.put(f"{n}-{i % 40}", bytes(10 + i % 7))
            cache.get(f"{(n + 1) % 8}-{i % 40}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.size == sum(len(cache.get(k) or b"") for k in list(cache._items)) <= 1000


def test_tiered_cache_promotes_disk_hits(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path)
    disk.put("ef" * 32, b"payload")
    tiered = TieredCache(MemoryCache(), disk)
    assert tiered.memory.get("ef" * 32) is None
    assert tiered.get("ef" * 32) == b"payload"
    assert tiered.memory.get("ef" * 32) == b"payload"
    assert tiered.get("00" * 32) is None


def test_canonical_jconfig_and_uid_placeholders() -> None:
    a = {"name": "x", "cn_configs": [{"image_uid": None, "cn_name": "cartoon_tile"}]}
    b = {"cn_configs": [{"cn_name": "cartoon_tile", "image_uid": UID_PLACEHOLDER}], "name": "x"}
    c = {"name": "x", "cn_configs": [{"image_uid": "f" * 32, "cn_name": "cartoon_tile"}]}
    assert canonical_jconfig(a) == canonical_jconfig(b) != canonical_jconfig(c)
    multi = {"name": "x", "config": [a, {"name": "y"}]}
    assert UID_PLACEHOLDER in canonical_jconfig(multi)
    assert canonical_jconfig("{not json") == "{not json"
    assert canonical_jconfig("[1, 2]") == "[1,2]"


def test_own_upload_uid_is_filled_in_and_cached_per_image(emu: Emulator) -> None:
    with make_client(emu) as client:
        result = client.run_job(image_bytes(), ANIME)
        sent = emu.jobs[result.trans_id].jconfig
        assert sent["cn_configs"][0]["image_uid"] == result.uid
        assert client.run_job(image_bytes(), ANIME).cached


def test_concurrent_identical_jobs_run_once(emu: Emulator) -> None:
    emu.configure(job_duration=0.3)
    results = []
    with make_client(emu, pool_size=8) as client:
        threads = [threading.Thread(target=lambda: results.append(client.run_job(image_bytes(), ENLARGE))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 6 and len({r.data for r in results}) == 1
    assert emu.request_count("upload") == 1 and len(emu.charges) == 1
    assert sum(not r.cached for r in results) == 1


def test_result_is_cached_before_it_is_returned(emu: Emulator) -> None:
    with make_client(emu) as client:
        result = client.run_job(image_bytes(), ENLARGE)
        assert client.cache.get(cache_key(image_bytes(), ENLARGE)) == result.data
