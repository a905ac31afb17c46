"""Edge cases of the emulator's parts that a client rarely reaches on purpose."""

from __future__ import annotations

import io
import json
import socket

import pytest
import requests

from vance_filters.testing import Emulator, sample_image
from vance_filters.testing._images import header_size, inspect_upload
from vance_filters.testing._wire import ApiError, text


def jpeg(size: tuple[int, int] = (9, 7)) -> bytes:
    buf = io.BytesIO()
    sample_image(size=size).save(buf, "JPEG")
    return buf.getvalue()


def test_jpeg_header_parsing_skips_fill_bytes_and_standalone_markers() -> None:
    data = jpeg()
    assert header_size(data, "jpeg") == (9, 7)
    padded = data[:2] + b"\xff\xff\xd0" + data[2:]  # a fill byte and an RST marker before APP0
    assert header_size(padded, "jpeg") == (9, 7)
    sof = data.index(b"\xff\xc0")
    assert header_size(data[: sof + 6], "jpeg") is None  # cut inside the SOF segment
    assert header_size(data[:2] + b"\x00\x00", "jpeg") is None  # not a marker
    assert header_size(data[:2] + b"\xff\xe0\x00\x01", "jpeg") is None  # impossible length
    assert header_size(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8 + b"XXXX", "png") is None


@pytest.mark.parametrize(
    ("data", "code"),
    [(jpeg()[:30], 10001), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 8 + b"\x08\x02", 10001)],
)
def test_headers_without_a_size_or_with_zero_size_are_10001(data: bytes, code: int) -> None:
    with pytest.raises(ApiError) as info:
        inspect_upload(data)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ([], None), (True, "1"), (False, "0"), (3, "3"), (2.5, "2.5"), ("x", "x"),
     ({"a": 1}, '{"a": 1}')],
)
def test_text_reads_scalars_like_php(value: object, expected: str | None) -> None:
    assert text({"k": value}, "k") == expected
    if not isinstance(value, (str, int, float, type(None))) and value != []:
        assert text({"api_token": value}, "api_token") is None


def test_json_body_with_typed_values(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    r = requests.post(emu.url + "/points/record", json={"api_token": emu.api_token, "page": True, "limit": 2},
                      timeout=5)
    assert r.json()["data"]["current_page"] == 1 and r.json()["data"]["per_page"] == 2
    r = requests.post(emu.url + "/points/record", json={"api_token": {"x": 1}}, timeout=5)
    assert r.json()["msg"] == {"api_token": ["The api token field is required."]}


def test_a_crashing_stand_in_ends_the_job_fatal(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from vance_filters.testing import _jobs

    def crash(*args: object) -> None:
        raise RuntimeError("stand-in bug")

    monkeypatch.setattr(_jobs, "run", crash)
    emu = vance_emulator
    uid = requests.post(emu.url + "/upload", files={"file": ("a.jpg", jpeg())}, data={"api_token": emu.api_token},
                        timeout=5).json()["data"]["uid"]
    jconfig = json.dumps({"name": "matting", "config": {"module": "matting"}})
    r = requests.post(emu.url + "/transform", data={"api_token": emu.api_token, "uid": uid, "jconfig": jconfig},
                      timeout=5)
    assert r.json()["data"]["status"] == "fatal"


def test_a_crashing_application_answers_500_and_closes(vance_emulator: Emulator,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from vance_filters.testing import _server

    def boom(self: object, environ: dict, start_response: object) -> None:
        raise RuntimeError("app bug")

    monkeypatch.setattr(_server.App, "__call__", boom)
    r = requests.get(vance_emulator.url + "/point", timeout=5)
    assert r.status_code == 500 and r.headers["Connection"] == "close"


def test_a_bad_content_length_closes_the_connection(vance_emulator: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", vance_emulator.port), timeout=5) as s:
        s.sendall(b"GET /web_api/v1/point HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"Connection: close" in data
