"""``vance-filters doctor``: check that a service answers the way this library expects.

The library and its emulator were written by the same hands; the doctor is how
the people who can reach the real service check the library's assumptions
against it. :func:`run_doctor` talks to the service with plain ``requests``
(it must see the raw answers the client hides), runs one cheap job through the
documented flow and returns a :class:`DoctorReport`: one :class:`Check` per
assumption, each ``OK``, ``WARN`` or ``FAIL`` with what was seen, and a plain
diagnosis for the first failure. :func:`render_line` prints a check.

The flow: ``GET /point?api_token=...`` (the documented form; base URL, token
and the credits' shape), the same call with a JSON body (is that form accepted
too?), ``/points/record``, ``/download`` of an unknown job (the error envelope,
code 10011), then, after ``confirm`` says yes: ``/upload`` of a
tiny generated PNG, ``/transform`` of one 1-credit Denoise job without a
webhook, ``/progress``, ``/download`` (label and bytes), ``/point`` again (was
one credit charged, at the download?), a second ``/download`` (free?). With
``workflow=True`` a two-step job with the anime upscaler as its last step tells
whether the service accepts it in a workflow and how it bills a multi-step job.

The token appears only in the documented ``/point`` query string; every body or
error quoted is redacted with :func:`vance_filters._redact.redact`, and urllib3's
DEBUG lines about that URL are redacted by the filter :mod:`vance_filters._http` installs.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from ._budget import count
from ._doctor_shapes import (
    API_PREFIX,
    FAIL,
    OK,
    PROXY_HINT,
    WARN,
    Answer,
    Check,
    check_download,
    check_error,
    check_filesize,
    check_point,
    check_record,
    check_status,
    check_trans_id,
    check_upload,
    code_of,
    data_of,
    envelope_of,
    filesize_form,
    is_api_envelope,
    number,
    quote,
)
from ._features import FEATURES
from ._redact import excerpt, redact
from .records import STATUSES, TERMINAL_STATUSES

__all__ = [
    "API_PREFIX",
    "Check",
    "DoctorReport",
    "filesize_form",
    "planned_cost",
    "render_line",
    "run_doctor",
]

#: The doctor's test image, made with Pillow: tiny (a few KB), yet not so small that a
#: model could refuse it.
IMAGE_SIZE = (64, 64)
#: Seconds the doctor waits for its job at most (default of ``max_wait``).
JOB_DEADLINE = 300.0
#: Largest body the doctor reads (bytes).
_MAX_BODY = 64 * 1024 * 1024


@dataclass
class DoctorReport:
    """Every check of one doctor run, and how it ended.

    Attributes
    ----------
    base_url : str
        The base URL checked.
    checks : list of Check
        In the order they ran.
    declined : bool
        The paid checks were not run because the question was answered no.
    credits_spent : float or None
        Credits used during the run, by ``/point`` before and after (None: unknown).

    Examples
    --------
    >>> report = DoctorReport("https://example.com/web_api/v1", [Check("token", "OK", "accepted")])
    >>> report.ok, report.diagnosis
    (True, '')
    """

    base_url: str
    checks: list[Check] = field(default_factory=list)
    declined: bool = False
    credits_spent: float | None = None

    @property
    def ok(self) -> bool:
        """True when no check failed and the run was not declined."""
        return not self.declined and all(c.status != FAIL for c in self.checks)

    @property
    def diagnosis(self) -> str:
        """The first failure's diagnosis ("" when nothing failed)."""
        return next((c.diagnosis or c.detail for c in self.checks if c.status == FAIL), "")

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return {
            "base_url": self.base_url,
            "ok": self.ok,
            "declined": self.declined,
            "diagnosis": self.diagnosis,
            "credits_spent": self.credits_spent,
            "checks": [c.as_json() for c in self.checks],
        }


def render_line(check: Check) -> str:
    """One line for a check: status, name, what was seen.

    Examples
    --------
    >>> render_line(Check("token", "OK", "accepted"))
    'OK    token: accepted'
    """
    return f"{check.status:<5} {check.name}: {check.detail}"


