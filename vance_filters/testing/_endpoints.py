"""The six endpoints: parameters in, a reply (JSON envelope or image bytes) out."""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from werkzeug.datastructures import FileStorage

from .._features import MAX_UPLOAD_BYTES
from ._images import inspect_upload
from ._jconfig import parse
from ._jobs import Job, JobEngine
from ._ledger import Ledger
from ._records import UploadRecord
from ._wire import ApiError, envelope, required, text

#: endpoint -> allowed methods (the vendor's table).
METHODS = {
    "upload": ("POST",),
    "transform": ("POST",),
    "progress": ("GET", "POST"),
    "download": ("GET", "POST"),
    "point": ("GET",),
    "points/record": ("GET", "POST"),
}
_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}
_EXTENSIONS = {"jpeg": "jpg", "png": "png"}


@dataclass
class Reply:
    """What to send back."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Settings:
    """Live settings of the emulator."""

    transform_wait: float
    #: How a multi-step job is billed: every step's price ("sum") or the dearest ("max").
    pipeline_billing: str = "sum"


class State:
    """Everything the endpoints share, behind one lock (the engine's condition)."""

    def __init__(self, *, token: str, credits: float, workers: int, job_duration: float,
                 transform_wait: float) -> None:
        self.token = token
        self.cond = threading.Condition(threading.RLock())
        self.uploads: dict[str, UploadRecord] = {}
        self.jobs: dict[str, Job] = {}
        self.ledger = Ledger(credits)
        self.engine = JobEngine(self.cond, workers=workers, job_duration=job_duration)
        self.settings = Settings(transform_wait=transform_wait)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "result"


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine: localhost, 127.x, ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_webhook(url: str) -> None:
    """The service's rule: an https URL; the emulator also lets plain http reach loopback."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise ApiError(10001, "webhook must be an https URL") from None
    if parts.scheme not in ("http", "https") or not host or re.search(r"\s", url):
        raise ApiError(10001, "webhook must be an https URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ApiError(10001, "webhook must be an https URL: the protocol must be https")


class Api:
    """The endpoint handlers. Each takes the request's parameters and files."""

    def __init__(self, state: State) -> None:
        self.state = state

    def authenticate(self, params: dict[str, Any]) -> None:
        token = text(params, "api_token")
        if token is None:
            raise required("api_token")
        if not hmac.compare_digest(token.encode(), self.state.token.encode()):
            raise ApiError(30001)

    def handle(self, endpoint: str, params: dict[str, Any], files: dict[str, FileStorage],
               ip: str) -> Reply:
        self.authenticate(params)
        handler = getattr(self, "_" + endpoint.replace("/", "_"))
        return handler(params, files, ip)

    # -- endpoints --------------------------------------------------------------------
    def _upload(self, params: dict[str, Any], files: dict[str, FileStorage], ip: str) -> Reply:
        storage = files.get("file")
        if storage is None:
            raise required("file")
        data = storage.stream.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise ApiError(10012, f"the file has more than {MAX_UPLOAD_BYTES} bytes")
        fmt, width, height = inspect_upload(data)
        name = PurePath((storage.filename or "").replace("\\", "/")).name
        name = name or f"image.{_EXTENSIONS[fmt]}"
        record = UploadRecord(secrets.token_hex(16), name, data, width, height, fmt)
        with self.state.cond:
            self.state.uploads[record.uid] = record
        return Reply(envelope({
            "uid": record.uid, "name": name, "thumbnail": "", "w": width, "h": height,
            "filesize": len(data),
        }, ip))

    def _transform(self, params: dict[str, Any], files: dict[str, FileStorage], ip: str) -> Reply:
        uid = text(params, "uid")
        if uid is None:
            raise required("uid")
        raw_config = params.get("jconfig")
        if raw_config is None or raw_config == "":
            raise required("jconfig")
        webhook = text(params, "webhook")
        if webhook is not None:
            _check_webhook(webhook)
        with self.state.cond:
            upload = self.state.uploads.get(uid)
        if upload is None:
            raise ApiError(10011, "no upload has this uid")
        config = parse(raw_config, known_uid=lambda u: u in self.state.uploads)
        job = Job(
            trans_id=secrets.token_hex(16), uid=uid, upload_data=upload.data,
            upload_format=upload.format, upload_name=upload.name, config=config,
            webhook=webhook,
        )
        with self.state.cond:
            self.state.jobs[job.trans_id] = job
            self.state.engine.submit(job)
            wait = self.state.settings.transform_wait
        if webhook is not None:
            status = "webhook"
        else:
            status = self.state.engine.wait_settled(job, wait)
        return Reply(envelope({"trans_id": job.trans_id, "status": status}, ip))

    def _job(self, params: dict[str, Any]) -> Job:
        trans_id = text(params, "trans_id")
        if trans_id is None:
            raise required("trans_id")
        with self.state.cond:
            job = self.state.jobs.get(trans_id)
        if job is None:
            raise ApiError(10011, "no job has this trans_id")
        return job

    def _progress(self, params: dict[str, Any], files: dict[str, FileStorage], ip: str) -> Reply:
        job = self._job(params)
        with self.state.cond:
            status, size = job.status, len(job.result or b"")
        return Reply(envelope({"status": status, "filesize": str(size)}, ip))

    def _download(self, params: dict[str, Any], files: dict[str, FileStorage], ip: str) -> Reply:
        job = self._job(params)
        with self.state.cond:
            if job.status != "finish" or job.result is None:
                raise ApiError(10011, f"the job is not finished (status {job.status})")
            ledger = self.state.ledger
            if not job.charged:
                cost = job.config.cost(self.state.settings.pipeline_billing)
                if not ledger.can_pay(cost):
                    raise ApiError(30004, f"the download costs {cost:g}, the balance is "
                                          f"{ledger.balance:.3f}")
                ledger.charge(job.trans_id, cost, job=job.config.name, info=job.upload_name)
                job.charged = cost
            job.downloads += 1
            result, fmt = job.result, job.result_format or "png"
        filename = f"{_safe_name(PurePath(job.upload_name).stem)}_{_safe_name(job.config.name)}"
        return Reply(
            result,
            content_type=_CONTENT_TYPES[fmt],
            headers={
                "Content-Disposition": f'attachment; filename="{filename}.{_EXTENSIONS[fmt]}"'
            },
        )

    def _point(self, params: dict[str, Any], files: dict[str, FileStorage], ip: str) -> Reply:
        with self.state.cond:
            ledger = self.state.ledger
            data = {"max_num": f"{ledger.total:.3f}", "used_num": f"{ledger.used:.3f}"}
        return Reply(envelope(data, ip))

    def _points_record(self, params: dict[str, Any], files: dict[str, FileStorage],
                       ip: str) -> Reply:
        values = {}
        for name, default in (("page", 1), ("limit", 20)):
            raw = text(params, name)
            if raw is None:
                values[name] = default
                continue
            try:
                number = int(raw)
            except ValueError:
                raise ApiError(10001, {name: [f"The {name} must be a number."]}) from None
            if number < 1:
                raise ApiError(10001, {name: [f"The {name} must be at least 1."]})
            values[name] = number
        with self.state.cond:
            data = self.state.ledger.page(values["page"], values["limit"])
        return Reply(envelope(data, ip))
