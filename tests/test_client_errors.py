"""The error tree as the client raises it: code -> class, rendering, pickling."""

from __future__ import annotations

import pickle

import pytest

from vance_filters import errors
from vance_filters.errors import error_for_code, format_api_message

TABLE = {
    10001: errors.InvalidParameterError,
    10010: errors.InternalServerError,
    10011: errors.NotFoundError,
    10012: errors.LimitExceededError,
    10013: errors.ConfigParseError,
    10014: errors.JobFailedError,
    30001: errors.AuthenticationError,
    30004: errors.InsufficientCreditsError,
}


@pytest.mark.parametrize(("code", "cls"), sorted(TABLE.items()))
def test_error_for_code(code: int, cls: type) -> None:
    err = error_for_code(code, "why", endpoint="upload", trans_id="t" * 32)
    assert type(err) is cls and isinstance(err, errors.APIError) and isinstance(err, errors.VanceError)
    assert (err.code, err.endpoint, err.trans_id) == (code, "upload", "t" * 32)
    assert str(err).startswith(f"why [code {code}, /upload]")
    assert "t" * 32 in str(err)
    # a failed job has no result to fetch: no resume advice for it
    assert ("client.download('" + "t" * 32 + "')" in str(err)) == (cls is not errors.JobFailedError)
    copy = pickle.loads(pickle.dumps(err))
    assert copy == err and type(copy) is cls and str(copy) == str(err)


def test_unknown_code_and_empty_message() -> None:
    err = error_for_code(424242, None)
    assert type(err) is errors.APIError and err.code == 424242
    assert str(err) == "API error 424242 [code 424242]"
    assert repr(err) == "APIError('API error 424242 [code 424242]')"


def test_hints_say_what_to_do() -> None:
    assert "VANCE_API_TOKEN" in str(error_for_code(30001, "Invalid token"))
    assert "client.credits()" in str(error_for_code(30004, "Insufficient credits"))


@pytest.mark.parametrize(
    ("msg", "text"),
    [
        ({"api_token": ["The api token field is required."]}, "api_token: The api token field is required."),
        ({"uid": "missing", "jconfig": ["a", "b"]}, "uid: missing; jconfig: a b"),
        (["one", "two"], "one; two"),
        ("Illegal Parameter", "Illegal Parameter"),
        (None, ""),
        (5, "5"),
    ],
)
def test_format_api_message(msg: object, text: str) -> None:
    assert format_api_message(msg) == text


def test_timeouts_are_timeouts_and_equality_is_by_type() -> None:
    assert issubclass(errors.RequestTimeoutError, TimeoutError)
    assert issubclass(errors.JobTimeoutError, TimeoutError)
    assert issubclass(errors.IncompleteDownloadError, errors.ProtocolError)
    a = errors.ProtocolError("x", endpoint="download")
    assert a != errors.TransportError("x", endpoint="download")
    assert a == errors.ProtocolError("x", endpoint="download")
