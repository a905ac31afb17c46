"""The fault matrix: every endpoint x every way the service or the network can fail.

Each call either succeeds after a bounded number of retries, with the result
charged exactly once, or raises the matching typed error within the configured
deadline. Faults come from the emulator's fault injection, over real HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import vance_filters as vf
from vance_filters import errors
from vance_filters._cache import cache_key
from vance_filters.client import Client
from vance_filters.imaging import prepare
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(10)

IMAGE = np.arange(12 * 16 * 3, dtype=np.uint8).reshape(12, 16, 3)
FILTER = vf.Enlarge(scale=2)
EXPECTED_SHAPE = (24, 32, 3)

JOB_ENDPOINTS = ("upload", "transform", "progress", "download")
ACCOUNT_ENDPOINTS = ("point", "points/record")
ENDPOINTS = JOB_ENDPOINTS + ACCOUNT_ENDPOINTS

#: Client settings of the give-up cases: 2 retries, short timeout, tiny backoff.
RETRIES = 2
TIMEOUT = 0.3
BACKOFF_MAX = 0.05
RETRY_AFTER = 0.1
#: Slower than TIMEOUT: the client must give up on the answer and try again.
SLOW = 0.8

#: fault name -> (emulator fault, the typed error once retries are exhausted)
TRANSIENT: dict[str, tuple[dict[str, Any], type[errors.VanceError]]] = {
    "drop": ({"drop": True}, errors.TransportError),
    "429-retry-after": ({"status": 429, "retry_after": RETRY_AFTER}, errors.ProtocolError),
    "500": ({"status": 500}, errors.ProtocolError),
    "502": ({"status": 502}, errors.ProtocolError),
    "503": ({"status": 503}, errors.ProtocolError),
    "api-10010": ({"code": 10010}, errors.InternalServerError),
    "slow": ({"delay": SLOW}, errors.RequestTimeoutError),
}

#: Faults after which a /transform may have started a job: sent once more at most.
AMBIGUOUS = ("drop", "500", "502")

#: faults only /download can suffer (the answer is an image, not JSON)
DOWNLOAD_ONLY: dict[str, tuple[dict[str, Any], type[errors.VanceError]]] = {
    "truncated": ({"truncate": True}, errors.IncompleteDownloadError),
    "json-10010-http-200": (
        {"body": b'{"code": 10010, "msg": "Internal Server Error"}', "content_type": "application/json"},
        errors.InternalServerError,
    ),
    "json-as-image-http-200": (
        {"body": b'{"code": 10010, "msg": "Internal Server Error"}', "content_type": "image/png"},
        errors.InternalServerError,
    ),
}


@pytest.fixture
def emu(vance_emulator: Emulator, request: pytest.FixtureRequest) -> Emulator:
    """The session emulator; for /progress cases, jobs outlast /transform so that it is polled."""
    params = getattr(request.node, "callspec", None)
    if params is not None and params.params.get("endpoint") == "progress":
        vance_emulator.configure(transform_wait=0.0, job_duration=0.02)
    return vance_emulator


def make_client(emu: Emulator, **options: Any) -> Client:
    settings: dict[str, Any] = {
        "timeout": TIMEOUT,
        "max_retries": RETRIES,
        "backoff_base": 0.01,
        "backoff_max": BACKOFF_MAX,
        "poll_interval": 0.05,
        "max_wait": 5.0,
    }
    settings.update(options)
    return Client(emu.api_token, emu.url, **settings)


def call_for(endpoint: str, client: Client) -> Callable[[], Any]:
    """What a user calls that goes through ``endpoint``."""
    if endpoint == "point":
        return client.credits
    if endpoint == "points/record":
        return client.credit_history
    return lambda: FILTER.apply(IMAGE, client=client)


def check_success(endpoint: str, emu: Emulator, value: Any) -> None:
    """The call's value is right, and what was paid for was charged exactly once."""
    charged = [tid for tid, _ in emu.charges]
    if endpoint in JOB_ENDPOINTS:
        assert isinstance(value, np.ndarray) and value.shape == EXPECTED_SHAPE and value.dtype == np.uint8
        assert len(charged) == 1, emu.charges
        assert emu.jobs[charged[0]].status == "finish"
    elif endpoint == "point":
        assert value.total == 500.0 and value.remaining == 500.0
        assert charged == []
    else:
        assert value.entries == () and value.current_page == 1
        assert charged == []


