"""Scripted and random faults, as a client sees them on the wire."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests

from vance_filters.testing import Emulator, sample_image

ENLARGE = {"name": "enlarge3", "config": {"module": "enlarge3", "module_params": {"scale": 2}}}


def finished(emu: Emulator) -> str:
    buf = io.BytesIO()
    sample_image("photo", size=(64, 48)).save(buf, "PNG")
    uid = requests.post(emu.url + "/upload", files={"file": ("a.png", buf.getvalue())},
                        data={"api_token": emu.api_token}, timeout=10).json()["data"]["uid"]
    r = requests.post(emu.url + "/transform", timeout=10,
                      data={"api_token": emu.api_token, "uid": uid, "jconfig": json.dumps(ENLARGE)})
    return r.json()["data"]["trans_id"]


def point(emu: Emulator, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=10)


def test_status_fault_is_a_short_html_page(vance_emulator: Emulator) -> None:
    vance_emulator.fail("point", times=2, status=502)
    for _ in range(2):
        r = point(vance_emulator)
        assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
        assert b"502" in r.content
    assert point(vance_emulator).status_code == 200
    assert [r.status for r in vance_emulator.requests] == [502, 502, 200]


def test_code_fault_is_an_api_error_envelope(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail("point", code=10010)
    emu.fail("point", code=30004, msg="custom words", status=402)
    emu.fail("point", code=30001, msg={"api_token": ["The api token field is required."]})
    r = point(emu)
    assert (r.status_code, r.json()) == (200, {"code": 10010, "msg": "Internal error"})
    r = point(emu)
    assert (r.status_code, r.json()) == (402, {"code": 30004, "msg": "custom words"})
    assert point(emu).json()["msg"] == {"api_token": ["The api token field is required."]}
    assert [r.code for r in emu.requests] == [10010, 30004, 30001]


def test_drop_closes_without_an_answer(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail("upload", drop=True)
    with pytest.raises(requests.ConnectionError):
        requests.post(emu.url + "/upload", files={"file": ("a.png", b"x" * 1000)},
                      data={"api_token": emu.api_token}, timeout=10)
    assert emu.requests[-1].status is None and emu.uploads == {}
    with requests.Session() as s:
        assert point(emu, s).status_code == 200  # a kept-alive connection...
        emu.fail("point", drop=True)
        with pytest.raises(requests.ConnectionError):
            point(emu, s)  # ...dropped mid-way
        assert point(emu, s).status_code == 200  # and a fresh one works


def test_delay_alone_answers_normally_later(vance_emulator: Emulator) -> None:
    vance_emulator.fail("point", delay=0.3)
    t0 = time.monotonic()
    assert point(vance_emulator).json()["code"] == 200
    assert time.monotonic() - t0 >= 0.29


def test_delay_before_a_failure_and_a_client_timeout(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail("point", delay=0.5, status=503)
    with pytest.raises(requests.Timeout):
        requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=0.1)
    assert emu.request_count("point") == 1  # counted on arrival, still unanswered
    time.sleep(0.6)
    assert emu.requests[-1].status == 503


def test_retry_after_header(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail("point", status=429, retry_after=2)
    emu.fail("point", retry_after=0.5)
    r = point(emu)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    r = point(emu)
    assert r.status_code == 200 and r.headers["Retry-After"] == "0.5"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<html>proxy says no</html>", "text/html", None),
        (b'{"code": 200, "cscode": 200, "data": {}}', "application/json", None),
        (b"raw", None, 418),
    ],
)
def test_body_fault_answers_exactly_these_bytes(vance_emulator: Emulator, body: bytes,
                                                content_type: str | None, status: int | None) -> None:
    emu = vance_emulator
    tid = finished(emu)
    emu.fail("download", body=body, content_type=content_type, status=status)
    r = requests.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    assert r.content == body and r.status_code == (status or 200)
    assert r.headers["Content-Type"] == (content_type or "application/octet-stream")
    assert emu.charges == []  # the fault replaced the download


def test_png_claiming_huge_dimensions_as_a_download(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    tid = finished(emu)
    data = bytearray(emu.jobs[tid].result)
    data[16:24] = (100_000).to_bytes(4, "big") * 2
    emu.fail("download", body=bytes(data), content_type="image/png")
    r = requests.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    assert r.content == bytes(data) and r.headers["Content-Type"] == "image/png"
    assert int.from_bytes(r.content[16:20], "big") == 100_000


def test_truncate_announces_more_than_it_sends(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    tid = finished(emu)
    full = emu.jobs[tid].result
    emu.fail("download", truncate=True)
    r = requests.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid},
                     timeout=10, stream=True)
    assert int(r.headers["Content-Length"]) == len(full)
    got = b""
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in r.iter_content(256):
            got += chunk
    assert 0 < len(got) < len(full) and full.startswith(got)
    again = requests.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    assert again.content == full
    assert emu.charges == [(tid, 1.0)]  # the server served (and charged) the truncated one


def test_faults_queue_in_order_and_star_matches_any_endpoint(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail("*", times=2, status=500)
    emu.fail("point", status=503)
    assert point(emu).status_code == 503  # the endpoint's own queue first
    assert requests.post(emu.url + "/progress", data={"api_token": emu.api_token}, timeout=10).status_code == 500
    assert point(emu).status_code == 500
    assert point(emu).status_code == 200


def test_random_faults_are_seeded_and_can_be_turned_off(vance_emulator: Emulator) -> None:
    emu = vance_emulator

    def run() -> list[int | None]:
        out: list[int | None] = []
        for _ in range(40):
            try:
                r = point(emu)
                out.append(r.json()["code"] if r.status_code == 200 else r.status_code)
            except requests.ConnectionError:
                out.append(None)
        return out

    emu.random_faults(0.5, seed=3)
    first = run()
    emu.random_faults(0.5, seed=3)
    assert run() == first
    assert {500, 502, 503, 10010, None} <= set(first) and first.count(200) >= 8
    emu.random_faults(0)
    assert set(run()) == {200}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("nope",), ValueError),
        (("point",), None),
        (("point", {"times": 0}), ValueError),
        (("point", {"status": 99}), ValueError),
        (("point", {"code": "10001"}), ValueError),
        (("point", {"delay": -1}), ValueError),
        (("point", {"retry_after": float("nan")}), ValueError),
        (("point", {"body": "text"}), TypeError),
        (("point", {"content_type": "text/html"}), ValueError),
        (("point", {"drop": True, "status": 500}), ValueError),
        (("point", {"code": 10001, "body": b"x"}), ValueError),
        (("point", {"msg": "why"}), ValueError),
    ],
)
def test_fail_validates_its_arguments(args: tuple, error: type | None) -> None:
    emu = Emulator()
    kwargs = args[1] if len(args) > 1 else {}
    if error is None:
        emu.fail(args[0], **kwargs)
    else:
        with pytest.raises(error):
            emu.fail(args[0], **kwargs)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda e: e.fail_jobs(0), ValueError),
        (lambda e: e.stall_jobs(0), ValueError),
        (lambda e: e.stall_jobs(1, status=""), ValueError),
        (lambda e: e.random_faults(1.5), ValueError),
        (lambda e: e.configure(workers=0), ValueError),
        (lambda e: e.configure(job_duration=-1), ValueError),
        (lambda e: e.configure(credits=float("inf")), ValueError),
        (lambda e: Emulator(port=70000), ValueError),
        (lambda e: Emulator(host=""), ValueError),
        (lambda e: Emulator(api_token=""), ValueError),
        (lambda e: Emulator(error_status=99), ValueError),
    ],
)
def test_settings_are_validated(call, error: type) -> None:
    with pytest.raises(error):
        call(Emulator())
