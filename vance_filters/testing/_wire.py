"""Wire format of the API: error messages, envelopes, and Laravel-style input reading."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Request

#: The vendor's messages per error code.
MESSAGES = {
    10001: "Illegal Parameter",
    10010: "Internal error",
    10011: "File doesn't exist OR Invalid download link",
    10012: "Resolution or file size exceeds the limits.",
    10013: "jparam parse error",
    10014: "Job failed and exited for unexpected reason",
    30001: "Invalid API token",
    30004: "Insufficient credits",
}


class ApiError(Exception):
    """An error answer: ``{"code": code, "msg": msg}``."""

    def __init__(self, code: int, detail: str | dict[str, list[str]] | None = None) -> None:
        base = MESSAGES.get(code, "Error")
        if isinstance(detail, dict):
            msg: str | dict[str, list[str]] = detail
        else:
            msg = f"{base}: {detail}" if detail else base
        super().__init__(code, msg)
        self.code = code
        self.msg = msg


def required(field: str) -> ApiError:
    """The Laravel "required" error for ``field`` (30001 for the token, 10001 otherwise)."""
    text = field.replace("_", " ")
    return ApiError(30001 if field == "api_token" else 10001,
                    {field: [f"The {text} field is required."]})


def envelope(data: dict[str, Any], ip: str) -> bytes:
    """A JSON success answer."""
    return json.dumps({"code": 200, "cscode": 200, "data": data, "ip": ip}).encode()


def error_body(code: int, msg: object) -> bytes:
    """A JSON error answer."""
    return json.dumps({"code": code, "msg": msg}).encode()


def _is_json(request: Request) -> bool:
    ctype = (request.headers.get("Content-Type") or "").lower()
    return "/json" in ctype or "+json" in ctype


def _last(multi: Any) -> dict[str, Any]:
    # PHP keeps the last of repeated keys.
    return {key: multi.getlist(key)[-1] for key in multi}


#: The forms ``filesize`` can be answered in.
FILESIZE_FORMS = ("number", "string")


@dataclass
class WireOptions:
    """How the emulated service and what stands before it dress the wire (live settings).

    ``drop_get_bodies``: behave like a CDN / edge that drops the body of a GET (a JSON
    body on ``GET /point`` then never arrives: "The api token field is required.").
    ``download_content_type``: the Content-Type label of ``/download`` answers
    (``"auto"``: the image's own type; ``""``: no Content-Type header at all).
    ``omit_upload_size``: ``/upload`` answers without ``w`` / ``h``.
    ``filesize``: ``"number"`` (what the real service sends) or ``"string"`` (the
    documentation's example, ``"16794935"``), in ``/upload`` and ``/progress`` answers.
    ``strict_file_type``: refuse (10001) an upload whose file part is not labelled
    ``image/png`` or ``image/jpeg``, as a strict validator or WAF in front of it may.
    """

    drop_get_bodies: bool = False
    download_content_type: str = "auto"
    omit_upload_size: bool = False
    filesize: str = "number"
    strict_file_type: bool = False

    def dress(self, endpoint: str, body: bytes) -> bytes:
        """A JSON success answer of ``endpoint`` as these options have it."""
        if endpoint not in ("upload", "progress"):
            return body
        try:
            answer = json.loads(body)
        except ValueError:
            return body
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            return body
        if endpoint == "upload" and self.omit_upload_size:
            data.pop("w", None)
            data.pop("h", None)
        if "filesize" in data:
            size = int(data["filesize"] or 0)
            data["filesize"] = str(size) if self.filesize == "string" else size
        return json.dumps(answer).encode()


#: The file part labels ``strict_file_type`` accepts.
IMAGE_PART_TYPES = ("image/png", "image/jpeg")


def check_file_type(files: dict[str, FileStorage]) -> None:
    """Refuse a ``file`` part not labelled as a PNG or JPEG image (``strict_file_type``)."""
    part = files.get("file")
    if part is not None and (part.mimetype or "").lower() not in IMAGE_PART_TYPES:
        raise ApiError(10001, {"file": ["The file must be a file of type: jpg, jpeg, png."]})


def read_input(
    request: Request, *, drop_get_bodies: bool = False
) -> tuple[dict[str, Any], dict[str, FileStorage]]:
    """The parameters and files Laravel would see (``$request->all()``).

    A JSON body (Content-Type ``*/json`` or ``*+json``) is read for any method; otherwise a
    GET or HEAD reads only the query string, and other methods read the form body
    (urlencoded or multipart) over the query string. ``drop_get_bodies``: a GET or HEAD
    body never arrives (a CDN or edge proxy dropped it), so only its query string counts.
    """
    params = _last(request.args)
    files: dict[str, FileStorage] = {}
    if drop_get_bodies and request.method in ("GET", "HEAD"):
        return params, files
    if _is_json(request):
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            params.update(body)
    elif request.method not in ("GET", "HEAD"):
        params.update(_last(request.form))
        files = {key: request.files.getlist(key)[-1] for key in request.files}
    return params, files


def text(params: dict[str, Any], name: str) -> str | None:
    """A scalar parameter as text (None when missing or empty, as Laravel's ``required``)."""
    value = params.get(name)
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None if name == "api_token" else json.dumps(value)
