"""First impressions: the stand-ins look plausible on the README's picture; stop() is quiet."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

import vance_filters as vf
from vance_filters.testing import Emulator, sample_image

PORTRAIT = Path(__file__).resolve().parent.parent / "examples" / "portrait.png"


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    with Image.open(PORTRAIT) as img:
        return img.convert("RGB")


def test_background_removal_keeps_the_person(vance_client: vf.Client, portrait: Image.Image) -> None:
    alpha = np.asarray(vf.remove_background(portrait, client=vance_client).getchannel("A"), float) / 255
    h, w = alpha.shape
    # The README's portrait: face centred at (w/2, 0.45 h), shoulders along the bottom.
    face = alpha[int(0.3 * h):int(0.6 * h), int(0.4 * w):int(0.6 * w)]
    shoulders = alpha[int(0.9 * h):, int(0.4 * w):int(0.6 * w)]
    corners = [alpha[:h // 10, :w // 10], alpha[:h // 10, -w // 10:], alpha[int(0.6 * h):int(0.7 * h), :w // 10]]
    assert face.mean() > 0.97 and shoulders.mean() > 0.97  # the person, not a blob or nothing
    assert max(c.mean() for c in corners) < 0.03  # the backdrop is gone
    assert 0.25 < alpha.mean() < 0.7  # neither everything nor a speck


@pytest.mark.parametrize("function", [vf.enhance_faces, vf.restore, vf.repair], ids=lambda f: f.__name__)
def test_face_and_restore_stand_ins_add_no_colour_cast(
    vance_client: vf.Client, portrait: Image.Image, function
) -> None:  # type: ignore[no-untyped-def]
    out = function(portrait, client=vance_client)
    src = np.asarray(portrait, float).reshape(-1, 3)
    res = np.asarray(out.convert("RGB").resize(portrait.size), float).reshape(-1, 3)
    shift = res.mean(axis=0) - src.mean(axis=0)
    assert np.abs(shift).max() < 4  # tone kept
    assert np.abs(shift - shift.mean()).max() < 1.5  # no channel moves apart from the others: no cast
    assert np.abs(res - src).mean() > 0.3  # yet it did something


def _quiet_when_stopped_under(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
                              start_request) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, "vance_filters")
    emu = Emulator(job_duration=30).start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(start_request(emu))
        except (requests.RequestException, vf.VanceError) as exc:  # the connection was closed
            outcome.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            outcome.append(AssertionError(f"unexpected {exc!r}"))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    time.sleep(0.4)  # the request is in flight
    emu.stop()
    thread.join(15)
    assert not thread.is_alive() and not isinstance(outcome[0], AssertionError), outcome
    err = capfd.readouterr().err
    assert "Traceback" not in err and err == ""
    # Outside pytest, a record of WARNING or above reaches stderr through logging's last resort.
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]


def _slow_answer(emu: Emulator) -> object:
    emu.fail("point", delay=20)
    return requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=20)


def _half_an_upload(emu: Emulator) -> object:
    with socket.create_connection(("127.0.0.1", emu.port)) as sock:
        sock.sendall(b"POST /web_api/v1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                     b"Content-Type: multipart/form-data; boundary=zz\r\n\r\n--zz\r\n")
        sock.settimeout(10)
        answer = sock.recv(100)
    assert answer == b""  # closed without an answer
    return answer


def _blocking_transform(emu: Emulator) -> object:
    buf = io.BytesIO()
    sample_image(size=(16, 12)).save(buf, "PNG")
    uid = requests.post(emu.url + "/upload", files={"file": ("a.png", buf.getvalue())},
                        data={"api_token": emu.api_token}, timeout=10).json()["data"]["uid"]
    jconfig = json.dumps({"name": "denoise", "config": {"module": "denoise"}})
    return requests.post(emu.url + "/transform", timeout=20,
                         data={"api_token": emu.api_token, "uid": uid, "jconfig": jconfig})


def _client_call(emu: Emulator) -> object:
    emu.fail("*", delay=20, times=50)
    with vf.Client(emu.api_token, emu.url, max_retries=1, backoff_base=0.01) as client:
        return client.credits()


@pytest.mark.parametrize("request_kind", [_slow_answer, _half_an_upload, _blocking_transform, _client_call],
                         ids=lambda f: f.__name__.strip("_"))
def test_stopping_with_requests_in_flight_prints_nothing(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, request_kind
) -> None:  # type: ignore[no-untyped-def]
    _quiet_when_stopped_under(capfd, caplog, request_kind)
