"""`vance-filters doctor`: success, each failure it must diagnose, the question, --json.

Every scenario runs the real CLI entry over real HTTP against the emulator, scripted
with its fault injection; the shape checks are also tested on raw answers.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from vance_filters import _doctor_shapes as shapes
from vance_filters.cli import main
from vance_filters.doctor import Check, DoctorReport, filesize_form, planned_cost, render_line

pytestmark = pytest.mark.timeout(60)

WRONG_TOKEN = "f" * 32
PROXY_PAGE = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>Access Denied</h1>"
    b"<p>Request blocked by the security policy.</p></body></html>"
)


class _Terminal(io.StringIO):
    """A stdin that says it is a terminal, with the user's answer in it."""

    def isatty(self) -> bool:
        return True


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], emu: Any,
         *args: str, token: str | None = None, base: str | None = None) -> tuple[int, str, str]:
    monkeypatch.setenv("VANCE_API_TOKEN", token or emu.api_token)
    code = main(["--api-base", base or emu.url, "doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _lines(out: str) -> dict[str, str]:
    """check name -> status, from the doctor's lines."""
    found = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "WARN", "FAIL"):
            found[rest.strip().split(":")[0]] = status
    return found


def _assert_no_token(emu: Any, *texts: str) -> None:
    for text in texts:
        assert emu.api_token not in text
        assert WRONG_TOKEN not in text


# ---------------------------------------------------------------------------
# Success
# ---------------------------------------------------------------------------


def test_success_every_line_ok_one_credit_no_token(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0, err
    lines = _lines(out)
    for name in ("base URL", "token", "credits", "GET /point JSON body", "/points/record shape",
                 "error envelope",
                 "upload uid", "upload w/h", "upload filesize", "transform status",
                 "progress status", "progress filesize", "download bytes", "download label",
                 "billing", "second download billing"):
        assert lines.get(name) == "OK", (name, out)
    assert set(lines.values()) == {"OK"}, out
    assert "every check passed (1 credit spent)" in out
    # One 1-credit job, charged once in the emulator's ledger (the second download is free).
    assert [points for _, points in emu.charges] == [1.0]
    assert emu.request_count("upload") == emu.request_count("transform") == 1
    # The token: never printed, never logged (urllib3's DEBUG line of GET /point included).
    assert "/point?api_token=***" in caplog.text
    _assert_no_token(emu, out, err, caplog.text)
    # The documented /point form was used: the emulator saw the token in the query string.
    assert any(r.endpoint == "point" and r.method == "GET" for r in emu.requests)


@pytest.mark.parametrize("form, said", [("number", "a number"), ("string", "a string of digits")])
def test_reports_the_filesize_form_the_service_sends(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], form: str,
    said: str,
) -> None:
    emu.configure(filesize=form)
    code, out, _ = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0
    upload = next(line for line in out.splitlines() if "upload filesize" in line)
    progress = next(line for line in out.splitlines() if "progress filesize" in line)
    assert said in upload and said in progress
    assert "PNG bytes" in out and "Content-Type 'image/png'" in out
    assert "statuses seen: finish" in out


def test_a_text_html_label_on_the_image_is_a_warning_not_a_failure(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.configure(download_content_type="text/html; charset=UTF-8")
    code, out, _ = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0, out
    lines = _lines(out)
    assert lines["download bytes"] == "OK" and lines["download label"] == "WARN"
    assert "text/html" in next(line for line in out.splitlines() if "download label" in line)


def test_an_upload_answer_without_its_size_is_reported(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.configure(omit_upload_size=True)
    code, out, _ = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0, out
    line = next(line for line in out.splitlines() if "upload w/h" in line)
    assert line.startswith("WARN") and "absent" in line and "size it sent" in line, line


def test_an_edge_that_drops_get_bodies_is_told_apart(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.configure(drop_get_bodies=True)
    code, out, _ = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0, out  # the documented query form works there
    lines = _lines(out)
    assert lines["token"] == "OK" and lines["GET /point JSON body"] == "WARN"


def test_workflow_tells_whether_the_anime_upscaler_is_accepted(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(monkeypatch, capsys, emu, "--yes", "--workflow")
    assert code == 0, err
    lines = _lines(out)
    assert lines["anime upscaler in a workflow"] == "OK"
    assert lines["workflow billing"] == "OK"
    assert len(emu.charges) == 2
    assert sum(points for _, points in emu.charges) <= planned_cost(workflow=True)


def test_workflow_refused_is_reported_not_failed(emu: Any) -> None:
    # The vendor's old note: "Anime Upscaler currently can not be used in workflow".
    # The refusal is scripted for the second transform (the workflow's), once the first
    # job's transform has been answered.
    from vance_filters.doctor import run_doctor

    def refuse_the_workflow(check: Check) -> None:
        if check.name == "transform wait":
            emu.fail("transform", code=10013, msg="jparam parse error: chainner in a workflow")

    report = run_doctor(emu.url, emu.api_token, workflow=True, on_check=refuse_the_workflow)
    refused = next(c for c in report.checks if c.name == "anime upscaler in a workflow")
    assert refused.status == "WARN" and "refused" in refused.detail and "10013" in refused.detail
    assert report.ok
    assert len(emu.charges) == 1  # only the plain job was downloaded


# ---------------------------------------------------------------------------
# Failures, each with a plain diagnosis
# ---------------------------------------------------------------------------


def test_wrong_token(emu: Any, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(monkeypatch, capsys, emu, "--yes", token=WRONG_TOKEN)
    assert code == 1
    assert _lines(out)["token"] == "FAIL"
    assert "30001" in err and "VANCE_API_TOKEN" in err
    assert emu.request_count("upload") == 0 and emu.charges == []
    _assert_no_token(emu, out, err)


def test_base_url_without_web_api_v1(emu: Any, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    root = emu.url.removesuffix("/web_api/v1")
    # The emulator also answers the API at its root; the real host answers 404 there:
    # the first /point (the one at the root) gets the 404 page such a host sends.
    emu.fail("point", status=404)
    code, out, err = _run(monkeypatch, capsys, emu, "--yes", base=root)
    assert code == 1
    assert _lines(out)["base URL"] == "FAIL"
    assert "lacks /web_api/v1" in err
    assert f"--api-base {root}/web_api/v1" in err
    assert emu.request_count("upload") == 0
    _assert_no_token(emu, out, err)


@pytest.mark.parametrize("endpoint", ["point", "upload"])
def test_proxy_page(endpoint: str, emu: Any, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    emu.fail(endpoint, status=403 if endpoint == "point" else 200, body=PROXY_PAGE,
             content_type="text/html; charset=UTF-8")
    code, out, err = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 1
    assert "FAIL" in out and "Access Denied" in out
    assert "proxy" in err and "instead of" in err
    assert emu.charges == []
    _assert_no_token(emu, out, err)


@pytest.mark.parametrize(
    ("endpoint", "data", "said"),
    [
        ("upload", {"name": "vance-doctor.png", "w": 8, "h": 8}, "lacks a 'uid'"),
        ("transform", {"status": "finish"}, "lacks a 'trans_id'"),
        ("progress", {"filesize": "95"}, "lacks a 'status'"),
        ("point", {"max_num": "500.000"}, "lacks used_num"),
    ],
)
def test_a_shape_that_differs(endpoint: str, data: dict[str, Any], said: str, emu: Any,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    body = json.dumps({"code": 200, "cscode": 200, "data": data, "ip": "127.0.0.1"}).encode()
    emu.fail(endpoint, body=body, content_type="application/json")
    code, out, err = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 1
    assert said in err and "shape the library does not expect" in err
    assert "FAIL" in out and "download bytes" not in out  # the run stops at the failing answer
    assert emu.charges == []


def test_envelope_without_data(emu: Any, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    emu.fail("points/record", body=b'{"code": 200, "msg": "ok"}', content_type="application/json")
    code, out, err = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 1
    assert "code 200 with no 'data'" in err
    assert _lines(out)["/points/record"] == "FAIL"
    assert emu.request_count("upload") == 0


def test_get_body_dropped_is_a_warning(emu: Any, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # An edge that drops GET bodies: the query form works, the JSON body arrives empty.
    ok = json.dumps({"code": 200, "data": {"max_num": "500.000", "used_num": "0.000"}}).encode()
    emu.fail("point", body=ok, content_type="application/json")
    emu.fail("point", code=30001, msg={"api_token": ["The api token field is required."]})
    code, out, _ = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 0
    line = next(line for line in out.splitlines() if "GET /point JSON body" in line)
    assert line.startswith("WARN") and "query form" in line


def test_unreachable_base_url(emu: Any, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = _run(monkeypatch, capsys, emu, "--yes",
                          base=f"http://127.0.0.1:{port}/web_api/v1")
    assert code == 1
    assert _lines(out)["base URL"] == "FAIL" and "cannot reach" in err
    _assert_no_token(emu, out, err)  # the connection error quotes the /point URL: redacted


def test_too_few_credits_spends_nothing(emu: Any, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    emu.configure(credits=0)
    code, out, err = _run(monkeypatch, capsys, emu, "--yes")
    assert code == 1
    assert _lines(out)["balance"] == "FAIL" and "the paid checks need 1" in err
    assert emu.request_count("upload") == 0


def test_a_job_stuck_in_an_unknown_status(emu: Any) -> None:
    from vance_filters.doctor import run_doctor

    emu.stall_jobs(1, status="queued")
    report = run_doctor(emu.url, emu.api_token, max_wait=1.5)
    checks = {c.name: c for c in report.checks}
    assert checks["transform status"].status == "WARN"  # not a documented status
    assert "queued not documented" in checks["progress status"].detail
    assert checks["job"].status == "FAIL" and "still 'queued' after 1.5 s" in checks["job"].detail
    assert 2 <= emu.request_count("progress") <= 4  # about one call a second, not a hammering
    assert emu.charges == []


# ---------------------------------------------------------------------------
# The question, --yes, --json
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "spent"), [("n\n", 0), ("\n", 0), ("y\n", 1)])
def test_asks_before_spending(answer: str, spent: int, emu: Any, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal(answer))
    code, out, err = _run(monkeypatch, capsys, emu)
    assert "1 credit of the 500 left. Continue? [y/N]" in err
    assert len(emu.charges) == spent
    if spent:
        assert code == 0
    else:
        assert code == 1
        assert emu.request_count("upload") == 0
        assert "stopped before spending anything" in err
        assert _lines(out)["token"] == "OK"  # the free checks ran


def test_no_terminal_and_no_yes_refuses(emu: Any, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, _, err = _run(monkeypatch, capsys, emu)
    assert code == 2
    assert "--yes" in err and "not a terminal" in err
    assert emu.request_count() == 0


def test_no_token_is_a_usage_error(emu: Any, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--api-base", emu.url, "doctor", "--yes"])
    assert code == 2
    assert "VANCE_API_TOKEN" in capsys.readouterr().err
    assert emu.request_count() == 0


@pytest.mark.parametrize("token_ok", [True, False])
def test_json(token_ok: bool, emu: Any, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(monkeypatch, capsys, emu, "--yes", "--json",
                          token=None if token_ok else WRONG_TOKEN)
    report = json.loads(out)
    assert report["ok"] is token_ok and code == (0 if token_ok else 1)
    assert report["base_url"] == emu.url
    assert {c["status"] for c in report["checks"]} == ({"OK"} if token_ok else {"OK", "FAIL"})
    if token_ok:
        assert report["credits_spent"] == 1.0 and report["diagnosis"] == ""
    else:
        assert "30001" in report["diagnosis"] and report["credits_spent"] is None
    _assert_no_token(emu, out, err)


def test_emulator_option_needs_no_token_and_no_question(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["--emulator", "doctor"]) == 0
    out, err = capsys.readouterr()
    assert "every check passed" in out and "[y/N]" not in err


# ---------------------------------------------------------------------------
# The shape checks on raw answers
# ---------------------------------------------------------------------------


def _answer(body: bytes, ctype: str = "application/json", status: int = 200) -> shapes.Answer:
    return shapes.Answer(status, ctype, body)


def test_filesize_forms() -> None:
    assert filesize_form(123) == filesize_form(123.0) == "number"
    assert filesize_form("16794935") == "string of digits"
    for odd in ("1.5 MB", "", None, True, -1.5, -2, float("inf"), [1]):
        assert filesize_form(odd) is None
    assert shapes.check_filesize("f", {"filesize": "12"}).status == "OK"
    assert shapes.check_filesize("f", {"filesize": 12}, expected=12).status == "OK"
    assert shapes.check_filesize("f", {"filesize": 13}, expected=12).status == "WARN"
    assert shapes.check_filesize("f", {}).status == "WARN"
    assert shapes.check_filesize("upload filesize", {"filesize": "12 KB"}).status == "FAIL"


@pytest.mark.parametrize(
    ("data", "wh"),
    [
        ({"uid": "a" * 32, "w": 8, "h": 8, "filesize": 90}, "OK"),
        ({"uid": "a" * 32, "w": "8", "h": "8", "filesize": "90"}, "OK"),
        ({"uid": "a" * 32, "filesize": 90}, "WARN"),  # no w/h: the library uses the sent size
        ({"uid": "a" * 32, "w": 16, "h": 16, "filesize": 90}, "WARN"),
    ],
)
def test_upload_shapes(data: dict[str, Any], wh: str) -> None:
    checks = {c.name: c for c in shapes.check_upload(data, width=8, height=8, size=90)}
    assert checks["upload uid"].status == "OK"
    assert checks["upload w/h"].status == wh
    assert checks["upload filesize"].status == "OK"
    assert [c.status for c in shapes.check_upload({"name": "x"}, width=8, height=8, size=1)] == [
        "FAIL"
    ]


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 40
WEBP = b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 40


@pytest.mark.parametrize(
    ("body", "ctype", "kind", "label"),
    [
        (PNG, "image/png", "PNG", "OK"),
        (JPEG, "application/octet-stream", "JPEG", "OK"),
        (WEBP, "image/webp", "WebP", "OK"),
        (PNG, "text/html; charset=UTF-8", "PNG", "WARN"),  # a framework's default label
        (JPEG, "", "JPEG", "WARN"),
    ],
)
def test_download_judged_by_bytes(body: bytes, ctype: str, kind: str, label: str) -> None:
    checks = {c.name: c for c in shapes.check_download(_answer(body, ctype), "tok")}
    assert checks["download bytes"].status == "OK" and kind in checks["download bytes"].detail
    assert checks["download label"].status == label


@pytest.mark.parametrize(
    ("body", "ctype", "said"),
    [
        (b'{"code": 10011, "msg": "api_token=secret123 bad"}', "application/json", "10011"),
        (PROXY_PAGE, "text/html", "proxy"),
        (b"", "image/png", "proxy"),
    ],
)
def test_download_not_an_image(body: bytes, ctype: str, said: str) -> None:
    (check,) = shapes.check_download(_answer(body, ctype), "secret123")
    assert check.status == "FAIL" and said in check.diagnosis
    assert "secret123" not in check.detail + check.diagnosis


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"max_num": "500.000", "used_num": "12.500"}, "OK"),
        ({"max_num": 500, "used_num": 12.5}, "WARN"),  # numbers, not the documented strings
        ({"max_num": "500.000"}, "FAIL"),
        ({"max_num": "lots", "used_num": "0.000"}, "FAIL"),
    ],
)
def test_point_shapes(data: dict[str, Any], status: str) -> None:
    assert shapes.check_point(data).status == status


def test_record_status_and_ids() -> None:
    row = {"point_type": "job", "job": "denoise", "info": "a.png", "point": 1, "balance": 9,
           "created_at": "2024-01-02 03:04:05"}
    page = {"datas": [row], "current_page": 1, "last_page": 1, "per_page": 20, "total": 1}
    assert shapes.check_record(page).status == "OK"
    odd_date = {**page, "datas": [{**row, "created_at": "yesterday"}]}
    assert shapes.check_record(odd_date).status == "WARN"
    assert shapes.check_record({"data": []}).status == "FAIL"
    assert shapes.check_status("/progress", {"status": "process"}).status == "OK"
    assert shapes.check_status("/progress", {"status": "queued"}).status == "WARN"
    assert shapes.check_status("/transform", {"status": "webhook"}).status == "WARN"
    assert shapes.check_status("/progress", {}).status == "FAIL"
    assert shapes.check_trans_id({"trans_id": "b" * 32}).status == "OK"
    assert shapes.check_trans_id({"trans_id": "short"}).status == "WARN"


@pytest.mark.parametrize(
    ("body", "ctype", "status", "said"),
    [
        (b'{"code": 200, "data": {"a": 1}}', "application/json", "OK", "code 200"),
        (b'{"code": "200", "data": {"a": 1}}', "application/json", "OK", "code 200"),
        (b'\xef\xbb\xbf{"code": 200, "data": {"a": 1}}', "text/html", "OK", "code 200"),
        (b'{"code": 200, "data": []}', "application/json", "FAIL", "'data' is list"),
        (b'{"status": "ok"}', "application/json", "FAIL", "without 'code'"),
        (b'{"code": 30001, "msg": "Invalid API token"}', "application/json", "FAIL", "30001"),
        (b"<html>Bad Gateway</html>", "text/html", "FAIL", "not JSON"),
    ],
)
def test_envelopes(body: bytes, ctype: str, status: str, said: str) -> None:
    data, check = shapes.data_of("point", _answer(body, ctype), "tok")
    assert check.status == status and said in check.detail
    assert (data is not None) == (status == "OK")


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b'{"code": 10011, "msg": "File doesn\'t exist"}', "application/json", "OK"),
        (b'{"code": 10001, "msg": {"trans_id": ["The trans id is invalid."]}}', "application/json",
         "WARN"),
        (b'{"code": 10011}', "application/json", "WARN"),
        (b"<html>Not Found</html>", "text/html", "FAIL"),
    ],
)
def test_error_envelope(body: bytes, ctype: str, status: str) -> None:
    assert shapes.check_error(_answer(body, ctype), "tok").status == status


def test_report_and_lines() -> None:
    report = DoctorReport("https://x/web_api/v1", [
        Check("a", "OK", "fine"), Check("b", "WARN", "odd"), Check("c", "FAIL", "bad", "fix it"),
    ])
    assert not report.ok and report.diagnosis == "fix it"
    assert render_line(report.checks[1]) == "WARN  b: odd"
    assert json.loads(json.dumps(report.as_json()))["checks"][2]["diagnosis"] == "fix it"
