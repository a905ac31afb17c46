"""Client.wait / run_job: statuses, the poll schedule, deadlines, callbacks."""

from __future__ import annotations

import io
import itertools
import json
import time

import pytest
from PIL import Image

from vance_filters import errors, jobs
from vance_filters.client import Client
from vance_filters.jobs import JobResult, poll_delay
from vance_filters.records import Progress
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(30)

MATTING = {"name": "matting", "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}}}


def image_bytes(color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def emu(vance_emulator_session: Emulator) -> Emulator:
    vance_emulator_session.reset()
    vance_emulator_session.configure(job_duration=0.0, workers=4, transform_wait=0.0)
    yield vance_emulator_session
    vance_emulator_session.reset()


@pytest.fixture
def client(emu: Emulator) -> Client:
    with Client(
        emu.api_token, emu.url, timeout=5, max_retries=2, backoff_base=0.01, backoff_max=0.02,
        poll_interval=0.5, max_wait=10,
    ) as c:
        yield c


def start(client: Client, jconfig: dict = MATTING) -> str:
    up = client.upload(image_bytes())
    return client.transform(up.uid, jconfig).trans_id


def test_poll_schedule_starts_fast_and_backs_off_to_the_interval() -> None:
    delays = [poll_delay(i, 2.0) for i in range(12)]
    assert 0.1 <= delays[0] <= 0.2
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert delays[-1] == 2.0
    assert sum(delays[:7]) < 5.0  # a short job is noticed quickly
    assert poll_delay(10**6, 2.0) == 2.0  # no overflow for very long waits
    assert poll_delay(0, 0.05) == 0.05  # never slower than the interval


def test_wait_sees_running_states_then_finish(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.8, workers=1)
    first, second = start(client), start(client)  # the second queues behind the first
    seen: list[str] = []
    final = client.wait(second, on_status=lambda p: seen.append(p.status))
    assert final.status == "finish" and final.trans_id == second and final.filesize > 0
    assert seen[-1] == "finish"
    assert "waiting" in seen and "process" in seen
    assert len(seen) == len(set(seen))  # reported once per change
    assert client.progress(first).status == "finish"


def test_first_poll_is_fast_and_polling_backs_off(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=1.6)
    trans_id = start(client)
    t0 = time.monotonic()
    client.wait(trans_id)
    polls = [r.time for r in emu.requests if r.endpoint == "progress"]
    assert polls[0] - t0 < 0.3
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert all(g2 >= g1 * 0.9 for g1, g2 in itertools.pairwise(gaps))  # non-decreasing, within jitter
    assert 3 <= len(polls) <= 8
    assert max(gaps) <= 0.5 + 0.2  # capped at poll_interval


@pytest.mark.parametrize("status", ["busy", "waiting", "process", "webhook", "wait", "queued-somewhere"])
def test_stuck_job_times_out_with_its_trans_id(client: Client, emu: Emulator, status: str) -> None:
    emu.stall_jobs(times=1, status=status)
    trans_id = start(client)
    seen: list[Progress] = []
    t0 = time.monotonic()
    with pytest.raises(errors.JobTimeoutError) as info:
        client.wait(trans_id, max_wait=0.4, on_status=seen.append)
    elapsed = time.monotonic() - t0
    assert 0.35 <= elapsed < 1.5
    assert info.value.trans_id == trans_id
    assert isinstance(info.value, TimeoutError)
    assert trans_id in str(info.value) and status in str(info.value)
    assert [p.status for p in seen] == [status]


def test_unknown_status_is_treated_as_running(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.5)
    trans_id = start(client)
    body = json.dumps({"code": 200, "cscode": 200, "data": {"status": "wait", "filesize": "0"}}).encode()
    emu.fail("progress", body=body, content_type="application/json", times=1)
    seen: list[str] = []
    assert client.wait(trans_id, on_status=lambda p: seen.append(p.status)).status == "finish"
    assert seen[0] == "wait" and seen[-1] == "finish"


def test_fatal_job_raises_job_failed_with_trans_id(client: Client, emu: Emulator) -> None:
    emu.fail_jobs(times=1)
    trans_id = start(client)
    with pytest.raises(errors.JobFailedError) as info:
        client.wait(trans_id)
    assert info.value.trans_id == trans_id
    assert "fatal" in str(info.value)


def test_run_job_fatal_carries_trans_id_and_charges_nothing(client: Client, emu: Emulator) -> None:
    emu.configure(transform_wait=5.0)
    emu.fail_jobs(times=1)
    with pytest.raises(errors.JobFailedError) as info:
        client.run_job(image_bytes(), MATTING)
    assert info.value.trans_id in emu.jobs
    assert emu.charges == [] and emu.request_count("download") == 0


def test_run_job_skips_polling_when_transform_says_finish(client: Client, emu: Emulator) -> None:
    emu.configure(transform_wait=5.0)
    statuses: list[str] = []
    result = client.run_job(image_bytes(), MATTING, on_status=lambda p: statuses.append(p.status))
    assert isinstance(result, JobResult) and not result.cached
    assert result.status == "finish" and statuses == ["finish"]
    assert emu.request_count("progress") == 0
    assert [r.endpoint for r in emu.requests] == ["upload", "transform", "download"]
    assert result.data == emu.jobs[result.trans_id].result
    assert result.uid == emu.jobs[result.trans_id].uid
    assert "bytes>" in repr(result)


def test_run_job_polls_when_transform_returns_early(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.4)
    result = client.run_job(image_bytes(), MATTING, max_wait=5)
    assert result.status == "finish"
    assert emu.request_count("progress") >= 1


def test_run_job_deadline(client: Client, emu: Emulator) -> None:
    emu.stall_jobs(times=1, status="busy")
    with pytest.raises(errors.JobTimeoutError) as info:
        client.run_job(image_bytes(), MATTING, max_wait=0.3)
    assert info.value.trans_id in emu.jobs
    with pytest.raises(ValueError, match="max_wait"):
        client.run_job(image_bytes(), MATTING, max_wait=0)


def test_resume_after_timeout_with_wait_and_download(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.8)
    with pytest.raises(errors.JobTimeoutError) as info:
        client.run_job(image_bytes(), MATTING, max_wait=0.2)
    trans_id = info.value.trans_id
    assert client.wait(trans_id, max_wait=5).status == "finish"
    assert client.download(trans_id) == emu.jobs[trans_id].result


def test_errors_while_polling_carry_the_trans_id(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.5)
    trans_id = start(client)
    emu.fail("progress", code=10001, msg="Illegal Parameter")
    with pytest.raises(errors.InvalidParameterError) as info:
        client.wait(trans_id)
    assert info.value.trans_id == trans_id


def test_webhook_job_is_polled_to_completion(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.3)
    with pytest.warns(errors.InsecureWebhookWarning, match="https"):
        result = client.run_job(image_bytes(), MATTING, webhook="http://127.0.0.1:9/hook")
    assert result.status == "finish"
    transform = next(r for r in emu.requests if r.endpoint == "transform")
    assert transform.params.get("webhook") == "http://127.0.0.1:9/hook"


def test_https_webhook_does_not_warn_and_transform_answers_webhook(client: Client, emu: Emulator) -> None:
    import warnings

    emu.configure(job_duration=0.3, transform_wait=5.0)
    up = client.upload(image_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = client.transform(up.uid, MATTING, webhook="https://127.0.0.1:9/hook")
    assert job.status == "webhook" and not job.done
    assert client.wait(job.trans_id).status == "finish"
    with pytest.raises(ValueError, match="webhook"):
        client.transform(up.uid, MATTING, webhook="ftp://x/y")
    with pytest.raises(TypeError, match="webhook"):
        client.transform(up.uid, MATTING, webhook=5)  # type: ignore[arg-type]


def test_wait_for_job_directly_with_a_fake_progress() -> None:
    states = iter(["webhook", "busy", "busy", "finish"])
    calls: list[float] = []

    def fake(trans_id: str) -> Progress:
        calls.append(time.monotonic())
        return Progress(status=next(states), trans_id=trans_id)

    seen: list[str] = []
    out = jobs.wait_for_job(fake, "t", poll_interval=0.05, max_wait=5, on_status=lambda p: seen.append(p.status))
    assert out.status == "finish" and seen == ["webhook", "busy", "finish"] and len(calls) == 4
