"""Client: every endpoint, every record type, every error code, against the emulator over HTTP."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import pickle
import re
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import errors
from vance_filters.client import DEFAULT_BASE_URL, Client
from vance_filters.records import Credits, HistoryPage, Job, Progress, Upload
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(30)

ENLARGE = {
    "name": "enlarge3",
    "config": {
        "module": "enlarge3",
        "module_params": {
            "model_name": "EnlargeStandard_2x_Stable",
            "suppress_noise": 40,
            "remove_blur": 60,
            "scale": 2,
        },
    },
}
SHARPEN = {
    "name": "va_sharpen_standard",
    "config": {"module": "sharpen3", "module_params": {"model_name": "SharpenGeneralStable"}},
}
MATTING = {"name": "matting", "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}}}


def image_bytes(w: int = 8, h: int = 6, fmt: str = "PNG", color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, fmt)
    return buf.getvalue()


def envelope(data: dict) -> bytes:
    return json.dumps({"code": 200, "cscode": 200, "data": data, "ip": "127.0.0.1"}).encode()


@pytest.fixture
def client(emu: Emulator) -> Client:
    with Client(
        emu.api_token, emu.url, timeout=5, max_retries=2, backoff_base=0.01, backoff_max=0.02,
        poll_interval=0.1, max_wait=10,
    ) as c:
        yield c


# -- upload --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "str", "pathlike", "fileobj"])
def test_upload_accepts_every_input_kind(client: Client, emu: Emulator, tmp_path: Path, kind: str) -> None:
    data = image_bytes(12, 7)
    path = tmp_path / "cat.png"
    path.write_bytes(data)
    file = {
        "bytes": data,
        "bytearray": bytearray(data),
        "str": str(path),
        "pathlike": path,
        "fileobj": open(path, "rb"),
    }[kind]
    try:
        up = client.upload(file)
    finally:
        if hasattr(file, "close"):
            file.close()
    assert isinstance(up, Upload)
    assert re.fullmatch(r"[0-9a-f]{32}", up.uid)
    assert (up.width, up.height, up.filesize) == (12, 7, len(data))
    record = emu.uploads[up.uid]
    assert record.data == data
    expected_name = "image.png" if kind in ("bytes", "bytearray") else "cat.png"
    assert record.name == expected_name


def test_upload_name_from_bytes_and_explicit(client: Client, emu: Emulator) -> None:
    jpg = client.upload(image_bytes(fmt="JPEG"))
    assert emu.uploads[jpg.uid].name == "image.jpg"
    named = client.upload(image_bytes(), filename="holiday.png", job="ai")
    assert emu.uploads[named.uid].name == "holiday.png"
    assert emu.requests[-1].params.get("job") == "ai"
    assert "api_token" not in emu.requests[-1].params


def test_upload_bad_inputs_fail_before_any_request(client: Client, emu: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        client.upload(b"")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        client.upload(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="binary mode"):
        client.upload(io.StringIO("text"))
    with pytest.raises(TypeError, match="not supported"):
        client.upload(12345)  # type: ignore[arg-type]
    assert emu.request_count() == 0


def test_upload_not_an_image_is_10001(client: Client) -> None:
    with pytest.raises(errors.InvalidParameterError) as info:
        client.upload(b"GIF89a not a png", filename="fake.png")
    assert info.value.code == 10001 and info.value.endpoint == "upload"


def test_upload_over_the_pixel_limit_is_10012(client: Client) -> None:
    # A PNG claiming 6000 x 6000 = 36 MP: tiny on the wire, over the 34 MP limit.
    big = image_bytes(6000, 6000, color=(0, 0, 0))
    with pytest.raises(errors.LimitExceededError) as info:
        client.upload(big)
    assert info.value.code == 10012


# -- transform / progress / download ----------------------------------------------------


@pytest.mark.parametrize("shape", ["dict", "json", "json-bom"])
def test_transform_accepts_dict_and_json_text(client: Client, emu: Emulator, shape: str) -> None:
    up = client.upload(image_bytes())
    jconfig = {"dict": ENLARGE, "json": json.dumps(ENLARGE), "json-bom": "\ufeff" + json.dumps(ENLARGE)}[shape]
    job = client.transform(up.uid, jconfig)
    assert isinstance(job, Job)
    assert re.fullmatch(r"[0-9a-f]{32}", job.trans_id)
    assert job.status == "finish" and job.done  # transform waits for a fast job
    assert emu.jobs[job.trans_id].uid == up.uid


def test_transform_errors_are_typed(client: Client) -> None:
    up = client.upload(image_bytes())
    with pytest.raises(errors.ConfigParseError) as info:
        client.transform(up.uid, "{not json")
    assert info.value.code == 10013
    with pytest.raises(errors.NotFoundError):
        client.transform("0" * 32, ENLARGE)
    bad = json.loads(json.dumps(ENLARGE))
    bad["config"]["module_params"]["suppress_noise"] = 101
    with pytest.raises(errors.InvalidParameterError):
        client.transform(up.uid, bad)
    with pytest.raises(errors.InvalidParameterError):
        client.transform(up.uid, {"name": "nope", "config": {"module": "nope", "module_params": {}}})
    with pytest.raises(ValueError, match="uid"):
        client.transform("", ENLARGE)
    with pytest.raises(TypeError, match="jconfig"):
        client.transform(up.uid, 42)  # type: ignore[arg-type]


def test_progress_and_download(client: Client, emu: Emulator) -> None:
    up = client.upload(image_bytes(10, 5))
    job = client.transform(up.uid, ENLARGE)
    progress = client.progress(job.trans_id)
    assert isinstance(progress, Progress)
    assert progress.status == "finish" and progress.trans_id == job.trans_id
    data = client.download(job.trans_id)
    assert data == emu.jobs[job.trans_id].result
    assert progress.filesize == len(data)
    assert Image.open(io.BytesIO(data)).size == (20, 10)


@pytest.mark.parametrize("filesize", ['"16794935"', "16794935", "16794935.0", '""', "null"])
def test_progress_filesize_as_string_or_number(client: Client, emu: Emulator, filesize: str) -> None:
    body = b'{"code": 200, "cscode": 200, "data": {"status": "process", "filesize": %s}, "ip": "x"}' % (
        filesize.encode()
    )
    emu.fail("progress", body=body, content_type="application/json")
    progress = client.progress("a" * 32)
    expected = 16794935 if "1" in filesize else 0
    assert progress == Progress(status="process", filesize=expected, trans_id="a" * 32)


def test_progress_unknown_trans_id_is_10011(client: Client) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        client.progress("f" * 32)
    assert info.value.trans_id == "f" * 32
    with pytest.raises(ValueError, match="trans_id"):
        client.progress("")


def test_download_before_finish_is_10011(client: Client, emu: Emulator) -> None:
    emu.configure(job_duration=2.0, transform_wait=0.0)
    up = client.upload(image_bytes())
    job = client.transform(up.uid, ENLARGE)
    assert job.status != "finish"
    with pytest.raises(errors.NotFoundError):
        client.download(job.trans_id)
    assert emu.request_count("download") == 1  # 10011 is never retried


def test_download_to_path_and_file_object(client: Client, emu: Emulator, tmp_path: Path) -> None:
    up = client.upload(image_bytes())
    job = client.transform(up.uid, ENLARGE)
    target = tmp_path / "out.png"
    assert client.download(job.trans_id, to=target) == b""
    expected = emu.jobs[job.trans_id].result
    assert target.read_bytes() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp file left
    sink = io.BytesIO()
    sink.write(b"prefix")
    client.download(job.trans_id, to=sink)
    assert sink.getvalue() == b"prefix" + expected
    client.download(job.trans_id, to=str(tmp_path / "again.png"))
    assert (tmp_path / "again.png").read_bytes() == expected


def test_download_of_a_large_result_is_complete(client: Client, emu: Emulator) -> None:
    # Noise does not compress: a result of several MiB crosses several 1 MiB chunks.
    import numpy as np

    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (700, 900, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noisy.save(buf, "PNG", compress_level=0)
    up = client.upload(buf.getvalue())
    job = client.transform(up.uid, ENLARGE)
    data = client.download(job.trans_id)
    assert len(data) > 2 * 1024 * 1024
    assert data == emu.jobs[job.trans_id].result


# -- credits ----------------------------------------------------------------------------


def test_credits_parse_three_decimal_strings(client: Client, emu: Emulator) -> None:
    assert client.credits() == Credits(total=500.0, used=0.0)
    result = client.run_job(image_bytes(), SHARPEN)
    assert result.trans_id is not None
    credits = client.credits()
    assert (credits.total, credits.used, credits.remaining) == (500.0, 2.0, 498.0)
    assert emu.requests[-1].method == "GET"
    emu.fail("point", body=envelope({"max_num": "500.000", "used_num": "107.800"}), content_type="application/json")
    assert client.credits().remaining == 392.2


def test_credit_history_pages(client: Client, emu: Emulator) -> None:
    trans_ids = [client.run_job(image_bytes(color=(i, 0, 0)), ENLARGE).trans_id for i in range(3)]
    page = client.credit_history(page=1, limit=2)
    assert isinstance(page, HistoryPage)
    assert (page.current_page, page.last_page, page.per_page, page.total) == (1, 2, 2, 3)
    assert page.has_next and len(page.entries) == 2
    entry = page.entries[0]
    assert entry.point_type == "download" and entry.job == "enlarge3"
    assert entry.point == 1.0 and isinstance(entry.created_at, dt.datetime)
    entries = list(client.iter_credit_history(limit=2))
    assert len(entries) == 3 == len(trans_ids)
    assert sorted(e.balance for e in entries) == [497.0, 498.0, 499.0]
    with pytest.raises(ValueError, match="page"):
        client.credit_history(page=0)
    with pytest.raises(ValueError, match="limit"):
        client.credit_history(limit=0)


def test_credit_history_tolerates_loose_rows(client: Client, emu: Emulator) -> None:
    body = envelope(
        {
            "datas": [
                {"point_type": "job", "job": "denoise", "info": "x.jpg", "point": "1.000",
                 "balance": "392.200", "created_at": "2021-12-14 04:36:18"},
                {"point_type": "download", "point": None, "balance": "n/a", "created_at": "soon"},
            ],
            "current_page": "1", "last_page": 1, "per_page": "20", "total": "2",
        }
    )
    emu.fail("points/record", body=body, content_type="application/json")
    page = client.credit_history()
    assert page.total == 2 and not page.has_next
    assert page.entries[0].created_at == dt.datetime(2021, 12, 14, 4, 36, 18)
    assert page.entries[0].balance == 392.2
    assert (page.entries[1].point, page.entries[1].balance, page.entries[1].created_at) == (0.0, 0.0, None)


def test_empty_history_iterates_nothing(client: Client) -> None:
    assert list(client.iter_credit_history()) == []


# -- every error code, both ways (code in a 200 body, or non-2xx with a JSON body) ------

CODES = [
    (10001, errors.InvalidParameterError),
    (10010, errors.InternalServerError),
    (10011, errors.NotFoundError),
    (10012, errors.LimitExceededError),
    (10013, errors.ConfigParseError),
    (10014, errors.JobFailedError),
    (30001, errors.AuthenticationError),
    (30004, errors.InsufficientCreditsError),
    (12345, errors.APIError),
]


@pytest.mark.parametrize("status", [None, 400])
@pytest.mark.parametrize(("code", "cls"), CODES)
def test_every_error_code_maps_to_its_class(
    client: Client, emu: Emulator, code: int, cls: type, status: int | None
) -> None:
    emu.fail("point", code=code, msg="Some reason", status=status, times=10)
    with pytest.raises(errors.APIError) as info:
        client.credits()
    assert type(info.value) is cls
    assert info.value.code == code and info.value.endpoint == "point"
    assert "Some reason" in str(info.value)
    # 10010 is retried (1 + max_retries attempts); the others are answered at once.
    assert emu.request_count("point") == (3 if code == 10010 else 1)


def test_field_error_messages_render(client: Client, emu: Emulator) -> None:
    emu.fail("point", code=30001, msg={"api_token": ["The api token field is required."]})
    with pytest.raises(errors.AuthenticationError, match="api_token: The api token field is required"):
        client.credits()


def test_wrong_token_is_30001_and_not_retried(emu: Emulator) -> None:
    with Client("0" * 32, emu.url, backoff_base=0.01) as bad:
        with pytest.raises(errors.AuthenticationError) as info:
            bad.credits()
    assert info.value.code == 30001
    assert emu.request_count("point") == 1


def test_error_status_emulator_non_2xx_envelopes() -> None:
    with Emulator(error_status=400) as emu, Client(emu.api_token, emu.url, backoff_base=0.01) as client:
        with pytest.raises(errors.NotFoundError):
            client.progress("1" * 32)
        with pytest.raises(errors.InvalidParameterError):
            client.upload(b"not an image")


def test_html_proxy_page_is_a_protocol_error_with_a_safe_excerpt(client: Client, emu: Emulator) -> None:
    page = (
        b"<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
        + b"<p>request api_token=" + emu.api_token.encode() + b"</p>"
        + b"<p>" + b"x" * 1000 + b"</p></body></html>"
    )
    emu.fail("point", status=403, body=page, content_type="text/html")
    with pytest.raises(errors.ProtocolError) as info:
        client.credits()
    text = str(info.value)
    assert "403 Forbidden" in text and "HTTP 403" in text
    assert emu.api_token not in text
    quoted = re.search(r"'(.*)'", text).group(1)
    assert len(quoted) <= 200
    assert emu.request_count("point") == 1  # a 403 page is not retried


def test_json_without_code_and_success_without_data(client: Client, emu: Emulator) -> None:
    emu.fail("point", body=b'{"hello": "world"}', content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="without an error code"):
        client.credits()
    emu.fail("point", body=b'{"code": 200, "data": []}', content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="without a data object"):
        client.credits()
    emu.fail("progress", body=envelope({"filesize": "1"}), content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="without a status"):
        client.progress("b" * 32)
    emu.fail("upload", body=envelope({"uid": "u" * 32, "w": "wide", "h": 1}), content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="not an integer"):
        client.upload(image_bytes())
    emu.fail("transform", body=envelope({"status": "finish"}), content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="trans_id"):
        client.transform("c" * 32, ENLARGE)
    emu.fail("point", body=envelope({"max_num": "lots", "used_num": "0"}), content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="max_num"):
        client.credits()
    emu.fail("points/record", body=envelope({"datas": "none"}), content_type="application/json")
    with pytest.raises(errors.ProtocolError, match="datas"):
        client.credit_history()


@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (b'{"code": 10011, "msg": "File doesn\'t exist OR Invalid download link"}', errors.NotFoundError),
        (b'{"code": 30004, "msg": "Insufficient credits"}', errors.InsufficientCreditsError),
        (b'{"code": 200, "cscode": 200, "data": {}}', errors.ProtocolError),
        (b'<html><body>Bad gateway</body></html>', errors.ProtocolError),
    ],
)
@pytest.mark.parametrize("content_type", ["application/json", "image/png", "text/html"])
def test_json_or_html_body_on_download_is_an_error(
    client: Client, emu: Emulator, body: bytes, cls: type, content_type: str
) -> None:
    emu.fail("download", body=body, content_type=content_type)
    with pytest.raises(errors.VanceError) as info:
        client.download("d" * 32)
    assert type(info.value) is cls
    assert info.value.trans_id == "d" * 32
    assert emu.request_count("download") == 1


def test_download_json_error_with_http_status(client: Client, emu: Emulator) -> None:
    emu.fail("download", status=404, code=10011, msg="gone")
    with pytest.raises(errors.NotFoundError, match="gone"):
        client.download("e" * 32)


# -- construction --------------------------------------------------------------------------


def test_defaults_and_env_fallbacks(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    assert Client().base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("VANCE_API_BASE", emu.url + "/")
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    with Client() as env_client:
        assert env_client.base_url == emu.url
        assert env_client.credits().total == 500.0
    with Client(base_url=emu.url, api_token="1" * 32) as explicit:  # argument beats env
        with pytest.raises(errors.AuthenticationError):
            explicit.credits()


def test_missing_token_names_the_variable_and_host(emu: Emulator) -> None:
    import socket

    client = Client(base_url=emu.url)  # no error at construction
    assert repr(client) == f"Client(base_url={emu.url!r}, api_token=None)"
    with pytest.raises(errors.AuthenticationError) as info:
        client.upload(image_bytes())
    assert "VANCE_API_TOKEN" in str(info.value)
    assert socket.gethostname() in str(info.value)
    assert emu.request_count() == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"poll_interval": "2"}, "poll_interval"),
        ({"max_wait": -5}, "max_wait"),
        ({"pool_size": 0}, "pool_size"),
        ({"cache": "yes"}, "cache"),
        ({"backoff_base": -1}, "backoff_base"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "https://example.com/?api_token=x"}, "query"),
        ({"api_token": ""}, "api_token"),
        ({"verify": "/no/such/ca.pem"}, "CA bundle"),
    ],
)
def test_constructor_validates(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Client(**kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [({"verify": 1.5}, "verify"), ({"cache_dir": 3}, "cache_dir"), ({"base_url": 5}, "base_url")])
def test_constructor_type_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        Client(**kwargs)


def test_bad_base_url_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANCE_API_BASE", "not a url")
    with pytest.raises(ValueError, match="VANCE_API_BASE"):
        Client()


def test_unreachable_service_is_a_transport_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client("t" * 32, f"http://127.0.0.1:{port}/web_api/v1", max_retries=1, backoff_base=0.01) as c:
        with pytest.raises(errors.TransportError, match="connection to"):
            c.credits()


def test_reusable_after_close(client: Client) -> None:
    client.close()
    assert client.credits().total == 500.0


def test_empty_download_is_a_protocol_error(client: Client, emu: Emulator) -> None:
    emu.fail("download", body=b"", content_type="image/png")
    with pytest.raises(errors.ProtocolError, match="empty body"):
        client.download("9" * 32)


@pytest.mark.parametrize("grow", [False, True])
def test_pool_sized_to_concurrency(emu: Emulator, caplog: pytest.LogCaptureFixture, grow: bool) -> None:
    import threading

    caplog.set_level(logging.WARNING, logger="urllib3")
    with Client(emu.api_token, emu.url, pool_size=2) as client:
        if grow:
            client.ensure_pool(8)
            client.ensure_pool(4)  # never shrinks
        assert client.pool_size == (8 if grow else 2)
        emu.fail("point", times=8, delay=0.3)
        threads = [threading.Thread(target=client.credits) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pickled_size = pickle.loads(pickle.dumps(client)).pool_size
    assert emu.request_count("point") == 8
    full = [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert bool(full) is not grow
    assert pickled_size == client.pool_size
    with pytest.raises(ValueError, match="size"):
        client.ensure_pool(0)