def planned_cost(*, workflow: bool = False) -> int:
    """Credits the doctor may spend: 1, plus every step of the workflow job with ``workflow``.

    Examples
    --------
    >>> planned_cost(), planned_cost(workflow=True)
    (1, 3)
    """
    return _job_price(_denoise_jconfig()) + (
        _job_price(_workflow_jconfig()) if workflow else 0
    )


# ---------------------------------------------------------------------------
# Jobs and the test image
# ---------------------------------------------------------------------------


def _denoise_jconfig() -> dict[str, Any]:
    from . import filters

    return filters.Denoise().to_jconfig()


def _workflow_jconfig() -> dict[str, Any]:
    from . import filters

    return (filters.Denoise() | filters.UpscaleAnime(scale=2)).to_jconfig()


def _step_prices(jconfig: dict[str, Any]) -> list[int]:
    steps = jconfig["config"] if isinstance(jconfig.get("config"), list) else [jconfig]
    return [FEATURES[step["config"]["module"]].cost for step in steps]


def _job_price(jconfig: dict[str, Any]) -> int:
    """Every step counted (the library's budget rule: never under-count)."""
    return sum(_step_prices(jconfig))


def _test_png() -> bytes:
    from PIL import Image

    img = Image.new("RGB", IMAGE_SIZE)
    img.putdata([(4 * x % 256, 4 * y % 256, 128) for y in range(IMAGE_SIZE[1])
                 for x in range(IMAGE_SIZE[0])])
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


