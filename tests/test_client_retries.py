"""Retries: when they happen, when they stop, when they never happen; credits charged once."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from vance_filters import _http, errors
from vance_filters._http import RetryPolicy, _parse_retry_after
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(30)

ENLARGE = {
    "name": "enlarge3",
    "config": {
        "module": "enlarge3",
        "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2},
    },
}
SHARPEN = {
    "name": "va_sharpen_standard",
    "config": {"module": "sharpen3", "module_params": {"model_name": "SharpenGeneralStable"}},
}


def image_bytes(color: tuple[int, int, int] = (1, 2, 3), size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_client(emu: Emulator, **kwargs) -> Client:
    options = {"timeout": 5, "max_retries": 3, "backoff_base": 0.01, "backoff_max": 0.05, "poll_interval": 0.1, "max_wait": 10}
    options.update(kwargs)
    return Client(emu.api_token, emu.url, **options)


@pytest.fixture
def client(emu: Emulator) -> Client:
    with make_client(emu) as c:
        yield c


def finished_job(client: Client) -> str:
    up = client.upload(image_bytes())
    job = client.transform(up.uid, ENLARGE)
    assert job.status == "finish"
    return job.trans_id


FAULTS = {
    "429": {"status": 429},
    "500": {"status": 500},
    "502": {"status": 502},
    "503": {"status": 503},
    "10010": {"code": 10010, "msg": "Internal error"},
    "10010-on-500": {"code": 10010, "status": 500},
    "drop": {"drop": True},
}
CALLS = {
    "upload": lambda c, tid: c.upload(image_bytes()),
    "transform": lambda c, tid: c.transform(c.upload(image_bytes()).uid, ENLARGE),
    "progress": lambda c, tid: c.progress(tid),
    "download": lambda c, tid: c.download(tid),
    "point": lambda c, tid: c.credits(),
    "points/record": lambda c, tid: c.credit_history(),
}


@pytest.mark.parametrize("endpoint", list(CALLS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_transient_faults_are_retried(client: Client, emu: Emulator, endpoint: str, fault: str) -> None:
    trans_id = finished_job(client)
    before = emu.request_count(endpoint)
    emu.fail(endpoint, times=2, **FAULTS[fault])
    if endpoint == "transform" and fault in AMBIGUOUS:
        # it may have started a job each time: sent once more at most, then a plain error
        with pytest.raises(errors.TransportError) as info:
            CALLS[endpoint](client, trans_id)
        assert emu.request_count(endpoint) - before == 2
        assert "a job may still be running" in str(info.value)
        assert "credit_history()" in str(info.value)
        return
    CALLS[endpoint](client, trans_id)
    assert emu.request_count(endpoint) - before == 3  # two failures, then the answer


#: Failures after which a request may or may not have been acted on.
AMBIGUOUS = ("500", "502", "drop")


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        ({"status": 503}, errors.ProtocolError),
        ({"status": 429}, errors.ProtocolError),
        ({"code": 10010}, errors.InternalServerError),
        ({"drop": True}, errors.TransportError),
        ({"status": 500, "code": 99999}, errors.APIError),
    ],
)
def test_retries_stop_after_max_retries(emu: Emulator, fault: dict, cls: type) -> None:
    emu.fail("point", times=20, **fault)
    with make_client(emu, max_retries=2) as client, pytest.raises(cls) as info:
        client.credits()
    assert emu.request_count("point") == 3
    assert info.value.endpoint == "point"
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_max_retries_zero_means_one_attempt(emu: Emulator) -> None:
    emu.fail("point", times=5, status=502)
    with make_client(emu, max_retries=0) as client, pytest.raises(errors.ProtocolError, match="HTTP 502"):
        client.credits()
    assert emu.request_count("point") == 1


@pytest.mark.parametrize("code", [10001, 10011, 10012, 10013, 10014, 30001, 30004])
@pytest.mark.parametrize("status", [None, 500])
def test_never_retried_codes(client: Client, emu: Emulator, code: int, status: int | None) -> None:
    emu.fail("points/record", times=5, code=code, status=status)
    with pytest.raises(errors.APIError) as info:
        client.credit_history()
    assert info.value.code == code
    assert emu.request_count("points/record") == 1


def test_retry_after_is_honoured(client: Client, emu: Emulator) -> None:
    emu.fail("point", times=1, status=429, retry_after=1)
    t0 = time.monotonic()
    client.credits()
    assert time.monotonic() - t0 >= 0.95
    assert emu.request_count("point") == 2


def test_total_retry_sleep_is_capped(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "MAX_RETRY_SLEEP", 0.5)
    emu.fail("point", times=3, status=503, retry_after=2)
    with make_client(emu) as client:
        t0 = time.monotonic()
        with pytest.raises(errors.ProtocolError, match="503"):
            client.credits()
    assert time.monotonic() - t0 < 1.0  # gave up instead of sleeping 2 s
    assert emu.request_count("point") == 1


def test_read_timeout_is_retried_then_raised(emu: Emulator) -> None:
    emu.fail("progress", times=1, delay=0.6)
    with make_client(emu, timeout=0.3) as client:
        trans_id = finished_job(client)
        assert client.progress(trans_id).status == "finish"
        assert emu.request_count("progress") == 2
        emu.fail("progress", times=5, delay=0.6)
        with pytest.raises(errors.RequestTimeoutError) as info:
            with make_client(emu, timeout=0.3, max_retries=1) as short:
                short.progress(trans_id)
    assert isinstance(info.value, TimeoutError)
    assert info.value.__context__ is None


def test_transform_read_timeout_allows_for_a_blocking_transform(emu: Emulator) -> None:
    # transform holds the request while the job runs: longer than timeout=0.3, still fine.
    emu.configure(job_duration=0.8, transform_wait=5.0)
    with make_client(emu, timeout=0.3) as client:
        up = client.upload(image_bytes())
        job = client.transform(up.uid, ENLARGE)
    assert job.status == "finish"
    assert emu.request_count("transform") == 1


def test_truncated_download_is_retried_and_charged_once(client: Client, emu: Emulator) -> None:
    up = client.upload(image_bytes())
    job = client.transform(up.uid, SHARPEN)
    emu.fail("download", times=2, truncate=True)
    data = client.download(job.trans_id)
    assert data == emu.jobs[job.trans_id].result
    assert emu.request_count("download") == 3
    assert [c for c in emu.charges if c[0] == job.trans_id] == [(job.trans_id, 2)]
    assert emu.balance == 498.0
    client.download(job.trans_id)  # a repeat download is free
    assert emu.balance == 498.0 and len(emu.charges) == 1


def test_truncated_download_gives_up_with_incomplete_download_error(emu: Emulator, tmp_path) -> None:
    emu.fail("download", times=10, truncate=True)
    with make_client(emu, max_retries=1) as client:
        trans_id = finished_job(client)
        with pytest.raises(errors.IncompleteDownloadError) as info:
            client.download(trans_id)
        assert info.value.trans_id == trans_id
        target = tmp_path / "result.png"
        with pytest.raises(errors.IncompleteDownloadError):
            client.download(trans_id, to=target)
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp file


def test_truncated_download_to_file_object_is_rewound(client: Client, emu: Emulator, tmp_path) -> None:
    trans_id = finished_job(client)
    emu.fail("download", times=1, truncate=True)
    with open(tmp_path / "out.png", "wb") as sink:
        client.download(trans_id, to=sink)
    assert (tmp_path / "out.png").read_bytes() == emu.jobs[trans_id].result


def test_truncated_download_to_unseekable_sink_is_not_retried(client: Client, emu: Emulator) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def write(self, b) -> int:  # type: ignore[override]
            self.chunks.append(bytes(b))
            return len(b)

    noisy = Image.frombytes("RGB", (64, 64), bytes((i * 7919) % 251 for i in range(64 * 64 * 3)))
    buf = io.BytesIO()
    noisy.save(buf, "PNG")
    trans_id = client.transform(client.upload(buf.getvalue()).uid, ENLARGE).trans_id
    assert len(client.download(trans_id)) > 1000
    emu.fail("download", times=1, truncate=True)  # about half the bytes reach the pipe
    pipe = Pipe()
    with pytest.raises(errors.IncompleteDownloadError, match="cannot be rewound") as info:
        client.download(trans_id, to=pipe)
    assert info.value.trans_id == trans_id
    assert emu.request_count("download") == 2  # one good download, one truncated: no retry
    assert pipe.chunks and len(b"".join(pipe.chunks)) < len(emu.jobs[trans_id].result)


def test_dropped_download_costs_once(client: Client, emu: Emulator) -> None:
    trans_id = finished_job(client)
    emu.fail("download", times=2, drop=True)
    assert client.download(trans_id) == emu.jobs[trans_id].result
    assert emu.charges == [(trans_id, 1)]


def test_random_faults_every_job_ends_and_each_is_charged_once(emu: Emulator) -> None:
    emu.random_faults(0.25, seed=7)
    done = []
    with make_client(emu, max_retries=8) as client:
        for i in range(6):
            while True:
                try:
                    done.append(client.run_job(image_bytes((i, i, i)), ENLARGE))
                    break
                except errors.TransportError as exc:
                    # a transform lost twice is not sent a third time: the user reruns it
                    assert exc.endpoint == "transform" and "may still be running" in str(exc)
    emu.random_faults(0.0)
    paid = [tid for tid, _ in emu.charges]
    assert sorted(paid) == sorted({r.trans_id for r in done})
    assert len(paid) == len(set(paid)) == 6


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(max_retries=5, backoff_base=0.1, backoff_max=0.4)
    for retry, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 0.4)]:
        samples = [policy.delay(retry) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling / 2  # full jitter spreads over the range
    assert policy.delay(0, retry_after=3.0) == 3.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("100000", _http.MAX_RETRY_AFTER),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert _parse_retry_after(header) == expected


def test_retry_after_as_http_date_in_the_future() -> None:
    import email.utils

    value = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= _parse_retry_after(value) <= 31
