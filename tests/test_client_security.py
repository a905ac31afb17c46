"""The token never leaks (URLs, logs at DEBUG with urllib3, reprs, errors and their chains, pickles)."""

from __future__ import annotations

import io
import logging
import pickle
import socket
import traceback
import warnings

import pytest
from PIL import Image

from vance_filters import errors
from vance_filters._redact import excerpt, redact
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


def image_bytes(color: tuple[int, int, int] = (5, 50, 150)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


def make_client(emu: Emulator, **kwargs) -> Client:
    options = {"timeout": 5, "max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02, "poll_interval": 0.1, "max_wait": 10}
    options.update(kwargs)
    return Client(emu.api_token, emu.url, **options)


def full_text(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` shows, its chain included, plus str and repr."""
    return "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)


def test_no_token_in_any_log_record_or_url(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: urllib3, requests and vance_filters at DEBUG
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    emu.fail("point", times=1, status=503)
    emu.fail("download", times=1, truncate=True)
    with make_client(emu) as client:
        result = client.run_job(image_bytes(), ENLARGE)
        client.progress(result.trans_id)
        client.credits()
        list(client.iter_credit_history())
        emu.fail("progress", code=30001, msg={"api_token": [f"bad token {emu.api_token}"]})
        with pytest.raises(errors.AuthenticationError):
            client.progress(result.trans_id)
    messages = [r.getMessage() for r in caplog.records]
    assert messages, "logging at DEBUG produced no record"
    urllib3_lines = [m for m in messages if "/web_api/v1/" in m]
    assert any("GET /web_api/v1/point" in m for m in urllib3_lines)  # urllib3 logs request lines
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.__dict__)
        assert emu.api_token not in text
    # only GET /point carries the token in its URL (the documented form), redacted in the log
    assert [m for m in urllib3_lines if "api_token" in m] == [
        m for m in urllib3_lines if "GET /web_api/v1/point?api_token=*** " in m
    ]
    ours = [m for m in messages if m.startswith(("POST /", "GET /"))]
    endpoints = {m.split()[1] for m in ours}
    assert endpoints == {"/upload", "/transform", "/download", "/progress", "/point", "/points/record"}
    assert any(m.startswith("GET /point -> 503") for m in ours)
    assert any(m.startswith("retrying /point") for m in messages)
    assert all(" ms" in m for m in ours)


@pytest.mark.parametrize("form", ["query", "json"])
def test_point_token_form_and_its_log_line(emu: Emulator, caplog: pytest.LogCaptureFixture, form: str) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")
    with make_client(emu, point_form=form) as client:
        client.credits()
    record = emu.requests[-1]
    assert (record.method, record.endpoint, record.status) == ("GET", "point", 200)
    lines = [r.getMessage() for r in caplog.records if '"GET /web_api/v1/point' in r.getMessage()]  # urllib3's
    path = {"query": "/web_api/v1/point?api_token=***", "json": "/web_api/v1/point"}[form]
    assert lines and all(f"GET {path} HTTP" in line for line in lines)
    assert not any(emu.api_token in line for line in lines)


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": True},
        {"status": 502, "body": b"<html>upstream said api_token=SECRET</html>", "content_type": "text/html"},
        {"code": 30001, "msg": "Invalid token"},
        {"code": 10001, "msg": "TOKENHERE is not a parameter"},
    ],
)
def test_no_token_in_errors_or_their_chains(emu: Emulator, fault: dict) -> None:
    if "body" in fault:
        fault = {**fault, "body": fault["body"].replace(b"SECRET", emu.api_token.encode())}
    if "msg" in fault:
        fault = {**fault, "msg": fault["msg"].replace("TOKENHERE", emu.api_token)}
    emu.fail("point", times=5, **fault)
    with make_client(emu) as client, pytest.raises(errors.VanceError) as info:
        client.credits()
    text = full_text(info.value)
    assert emu.api_token not in text
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert emu.api_token.encode() not in pickle.dumps(info.value)
    assert pickle.loads(pickle.dumps(info.value)) == info.value


def test_connection_refused_error_has_no_token_in_chain() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "T0KEN" * 6
    with Client(token, f"http://127.0.0.1:{port}/web_api/v1", max_retries=0) as client:
        for call in (client.credits, lambda: client.download("a" * 32), lambda: client.upload(b"\x89PNG....")):
            with pytest.raises(errors.TransportError) as info:
                call()
            assert token not in full_text(info.value)
            assert info.value.__context__ is None


def test_repr_never_shows_the_token(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(emu)
    assert repr(client) == f"Client(base_url={emu.url!r}, api_token='***')"
    assert emu.api_token not in repr(client) + str(client) + repr(vars(client).get("_settings"))
    monkeypatch.setenv("VANCE_API_TOKEN", "from-env-token")
    env_client = Client(base_url=emu.url)
    assert "from-env-token" not in repr(env_client) and "'***'" in repr(env_client)


def test_pickle_leaves_the_token_out_by_default(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with make_client(emu) as client:
        client.credits()
        blob = pickle.dumps(client)
    assert emu.api_token.encode() not in blob
    clone = pickle.loads(blob)
    assert clone.base_url == emu.url and clone.max_retries == 1 and clone.timeout == 5
    with pytest.raises(errors.AuthenticationError) as info:
        clone.credits()
    assert "VANCE_API_TOKEN" in str(info.value) and socket.gethostname() in str(info.value)
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)  # read lazily, at the call
    assert clone.credits().total == 500.0
    clone.close()


def test_pickle_token_opt_in(emu: Emulator) -> None:
    with make_client(emu, pickle_token=True, cache_dir=None) as client:
        client.run_job(image_bytes(), ENLARGE)
        blob = pickle.dumps(client)
    assert emu.api_token.encode() in blob
    with pickle.loads(blob) as clone:
        assert clone.credits().used == 1.0
        assert len(clone.cache) == 0  # the memory cache stays with its process


def test_verify_false_warns_loudly(emu: Emulator) -> None:
    with pytest.warns(UserWarning, match="certificate") as record:
        Client("x" * 32, emu.url, verify=False)
    assert "token" in str(record[0].message)


def test_verify_ca_bundle_path_is_used(emu: Emulator, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = Client(emu.api_token, emu.url, verify=bundle)
    assert client._transport.session.verify == str(bundle)
    assert client.credits().total == 500.0  # plain http on loopback: the bundle is not consulted


def test_https_with_an_unusable_ca_bundle_is_a_typed_error(tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with Client("TOKEN" * 6, f"https://127.0.0.1:{port}/web_api/v1", verify=str(bundle), max_retries=0,
                    timeout=0.5) as client:
            with pytest.raises(errors.TransportError) as info:
                client.credits()
    assert "TOKEN" * 6 not in full_text(info.value)


def test_plain_http_to_a_remote_host_warns() -> None:
    with pytest.warns(UserWarning, match="unencrypted"):
        Client("x" * 32, "http://api.example.com/web_api/v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client("x" * 32, "http://localhost:8080/web_api/v1")
        Client("x" * 32, "http://[::1]:8080/web_api/v1")


def test_redact_and_excerpt() -> None:
    assert redact('{"api_token": "abc", "x": 1}') == '{"api_token": "***", "x": 1}'
    assert redact("url?trans_id=1&api_token=abc") == "url?trans_id=1&api_token=***"
    assert redact("the token s3cr3t", "s3cr3t") == "the token ***"
    assert redact("(s3cr3t-token)", "s3cr3t-token") == "(***)"
    # the whole token only: not inside a longer word, not a one-letter token in prose
    assert redact("token s3cr3tive", "s3cr3t") == "token s3cr3tive"
    assert redact("a job, a token", "a") == "a job, a token"
    assert redact("a?api_token=a", "a") == "a?api_token=***"
    text = excerpt(b"<p>" + b"a" * 500 + b"</p>\x00\x01")
    assert len(text) == 200 and text.endswith("...")
    assert excerpt(b"\xff\xfe binary \x00") == "\ufffd\ufffd binary"
