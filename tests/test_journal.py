"""The job journal: a job sent and not yet cached is resumed, never sent (or paid) twice."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import Client
from vance_filters._cache import cache_key
from vance_filters.journal import JOURNAL_FOLDER, Journal
from vance_filters.testing import Emulator

ENLARGE = {
    "name": "enlarge3",
    "config": {"module": "enlarge3", "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2}},
}


def png(color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_client(emu: Emulator, folder: Path | None) -> Client:
    return Client(emu.api_token, emu.url, cache_dir=folder, timeout=10, max_retries=1,
                  backoff_base=0.01, poll_interval=0.1, max_wait=30)


def journal_key(client: Client, data: bytes) -> str:
    assert client.cache is not None
    return client.cache.scoped(cache_key(data, ENLARGE))


# -- the journal itself -------------------------------------------------------------------


def test_entries_are_written_whole_and_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    assert journal.get("ab" * 32) is None and journal.keys() == []  # no folder yet: a miss
    journal.put("ab" * 32, "trans-1", uid="uid-1")
    entry = journal.get("ab" * 32)
    assert entry is not None and (entry.trans_id, entry.uid) == ("trans-1", "uid-1")
    assert entry.created > 0
    journal.put("ab" * 32, "trans-2")  # replaced atomically
    assert journal.get("ab" * 32).trans_id == "trans-2"  # type: ignore[union-attr]
    assert [p.name for p in (tmp_path / "j").iterdir()] == ["ab" * 32 + ".job"]  # no temp file left
    assert not journal.discard("ab" * 32, trans_id="trans-1")  # another job's entry is kept
    assert journal.discard("ab" * 32) and not journal.discard("ab" * 32)
    with pytest.raises(ValueError, match="lowercase hex"):
        journal.put("../x", "trans")


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"trans_id": 7}', b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_entry_is_a_miss(tmp_path: Path, content: bytes) -> None:
    journal = Journal(tmp_path)
    (tmp_path / ("cd" * 32 + ".job")).write_bytes(content)
    assert journal.get("cd" * 32) is None


def test_readers_never_see_a_partial_entry_while_writers_replace_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    key = "ef" * 32
    journal.put(key, "trans-0")
    stop = threading.Event()
    seen: list[str | None] = []

    def write(n: int) -> None:
        for i in range(60):
            journal.put(key, f"trans-{n}-{i}")

    def read() -> None:
        while not stop.is_set():
            entry = journal.get(key)
            seen.append(None if entry is None else entry.trans_id)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert seen and all(s is not None and s.startswith("trans-") for s in seen)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- the client and the journal -------------------------------------------------------------


def test_no_disk_cache_means_no_journal(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu, None) as client:
        assert client.run_job(png(), ENLARGE).trans_id
        assert client.pending_job(png(), ENLARGE) is None
    assert not any(tmp_path.iterdir())


def test_a_cached_result_leaves_no_entry_and_keeps_its_receipt(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu, tmp_path) as client:
        first = client.run_job(png(), ENLARGE)
        assert not first.cached and first.trans_id
        assert Journal(tmp_path / JOURNAL_FOLDER).keys() == []
    with make_client(emu, tmp_path) as again:  # another process: the receipt is on disk
        hit = again.run_job(png(), ENLARGE)
    assert hit.cached and hit.trans_id == first.trans_id and hit.data == first.data
    assert len(emu.charges) == 1


def test_a_journaled_job_is_resumed_not_sent_again(emu: Emulator, tmp_path: Path) -> None:
    emu.configure(job_duration=0.5, transform_wait=0.0)
    data = png((1, 2, 3))
    with make_client(emu, tmp_path) as client:
        upload = client.upload(data)
        job = client.transform(upload.uid, ENLARGE)  # a job this process "lost"
        Journal(tmp_path / JOURNAL_FOLDER).put(journal_key(client, data), job.trans_id, uid=upload.uid)
        assert client.pending_job(data, ENLARGE) == job.trans_id
        sent = emu.request_count("upload"), emu.request_count("transform")
        statuses: list[str] = []
        result = client.run_job(data, ENLARGE, on_status=lambda p: statuses.append(p.status))
        assert (emu.request_count("upload"), emu.request_count("transform")) == sent
        assert result.trans_id == job.trans_id and not result.cached and statuses[-1] == "finish"
        assert Image.open(io.BytesIO(result.data)).size == (16, 12)
        assert client.pending_job(data, ENLARGE) is None
        assert client.run_job(data, ENLARGE).trans_id == job.trans_id  # the receipt of the cache hit
    assert emu.charges == [(job.trans_id, 1.0)]


def test_an_entry_the_service_no_longer_knows_is_dropped_and_the_image_redone(
    emu: Emulator, tmp_path: Path
) -> None:
    data = png((4, 5, 6))
    with make_client(emu, tmp_path) as client:
        Journal(tmp_path / JOURNAL_FOLDER).put(journal_key(client, data), "no-such-job")
        result = client.run_job(data, ENLARGE)
        assert result.trans_id != "no-such-job" and not result.cached
        assert emu.request_count("upload") == 1 and emu.request_count("transform") == 1
        assert client.pending_job(data, ENLARGE) is None
    assert [tid for tid, _ in emu.charges] == [result.trans_id]


def test_a_journaled_job_that_failed_is_redone(emu: Emulator, tmp_path: Path) -> None:
    emu.configure(transform_wait=0.0)
    data = png((7, 8, 9))
    with make_client(emu, tmp_path) as client:
        emu.fail_jobs(1)
        job = client.transform(client.upload(data).uid, ENLARGE)
        Journal(tmp_path / JOURNAL_FOLDER).put(journal_key(client, data), job.trans_id)
        result = client.run_job(data, ENLARGE)
    assert result.trans_id != job.trans_id and emu.request_count("transform") == 2
    assert len(emu.charges) == 1


def test_two_processes_resuming_one_entry_both_get_the_result_and_pay_once(
    emu: Emulator, tmp_path: Path
) -> None:
    emu.configure(job_duration=0.5, transform_wait=0.0)
    data = png((11, 12, 13))
    with make_client(emu, tmp_path) as setup:
        job = setup.transform(setup.upload(data).uid, ENLARGE)
        Journal(tmp_path / JOURNAL_FOLDER).put(journal_key(setup, data), job.trans_id)
    results: list[bytes] = []

    def resume() -> None:
        with make_client(emu, tmp_path) as client:  # its own client, as another process has
            results.append(client.run_job(data, ENLARGE).data)

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0] == results[1]
    assert emu.request_count("transform") == 1 and emu.charges == [(job.trans_id, 1.0)]


_BATCH = """
import sys
import vance_filters as vf
url, token, folder, *paths = sys.argv[1:]
client = vf.Client(token, url, cache_dir=folder, poll_interval=0.1, max_wait=60)
for _ in vf.batch.map(vf.Enlarge(scale=2), paths, client=client, concurrency=len(paths)):
    pass
