"""The emulator plays the real service, not our client: billing, workflow rules, webhooks, colour."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest
import requests
from PIL import Image

import vance_filters as vf
from vance_filters.testing import Emulator, sample_image

DENOISE = {"name": "denoise", "config": {"module": "denoise", "module_params": {}}}
SHARPEN = {"name": "va_sharpen_standard", "config": {"module": "sharpen3", "module_params": {}}}
FACES = {"name": "CodeFormer", "config": {"module": "CodeFormer"}}
ENLARGE = {"name": "enlarge3", "config": {"module": "enlarge3", "module_params": {"scale": 2}}}
MATTING = {"name": "matting", "config": {"module": "matting"}}
PNG_OUT = {"format": "png"}


def steps(*items: dict) -> dict:
    return {"config": list(items), "name": items[0]["name"]}


def with_out(step: dict, out: dict) -> dict:
    return {**step, "config": {**step["config"], "out_params": out}}


def upload(emu: Emulator, image: Image.Image | None = None) -> str:
    buf = io.BytesIO()
    (image or sample_image("photo", size=(16, 12))).save(buf, "PNG")
    r = requests.post(emu.url + "/upload", files={"file": ("in.png", buf.getvalue())},
                      data={"api_token": emu.api_token}, timeout=10)
    return r.json()["data"]["uid"]


def transform(emu: Emulator, uid: str, jconfig: dict, **extra: str) -> dict:
    r = requests.post(emu.url + "/transform", timeout=15, data={
        "api_token": emu.api_token, "uid": uid, "jconfig": json.dumps(jconfig), **extra})
    assert r.status_code == 200
    return r.json()


def status(emu: Emulator, tid: str) -> str:
    r = requests.post(emu.url + "/progress", data={"api_token": emu.api_token, "trans_id": tid},
                      timeout=10)
    return r.json()["data"]["status"]


# -- billing ---------------------------------------------------------------------------


@pytest.mark.parametrize(("billing", "charged"), [(None, 3.0), ("sum", 3.0), ("max", 2.0)])
def test_a_pipeline_is_billed_every_step_unless_told_otherwise(
    vance_emulator: Emulator, vance_client: vf.Client, billing: str | None, charged: float
) -> None:
    if billing is not None:
        vance_emulator.configure(pipeline_billing=billing)
    pipeline = vf.Sharpen() | vf.EnhanceFaces()
    assert pipeline.cost == 3  # what max_credits and the CLI's estimate count
    pipeline.apply(sample_image("portrait", size=(32, 24)), client=vance_client)
    assert vance_emulator.credits_used == charged
    assert vance_emulator.credits_used <= pipeline.cost  # the budget never under-counts


def test_a_plan_is_exact_against_the_default_ledger(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    pipeline = vf.Denoise() | vf.Enlarge(scale=2)
    images = [sample_image("photo", size=(16, 12), seed=i) for i in range(3)]
    with pytest.raises(vf.CreditLimitError):
        list(vf.map(pipeline, images, max_credits=5, client=vance_client))
    assert vance_emulator.request_count() == 0
    assert len(list(vf.map(pipeline, images, max_credits=6, client=vance_client))) == 3
    assert vance_emulator.credits_used == 6.0 == pipeline.cost * len(images)


def test_the_clis_estimate_for_a_job_file_counts_every_step(
    vance_default_client: vf.Client, vance_emulator: Emulator, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from vance_filters import cli

    config = tmp_path / "job.json"
    config.write_text(json.dumps(steps(SHARPEN, FACES)), encoding="utf-8")
    source = tmp_path / "in.png"
    sample_image("portrait", size=(16, 12)).save(source)
    argv = ["--no-cache", "run", "--config", str(config), str(source), "-o", str(tmp_path / "out")]
    assert cli.main([*argv, "--max-credits", "2"]) != 0
    assert "--max-credits 2" in capsys.readouterr().err and vance_emulator.request_count("upload") == 0
    assert cli.main([*argv, "--max-credits", "3", "-q"]) == 0
    assert vance_emulator.credits_used == 3.0


def test_billing_rule_is_validated_and_reset() -> None:
    with pytest.raises(ValueError, match="pipeline_billing='dearest'"):
        Emulator(pipeline_billing="dearest")
    emu = Emulator(pipeline_billing="max")
    with pytest.raises(ValueError, match="'sum'"):
        emu.configure(pipeline_billing="min")
    emu.configure(pipeline_billing="sum")
    emu.reset()
    assert emu._state.settings.pipeline_billing == "max"  # back to the constructor's choice


# -- workflow rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jconfig", "code", "words"),
    [
        (steps(with_out(DENOISE, PNG_OUT), FACES), 10013, "out_params should be added to the last step"),
        (steps(ENLARGE, DENOISE), 10013, "can only be the last step"),
        (steps(MATTING, DENOISE), 10013, "can only be the last step"),
        (steps(DENOISE, ENLARGE, FACES), 10013, "step 2 is enlarge3"),
    ],
    ids=["out_params-first", "enlarge-first", "matting-first", "enlarge-middle"],
)
def test_workflow_rules_are_the_services(vance_emulator: Emulator, jconfig: dict, code: int, words: str) -> None:
    emu = vance_emulator
    answer = transform(emu, upload(emu), jconfig)
    assert answer["code"] == code and words in answer["msg"]
    assert emu.jobs == {}  # no job was made


@pytest.mark.parametrize(
    "jconfig",
    [steps(DENOISE, with_out(ENLARGE, PNG_OUT)), steps(SHARPEN, MATTING), with_out(ENLARGE, PNG_OUT),
     steps(with_out(MATTING, PNG_OUT))],
    ids=["enlarge-last", "matting-last", "single-step-out-params", "one-step-list"],
)
def test_workflows_within_the_rules_run(vance_emulator: Emulator, jconfig: dict) -> None:
    emu = vance_emulator
    answer = transform(emu, upload(emu), jconfig)
    assert answer["code"] == 200 and answer["data"]["status"] == "finish"


def test_the_client_never_sends_what_the_rules_refuse() -> None:
    with pytest.raises(vf.ConfigError):
        vf.Enlarge(scale=2) | vf.Denoise()
    with pytest.raises(vf.ConfigError):
        vf.Denoise(format="png") | vf.EnhanceFaces()


# -- webhooks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "http://10.0.0.5:8080/hook", "http://127.0.0.1.example.com/h",
     "ftp://127.0.0.1/hook", "https://", "hook"],
)
def test_plain_http_webhooks_off_this_machine_are_refused(vance_emulator: Emulator, url: str) -> None:
    emu = vance_emulator
    answer = transform(emu, upload(emu), DENOISE, webhook=url)
    assert answer["code"] == 10001 and "https" in answer["msg"]
    assert emu.jobs == {}


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/vance?k=1", "http://127.0.0.1:9/h", "http://localhost:9/h",
            "http://[::1]:9/h", "https://127.0.0.1:9/h"],
)
def test_https_and_loopback_webhooks_are_accepted(vance_emulator: Emulator, url: str) -> None:
    emu = vance_emulator
    emu.stall_jobs(1)  # nothing is delivered: the job never ends
    answer = transform(emu, upload(emu), DENOISE, webhook=url)
    assert answer["code"] == 200 and answer["data"]["status"] == "webhook"


class _Hook(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    calls: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append(json.loads(body))
        code = self.statuses.pop(0) if self.statuses else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.calls.clear()
    _Hook.statuses.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()
    thread.join()


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_failing_webhook_gets_three_attempts_then_the_job_stays_pollable(
    vance_emulator: Emulator, hook: str
) -> None:
    emu = vance_emulator
    _Hook.statuses[:] = [500, 503, 404, 500]  # the fourth would never be asked for
    tid = transform(emu, upload(emu), DENOISE, webhook=hook)["data"]["trans_id"]
    wait_for(lambda: len(emu.webhook_calls) == 3)
    time.sleep(1.5)  # more than two retry delays: no fourth attempt
    assert len(_Hook.calls) == 3 and all(c["trans_id"] == tid for c in _Hook.calls)
    assert emu.webhook_calls == [(hook, 1, 500), (hook, 2, 503), (hook, 3, 404)]
    assert status(emu, tid) == "finish"  # progress is the way to learn the outcome


def test_a_webhook_that_recovers_is_called_until_it_answers(vance_emulator: Emulator, hook: str) -> None:
    emu = vance_emulator
    _Hook.statuses[:] = [502]
    transform(emu, upload(emu), DENOISE, webhook=hook)
    wait_for(lambda: len(emu.webhook_calls) == 2)
    time.sleep(1.0)
    assert [c[1:] for c in emu.webhook_calls] == [(1, 502), (2, 200)]


def test_an_unreachable_webhook_does_not_hold_up_another(vance_emulator: Emulator, hook: str) -> None:
    emu = vance_emulator
    uid = upload(emu)
    transform(emu, uid, DENOISE, webhook="http://127.0.0.1:9/nothing-listens")
    t0 = time.monotonic()
    transform(emu, uid, DENOISE, webhook=hook)
    wait_for(lambda: len(_Hook.calls) == 1)
    assert time.monotonic() - t0 < 5  # not queued behind the dead hook's retries
    wait_for(lambda: sum(1 for c in emu.webhook_calls if c[0].endswith(":9/nothing-listens")) == 3)


# -- colour ------------------------------------------------------------------------------


@pytest.mark.parametrize("jconfig", [DENOISE, ENLARGE, FACES, steps(DENOISE, ENLARGE)], ids=["denoise", "enlarge", "faces", "pipeline"])
def test_gray_uploads_come_back_rgb_with_gray_values(vance_emulator: Emulator, jconfig: dict) -> None:
    emu = vance_emulator
    gray = sample_image("gray", size=(24, 16))
    tid = transform(emu, upload(emu, gray), jconfig)["data"]["trans_id"]
    r = requests.post(emu.url + "/download", data={"api_token": emu.api_token, "trans_id": tid}, timeout=10)
    out = Image.open(io.BytesIO(r.content))
    assert out.mode == "RGB"
    rgb = np.asarray(out, int)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


@pytest.mark.parametrize("kind", ["pil", "array", "png-bytes"])
def test_the_client_still_gives_gray_back(vance_client: vf.Client, kind: str) -> None:
    gray = sample_image("gray", size=(24, 16))
    if kind == "pil":
        out = vf.denoise(gray, client=vance_client)
        assert out.mode == "L" and out.size == (24, 16)
    elif kind == "array":
        arr = vf.denoise(np.asarray(gray), client=vance_client)
        assert arr.shape == (16, 24) and arr.dtype == np.uint8
    else:
        buf = io.BytesIO()
        gray.save(buf, "PNG")
        data = vf.denoise(buf.getvalue(), client=vance_client)
        assert Image.open(io.BytesIO(data)).mode == "L"
