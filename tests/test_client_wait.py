"""Client.wait / run_job: statuses, the poll schedule, deadlines, callbacks."""

from __future__ import annotations

import io
import itertools
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from vance_filters import errors, jobs
from vance_filters.client import Client
from vance_filters.jobs import JobResult, next_poll
from vance_filters.records import Progress
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(30)

MATTING = {"name": "matting", "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}}}


def image_bytes(color: tuple[int, int, int] = (10, 200, 30), size: tuple[int, int] = (6, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
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


def calls_for(emu: Emulator, endpoint: str, trans_id: str | None) -> int:
    return sum(1 for r in emu.requests if r.endpoint == endpoint and r.params.get("trans_id") == trans_id)


def notice_delay(emu: Emulator, trans_id: str | None) -> float:
    """Seconds from the emulator finishing a job to the client asking for its result."""
    download = next(r.time for r in emu.requests
                    if r.endpoint == "download" and r.params.get("trans_id") == trans_id)
    return download - emu.jobs[trans_id].finished_at


def blind_times(
    until: float, poll_interval: float = 2.0, expected: tuple[float, float] | None = None
) -> list[float]:
    """The schedule's call times up to ``until`` (seconds since submission, round trips left out)."""
    t, times = 0.0, []
    while t < until:
        t = next_poll(t, poll_interval=poll_interval, expected=expected, last=times[-1] if times else None)
        times.append(t)
    return times


def test_blind_schedule_is_half_second_for_two_seconds_then_under_one_call_per_second() -> None:
    times = blind_times(600.0)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *times])]
    assert min(gaps) >= jobs.MIN_GAP - 1e-9  # never more than 2 calls a second
    assert all(g == pytest.approx(0.5) for g, t in zip(gaps, times) if t <= 2.0)
    assert all(g1 - 1e-9 <= g2 <= 2 * g1 + 1e-9 for g1, g2 in itertools.pairwise(gaps))  # widens smoothly
    assert max(gaps) == pytest.approx(2.0)  # backs off to poll_interval, no further
    for end in [k / 20 for k in range(1, 600)]:  # any length: noticed within 0.5 s or 25%
        noticed = min(t for t in times if t >= end)
        assert noticed - end <= max(0.5, 0.25 * end) + 1e-9, end
    for end in [10, 15, 20, 60, 300]:  # a long job: < 1 call per second after its first 2 s
        noticed = min(t for t in times if t >= end)
        assert len([t for t in times if 2.0 + 1e-6 < t <= noticed]) <= noticed - 2.0, end
    # a poll_interval below the floor does not make it faster
    assert blind_times(5.0, poll_interval=0.05)[:3] == pytest.approx([0.5, 1.0, 1.5])


def window(run_time: float) -> tuple[float, float]:
    """The window a kind of job gets from one blind wait (the first run's bracket)."""
    times = blind_times(run_time)
    return (times[-2] if len(times) > 1 else 0.0), times[-1]


@pytest.mark.parametrize("usual", [0.3, 2.0, 10.0, 60.0])
@pytest.mark.parametrize("share", [0.9, 0.97, 1.0, 1.03, 1.1, 1.3])
@pytest.mark.parametrize("learned", ["one blind run", "tight"])
def test_known_kind_is_noticed_sooner_with_fewer_calls(usual: float, share: float, learned: str) -> None:
    expected = window(usual * 1.001) if learned == "one blind run" else (usual * 0.99, usual * 1.02)
    actual = usual * share
    warm = blind_times(actual, expected=expected)
    cold = blind_times(actual)
    late = warm[-1] - actual
    start, end = expected
    step = max(0.04 * end, jobs.MIN_GAP)
    gaps = [b - a for a, b in itertools.pairwise(warm)]
    assert not gaps or min(gaps) >= jobs.MIN_GAP - 1e-9  # at most 2 calls a second, probes included
    if start <= actual <= end + 2 * step:
        assert late <= step + 1e-9  # the probes
    elif actual < start:
        assert late <= start - actual + step  # early: caught by the first probe
    else:
        assert late <= max(0.25 * actual, 0.5)  # much later: back on the blind pace
    if start <= actual <= end and usual <= 2 and learned == "tight":
        assert late <= 0.4 + 1e-9  # a short job of a well-known kind: noticed within 0.4 s
    if usual >= 2 and learned == "tight":
        assert len(warm) < len(cold)
    if usual >= 5:
        assert len([t for t in warm if t > 2.0 + 1e-6]) <= warm[-1] - 2.0  # < 1 call/s after 2 s
    else:
        assert len(warm) <= len(cold) + 2