def deadline(attempts: int, *, slow: bool, retry_after: float | None) -> float:
    """The longest the calls may take: every attempt timing out, every backoff at its cap."""
    per_attempt = TIMEOUT if slow else 0.0
    sleep = max(BACKOFF_MAX, retry_after or 0.0)
    return attempts * per_attempt + (attempts - 1) * sleep + 1.5  # + the job's own work


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("fault", [f for f in TRANSIENT if f != "slow"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_transient_fault_is_retried_and_charged_once(
    vance_client: Client, emu: Emulator, endpoint: str, fault: str
) -> None:
    spec, _ = TRANSIENT[fault]
    times = 3  # vance_client retries 4 times
    emu.fail(endpoint, times=times, **spec)
    if endpoint == "transform" and fault in AMBIGUOUS:
        # each may have started a job: one more attempt, then an error saying so
        with pytest.raises(errors.TransportError, match="may still be running"):
            call_for(endpoint, vance_client)()
        assert emu.request_count(endpoint) == 2 and emu.charges == []
        return
    start = time.monotonic()
    value = call_for(endpoint, vance_client)()
    elapsed = time.monotonic() - start
    check_success(endpoint, emu, value)
    assert emu.request_count(endpoint) == times + 1  # each failure retried once, no more
    if "retry_after" in spec:
        assert elapsed >= times * RETRY_AFTER * 0.9  # Retry-After is a floor
    assert elapsed < deadline(times + 1, slow=False, retry_after=spec.get("retry_after"))


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e != "transform"])
def test_slow_answer_times_out_and_is_retried(emu: Emulator, endpoint: str) -> None:
    emu.fail(endpoint, delay=SLOW)
    with make_client(emu) as client:
        start = time.monotonic()
        value = call_for(endpoint, client)()
        elapsed = time.monotonic() - start
    check_success(endpoint, emu, value)
    assert emu.request_count(endpoint) == 2
    assert TIMEOUT * 0.9 <= elapsed < deadline(2, slow=True, retry_after=None)
    assert elapsed < SLOW + 1.0  # it did not wait for the slow answer... much


def test_slow_transform_is_waited_for_not_retried(emu: Emulator) -> None:
    """/transform without a webhook may hold the request until the job is done: no timeout."""
    emu.fail("transform", delay=SLOW)
    with make_client(emu) as client:
        value = FILTER.apply(IMAGE, client=client)
    check_success("transform", emu, value)
    assert emu.request_count("transform") == 1 and emu.request_count("upload") == 1


@pytest.mark.parametrize("fault", list(DOWNLOAD_ONLY))
def test_download_only_fault_is_retried_and_charged_once(
    vance_client: Client, emu: Emulator, fault: str
) -> None:
    spec, _ = DOWNLOAD_ONLY[fault]
    emu.fail("download", times=2, **spec)
    value = FILTER.apply(IMAGE, client=vance_client)
    check_success("download", emu, value)
    assert emu.request_count("download") == 3


# --------------------------------------------------------------------------- giving up


def give_up_cases() -> list[Any]:
    cases = [
        pytest.param(endpoint, name, id=f"{endpoint}-{name}")
        for endpoint in ENDPOINTS
        for name in TRANSIENT
    ]
    cases += [pytest.param("download", name, id=f"download-{name}") for name in DOWNLOAD_ONLY]
    return cases


