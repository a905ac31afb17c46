"""Keeping the API token out of everything a user or a log sees.

:func:`redact` takes a token (and any ``api_token=...`` field) out of a text;
:func:`excerpt` makes a short, printable, token-free quote of a response body
for an error message; and, on import, a logging filter is put on urllib3's
loggers that quote request URLs, so ``GET /point?api_token=...`` (the one form
the vendor documents for that endpoint) never reaches a log record, even at
DEBUG.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["EXCERPT_CHARS", "MIN_TOKEN_CHARS", "excerpt", "redact", "redact_value"]

#: How much of an unexpected body an error message quotes.
EXCERPT_CHARS = 200
_TOKEN_FIELD = re.compile(r"""(api[_-]?token["']?\s*[=:]\s*["']?)[^&\s"',;<>}]+""", re.IGNORECASE)
#: A literal token shorter than this is not searched for in free text (it would garble
#: words); ``api_token=...`` fields are redacted whatever their length.
MIN_TOKEN_CHARS = 6
#: Characters a token is made of: a match must not sit inside a longer run of them.
_TOKEN_CHARS = "A-Za-z0-9_\\-"
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def redact(text: str, token: str | None = None) -> str:
    """Remove an API token from ``text``.

    The value of anything that looks like an ``api_token=...`` /
    ``"api_token": "..."`` field is replaced, and so is the literal ``token``
    where it stands whole (not inside a longer run of letters, digits, ``_`` or
    ``-``), when it is at least ``MIN_TOKEN_CHARS`` long: a one-letter token
    must not garble words.

    Examples
    --------
    >>> redact("GET /point?api_token=abc123&x=1")
    'GET /point?api_token=***&x=1'
    >>> redact("token abc123def here", "abc123def")
    'token *** here'
    >>> redact("a token a", "a")
    'a token a'
    """
    if token and len(token) >= MIN_TOKEN_CHARS:
        pattern = rf"(?<![{_TOKEN_CHARS}]){re.escape(token)}(?![{_TOKEN_CHARS}])"
        text = re.sub(pattern, "***", text)
    return _TOKEN_FIELD.sub(r"\1***", text)


class _RedactingFilter(logging.Filter):
    """Rewrites urllib3's records so no ``api_token=...`` of a URL reaches a handler.

    urllib3 logs each request as ``'%s://%s:%s "%s %s %s" %s %s'`` with the path
    and query string among the arguments (``GET /point?api_token=...``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token" in record.msg.lower():
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) else
                redact(str(arg)) if isinstance(arg, BaseException) else arg
                for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


#: The loggers of urllib3 that quote request URLs.
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")


def _install_log_filter() -> None:
    """Put the redacting filter on urllib3's URL-quoting loggers (once)."""
    for name in _URL_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in log.filters):
            log.addFilter(_RedactingFilter())


_install_log_filter()


def redact_value(obj: Any, token: str | None) -> Any:
    """A decoded JSON value with every string redacted (and cut to 500 characters)."""
    if isinstance(obj, str):
        return redact(obj, token)[:500]
    if isinstance(obj, dict):
        return {redact(str(k), token): redact_value(v, token) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_value(v, token) for v in obj]
    return obj


def excerpt(body: bytes, token: str | None = None, *, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable, token-free excerpt of a response body.

    HTML tags are dropped, whitespace collapsed and the result cut to
    ``limit`` characters.

    Examples
    --------
    >>> excerpt(b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    '502 Bad Gateway'
    """
    text = body[: limit * 20].decode("utf-8", errors="replace")
    text = _TAG.sub(" ", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = redact(_SPACE.sub(" ", text).strip(), token)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