class _Doctor:
    """One run: the session, the token, the checks so far."""

    def __init__(self, base_url: str, token: str, *, timeout: float, max_wait: float,
                 on_check: Callable[[Check], object] | None) -> None:
        self.base = base_url.strip().rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_wait = max_wait
        self.on_check = on_check
        self.report = DoctorReport(self.base)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "vance-filters-doctor"

    def add(self, *checks: Check, prefix: str = "") -> bool:
        """Record checks (their names prefixed); False when one failed (the run stops)."""
        for check in checks:
            if prefix:
                check = dataclasses.replace(check, name=prefix + check.name)
            self.report.checks.append(check)
            if self.on_check is not None:
                self.on_check(check)
        return all(c.status != FAIL for c in checks)

    def send(self, method: str, url: str, *, read: float | None = None, **kwargs: Any) -> Answer:
        start = time.monotonic()
        try:
            with self.session.request(
                method, url, timeout=(self.timeout, read or self.timeout), stream=True, **kwargs
            ) as response:
                body = response.raw.read(_MAX_BODY, decode_content=True) or b""
                return Answer(
                    response.status_code, response.headers.get("Content-Type", ""), body,
                    dict(response.headers), seconds=time.monotonic() - start,
                )
        except (requests.RequestException, OSError) as exc:
            kind = type(exc).__name__
            return Answer(failure=f"{kind}: {redact(str(exc), self.token)[:300]}",
                           seconds=time.monotonic() - start)

    def api(self, method: str, endpoint: str, *, read: float | None = None,
            **kwargs: Any) -> Answer:
        return self.send(method, f"{self.base}/{endpoint}", read=read, **kwargs)

    def post(self, endpoint: str, fields: dict[str, Any], **kwargs: Any) -> Answer:
        return self.api("POST", endpoint, data={"api_token": self.token, **fields}, **kwargs)

    def point(self) -> Answer:
        # The documented form; the one URL that carries the token.
        return self.api("GET", "point", params={"api_token": self.token})

    def used(self) -> float | None:
        data, _ = data_of("point", self.point(), self.token)
        return number(data.get("used_num")) if data else None

    # -- the free checks ------------------------------------------------------------
    def check_base_and_token(self) -> dict[str, Any] | None:
        parts = urllib.parse.urlsplit(self.base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.add(Check("base URL", FAIL, f"{self.base!r} is not an http(s) URL",
                           f"the base URL {self.base!r} is not an http(s) URL: use "
                           f"https://api-service.vanceai.com{API_PREFIX}"))
            return None
        if parts.query or parts.username or parts.password:
            self.add(Check("base URL", FAIL, "carries a query string or credentials",
                           "the base URL must not carry a query string or credentials: the "
                           "token comes from VANCE_API_TOKEN"))
            return None
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            self.add(Check("base URL scheme", WARN, "plain http: the token crosses the network "
                           "unencrypted; use https"))
        answer = self.point()
        if answer.failure:
            self.add(Check("base URL", FAIL, answer.failure,
                           f"cannot reach {self.base}: {answer.failure}. Check the URL, your "
                           "network and proxy settings"))
            return None
        if not is_api_envelope(envelope_of(answer)):
            self.add(self._not_the_api(answer))
            return None
        self.add(Check("base URL", OK, f"GET /point answers the API ({answer.what})"))
        data, envelope_check = data_of("point", answer, self.token)
        if code_of(envelope_of(answer)) == 30001:
            self.add(Check("token", FAIL, envelope_check.detail, envelope_check.diagnosis))
            return None
        self.add(envelope_check)
        if data is None:
            return None
        self.add(Check("token", OK, "accepted by GET /point?api_token=*** (the documented form)"))
        return data if self.add(check_point(data)) else None

    def _not_the_api(self, answer: Answer) -> Check:
        seen = f"{answer.what}: {excerpt(answer.body, self.token) or 'empty body'!r}"
        if not urllib.parse.urlsplit(self.base).path.rstrip("/").endswith(API_PREFIX):
            probe = self.send("GET", f"{self.base}{API_PREFIX}/point",
                              params={"api_token": self.token})
            if not probe.failure and is_api_envelope(envelope_of(probe)):
                fixed = f"{self.base}{API_PREFIX}"
                return Check(
                    "base URL", FAIL, f"/point {seen}; {API_PREFIX}/point answers the API",
                    f"the base URL lacks {API_PREFIX}: {self.base}/point answers {answer.what}, "
                    f"while {fixed}/point answers like the API. Use --api-base {fixed} or set "
                    f"VANCE_API_BASE={fixed}",
                )
        return Check("base URL", FAIL, f"/point {seen}", f"{self.base}/point answered "
                     f"{answer.what} instead of the API's JSON: {PROXY_HINT}")

    def check_json_body_form(self) -> None:
        answer = self.api("GET", "point", json={"api_token": self.token})
        value = envelope_of(answer)
        code = code_of(value)
        if code == 200 and isinstance(value, dict) and isinstance(value.get("data"), dict):
            self.add(Check("GET /point JSON body", OK, "accepted too (the token in a JSON body "
                           "of a GET); either form works here"))
        else:
            what = answer.failure or (
                f"code {code}: {quote(value.get('msg'), self.token)}" if code is not None
                else f"{answer.what}: {excerpt(answer.body, self.token)!r}"
            )
            self.add(Check("GET /point JSON body", WARN, f"refused ({what}): the body of a GET "
                           "does not arrive; only the documented query form works"))

    def check_error_shape(self) -> None:
        # Free: downloading an unknown job is the documented 10011, as JSON (not bytes).
        self.add(check_error(self.post("download", {"trans_id": "0" * 32}), self.token))

    def check_history(self) -> None:
        answer = self.post("points/record", {"page": 1, "limit": 5})
        data, envelope_check = data_of("points/record", answer, self.token)
        if self.add(envelope_check) and data is not None:
            self.add(check_record(data))

    # -- the paid checks ------------------------------------------------------------
    def upload(self) -> str | None:
        png = _test_png()
        answer = self.post("upload", {}, files={"file": ("vance-doctor.png", png, "image/png")})
        data, envelope_check = data_of("upload", answer, self.token)
        if not self.add(envelope_check) or data is None:
            return None
        checks = check_upload(data, width=IMAGE_SIZE[0], height=IMAGE_SIZE[1], size=len(png))
        return str(data["uid"]) if self.add(*checks) else None

    def run_job(self, uid: str, jconfig: dict[str, Any], *, refusal: str = "") -> str | None:
        """Transform without webhook, then progress until finish: the trans_id, or None.

        With ``refusal`` (a check name), an API error from ``/transform`` or a ``fatal``
        job is that check's WARN (the service refuses the job) instead of a failure.
        """
        prefix = "workflow " if refusal else ""
        answer = self.post("transform", {"uid": uid, "jconfig": json.dumps(jconfig)},
                           read=max(self.timeout, self.max_wait))
        data, envelope_check = data_of("transform", answer, self.token)
        if refusal and data is None and code_of(envelope_of(answer)) not in (None, 200, 30001):
            self.add(Check(refusal, WARN, f"refused: {envelope_check.detail}"))
            return None
        if not self.add(envelope_check, prefix=prefix) or data is None:
            return None
        if not self.add(check_trans_id(data), check_status("transform", data), prefix=prefix):
            return None
        trans_id, status = str(data["trans_id"]), str(data["status"])
        self.add(Check("transform wait", OK, f"answered {status!r} after "
                       f"{answer.seconds:.1f} s (no webhook: it may hold the request until done)"),
                 prefix=prefix)
        seen: list[str] = []
        deadline = time.monotonic() + self.max_wait
        polls = 0
        while polls == 0 or (status not in TERMINAL_STATUSES and time.monotonic() < deadline):
            if polls:
                # The vendor's pace: every 2 s for a queued job; 1 s otherwise.
                gap = 2.0 if status in ("busy", "waiting") else 1.0
                time.sleep(max(0.0, min(gap, deadline - time.monotonic())))
            polls += 1
            data, envelope_check = data_of("progress", self.post(
                "progress", {"trans_id": trans_id}), self.token)
            if data is None:
                self.add(envelope_check, prefix=prefix)
                return None
            check = check_status("progress", data)
            if check.status == FAIL:
                self.add(envelope_check, check, prefix=prefix)
                return None
            status = str(data["status"])
            if status not in seen:
                seen.append(status)
        unknown = [s for s in seen if s not in STATUSES]
        self.add(envelope_check, Check(
            "progress status", WARN if unknown else OK,
            f"{polls} call(s), statuses seen: {', '.join(seen)}"
            + (f" ({', '.join(unknown)} not documented)" if unknown else ""),
        ), check_filesize("progress filesize", data), prefix=prefix)
        if status == "fatal":
            if refusal:
                self.add(Check(refusal, WARN, "the job ended 'fatal': refused in a workflow?"))
                return None
            self.add(Check("job", FAIL, "ended 'fatal'", "the test job failed on the "
                           "service (status 'fatal'); run the doctor again later"), prefix=prefix)
            return None
        if status != "finish":
            self.add(Check("job", FAIL, f"still {status!r} after {self.max_wait:g} s",
                           f"the test job did not finish within {self.max_wait:g} s "
                           f"(status {status!r})"), prefix=prefix)
            return None
        return trans_id

    def download(self, trans_id: str, *, prefix: str = "") -> bool:
        answer = self.post("download", {"trans_id": trans_id})
        return self.add(*check_download(answer, self.token), prefix=prefix)


def run_doctor(
    base_url: str,
    api_token: str,
    *,
    timeout: float = 30.0,
    max_wait: float = JOB_DEADLINE,
    workflow: bool = False,
    confirm: Callable[[str], bool] | None = None,
    on_check: Callable[[Check], object] | None = None,
) -> DoctorReport:
    """Check a service against what the library relies on; one cheap job, asked first.

    Parameters
    ----------
    base_url : str
        The API's base URL, e.g. ``https://api-service.vanceai.com/web_api/v1``.
    api_token : str
        The token (never printed: every quoted body is redacted).
    timeout : float
        Connect and read timeout of each request, in seconds (``/transform``
        reads for up to ``max_wait``: it may hold the request until the job is done,
        and it is never sent twice).
    max_wait : float
        Seconds the test job may take, polled at the vendor's pace (1 s, 2 s while
        ``busy`` or ``waiting``).
    workflow : bool
        Also run a two-step job ending with the anime upscaler: is it accepted in
        a workflow, and how is a multi-step job billed (up to 2 more credits)?
    confirm : callable, optional
        Called with the question (what will be spent, and the balance) after the
        free checks; the paid checks run only if it returns True. None: run them.
    on_check : callable, optional
        Called with each :class:`Check` as soon as it is known.

    Returns
    -------
    DoctorReport
        Every check; ``report.ok`` is False when one failed or the run was declined.

    Examples
    --------
    >>> from vance_filters.testing import Emulator
    >>> with Emulator() as emu:
    ...     report = run_doctor(emu.url, emu.api_token)
    >>> report.ok, report.credits_spent
    (True, 1.0)
    >>> render_line(next(c for c in report.checks if c.name == "token"))
    'OK    token: accepted by GET /point?api_token=*** (the documented form)'
    """
    doc = _Doctor(base_url, api_token, timeout=timeout, max_wait=max_wait, on_check=on_check)
    # urllib3's DEBUG lines quote the /point URL: _http's filter (installed on import) redacts them
    with doc.session:
        credits = doc.check_base_and_token()
        if credits is None:
            return doc.report
        doc.check_json_body_form()
        doc.check_history()
        doc.check_error_shape()
        if not doc.report.ok:
            return doc.report  # nothing is spent on a service that already answers oddly
        cost = planned_cost(workflow=workflow)
        remaining = number(credits["max_num"]) - number(credits["used_num"])  # type: ignore[operator]
        if remaining < cost:
            doc.add(Check("balance", FAIL, f"{remaining:g} credits left, the doctor needs {cost}",
                          f"the account has {remaining:g} credits: the paid checks need {cost}"))
            return doc.report
        question = (
            f"The next checks upload a {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} test image and run "
            + ("one Denoise job (1 credit) and a Denoise + Anime Upscaler workflow (up to 2)"
               if workflow else "one Denoise job")
            + f": {count(cost, 'credit')} of the {remaining:g} left. Continue?"
        )
        if confirm is not None and not confirm(question):
            doc.report.declined = True
            return doc.report
        before = number(credits["used_num"])
        _paid_checks(doc, workflow)
        after = doc.used()
        if before is not None and after is not None:
            doc.report.credits_spent = round(after - before, 3)
    return doc.report


def _paid_checks(doc: _Doctor, workflow: bool) -> None:
    uid = doc.upload()
    if uid is None:
        return
    trans_id = doc.run_job(uid, _denoise_jconfig())
    if trans_id is None:
        return
    before = doc.used()
    if not doc.download(trans_id):
        return
    after = doc.used()
    price = _job_price(_denoise_jconfig())
    if before is None or after is None:
        doc.add(Check("billing", WARN, "/point could not be read around the download"))
    else:
        charged = round(after - before, 3)
        doc.add(Check("billing", OK if charged == price else WARN,
                      f"used_num {before:g} -> {after:g} at the download: {charged:g} credit(s) "
                      f"for a {price}-credit job" + ("" if charged == price else
                      " (charged at processing, later, or at another price?)")))
    if doc.download(trans_id, prefix="second ") and after is not None:
        again = doc.used()
        if again is not None:
            doc.add(Check("second download billing", OK if again == after else FAIL,
                          "free (used_num unchanged)" if again == after else
                          f"charged again: used_num {after:g} -> {again:g}",
                          "" if again == after else "a second download of the same result is "
                          "charged: the library's retried downloads would cost credits"))
    if workflow:
        _workflow_check(doc, uid)


def _workflow_check(doc: _Doctor, uid: str) -> None:
    jconfig = _workflow_jconfig()
    name = "anime upscaler in a workflow"
    trans_id = doc.run_job(uid, jconfig, refusal=name)
    if trans_id is None:
        return
    doc.add(Check(name, OK, "accepted (Denoise | UpscaleAnime finished)"))
    before = doc.used()
    if not doc.download(trans_id, prefix="workflow "):
        return
    after = doc.used()
    if before is None or after is None:
        doc.add(Check("workflow billing", WARN, "/point could not be read around the download"))
        return
    prices = _step_prices(jconfig)
    charged = round(after - before, 3)
    every, dearest = sum(prices), max(prices)
    if charged == every:
        doc.add(Check("workflow billing", OK, f"{charged:g} credits: every step billed, as the "
                      "library counts"))
    elif charged < every:
        rule = "the dearest step" if charged == dearest else "less than every step"
        doc.add(Check("workflow billing", OK, f"{charged:g} credit(s): {rule}; the library "
                      f"counts {every} (a safe over-count)"))
    else:
        doc.add(Check("workflow billing", FAIL, f"{charged:g} credits for steps priced {prices}",
                      f"a multi-step job cost {charged:g} credits, more than the {every} the "
                      "library counts: its budget guards would under-count"))
