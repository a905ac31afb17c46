"""Jobs: statuses over time, workers, the transform blocking window, webhooks, credits."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
import requests

from vance_filters.testing import Emulator, sample_image

ENLARGE = {"name": "enlarge3", "config": {"module": "enlarge3", "module_params": {"scale": 2}}}
SHARPEN = {"name": "va_sharpen_standard", "config": {"module": "sharpen3", "module_params": {}}}
MULTI = {"config": [SHARPEN, {"name": "CodeFormer", "config": {"module": "CodeFormer"}}],
         "name": "va_sharpen_standard"}


def upload(emu: Emulator, name: str = "cat.png") -> str:
    buf = io.BytesIO()
    sample_image("photo", size=(16, 12)).save(buf, "PNG")
    r = requests.post(emu.url + "/upload", files={"file": (name, buf.getvalue())},
                      data={"api_token": emu.api_token}, timeout=10)
    return r.json()["data"]["uid"]


def transform(emu: Emulator, uid: str, jconfig: dict = ENLARGE, **extra: str) -> dict:
    r = requests.post(emu.url + "/transform", timeout=15,
                      data={"api_token": emu.api_token, "uid": uid, "jconfig": json.dumps(jconfig), **extra})
    return r.json()["data"]


def progress(emu: Emulator, tid: str) -> dict:
    return requests.post(emu.url + "/progress", data={"api_token": emu.api_token, "trans_id": tid},
                         timeout=10).json()["data"]


def download(emu: Emulator, tid: str) -> requests.Response:
    return requests.post(emu.url + "/download", data={"api_token": emu.api_token, "trans_id": tid}, timeout=10)


def wait_status(emu: Emulator, tid: str, status: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while progress(emu, tid)["status"] != status:
        assert time.monotonic() < deadline, f"{tid} never reached {status}"
        time.sleep(0.02)


def test_statuses_waiting_process_finish_with_one_worker(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(job_duration=0.4, workers=1, transform_wait=0)
    uid = upload(emu)
    first, second = transform(emu, uid), transform(emu, uid)
    assert first["status"] in ("waiting", "process") and second["status"] == "waiting"
    wait_status(emu, first["trans_id"], "process", 1)
    assert progress(emu, second["trans_id"]) == {"status": "waiting", "filesize": 0}  # a number, as the real service sends
    wait_status(emu, first["trans_id"], "finish", 2)
    wait_status(emu, second["trans_id"], "process", 1)
    wait_status(emu, second["trans_id"], "finish", 2)
    jobs = emu.jobs
    a, b = jobs[first["trans_id"]], jobs[second["trans_id"]]
    assert a.finished_at is not None and b.started_at is not None and b.started_at >= a.finished_at - 0.05
    assert a.finished_at - a.started_at >= 0.39
    assert int(progress(emu, second["trans_id"])["filesize"]) == len(b.result)


def test_more_workers_run_jobs_in_parallel(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(job_duration=0.5, workers=3, transform_wait=0)
    uid = upload(emu)
    tids = [transform(emu, uid)["trans_id"] for _ in range(3)]
    t0 = time.monotonic()
    for tid in tids:
        wait_status(emu, tid, "finish", 3)
    assert time.monotonic() - t0 < 1.2  # not 1.5 s in a row


def test_transform_blocks_until_the_job_is_done(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(job_duration=0.3, transform_wait=5)
    uid = upload(emu)
    t0 = time.monotonic()
    assert transform(emu, uid)["status"] == "finish"
    assert 0.28 <= time.monotonic() - t0 < 1.5  # answered the moment the job was done


def test_transform_window_shorter_than_the_job_answers_the_current_status(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(job_duration=1.0, transform_wait=0.2)
    t0 = time.monotonic()
    data = transform(emu, upload(emu))
    assert data["status"] == "process" and time.monotonic() - t0 < 0.9


@pytest.mark.parametrize("status", ["busy", "waiting", "process", "queued-somewhere"])
def test_stalled_jobs_stay_and_transform_answers_at_once(vance_emulator: Emulator, status: str) -> None:
    emu = vance_emulator
    emu.stall_jobs(times=1, status=status)
    uid = upload(emu)
    t0 = time.monotonic()
    data = transform(emu, uid)
    assert data["status"] == status and time.monotonic() - t0 < 1.0
    time.sleep(0.1)
    assert progress(emu, data["trans_id"])["status"] == status
    assert transform(emu, uid)["status"] == "finish"  # only the next one stalled


def test_failed_jobs_are_fatal_and_not_downloadable(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.fail_jobs(times=2)
    uid = upload(emu)
    tids = [transform(emu, uid) for _ in range(3)]
    assert [t["status"] for t in tids] == ["fatal", "fatal", "finish"]
    assert progress(emu, tids[0]["trans_id"]) == {"status": "fatal", "filesize": 0}
    assert download(emu, tids[0]["trans_id"]).json()["code"] == 10011
    assert emu.jobs[tids[0]["trans_id"]].result is None


def test_a_result_too_large_for_the_stand_in_ends_fatal(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    buf = io.BytesIO()
    sample_image("photo", size=(4000, 2500)).save(buf, "JPEG")
    uid = requests.post(emu.url + "/upload", files={"file": ("x.jpg", buf.getvalue())},
                        data={"api_token": emu.api_token}, timeout=10).json()["data"]["uid"]
    jconfig = {"name": "enlarge3", "config": {"module": "enlarge3",
                                              "module_params": {"model_name": "EnlargeStandard_4x_Stable", "scale": 8}}}
    assert transform(emu, uid, jconfig)["status"] == "fatal"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict, str]]] = []
    event: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body), self.headers["Content-Type"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.event.set()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    _Hook.received.clear()
    _Hook.event.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook?k=1"
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhook_answers_at_once_and_posts_the_outcome(vance_emulator: Emulator, hook_server: str) -> None:
    emu = vance_emulator
    emu.configure(job_duration=0.3)
    t0 = time.monotonic()
    data = transform(emu, upload(emu), webhook=hook_server)
    assert data["status"] == "webhook" and time.monotonic() - t0 < 0.25
    assert _Hook.event.wait(5)
    path, payload, ctype = _Hook.received[0]
    assert path == "/hook?k=1" and ctype == "application/json"
    assert payload["trans_id"] == data["trans_id"] and payload["status"] == "finish"
    assert payload["filesize"] == str(len(emu.jobs[data["trans_id"]].result))
    assert emu.jobs[data["trans_id"]].webhook == hook_server


def test_webhook_of_a_fatal_job_and_an_unreachable_webhook(vance_emulator: Emulator, hook_server: str) -> None:
    emu = vance_emulator
    uid = upload(emu)
    bad = transform(emu, uid, webhook="http://127.0.0.1:9/nothing-listens")
    emu.fail_jobs(1)
    data = transform(emu, uid, webhook=hook_server)
    assert _Hook.event.wait(5)
    assert _Hook.received[0][1] == {"trans_id": data["trans_id"], "status": "fatal", "filesize": "0"}
    wait_status(emu, bad["trans_id"], "finish")  # the unreachable hook did not hurt the job


def test_credits_charged_once_at_the_first_download(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu)
    tid = transform(emu, uid)["trans_id"]
    assert emu.charges == [] and emu.balance == 500.0
    first, again = download(emu, tid), download(emu, tid)
    assert first.content == again.content
    assert emu.charges == [(tid, 1.0)] and emu.balance == 499.0 and emu.credits_used == 1.0
    job = emu.jobs[tid]
    assert (job.downloads, job.charged) == (2, 1.0)


@pytest.mark.parametrize(("jconfig", "cost"), [(ENLARGE, 1.0), (SHARPEN, 2.0), (MULTI, 3.0)])
def test_cost_per_feature_and_multi_step_costs_every_step(vance_emulator: Emulator, jconfig: dict, cost: float) -> None:
    emu = vance_emulator
    tid = transform(emu, upload(emu), jconfig)["trans_id"]
    assert download(emu, tid).status_code == 200
    assert emu.charges == [(tid, cost)]


def test_insufficient_credits_is_30004_and_nothing_is_charged(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(credits=1.5)
    uid = upload(emu)
    tid = transform(emu, uid, SHARPEN)["trans_id"]
    r = download(emu, tid)
    assert r.json()["code"] == 30004 and r.headers["Content-Type"] == "application/json"
    assert emu.charges == [] and emu.balance == 1.5
    cheap = transform(emu, uid)["trans_id"]
    assert download(emu, cheap).status_code == 200 and emu.balance == 0.5
    emu.configure(credits=10)
    assert download(emu, tid).status_code == 200 and emu.balance == 7.0


def test_history_entries_and_pagination(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu, name="holiday.png")
    tids = [transform(emu, uid, cfg)["trans_id"] for cfg in (ENLARGE, SHARPEN, MULTI, ENLARGE, ENLARGE)]
    for tid in tids:
        download(emu, tid)

    def page(n: int, limit: int) -> dict:
        r = requests.get(emu.url + "/points/record",
                         params={"api_token": emu.api_token, "page": n, "limit": limit}, timeout=10)
        return r.json()["data"]

    first = page(1, 2)
    assert (first["current_page"], first["last_page"], first["per_page"], first["total"]) == (1, 3, 2, 5)
    newest = first["datas"][0]
    assert newest["point_type"] == "download" and newest["job"] == "enlarge3" and newest["info"] == "holiday.png"
    assert newest["point"] == "1.000" and newest["balance"] == "492.000"
    assert len(newest["created_at"]) == 19 and newest["created_at"][4] == "-"
    rows = first["datas"] + page(2, 2)["datas"] + page(3, 2)["datas"]
    assert [r["point"] for r in rows] == ["1.000", "1.000", "3.000", "2.000", "1.000"]  # MULTI: 2 + 1
    assert [r["job"] for r in rows][2:4] == ["va_sharpen_standard", "va_sharpen_standard"]
    assert [r["balance"] for r in rows] == ["492.000", "493.000", "494.000", "497.000", "499.000"]
    assert page(4, 2)["datas"] == [] and page(1, 20)["per_page"] == 20
    default = requests.post(emu.url + "/points/record", data={"api_token": emu.api_token}, timeout=10).json()["data"]
    assert (default["current_page"], default["per_page"], default["last_page"]) == (1, 20, 1)


def test_empty_history_has_one_page(vance_emulator: Emulator) -> None:
    r = requests.get(vance_emulator.url + "/points/record", params={"api_token": vance_emulator.api_token},
                     timeout=10).json()["data"]
    assert r == {"datas": [], "current_page": 1, "last_page": 1, "per_page": 20, "total": 0}


def test_reset_forgets_everything_and_restores_settings(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(job_duration=5, workers=1, transform_wait=0, credits=3)
    uid = upload(emu)
    transform(emu, uid)
    emu.fail("point", status=500)
    emu.fail_jobs(3)
    emu.stall_jobs(3)
    emu.random_faults(1.0)
    emu.reset()
    assert (emu.uploads, emu.jobs, emu.requests, emu.charges) == ({}, {}, [], [])
    assert emu.balance == 500.0 and emu.credits_used == 0.0
    t0 = time.monotonic()
    assert transform(emu, upload(emu))["status"] == "finish"  # no stall, no fail, no 5 s duration
    assert time.monotonic() - t0 < 2
    assert requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=10).status_code == 200


def test_job_record_fields(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    uid = upload(emu, name="cat.png")
    tid = transform(emu, uid, MULTI)["trans_id"]
    job = emu.jobs[tid]
    assert job.trans_id == tid and job.uid == uid and job.jconfig == MULTI
    assert [s.module for s in job.steps] == ["sharpen3", "CodeFormer"]
    assert [s.name for s in job.steps] == ["va_sharpen_standard", "CodeFormer"]
    assert job.status == "finish" and job.result_format == "png" and job.name == "va_sharpen_standard"
    assert job.created_at <= job.started_at <= job.finished_at
    assert (job.downloads, job.charged, job.webhook) == (0, 0.0, None)