"""


def test_a_batch_killed_while_its_jobs_run_is_resumed_and_charged_once(
    emu: Emulator, tmp_path: Path
) -> None:
    emu.configure(job_duration=3.0, workers=4, transform_wait=0.0)
    folder = tmp_path / "cache"
    paths = []
    for n in range(3):
        path = tmp_path / f"in{n}.png"
        path.write_bytes(png((n * 40, 10, 20)))
        paths.append(str(path))
    proc = subprocess.Popen(
        [sys.executable, "-c", _BATCH, emu.url, emu.api_token, str(folder), *paths],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    journal = Journal(folder / JOURNAL_FOLDER)
    deadline = time.monotonic() + 60

    def waited_on() -> set[str]:  # the jobs the batch polls: it has sent them and now waits
        return {str(r.params.get("trans_id")) for r in emu.requests if r.endpoint == "progress"}

    try:
        while emu.request_count("transform") < 3 or len(waited_on()) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the batch never sent its transforms"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert emu.charges == []  # killed while the jobs ran: nothing downloaded yet
    sent = {r.endpoint: emu.request_count(r.endpoint) for r in emu.requests}
    with Client(emu.api_token, emu.url, cache_dir=folder, poll_interval=0.1, max_wait=60) as client:
        import vance_filters as vf

        out = list(vf.batch.map(vf.Enlarge(scale=2), paths, client=client, concurrency=3))
    assert [img.size for img in out] == [(16, 12)] * 3
    assert emu.request_count("upload") == sent["upload"] == 3
    assert emu.request_count("transform") == sent["transform"] == 3
    charged = [tid for tid, _ in emu.charges]
    assert len(charged) == 3 and sorted(charged) == sorted(emu.jobs)  # each job paid once
    assert journal.keys() == []


# -- receipts ---------------------------------------------------------------------------------


def test_an_entry_written_before_receipts_is_still_served(tmp_path: Path) -> None:
    import hashlib

    from vance_filters._cache import DiskCache

    key = "ab" * 32
    (tmp_path / key[:2]).mkdir()
    (tmp_path / key[:2] / f"{key}.bin").write_bytes(b"VFC1" + hashlib.sha256(b"old").digest() + b"old")
    assert DiskCache(tmp_path).get_entry(key) == (b"old", None)


def test_a_tampered_receipt_is_a_miss(tmp_path: Path) -> None:
    from vance_filters._cache import DiskCache

    cache = DiskCache(tmp_path)
    key = "cd" * 32
    cache.put(key, b"result", receipt="trans-1")
    path = tmp_path / key[:2] / f"{key}.bin"
    path.write_bytes(path.read_bytes().replace(b"trans-1", b"trans-2"))
    assert cache.get_entry(key) is None and key not in cache