@pytest.mark.parametrize(("endpoint", "fault"), give_up_cases())
def test_persistent_fault_raises_the_typed_error_in_time(emu: Emulator, endpoint: str, fault: str) -> None:
    spec, expected = {**TRANSIENT, **DOWNLOAD_ONLY}[fault]
    attempts = RETRIES + 1
    emu.fail(endpoint, times=attempts, **spec)
    if endpoint == "transform" and fault in (*AMBIGUOUS, "slow"):
        # it may have reached the service: never again after a read timeout, once more else
        attempts = 1 if fault == "slow" else 2
    with make_client(emu) as client:
        if endpoint == "transform" and fault == "slow":
            # Only with a webhook does /transform answer at once; then a slow answer is a timeout.
            call: Callable[[], Any] = lambda: client.run_job(  # noqa: E731
                prepare(IMAGE).data, FILTER.to_jconfig(), webhook="https://127.0.0.1:9/hook"
            )
        else:
            call = call_for(endpoint, client)
        start = time.monotonic()
        with pytest.raises(errors.VanceError) as info:
            call()
        elapsed = time.monotonic() - start
        error = info.value
        assert type(error) is expected, repr(error)
        assert error.endpoint == endpoint
        assert emu.request_count(endpoint) == attempts  # bounded: exactly max_retries retries
        assert elapsed < deadline(attempts, slow=fault == "slow", retry_after=spec.get("retry_after"))
        if fault.startswith(("4", "5")):
            assert f"HTTP {spec['status']}" in str(error)
        if endpoint in ("progress", "download"):
            # The job exists on the server: the error names it, and it can be resumed.
            assert error.trans_id in emu.jobs
            assert client.wait(error.trans_id, max_wait=5).status == "finish"
            data = client.download(error.trans_id)
            assert data == emu.jobs[error.trans_id].result
        else:
            assert error.trans_id is None
    charged = [tid for tid, _ in emu.charges]
    assert charged == ([error.trans_id] if endpoint in ("progress", "download") else [])


# --------------------------------------------------------------------------- jobs


@pytest.mark.parametrize("seen_by", ["transform", "progress"])
def test_fatal_job_raises_job_failed_with_trans_id_and_costs_nothing(
    vance_emulator: Emulator, seen_by: str
) -> None:
    emu = vance_emulator
    if seen_by == "progress":
        emu.configure(transform_wait=0.0, job_duration=0.05)
    emu.fail_jobs(1)
    with make_client(emu) as client:
        start = time.monotonic()
        with pytest.raises(errors.JobFailedError) as info:
            FILTER.apply(IMAGE, client=client)
        assert time.monotonic() - start < 2.0
        error = info.value
        assert error.endpoint == seen_by and error.code == 10014
        assert emu.jobs[error.trans_id].status == "fatal"
        assert emu.request_count("download") == 0 and emu.charges == []
        assert "submit it again" in str(error)
        # Nothing sticks: the same call now runs a new job and succeeds.
        value = FILTER.apply(IMAGE, client=client)
    check_success("download", emu, value)


@pytest.mark.parametrize("status", ["busy", "waiting", "wait"])
def test_job_stuck_past_max_wait_raises_job_timeout_in_time(vance_emulator: Emulator, status: str) -> None:
    emu = vance_emulator
    emu.stall_jobs(1, status=status)
    max_wait = 0.6
    with make_client(emu, max_wait=max_wait) as client:
        start = time.monotonic()
        with pytest.raises(errors.JobTimeoutError) as info:
            FILTER.apply(IMAGE, client=client)
        elapsed = time.monotonic() - start
    error = info.value
    assert isinstance(error, TimeoutError)
    assert max_wait <= elapsed < max_wait + 1.0
    assert emu.jobs[error.trans_id].status == status
    assert repr(status) in str(error) and "max_wait" in str(error)
    # busy: the vendor's 2 s pace, so only the call at the deadline fits in 0.6 s
    assert emu.request_count("progress") >= (1 if status == "busy" else 2)
    assert emu.request_count("download") == 0
    assert emu.charges == []


# --------------------------------------------------------------------------- nothing paid is lost

# PNG magic, then damage: the transport takes it as an image, decoding fails
GARBAGE = b"\x89PNG\r\n\x1a\n" + b"GARBAGE! not an image at all " * 20


def cached_bytes(client: Client) -> bytes | None:
    assert client.cache is not None
    return client.cache.get(cache_key(prepare(IMAGE).data, FILTER.to_jconfig()))


