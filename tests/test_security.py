"""Security beyond tests/test_client_security.py: the filter level, chained errors, webhooks, the emulator's door."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback
import warnings

import numpy as np
import pytest
import requests

import vance_filters as vf
from vance_filters import errors
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(20)

IMAGE = np.full((6, 8, 3), 40, np.uint8)


def everything_about(exc: BaseException) -> str:
    """What a user could ever print of an error: traceback (with chained errors), str, repr, args, pickle."""
    return (
        "".join(traceback.format_exception(exc))
        + str(exc) + repr(exc) + repr(exc.args) + repr(vars(exc))
        + pickle.dumps(exc).decode("latin-1")
    )


# Faults at every step of a filter call, some of which quote the token back.
FAULTS = [
    ("upload", {"drop": True}),
    ("upload", {"code": 30001, "msg": {"api_token": ["token {token} is invalid"]}}),
    ("transform", {"status": 502, "body": b"<html>echo: api_token={token}</html>", "content_type": "text/html"}),
    ("progress", {"code": 10001, "msg": "{token}"}),
    ("download", {"body": b'{"api_token": "{token}"}', "content_type": "image/png"}),
    ("download", {"body": b"not an image {token}", "content_type": "image/png"}),
    ("download", {"truncate": True}),
    ("download", {"delay": 1.0}),
]


@pytest.mark.parametrize(("endpoint", "fault"), FAULTS, ids=[f"{e}-{sorted(f)[0]}" for e, f in FAULTS])
def test_no_token_anywhere_a_filter_error_can_be_printed(
    vance_emulator: Emulator, caplog: pytest.LogCaptureFixture, endpoint: str, fault: dict
) -> None:
    emu = vance_emulator
    token = emu.api_token
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    fault = {
        k: (v.replace(b"{token}", token.encode()) if isinstance(v, bytes)
            else v.replace("{token}", token) if isinstance(v, str)
            else {"api_token": [v["api_token"][0].replace("{token}", token)]} if isinstance(v, dict)
            else v)
        for k, v in fault.items()
    }
    emu.configure(transform_wait=0.0, job_duration=0.02)
    emu.fail(endpoint, times=10, **fault)
    with Client(token, emu.url, timeout=0.3, max_retries=1, backoff_base=0.01, backoff_max=0.02,
                poll_interval=0.05) as client:
        with pytest.raises(errors.VanceError) as info:
            vf.enlarge(IMAGE, client=client)
        assert token not in everything_about(info.value)
        assert token not in repr(client) + repr(client.__getstate__())
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + repr(record.__dict__)
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert token not in text, record.name
    urls = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3") and "/web_api/" in r.getMessage()]
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert not any("api_token" in u or token in u for u in urls)


def test_a_chained_user_error_does_not_reveal_the_token(vance_emulator: Emulator) -> None:
    """An error raised while handling ours (the user's own code) shows ours in its traceback: still clean."""
    emu = vance_emulator
    emu.fail("point", code=30001, msg=f"bad token {emu.api_token}")
    with Client(emu.api_token, emu.url) as client:
        try:
            try:
                client.credits()
            except errors.AuthenticationError as inner:
                raise RuntimeError("the user's wrapper") from inner
        except RuntimeError as outer:
            text = "".join(traceback.format_exception(outer))
    assert "AuthenticationError" in text and "30001" in text and emu.api_token not in text


def test_verify_cannot_be_switched_off_silently_at_the_filter_level(vance_emulator: Emulator) -> None:
    with pytest.warns(UserWarning, match="certificate"):
        client = Client(vance_emulator.api_token, vance_emulator.url, verify=False)
    assert client._transport.session.verify is False
    assert vf.denoise(IMAGE, client=client).shape == IMAGE.shape
    client.close()


def test_a_custom_ca_bundle_is_accepted_and_a_missing_one_refused(tmp_path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        client = Client("t" * 32, verify=str(bundle))
    assert client._transport.session.verify == str(bundle)
    with pytest.raises(ValueError, match="no CA bundle"):
        Client("t" * 32, verify=str(tmp_path / "missing.pem"))
    with pytest.raises(TypeError):
        Client("t" * 32, verify=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("webhook", ["http://example.com/hook", "http://127.0.0.1:9/hook"])
def test_a_non_https_webhook_warns(vance_emulator: Emulator, webhook: str) -> None:
    with Client(vance_emulator.api_token, vance_emulator.url) as client:
        uid = client.upload(_png()).uid
        with pytest.warns(errors.InsecureWebhookWarning, match="not https"):
            if "127.0.0.1" in webhook:
                client.transform(uid, vf.Denoise().to_jconfig(), webhook=webhook)
            else:  # the service refuses plain http off the machine, as the emulator does
                with pytest.raises(errors.InvalidParameterError, match="https"):
                    client.transform(uid, vf.Denoise().to_jconfig(), webhook=webhook)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            client.transform(uid, vf.Denoise().to_jconfig(), webhook="https://127.0.0.1:9/hook")
        with pytest.raises(ValueError):
            client.transform(uid, vf.Denoise().to_jconfig(), webhook="ftp://example.com/x")


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_emulator_binds_loopback_by_default() -> None:
    with Emulator() as emu:
        host, port = emu._server.server_address[:2]  # type: ignore[union-attr]
        assert host == "127.0.0.1" and emu.url.startswith("http://127.0.0.1:")
        addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
        for address in addresses - {"127.0.0.1"}:
            if address.startswith("127."):
                continue
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=0.5).close()


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("endpoint", ["upload", "transform", "progress", "download", "point", "points/record"])
def test_the_emulator_rejects_a_wrong_token_as_documented(vance_emulator: Emulator, endpoint: str, method: str) -> None:
    emu = vance_emulator
    if endpoint == "point" and method == "POST" or endpoint in ("upload", "transform") and method == "GET":
        pytest.skip("not a documented method of this endpoint")
    url = f"{emu.url}/{endpoint}"
    fields = {"api_token": "0" * 32, "trans_id": "x", "uid": "x", "jconfig": "{}"}
    if method == "GET":
        answer = requests.get(url, params=fields, timeout=5)
    else:
        answer = requests.post(url, data=fields, timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == 30001 and isinstance(body["msg"], str) and body["msg"]
    missing = requests.post(url, data={"trans_id": "x"}, timeout=5) if method == "POST" else requests.get(url, timeout=5)
    assert missing.json() == {"code": 30001, "msg": {"api_token": ["The api token field is required."]}}
    assert emu.charges == [] and emu.uploads == {} and emu.jobs == {}


def test_a_wrong_token_is_an_authentication_error_naming_the_variable(vance_emulator: Emulator) -> None:
    with Client("f" * 32, vance_emulator.url, max_retries=3) as client:
        with pytest.raises(errors.AuthenticationError) as info:
            vf.denoise(IMAGE, client=client)
    assert info.value.code == 30001 and "VANCE_API_TOKEN" in str(info.value)
    assert vance_emulator.request_count("upload") == 1  # never retried
    assert "f" * 32 not in everything_about(info.value)
