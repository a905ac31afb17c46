"""A batch against a service that cannot be reached fails fast, with one typed error (issue 13.3)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import urllib3.exceptions

import vance_filters as vf
from vance_filters import _outage, cli
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(90)

#: Generous: a dead service must not take the ~0.5-7.5 s of retries per image (40 images: minutes).
FAST = 10.0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dead_url() -> str:
    return f"http://127.0.0.1:{closed_port()}/web_api/v1"


@pytest.fixture
def dead_client(dead_url: str) -> Iterator[vf.Client]:
    with vf.Client("token-for-a-dead-service", dead_url, cache=False) as client:
        yield client


def arrays(n: int) -> list[np.ndarray]:
    return [np.full((6, 8), i, np.uint8) for i in range(n)]


def assert_names_the_service(error: BaseException, url: str) -> None:
    assert isinstance(error, vf.ServiceUnreachableError)
    assert isinstance(error, vf.TransportError)
    text = str(error)
    assert url in text and "connection refused" in text
    assert "VANCE_API_BASE" in text and "emulator" in text


def test_map_of_40_against_a_closed_port_fails_each_image_at_once(
    dead_client: vf.Client, dead_url: str
) -> None:
    start = time.monotonic()
    out = list(vf.map(vf.Denoise(), arrays(40), client=dead_client, return_exceptions=True))
    elapsed = time.monotonic() - start
    assert len(out) == 40
    for error in out:
        assert_names_the_service(error, dead_url)
    assert "the batch stopped after 3 failed attempts in a row" in str(out[-1])
    assert elapsed < FAST, f"40 images against a closed port took {elapsed:.1f} s"


def test_images_waiting_to_retry_stop_when_the_batch_gives_up(dead_url: str) -> None:
    # Long backoffs: an image that already failed once sleeps up to 30 s before its retry,
    # unless the batch's giving up wakes it.
    with vf.Client("token", dead_url, cache=False, backoff_base=30.0, backoff_max=30.0) as client:
        start = time.monotonic()
        out = list(vf.map(vf.Denoise(), arrays(16), client=client, concurrency=8,
                          return_exceptions=True))
        elapsed = time.monotonic() - start
    assert all(isinstance(error, vf.ServiceUnreachableError) for error in out)
    assert elapsed < FAST, f"images asleep between retries held the batch for {elapsed:.1f} s"


def test_map_raises_the_typed_error_without_return_exceptions(
    dead_client: vf.Client, dead_url: str
) -> None:
    with pytest.raises(vf.ServiceUnreachableError) as caught:
        list(vf.map(vf.Denoise(), arrays(40), client=dead_client))
    assert_names_the_service(caught.value, dead_url)


def test_amap_of_40_against_a_closed_port_fails_at_once(
    dead_client: vf.Client, dead_url: str
) -> None:
    async def main() -> list[object]:
        return [
            r async for r in vf.amap(vf.Denoise(), arrays(40), client=dead_client, return_exceptions=True)
        ]

    start = time.monotonic()
    out = asyncio.run(main())
    assert time.monotonic() - start < FAST
    assert len(out) == 40
    for error in out:
        assert_names_the_service(error, dead_url)


def test_a_tripped_batch_cuts_the_retries_of_the_image_in_flight(
    dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # One image at a time, and backoffs that would sleep up to 1+2+4+8 s per image: 10 images
    # retried in full would take about a minute; the batch gives up after 3 attempts.
    with vf.Client("t", dead_url, cache=False, max_retries=4, backoff_base=1.0) as client:
        caplog.set_level(logging.DEBUG, logger="vance_filters")
        start = time.monotonic()
        out = list(vf.map(vf.Denoise(), arrays(10), client=client, concurrency=1, return_exceptions=True))
        elapsed = time.monotonic() - start
    assert all(isinstance(e, vf.ServiceUnreachableError) for e in out)
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 2  # attempts 1 and 2 retried; attempt 3 tripped the batch
    assert elapsed < FAST


def test_a_single_call_keeps_its_retries(dead_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with vf.Client("t", dead_url, cache=False, max_retries=4, backoff_base=0.01) as client:
        caplog.set_level(logging.DEBUG, logger="vance_filters")
        with pytest.raises(vf.ServiceUnreachableError) as caught:
            vf.denoise(arrays(1)[0], client=client)
    assert_names_the_service(caught.value, dead_url)
    assert "the batch stopped" not in str(caught.value)
    assert len([r for r in caplog.records if r.getMessage().startswith("retrying")]) == 4


def test_a_tls_failure_is_unreachable(vance_emulator: Emulator) -> None:
    # https to a plain-http port: the handshake fails.
    url = vance_emulator.url.replace("http://", "https://")
    with (
        vf.Client(vance_emulator.api_token, url, cache=False, max_retries=0) as client,
        pytest.raises(vf.ServiceUnreachableError, match="TLS handshake failed") as caught,
    ):
        client.credits()
    assert vance_emulator.api_token not in str(caught.value)


def test_an_unknown_host_is_unreachable() -> None:
    pool = urllib3.HTTPConnectionPool("no-such-host.invalid")
    conn = urllib3.connection.HTTPConnection("no-such-host.invalid")
    cause = urllib3.exceptions.NameResolutionError("no-such-host.invalid", conn, socket.gaierror(-2, "unknown"))
    error = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/point", cause))
    assert _outage.unreachable_reason(error) == "host name not found"
    # A connection dropped mid-answer is not an outage: the service was there.
    dropped = requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    )
    assert _outage.unreachable_reason(dropped) is None


def test_a_success_resets_the_count() -> None:
    outage = _outage.Outage(trip_after=3)
    error = vf.ServiceUnreachableError("cannot reach x")
    for _ in range(5):
        assert outage.failed(error) is None
        assert outage.failed(error) is None
        outage.succeeded()
    assert not outage.tripped
    outage.failed(error), outage.failed(error)
    tripped = outage.failed(error)
    assert isinstance(tripped, vf.ServiceUnreachableError) and outage.tripped
    with pytest.raises(vf.ServiceUnreachableError):
        outage.check()


def test_a_service_that_stops_mid_batch_keeps_the_results_done() -> None:
    emu = Emulator()
    emu.__enter__()
    stopped = False
    try:
        client = vf.Client(emu.api_token, emu.url)
        results = vf.map(vf.Denoise(), arrays(40), client=client, concurrency=2, return_exceptions=True)
        out = []
        for result in results:
            out.append(result)
            if len(out) == 5:
                emu.__exit__(None, None, None)
                stopped = True
                start = time.monotonic()
        elapsed = time.monotonic() - start
    finally:
        if not stopped:
            emu.__exit__(None, None, None)
    assert all(isinstance(r, np.ndarray) for r in out[:5])
    assert all(isinstance(r, vf.ServiceUnreachableError) for r in out[-30:])
    assert elapsed < FAST
    # The results paid before the outage are in the client's cache: asking again is free.
    assert client.cache is not None and len(client.cache) >= 5  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The command line and Dask
# ---------------------------------------------------------------------------


def write_images(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((6, 8, 3), i, np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


@pytest.mark.parametrize("quiet", [True, False])
def test_the_cli_says_it_once_for_a_batch_of_40(
    tmp_path: Path,
    dead_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    quiet: bool,
) -> None:
    monkeypatch.setenv("VANCE_API_TOKEN", "token-for-a-dead-service")
    folder = write_images(tmp_path / "in", 40)
    argv = ["denoise", os.fspath(folder), "-o", os.fspath(tmp_path / "out"), "--api-base", dead_url, "--no-cache"]
    start = time.monotonic()
    code = cli.main(argv + (["-q"] if quiet else []))
    elapsed = time.monotonic() - start
    _, err = capsys.readouterr()
    assert code == 1
    assert elapsed < FAST
    lines = [line for line in err.splitlines() if "connection to the service" in line]
    assert len(lines) == 1, err
    (line,) = lines
    assert line.startswith(f"error: connection to the service at {dead_url} failed (connection refused)")
    assert "--api-base or VANCE_API_BASE" in line
    assert line.endswith("0 written, 40 images not processed (rerun to resume)")
    assert "failed:" not in err
    if quiet:
        assert err.splitlines() == lines
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_the_cli_writes_what_was_done_before_the_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_images(tmp_path / "in", 40)
    emu = Emulator(job_duration=0.05)
    emu.__enter__()
    try:
        monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)

        def stop_after_some() -> None:
            while emu.request_count("download") < 4:
                time.sleep(0.01)
            emu.__exit__(None, None, None)

        import threading

        stopper = threading.Thread(target=stop_after_some, daemon=True)
        stopper.start()
        code = cli.main(["denoise", os.fspath(folder), "-o", os.fspath(tmp_path / "out"),
                         "--api-base", emu.url, "--no-cache", "-q", "-j", "2"])
        stopper.join(10)
    finally:
        emu.__exit__(None, None, None)
    _, err = capsys.readouterr()
    assert code == 1
    written = sorted(os.listdir(tmp_path / "out"))
    assert len(written) >= 3  # the results done before the outage
    assert len([line for line in err.splitlines() if "connection to the service" in line]) == 1, err
    assert f"{len(written)} written" in err
    # A rerun against a live service resumes: only the rest are sent.
    with Emulator() as live:
        monkeypatch.setenv("VANCE_API_TOKEN", live.api_token)
        code = cli.main(["denoise", os.fspath(folder), "-o", os.fspath(tmp_path / "out"),
                         "--api-base", live.url, "--no-cache", "-q"])
        assert code == 0
        assert live.request_count("upload") == 40 - len(written)
    assert len(os.listdir(tmp_path / "out")) == 40


def test_dask_partitions_fail_fast(dead_client: vf.Client, dead_url: str) -> None:
    vfd = pytest.importorskip("vance_filters.dask")
    start = time.monotonic()
    out = vfd.map(vf.Denoise(), arrays(40), client=dead_client, return_exceptions=True).compute(
        scheduler="sync"
    )
    assert time.monotonic() - start < FAST
    assert len(out) == 40
    for error in out:
        assert_names_the_service(error, dead_url)