def test_undecodable_download_is_fetched_again_free(vance_client: Client, emu: Emulator) -> None:
    """A result damaged on the way is downloaded again by trans_id (free) and the good copy cached."""
    emu.fail("download", body=GARBAGE, content_type="image/png")
    value = FILTER.apply(IMAGE, client=vance_client)
    check_success("download", emu, value)
    assert emu.request_count("download") == 2 and emu.request_count("upload") == 1
    tid = emu.charges[0][0]
    assert cached_bytes(vance_client) == emu.jobs[tid].result  # the damaged copy was replaced
    again = FILTER.apply(IMAGE, client=vance_client)  # a cache hit: no request at all
    assert np.array_equal(again, value) and emu.request_count("download") == 2


def test_undecodable_result_stays_cached_and_is_recoverable_by_trans_id(
    vance_client: Client, emu: Emulator
) -> None:
    emu.fail("download", times=2, body=GARBAGE, content_type="image/png")
    with pytest.raises(errors.ResultDecodeError) as info:
        FILTER.apply(IMAGE, client=vance_client)
    error = info.value
    assert error.trans_id in emu.jobs and error.trans_id in str(error)
    assert "GARBAGE" in str(error)  # a short excerpt of what came
    assert cached_bytes(vance_client) == GARBAGE  # the raw bytes were kept, not lost
    # Recovery by trans_id is free: one charge in all.
    data = vance_client.download(error.trans_id)
    assert data == emu.jobs[error.trans_id].result
    assert vance_client.download(error.trans_id) == data
    assert [tid for tid, _ in emu.charges] == [error.trans_id]


def test_a_poisoned_cache_entry_does_not_fail_for_ever(vance_client: Client, emu: Emulator) -> None:
    """Damaged bytes in the cache fail once, are dropped, and the next call runs the job anew."""
    emu.fail("download", times=2, body=GARBAGE, content_type="image/png")
    with pytest.raises(errors.ResultDecodeError):
        FILTER.apply(IMAGE, client=vance_client)
    assert cached_bytes(vance_client) == GARBAGE
    uploads = emu.request_count("upload")
    with pytest.raises(errors.ResultDecodeError) as info:  # the cache hit: no request
        FILTER.apply(IMAGE, client=vance_client)
    assert emu.request_count("upload") == uploads
    assert "dropped" in str(info.value) and "call again" in str(info.value)
    assert cached_bytes(vance_client) is None
    value = FILTER.apply(IMAGE, client=vance_client)  # runs the job again, and works
    assert value.shape == EXPECTED_SHAPE and emu.request_count("upload") == uploads + 1
    assert cached_bytes(vance_client) is not None
    assert np.array_equal(FILTER.apply(IMAGE, client=vance_client), value)
    charged = [tid for tid, _ in emu.charges]
    assert len(charged) == len(set(charged)) == 1


def test_a_poisoned_disk_cache_entry_is_dropped_too(emu: Emulator, tmp_path: Any) -> None:
    emu.fail("download", times=2, body=GARBAGE, content_type="image/png")
    with make_client(emu, cache_dir=tmp_path) as client, pytest.raises(errors.ResultDecodeError):
        FILTER.apply(IMAGE, client=client)
    with make_client(emu, cache_dir=tmp_path) as other:  # a new process would see the disk entry
        assert cached_bytes(other) == GARBAGE
        with pytest.raises(errors.ResultDecodeError):
            FILTER.apply(IMAGE, client=other)
        assert cached_bytes(other) is None and not list(tmp_path.rglob("*.bin"))
        assert FILTER.apply(IMAGE, client=other).shape == EXPECTED_SHAPE


def test_download_errors_name_the_trans_id_even_for_transport_failures(emu: Emulator) -> None:
    with make_client(emu, max_retries=0) as client:
        result = client.run_job(prepare(IMAGE).data, FILTER.to_jconfig())
        for fault in ({"drop": True}, {"delay": SLOW}, {"status": 503}):
            emu.fail("download", **fault)
            with pytest.raises(errors.TransportError) as info:
                client.download(result.trans_id)
            assert info.value.trans_id == result.trans_id
            emu.fail("progress", **fault)
            with pytest.raises(errors.TransportError) as info:
                client.progress(result.trans_id)
            assert info.value.trans_id == result.trans_id
    assert [tid for tid, _ in emu.charges] == [result.trans_id]
