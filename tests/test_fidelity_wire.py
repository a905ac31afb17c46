"""Issue 12 points 1-5: the client speaks to the real service correctly.

Each test configures the emulator to behave like the case (an edge that drops GET bodies,
downloads labelled text/html, a blocking transform longer than the read timeout, 429s,
upload answers without w/h ...) and talks to it over real HTTP.
"""

from __future__ import annotations

import io
import itertools
import logging
import socket
import threading
import time
import traceback
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import errors, jobs
from vance_filters._http import LOST_TRANSFORM_HINT
from vance_filters._sniff import image_size
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)

MATTING = {"name": "matting", "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}}}


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (12, 7), color: tuple[int, int, int] = (9, 99, 199)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def make_client(emu: Emulator, **kwargs) -> Client:
    options = {"timeout": 5, "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.02,
               "poll_interval": 0.5, "max_wait": 20}
    options.update(kwargs)
    return Client(emu.api_token, emu.url, **options)


@pytest.fixture
def emu(vance_emulator_session: Emulator) -> Emulator:
    vance_emulator_session.reset()
    vance_emulator_session.configure(job_duration=0.0, workers=4, transform_wait=5.0)
    yield vance_emulator_session
    vance_emulator_session.reset()


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. GET /point?api_token=... --------------------------------------------------------------

def test_point_in_the_documented_form_passes_an_edge_that_drops_get_bodies(emu: Emulator) -> None:
    emu.configure(drop_get_bodies=True, credits=42)
    with make_client(emu) as client:
        assert client.credits().total == 42.0
    with make_client(emu, point_form="json") as old, pytest.raises(errors.AuthenticationError) as info:
        old.credits()  # the body never arrives: "check your token", although it is right
    assert "api token field is required" in str(info.value)
    assert emu.api_token not in full_text(info.value)
    emu.configure(drop_get_bodies=False)
    with make_client(emu, point_form="json") as old:
        assert old.credits().total == 42.0  # a Laravel origin reads the JSON body


def test_point_url_reaches_no_log_record(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "vance_filters"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    emu.fail("point", times=1, status=503)  # a retry: urllib3 and vance_filters log both attempts
    with make_client(emu) as client:
        client.credits()
        assert emu.api_token not in repr(client)
    lines = [r.getMessage() for r in caplog.records]
    point_lines = [m for m in lines if '"GET /web_api/v1/point' in m]  # urllib3's request lines
    assert len(point_lines) == 2 and all("?api_token=*** " in m for m in point_lines)
    for record in caplog.records:
        assert emu.api_token not in record.getMessage() + repr(record.args) + str(record.__dict__)


def test_point_url_reaches_no_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    token = "0123456789abcdef" * 2
    with Client(token, f"http://127.0.0.1:{free_port()}/web_api/v1", max_retries=1,
                backoff_base=0.01, backoff_max=0.02) as client, pytest.raises(errors.TransportError) as info:
        client.credits()  # requests' ConnectionError text quotes the URL, query included
    text = full_text(info.value)
    assert "/point" in text and token not in text
    assert all(token not in r.getMessage() + str(r.__dict__) for r in caplog.records)


# -- 2. downloads judged by their bytes -------------------------------------------------------

@pytest.mark.parametrize("label", ["text/html; charset=UTF-8", "application/octet-stream", "image/*",
                                   "image/jpeg", "application/json", ""])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_download_is_judged_by_its_bytes_not_its_label(emu: Emulator, label: str, fmt: str) -> None:
    emu.configure(download_content_type=label)
    with make_client(emu) as client:
        job = client.transform(client.upload(image_bytes(fmt)).uid, MATTING)
        data = client.download(job.trans_id)
    assert data == emu.jobs[job.trans_id].result
    sent = [r for r in emu.requests if r.endpoint == "download"]
    assert len(sent) == 1  # accepted at once: no retry


def test_webp_bytes_under_an_html_label_are_a_result(emu: Emulator) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buf, "WEBP")
    with make_client(emu) as client:
        job = client.transform(client.upload(image_bytes()).uid, MATTING)
        emu.fail("download", body=buf.getvalue(), content_type="text/html; charset=UTF-8")
        assert client.download(job.trans_id) == buf.getvalue()


@pytest.mark.parametrize(("body", "label"), [
    (b"<html><body><h1>Just a moment...</h1>api_token=TOKEN</body></html>", "image/png"),
    (b'{"status": "ok", "echo": "TOKEN"}', "application/octet-stream"),
    (b"plain words TOKEN", ""),
])
def test_a_body_that_is_no_image_is_a_typed_error_with_a_token_free_excerpt(
    emu: Emulator, body: bytes, label: str
) -> None:
    with make_client(emu) as client:
        job = client.transform(client.upload(image_bytes()).uid, MATTING)
        emu.fail("download", body=body.replace(b"TOKEN", emu.api_token.encode()), content_type=label or "x/y")
        with pytest.raises(errors.ProtocolError) as info:
            client.download(job.trans_id)
    text = str(info.value)
    assert "not a PNG, JPEG or WebP image" in text and emu.api_token not in full_text(info.value)
    assert any(word in text for word in ("Just a moment", "status", "plain words"))
    assert len(info.value.message) < 400


# -- 3. a transform is never sent twice merely because reading its answer timed out ----------

def test_a_blocking_job_longer_than_the_read_timeout_comes_back_from_one_request(emu: Emulator) -> None:
    emu.configure(job_duration=1.5, transform_wait=10.0)
    with make_client(emu, timeout=0.5) as client:
        result = client.run_job(image_bytes(), MATTING)
    assert result.status == "finish" and result.data == emu.jobs[result.trans_id].result
    assert emu.request_count("transform") == 1 and emu.request_count("progress") == 0


def test_a_read_timeout_on_transform_is_not_sent_again(emu: Emulator) -> None:
    emu.configure(job_duration=3.0, transform_wait=10.0)
    with make_client(emu, timeout=0.3) as client:
        uid = client.upload(image_bytes()).uid
        with pytest.raises(errors.RequestTimeoutError) as info:
            client.transform(uid, MATTING, max_wait=0.6)
    assert emu.request_count("transform") == 1 and len(emu.jobs) == 1
    text = str(info.value)
    assert "a job may still be running" in text and "credit_history()" in text
    assert info.value.hint == LOST_TRANSFORM_HINT


def test_run_job_reads_transform_for_what_is_left_of_max_wait(emu: Emulator) -> None:
    emu.configure(job_duration=3.0, transform_wait=10.0)
    with make_client(emu, timeout=0.3) as client:
        t0 = time.monotonic()
        with pytest.raises(errors.RequestTimeoutError, match="may still be running"):
            client.run_job(image_bytes(), MATTING, max_wait=1.0)
    assert 0.8 <= time.monotonic() - t0 < 2.5
    assert emu.request_count("transform") == 1


@pytest.mark.parametrize("fault", [{"status": 502}, {"status": 504}, {"drop": True}])
def test_an_ambiguous_failure_is_retried_once_only(emu: Emulator, fault: dict) -> None:
    with make_client(emu, max_retries=4) as client:
        uid = client.upload(image_bytes()).uid
        emu.fail("transform", times=1, **fault)
        assert client.transform(uid, MATTING).status == "finish"  # once: fine
        assert emu.request_count("transform") == 2
        emu.fail("transform", times=3, **fault)
        with pytest.raises(errors.TransportError) as info:
            client.transform(uid, MATTING)
    assert emu.request_count("transform") == 4  # the failing pair, not max_retries + 1
    assert "may still be running" in str(info.value)


def test_429_and_503_on_transform_are_retried_as_usual(emu: Emulator) -> None:
    with make_client(emu, max_retries=4) as client:
        uid = client.upload(image_bytes()).uid
        emu.fail("transform", times=3, status=503)
        assert client.transform(uid, MATTING).status == "finish"
    assert emu.request_count("transform") == 4


def test_connection_refused_before_sending_is_retried_normally(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="vance_filters")
    with Client("t" * 32, f"http://127.0.0.1:{free_port()}/web_api/v1", max_retries=3,
                backoff_base=0.01, backoff_max=0.02) as client, pytest.raises(errors.TransportError) as info:
        client.transform("u" * 32, MATTING)
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying /transform")]
    assert len(retries) == 3  # nothing reached a server: every retry was safe
    assert info.value.hint != LOST_TRANSFORM_HINT


# -- 4. polling a vendor would welcome ---------------------------------------------------------

def test_a_job_is_polled_at_most_twice_a_second(emu: Emulator) -> None:
    emu.configure(job_duration=3.0, transform_wait=0.0)
    with make_client(emu, poll_interval=0.1) as client:  # even a tiny poll_interval
        result = client.run_job(image_bytes(), MATTING)
    polls = [r.time for r in emu.requests if r.endpoint == "progress"]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert len(polls) >= 4 and min(gaps) >= 0.45
    job = emu.jobs[result.trans_id]
    download = next(r.time for r in emu.requests if r.endpoint == "download")
    assert download - job.finished_at <= 0.25 * 3.0 + 0.3  # blind: within 25% of its run time


def test_a_busy_job_is_polled_every_two_seconds(emu: Emulator) -> None:
    emu.configure(transform_wait=0.0)
    emu.stall_jobs(times=1, status="busy")
    statuses: list[str] = []
    with make_client(emu) as client, pytest.raises(errors.JobTimeoutError):
        client.run_job(image_bytes(), MATTING, max_wait=4.5, on_status=lambda p: statuses.append(p.status))
    assert statuses == ["busy"]  # transform's answer: queued
    polls = [r.time for r in emu.requests if r.endpoint == "progress"]
    transform = next(r.time for r in emu.requests if r.endpoint == "transform")
    assert polls[0] - transform >= jobs.QUEUED_GAP - 0.1
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert all(g >= jobs.QUEUED_GAP - 0.1 for g in gaps[:-1])  # the last one is at the deadline


def test_one_request_budget_for_every_thread(emu: Emulator) -> None:
    with make_client(emu, max_requests_per_second=5) as client:
        client.credits()  # one of the 5 in the bucket
        emu.reset()
        threads = [threading.Thread(target=lambda: [client.credits() for _ in range(5)]) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    times = sorted(r.time for r in emu.requests)
    assert len(times) == 20
    # 20 requests at 5 a second with a burst of 5: at least 3 s from the first to the last
    assert times[-1] - times[0] >= 2.7
    for i, t in enumerate(times):  # never more than burst + rate in any one second
        assert sum(1 for u in times[i:] if u - t < 1.0) <= 11  # (one more at the window's edge)


@pytest.mark.parametrize("budget", [50.0, None])
def test_a_429_slows_every_thread_of_the_client(emu: Emulator, budget: float | None) -> None:
    stop = threading.Event()
    with make_client(emu, max_requests_per_second=budget, max_retries=4) as client:
        def loop() -> None:
            while not stop.is_set():
                client.credits()

        threads = [threading.Thread(target=loop) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        emu.fail("point", times=1, status=429, retry_after=1.5)
        time.sleep(2.5)
        stop.set()
        for thread in threads:
            thread.join()
    records = emu.requests
    throttled = next(r.time for r in records if r.status == 429)
    during = [r for r in records if throttled + 0.3 < r.time < throttled + 1.4]
    assert during == []  # no thread asked while the service said to wait (after those in flight)
    after = [r for r in records if r.time >= throttled + 1.4]
    assert len(after) >= 10  # and they all went on afterwards


def test_a_job_stuck_in_an_unknown_status_is_reported_by_name(emu: Emulator) -> None:
    emu.configure(transform_wait=0.0)
    emu.stall_jobs(times=1, status="queued-somewhere")
    with make_client(emu) as client:
        job = client.transform(client.upload(image_bytes()).uid, MATTING)
        with pytest.warns(jobs.UnknownStatusWarning) as warned, pytest.raises(errors.JobTimeoutError) as info:
            client.wait(job.trans_id, max_wait=3.0)
    message = str(warned[0].message)
    assert "'queued-somewhere'" in message and job.trans_id in message
    assert "'queued-somewhere'" in str(info.value) and "does not document" in str(info.value)


# -- 5. small things ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_upload_answer_without_w_and_h_uses_the_size_sent(emu: Emulator, fmt: str) -> None:
    emu.configure(omit_upload_size=True)
    data = image_bytes(fmt, size=(37, 21))
    with make_client(emu) as client:
        up = client.upload(data)
        result = client.run_job(image_bytes(fmt, size=(37, 21), color=(1, 1, 1)), MATTING)
    assert (up.width, up.height) == (37, 21) == image_size(data)
    assert result.status == "finish"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_the_file_part_carries_its_type_and_name(emu: Emulator, tmp_path: Path, fmt: str) -> None:
    emu.configure(strict_file_type=True)  # a validator that refuses octet-stream parts
    path = tmp_path / f"holiday.{fmt.lower()}"
    path.write_bytes(image_bytes(fmt))
    with make_client(emu) as client:
        by_path = client.upload(path)
        with open(path, "rb") as handle:
            by_handle = client.upload(handle)
        by_bytes = client.upload(path.read_bytes())
    assert by_path.name == by_handle.name == path.name
    assert by_bytes.name == {"PNG": "image.png", "JPEG": "image.jpg"}[fmt]
    assert emu.uploads[by_path.uid].name == path.name


@pytest.mark.parametrize("form", ["number", "string"])
def test_filesize_as_number_or_string(emu: Emulator, form: str) -> None:
    emu.configure(filesize=form, transform_wait=0.0, job_duration=0.3)
    data = image_bytes()
    with make_client(emu) as client:
        up = client.upload(data)
        job = client.transform(up.uid, MATTING)
        final = client.wait(job.trans_id)
    assert up.filesize == len(data)
    assert final.filesize == len(emu.jobs[job.trans_id].result)


def test_a_base_url_without_web_api_v1_is_named_as_the_likely_cause(emu: Emulator) -> None:
    base = emu.url.replace("/web_api/v1", "/api")
    with Client(emu.api_token, base, max_retries=0) as client, pytest.raises(errors.ProtocolError) as info:
        client.credits()
    assert "HTTP 404" in str(info.value) and "/web_api/v1" in (info.value.hint or "")
    with make_client(emu) as client:  # the right base URL: no such hint on a proxy page
        emu.fail("point", status=403, body=b"<html>Forbidden</html>", content_type="text/html")
        with pytest.raises(errors.ProtocolError) as right:
            client.credits()
    assert "web_api" not in (right.value.hint or "")


def test_the_request_budget_defaults_to_ten_a_second_for_a_remote_service() -> None:
    with Client("t" * 32, "https://api-service.vanceai.com/web_api/v1") as remote:
        assert remote.max_requests_per_second == 10.0
    with Client("t" * 32, "http://127.0.0.1:9/web_api/v1") as local:
        assert local.max_requests_per_second is None  # the local emulator: no limit unless given
    with Client("t" * 32, "http://127.0.0.1:9/web_api/v1", max_requests_per_second=2.5) as given:
        assert given.max_requests_per_second == 2.5
    with pytest.raises(ValueError, match="max_requests_per_second"):
        Client("t" * 32, max_requests_per_second=0)
    with pytest.raises(ValueError, match="point_form"):
        Client("t" * 32, point_form="body")
