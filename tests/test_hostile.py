"""Hostile server output at the filter level: bombs, JSON or HTML where an image belongs."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import time
import zlib

import numpy as np
import pytest

import vance_filters as vf
from vance_filters import errors, imaging
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(15)

IMAGE = np.full((12, 16, 3), 90, np.uint8)
FILTER = vf.Denoise()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bilevel_png(width: int, height: int) -> bytes:
    """A VALID, fully decodable 1-bit PNG of ``width`` x ``height``: tiny on the wire, huge in memory."""
    row = b"\x00" + bytes((width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def test_a_decodable_bomb_is_refused_fast_and_without_the_memory(tmp_path) -> None:
    """A 49 KB PNG decoding to 20000x20000 (400 MP) for a 16x12 input: refused before decoding."""
    (tmp_path / "bomb.png").write_bytes(bilevel_png(20000, 20000))
    script = textwrap.dedent(
        f"""
        import json, pathlib, resource, time
        import numpy as np, vance_filters as vf
        from vance_filters._cache import cache_key
        from vance_filters.imaging import prepare
        from vance_filters.testing import Emulator
        bomb = pathlib.Path({str(tmp_path / "bomb.png")!r}).read_bytes()
        image = np.zeros((12, 16, 3), np.uint8)
        with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
            emu.fail("download", body=bomb, content_type="image/png")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.monotonic()
            try:
                vf.denoise(image, client=client)
                outcome = ["decoded", None]
            except vf.VanceError as exc:
                outcome = [type(exc).__name__, exc.trans_id in emu.jobs]
            took = time.monotonic() - start
            key = cache_key(prepare(image).data, vf.Denoise().to_jconfig())
            cached = client.cache.get(key) == bomb
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(json.dumps({{"outcome": outcome, "took": took, "grew_mb": grew, "cached": cached}}))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["outcome"] == ["ResultTooLargeError", True]
    assert report["took"] < 1.0
    assert report["grew_mb"] < 100  # decoding it would take ~400 MB, as RGB 1.2 GB
    assert report["cached"]  # the (paid) bytes are kept


def test_too_large_result_names_the_trans_id_and_the_limit(vance_client: Client, vance_emulator: Emulator) -> None:
    vance_emulator.fail("download", body=bilevel_png(3000, 3000), content_type="image/png")
    start = time.monotonic()
    with pytest.raises(errors.ResultTooLargeError) as info:
        FILTER.apply(IMAGE, client=vance_client)
    assert time.monotonic() - start < 1.0
    text = str(info.value)
    assert info.value.trans_id in vance_emulator.jobs and info.value.trans_id in text
    assert "3000x3000" in text and "16x12" in text and "MAX_RESULT_PIXELS" in text
    # The refusal is not a transit error: no second download of a bomb.
    assert vance_emulator.request_count("download") == 1


def test_the_pixel_limit_is_adjustable(vance_client: Client, vance_emulator: Emulator, monkeypatch) -> None:
    monkeypatch.setattr(imaging, "MAX_RESULT_PIXELS", 100)  # below the 16x12 result
    with pytest.raises(errors.ResultTooLargeError, match="max_result_pixels=100"):
        FILTER.apply(IMAGE, client=vance_client)
    monkeypatch.undo()
    assert FILTER.apply(IMAGE, client=vance_client).shape == IMAGE.shape  # now cached: no charge
    assert len(vance_emulator.charges) == 1


def test_a_big_result_that_was_promised_is_not_refused(vance_client: Client) -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    out = vf.Enlarge(scale=8).apply(image, client=vance_client)  # 7.7 MP > the 4 MP floor
    assert out.shape == (2400, 3200, 3)


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b'{"code": 200, "data": {"status": "finish"}}', "application/json", "application/json"),
        (b'{"status": "finish", "trans_id": "x"}', "image/png", "image/png"),
        (b'["not", "an", "image"]', "image/jpeg", "image/jpeg"),
    ],
    ids=["json-envelope", "json-labelled-png", "json-list-labelled-jpeg"],
)
def test_json_where_an_image_belongs_is_a_protocol_error(
    vance_client: Client, vance_emulator: Emulator, body: bytes, content_type: str, words: str
) -> None:
    vance_emulator.fail("download", body=body, content_type=content_type)
    with pytest.raises(errors.ProtocolError) as info:
        FILTER.apply(IMAGE, client=vance_client)
    error = info.value
    assert error.endpoint == "download" and error.trans_id in vance_emulator.jobs
    assert words in str(error) and body.decode()[:20] in str(error)  # a short quote of the body
    assert vance_emulator.request_count("download") == 1  # HTTP 200: retrying cannot help
    assert vance_emulator.charges == []
    assert vance_client.download(error.trans_id) == vance_emulator.jobs[error.trans_id].result


def proxy_page(token: str, size: int = 0) -> bytes:
    return (
        "<!DOCTYPE html><html><head><title>Access denied</title><style>body{color:red}</style></head>"
        "<body><h1>Blocked by corporate proxy</h1><p>Request body: api_token=" + token + "&amp;x=1</p>"
        + "<p>" + "padding " * size + "</p></body></html>"
    ).encode()


@pytest.mark.parametrize("endpoint", ["upload", "download", "point"])
@pytest.mark.parametrize("status", [200, 403, 502])
def test_html_proxy_page_is_a_typed_error_with_a_short_safe_excerpt(
    vance_emulator: Emulator, endpoint: str, status: int
) -> None:
    emu = vance_emulator
    token = emu.api_token
    emu.fail(endpoint, times=3, status=status, body=proxy_page(token, size=50_000), content_type="text/html")
    with Client(token, emu.url, max_retries=2, backoff_base=0.01, backoff_max=0.02) as client:
        with pytest.raises(errors.ProtocolError) as info:
            if endpoint == "point":
                client.credits()
            else:
                FILTER.apply(IMAGE, client=client)
    error = info.value
    text = str(error)
    assert "Blocked by corporate proxy" in text
    assert token not in text and token not in repr(error) and "<h1>" not in text
    assert len(text) < 700  # a 400 KB page is quoted in a couple of hundred characters
    assert f"HTTP {status}" in text or status == 200 and "text/html" in text
    assert emu.request_count(endpoint) == (3 if status == 502 else 1)  # only 5xx is retried
    if endpoint == "download":
        assert error.trans_id in emu.jobs


def test_empty_download_is_a_protocol_error(vance_client: Client, vance_emulator: Emulator) -> None:
    vance_emulator.fail("download", times=5, body=b"", content_type="image/png")
    with pytest.raises(errors.ProtocolError, match="empty") as info:
        FILTER.apply(IMAGE, client=vance_client)
    assert info.value.trans_id in vance_emulator.jobs


@pytest.mark.parametrize(
    "answer",
    [
        {"code": 200, "data": {"uid": None, "w": 1, "h": 1}},
        {"code": 200, "data": ["uid"]},
        {"code": 200},
        {"code": "200", "data": {"uid": "u", "w": "wide", "h": 1}},
        {"no": "code"},
    ],
)
def test_malformed_json_envelopes_are_protocol_errors(
    vance_client: Client, vance_emulator: Emulator, answer: dict
) -> None:
    vance_emulator.fail("upload", body=json.dumps(answer).encode(), content_type="application/json")
    with pytest.raises(errors.ProtocolError) as info:
        FILTER.apply(IMAGE, client=vance_client)
    assert info.value.endpoint == "upload"
    assert vance_emulator.request_count("transform") == 0