def test_known_kind_that_runs_much_longer_falls_back_to_the_blind_pace() -> None:
    times = blind_times(40.0, expected=(9.9, 10.3))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert [round(t, 2) for t in times if 9 < t < 12] == [10.3, 10.8, 11.3, 11.8]  # probes from the end of it
    assert gaps[-1] == pytest.approx(2.0)  # then one call per poll_interval
    quick = blind_times(2.6, expected=(9.9, 10.3))  # an unusually quick one is still seen by the early checks
    assert quick[-1] == pytest.approx(4.95)


def test_first_polls_come_every_half_second(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=1.2)
    trans_id = start(client)
    t0 = time.monotonic()
    client.wait(trans_id)
    polls = [r.time for r in emu.requests if r.endpoint == "progress"]
    assert 0.4 <= polls[0] - t0 < 0.7
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert 0.45 <= statistics.median(gaps) <= 0.65 and min(gaps) >= 0.45  # at most 2 calls a second
    job = emu.jobs[trans_id]
    assert polls[-1] - job.finished_at <= 0.65  # a 1.2 s job is noticed within 0.5 s (plus jitter)


def test_a_batch_of_like_jobs_is_noticed_sooner_with_fewer_calls(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=2.2)
    results = [client.run_job(image_bytes((i, 0, 0)), MATTING) for i in range(3)]
    calls = [calls_for(emu, "progress", r.trans_id) for r in results]
    late = [notice_delay(emu, r.trans_id) for r in results]
    assert calls[0] >= 5  # the first is polled blind, every 0.5 s
    assert max(calls[1:]) <= calls[0] - 1  # the others around the time the first took
    assert all(0 <= t <= 0.5 for t in late[1:]), late  # within 0.4 s, plus a loaded machine


def test_a_job_seen_queued_is_polled_at_the_vendors_pace(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=1.0, workers=1)
    client.run_job(image_bytes((1, 1, 1)), MATTING)  # learns: about 1 s
    with ThreadPoolExecutor(2) as pool:  # the second of these waits ~1 s in the queue
        queued = list(pool.map(lambda c: client.run_job(image_bytes((c, 2, 2)), MATTING), [3, 4]))
    for result in queued:
        polls = [r for r in emu.requests if r.endpoint == "progress" and r.params.get("trans_id") == result.trans_id]
        # after a "waiting" answer the next call comes 2 s later (the vendor's fixed pace)
        for seen, after in itertools.pairwise(polls):
            if seen.time > 0 and emu.jobs[result.trans_id].started_at > seen.time:
                assert after.time - seen.time >= jobs.QUEUED_GAP - 0.05
        assert notice_delay(emu, result.trans_id) <= jobs.QUEUED_GAP + 0.3
    emu.configure(workers=4)
    last = client.run_job(image_bytes((5, 5, 5)), MATTING)
    assert notice_delay(emu, last.trans_id) <= 0.5
    assert calls_for(emu, "progress", last.trans_id) <= 3


def test_images_of_another_size_are_not_polled_on_the_learned_window(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=0.6)
    client.run_job(image_bytes((1, 0, 0)), MATTING)
    client.run_job(image_bytes((2, 0, 0)), MATTING)  # learned: a 6x4 matting takes ~0.6 s
    emu.configure(job_duration=0.2)
    bigger = client.run_job(image_bytes((3, 0, 0), size=(64, 64)), MATTING)  # another kind: polled blind
    assert notice_delay(emu, bigger.trans_id) <= 0.5  # not held back to the 0.6 s window


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
    out = jobs.wait_for_job(fake, "t", poll_interval=0.05, max_wait=9, on_status=lambda p: seen.append(p.status))
    assert out.status == "finish" and seen == ["webhook", "busy", "finish"] and len(calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert 0.45 <= gaps[0] < 1.0  # webhook: the blind pace (never under 0.5 s)
    assert gaps[1] >= jobs.QUEUED_GAP - 0.05 and gaps[2] >= jobs.QUEUED_GAP - 0.05  # busy: every 2 s
