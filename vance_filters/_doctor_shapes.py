"""The shapes the doctor checks: raw answers in, :class:`Check` results out (no HTTP).

Pure functions on what a service answered (status, Content-Type, body, the
``data`` object of an envelope), so each can be tested on raw dicts and bytes.
:mod:`vance_filters.doctor` sends the requests and runs them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._redact import excerpt, redact
from ._sniff import image_format
from .records import STATUSES

__all__ = [
    "API_PREFIX",
    "PROXY_HINT",
    "Answer",
    "Check",
    "check_download",
    "check_error",
    "check_filesize",
    "check_point",
    "check_record",
    "check_status",
    "check_trans_id",
    "check_upload",
    "code_of",
    "data_of",
    "envelope_of",
    "filesize_form",
    "is_api_envelope",
    "number",
    "quote",
    "shape_diagnosis",
]

#: The path every API endpoint lives under.
API_PREFIX = "/web_api/v1"
#: Check outcomes.
OK, WARN, FAIL = "OK", "WARN", "FAIL"

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_CREDITS_TEXT = re.compile(r"^\d+\.\d{3}$")
#: How a format found by its magic bytes (``_sniff.image_format``) is named in a check's line.
_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


@dataclass(frozen=True)
class Check:
    """One checked assumption: its name, ``OK`` / ``WARN`` / ``FAIL``, what was seen.

    Attributes
    ----------
    name : str
        What was checked, e.g. ``"token"`` or ``"upload filesize"``.
    status : str
        ``"OK"`` (as the library expects), ``"WARN"`` (differs, the library copes) or
        ``"FAIL"`` (the library would fail).
    detail : str
        What the service answered (token-free).
    diagnosis : str
        For a failure: what is wrong and what to do ("" otherwise).

    Examples
    --------
    >>> Check("token", "OK", "accepted").as_json()
    {'name': 'token', 'status': 'OK', 'detail': 'accepted'}
    """

    name: str
    status: str
    detail: str
    diagnosis: str = ""

    def as_json(self) -> dict[str, str]:
        """The check as a JSON-ready dict (``diagnosis`` only when there is one)."""
        out = {"name": self.name, "status": self.status, "detail": self.detail}
        if self.diagnosis:
            out["diagnosis"] = self.diagnosis
        return out


def filesize_form(value: Any) -> str | None:
    """How a ``filesize`` is written: ``"number"``, ``"string of digits"``, or None (neither).

    Examples
    --------
    >>> filesize_form(16794935), filesize_form("16794935"), filesize_form("1.5 MB")
    ('number', 'string of digits', None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer() and value >= 0:
        return "number"
    if isinstance(value, str) and value.strip().isdigit():
        return "string of digits"
    return None


# ---------------------------------------------------------------------------
# Raw answers and their shapes (pure functions on what came back)
# ---------------------------------------------------------------------------


@dataclass
class Answer:
    """One raw HTTP answer (or the transport failure instead of one)."""

    status: int = 0
    content_type: str = ""
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    failure: str = ""  # a transport failure, redacted
    seconds: float = 0.0

    @property
    def what(self) -> str:
        return f"HTTP {self.status} {self.content_type or 'no Content-Type'}"


def envelope_of(answer: Answer) -> Any:
    """The parsed JSON body, or None when the body is not JSON."""
    body = answer.body.removeprefix(b"\xef\xbb\xbf")
    if body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def is_api_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "code" in value


def code_of(value: Any) -> int | None:
    code = value.get("code") if isinstance(value, dict) else None
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def quote(value: Any, token: str, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = redact(text, token)
    return text if len(text) <= limit else text[: limit - 3] + "..."


PROXY_HINT = (
    "something other than the API answers there: a proxy, firewall, captive portal or CDN "
    "page, or a base URL that is not the API's. Check --api-base / VANCE_API_BASE "
    f"(the service's is https://api-service.vanceai.com{API_PREFIX}) and your proxy settings "
    "(HTTPS_PROXY)"
)


def shape_diagnosis(endpoint: str, what: str) -> str:
    return (
        f"/{endpoint} answers in a shape the library does not expect: {what}. The library "
        "would fail here; please report it with this command's --json output"
    )


def data_of(endpoint: str, answer: Answer, token: str) -> tuple[dict[str, Any] | None, Check]:
    """The ``data`` object of a JSON success, and the check of the envelope."""
    name = f"/{endpoint}"
    if answer.failure:
        return None, Check(name, FAIL, answer.failure,
                           f"/{endpoint} could not be reached: {answer.failure}")
    value = envelope_of(answer)
    if value is None:
        seen = excerpt(answer.body, token) or "empty body"
        return None, Check(name, FAIL, f"{answer.what}, not JSON: {seen!r}",
                           f"/{endpoint} answered {answer.what} instead of JSON: {PROXY_HINT}")
    if not is_api_envelope(value):
        return None, Check(name, FAIL, f"{answer.what}, JSON without 'code': {quote(value, token)}",
                           shape_diagnosis(endpoint, "a JSON answer without the 'code' field"))
    code = code_of(value)
    if code != 200:
        msg = quote(value.get("msg"), token)
        diagnosis = (
            "the service refuses the API token (code 30001): check VANCE_API_TOKEN (copy it again "
            'from "API & Document" on your VanceAI account page)'
            if code == 30001 else f"/{endpoint} answered the API error {code}: {msg}"
        )
        return None, Check(name, FAIL, f"{answer.what}, code {code}: {msg}", diagnosis)
    data = value.get("data")
    if not isinstance(data, dict):
        got = "no 'data'" if "data" not in value else f"'data' is {type(data).__name__}"
        return None, Check(name, FAIL, f"code 200 but {got}",
                           shape_diagnosis(endpoint, f"code 200 with {got}, not an object"))
    if answer.status != 200:
        return data, Check(name, WARN, f"{answer.what}: a success envelope with HTTP "
                           f"{answer.status}")
    return data, Check(name, OK, f"{answer.what}, code 200, data object")


def _missing(data: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in data]


def _keys(data: dict[str, Any]) -> str:
    return ", ".join(sorted(map(str, data))) or "none"


def check_point(data: dict[str, Any]) -> Check:
    """``/point`` data: ``max_num`` and ``used_num``, numbers or strings like ``"500.000"``."""
    missing = _missing(data, ("max_num", "used_num"))
    if missing:
        what = f"data lacks {', '.join(missing)} (keys: {_keys(data)})"
        return Check("credits", FAIL, what, shape_diagnosis("point", what))
    seen = []
    for key in ("max_num", "used_num"):
        value = data[key]
        if number(value) is None:
            what = f"{key}={str(value)[:40]!r} is not a number"
            return Check("credits", FAIL, what, shape_diagnosis("point", what))
        seen.append(f"{key} {value!r}")
    forms = {"3 decimals" if isinstance(data[k], str) and _CREDITS_TEXT.match(data[k])
             else type(data[k]).__name__ for k in ("max_num", "used_num")}
    remaining = number(data["max_num"]) - number(data["used_num"])  # type: ignore[operator]
    detail = f"{', '.join(seen)}; remaining {remaining:g}"
    if forms != {"3 decimals"}:
        return Check("credits", WARN, detail + " (not the documented '500.000' strings; "
                     "the library reads any number)")
    return Check("credits", OK, detail)


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_RECORD_KEYS = ("point_type", "job", "info", "point", "balance", "created_at")


def check_record(data: dict[str, Any]) -> Check:
    """``/points/record`` data: a ``datas`` list and the page fields."""
    name = "/points/record shape"
    rows = data.get("datas")
    if not isinstance(rows, list):
        what = f"no 'datas' list (keys: {_keys(data)})"
        return Check(name, FAIL, what, shape_diagnosis("points/record", what))
    problems = [f"no {k}" for k in ("current_page", "last_page", "per_page", "total")
                if k not in data]
    for row in rows[:20]:
        if not isinstance(row, dict):
            problems.append("an entry that is not an object")
            break
        lacking = _missing(row, _RECORD_KEYS)
        if lacking:
            problems.append(f"an entry without {', '.join(lacking)}")
            break
        created = row.get("created_at")
        if created and not re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", str(created)):
            problems.append(f"created_at {str(created)[:30]!r} not 'YYYY-MM-DD HH:MM:SS'")
            break
    detail = f"{len(rows)} entries, total {data.get('total')!r}"
    if problems:
        # The client falls back to defaults for the page fields and skips odd entries.
        return Check(name, WARN, f"{detail}; {'; '.join(problems)}")
    return Check(name, OK, f"{detail}; entries and page fields as documented")


def check_upload(data: dict[str, Any], *, width: int, height: int, size: int) -> list[Check]:
    """``/upload`` data: ``uid`` (the library needs it), ``w``/``h`` and ``filesize`` (optional)."""
    uid = data.get("uid")
    if not isinstance(uid, str) or not uid:
        what = f"data lacks a 'uid' string (keys: {_keys(data)})"
        return [Check("upload uid", FAIL, what, shape_diagnosis("upload", what))]
    checks = [Check("upload uid", OK if _HEX32.match(uid) else WARN,
                    "32 hex digits" if _HEX32.match(uid) else f"{len(uid)} characters, not 32 hex "
                    "(the library accepts any non-empty string)")]
    if "w" not in data or "h" not in data:
        checks.append(Check("upload w/h", WARN, f"absent (keys: {_keys(data)}); the library "
                            "uses the size it sent"))
    elif (number(data["w"]), number(data["h"])) == (width, height):
        checks.append(Check("upload w/h", OK, f"present, {data['w']!r}x{data['h']!r} as sent"))
    else:
        checks.append(Check("upload w/h", WARN, f"{data['w']!r}x{data['h']!r}, not the "
                            f"{width}x{height} sent"))
    checks.append(check_filesize("upload filesize", data, expected=size))
    return checks


def check_filesize(name: str, data: dict[str, Any], *, expected: int | None = None) -> Check:
    if "filesize" not in data:
        return Check(name, WARN, "absent (the library does without it)")
    value = data["filesize"]
    form = filesize_form(value)
    if form is None:
        what = f"filesize={str(value)[:40]!r} is neither a number nor a string of digits"
        return Check(name, FAIL, what, shape_diagnosis(name.split()[0], what))
    detail = f"{value!r} (a {form}; the library reads both)"
    if expected is not None and int(float(value)) != expected:
        return Check(name, WARN, f"{detail}, not the {expected} bytes sent")
    return Check(name, OK, detail)


def check_status(endpoint: str, data: dict[str, Any], *, webhook: bool = False) -> Check:
    name = f"{endpoint} status"
    status = data.get("status")
    if not isinstance(status, str) or not status:
        what = f"data lacks a 'status' string (keys: {_keys(data)})"
        return Check(name, FAIL, what, shape_diagnosis(endpoint.lstrip("/"), what))
    if status not in STATUSES:
        return Check(name, WARN, f"{status!r} is not a documented status (the library keeps "
                     "polling an unknown one)")
    if status == "webhook" and not webhook:
        return Check(name, WARN, "'webhook' although no webhook was given")
    return Check(name, OK, f"{status!r}")


def check_trans_id(data: dict[str, Any]) -> Check:
    trans_id = data.get("trans_id")
    if not isinstance(trans_id, str) or not trans_id:
        what = f"data lacks a 'trans_id' string (keys: {_keys(data)})"
        return Check("transform trans_id", FAIL, what, shape_diagnosis("transform", what))
    if not _HEX32.match(trans_id):
        return Check("transform trans_id", WARN, f"{len(trans_id)} characters, not 32 hex "
                     "(the library may refuse it)")
    return Check("transform trans_id", OK, "32 hex digits")


def _magic(head: bytes) -> str | None:
    kind = image_format(head)
    return _FORMAT_NAMES[kind] if kind else None


def check_download(answer: Answer, token: str) -> list[Check]:
    """``/download``: the bytes are an image (magic bytes); the label is reported."""
    if answer.failure:
        return [Check("download bytes", FAIL, answer.failure,
                      f"/download could not be reached: {answer.failure}")]
    kind = _magic(answer.body[:16]) if 200 <= answer.status < 300 else None
    if kind is None:
        value = envelope_of(answer)
        if is_api_envelope(value):
            msg = quote(value.get("msg"), token)
            what = f"{answer.what}, code {code_of(value)}: {msg}"
            return [Check("download bytes", FAIL, what, f"/download answered an API error: {what}")]
        seen = excerpt(answer.body, token) or "empty body"
        return [Check("download bytes", FAIL, f"{answer.what}, not an image: {seen!r}",
                      f"/download answered {answer.what} that is not an image: {PROXY_HINT}")]
    checks = [Check("download bytes", OK, f"{kind} bytes ({len(answer.body)} bytes)")]
    label = answer.content_type.split(";")[0].strip().lower()
    if label.startswith("image/") or label == "application/octet-stream":
        checks.append(Check("download label", OK, f"Content-Type {answer.content_type!r}"))
    else:
        label = answer.content_type or "none"
        checks.append(Check("download label", WARN, f"Content-Type {label!r} on {kind} bytes: "
                            "the library judges a download by its bytes"))
    return checks


def check_error(answer: Answer, token: str) -> Check:
    """An API error's shape: ``{"code": N, "msg": ...}``, here ``/download`` of an unknown job.

    Examples
    --------
    >>> body = b'{"code": 10011, "msg": "Invalid download link"}'
    >>> check_error(Answer(200, "application/json", body), "tok").status
    'OK'
    """
    name = "error envelope"
    if answer.failure:
        return Check(name, FAIL, answer.failure, f"/download could not be reached: {answer.failure}")
    value = envelope_of(answer)
    if not is_api_envelope(value):
        seen = excerpt(answer.body, token) or "empty body"
        what = f"{answer.what} without a 'code': {seen!r}"
        return Check(name, FAIL, what, shape_diagnosis("download", f"an error answered {what}"))
    code, msg = code_of(value), value.get("msg")
    form = ("a string" if isinstance(msg, str) else "an object of field errors"
            if isinstance(msg, dict) else "absent" if msg is None else type(msg).__name__)
    detail = (f"an unknown trans_id: code {code} in {answer.what}, msg {form}"
              + (f": {quote(msg, token, 80)}" if msg is not None else ""))
    if code == 10011 and form in ("a string", "an object of field errors"):
        return Check(name, OK, detail)
    # The library reads any code (a table maps the documented ones) and any msg.
    return Check(name, WARN, detail + " (the documented answer is code 10011 with a msg)")
