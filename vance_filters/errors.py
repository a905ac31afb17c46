"""Typed errors raised by vance_filters.

Every error the library raises on purpose derives from :class:`VanceError`, and
every error names what to do next. The tree::

    VanceError                               code, message, endpoint, trans_id
    ├── APIError                             the service answered with an error code
    │   ├── InvalidParameterError            10001 illegal parameter
    │   ├── InternalServerError              10010 internal error (retried)
    │   ├── NotFoundError                    10011 unknown uid / trans_id, result not ready
    │   ├── LimitExceededError               10012 over 10 MB or 34 MP (also raised locally)
    │   ├── ConfigParseError                 10013 jconfig is not valid JSON
    │   ├── JobFailedError                   10014, or the job ended ``fatal``
    │   ├── AuthenticationError              30001 missing or invalid token
    │   └── InsufficientCreditsError         30004 not enough credits
    ├── TransportError                       the exchange itself failed
    │   ├── ServiceUnreachableError          connection refused, unknown host, TLS failure
    │   ├── RequestTimeoutError              (also a TimeoutError) no answer in time
    │   └── ProtocolError                    an answer that is not what the API sends
    │       └── IncompleteDownloadError      a download shorter than announced
    ├── JobTimeoutError                      (also a TimeoutError) the job outlived max_wait
    ├── ResultDecodeError                    a paid result could not be decoded or written
    │   └── ResultTooLargeError              the result claims more pixels than allowed
    ├── CreditLimitError                     a batch would cost more than allowed
    ├── InputError                           (also a ValueError) the image given is unusable
    └── ConfigError                          (also a ValueError) a filter parameter is invalid

Errors that carry a ``trans_id`` name a job that exists on the server: its
result can be fetched later with ``Client.wait(trans_id)`` and
``Client.download(trans_id)``; a repeated download costs no credit.

Warnings (``UserWarning`` subclasses): ``DownscaleWarning`` (an image over the
limits was sent smaller), ``PrecisionWarning`` (more levels went in than 8 bits
give back), ``UnknownStatusWarning`` (a job stays in an undocumented status),
``InsecureWebhookWarning`` (a webhook that is not https).

All errors pickle with their fields, so an error raised in a worker process
arrives intact in the caller.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigError",
    "ConfigParseError",
    "CreditLimitError",
    "DownscaleWarning",
    "IncompleteDownloadError",
    "InputError",
    "InsecureWebhookWarning",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidParameterError",
    "JobFailedError",
    "JobTimeoutError",
    "LimitExceededError",
    "NotFoundError",
    "PrecisionWarning",
    "UnknownStatusWarning",
    "ProtocolError",
    "RequestTimeoutError",
    "ResultDecodeError",
    "ResultTooLargeError",
    "ServiceUnreachableError",
    "TransportError",
    "VanceError",
    "error_for_code",
    "format_api_message",
]


def format_api_message(msg: Any) -> str:
    """Render an API ``msg`` (a string or a dict of field errors) as one line.

    Examples
    --------
    >>> format_api_message({"api_token": ["The api token field is required."]})
    'api_token: The api token field is required.'
    >>> format_api_message("Illegal Parameter")
    'Illegal Parameter'
    """
    if msg is None:
        return ""
    if isinstance(msg, dict):
        parts = []
        for field, problems in msg.items():
            if isinstance(problems, (list, tuple)):
                text = " ".join(str(p) for p in problems)
            else:
                text = str(problems)
            parts.append(f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(msg, (list, tuple)):
        return "; ".join(str(p) for p in msg)
    return str(msg)


def _rebuild(cls: type[VanceError], message: str, fields: dict[str, Any]) -> VanceError:
    err = cls.__new__(cls)
    VanceError.__init__(err, message, **fields)
    return err


class VanceError(Exception):
    """Root of every error raised by vance_filters.

    Parameters
    ----------
    message : str
        What went wrong and what to do about it.
    code : int, optional
        The API's error code, when the service sent one.
    endpoint : str, optional
        The endpoint that answered (``"upload"``, ``"transform"``...).
    trans_id : str, optional
        The server-side job this error concerns; its result can still be
        waited for and downloaded.
    hint : str, optional
        What the caller can do next.

    Examples
    --------
    >>> err = VanceError("boom", code=10010, endpoint="transform")
    >>> (err.code, err.endpoint)
    (10010, 'transform')
    """

    default_code: int | None = None
    #: Whether the job named by ``trans_id`` may still yield a result to fetch.
    resumable: bool = True

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        endpoint: str | None = None,
        trans_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.code = code if code is not None else self.default_code
        self.endpoint = endpoint
        self.trans_id = trans_id
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        tags = []
        if self.code is not None:
            tags.append(f"code {self.code}")
        if self.endpoint:
            tags.append(f"/{self.endpoint}")
        if tags:
            text = f"{text} [{', '.join(tags)}]"
        if self.trans_id and self.resumable:
            text += (
                f" (trans_id {self.trans_id}: resume with client.wait({self.trans_id!r})"
                f" and client.download({self.trans_id!r}))"
            )
        elif self.trans_id:
            text += f" (trans_id {self.trans_id})"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "code": self.code,
            "endpoint": self.endpoint,
            "trans_id": self.trans_id,
            "hint": self.hint,
        }
        return (_rebuild, (type(self), self.message, fields), self.__dict__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, VanceError)
        return self.__dict__ == other.__dict__

    __hash__ = Exception.__hash__


class APIError(VanceError):
    """The service answered with an error ``code`` (see the subclasses)."""


class InvalidParameterError(APIError):
    """10001: a parameter was rejected by the service."""

    default_code = 10001


class InternalServerError(APIError):
    """10010: the service failed internally; the client retries it."""

    default_code = 10010


class NotFoundError(APIError):
    """10011: unknown uid or trans_id, or a result that is not ready."""

    default_code = 10011


class LimitExceededError(APIError):
    """10012: the upload exceeds 10 MB or 34 megapixels.

    Also raised locally, before any upload, when ``on_limit="raise"``.
    """

    default_code = 10012


class ConfigParseError(APIError):
    """10013: the jconfig sent is not valid JSON."""

    default_code = 10013


class JobFailedError(APIError):
    """10014, or a job that ended with status ``fatal``: try again."""

    default_code = 10014
    resumable = False  # a failed job has no result: run it again


class AuthenticationError(APIError):
    """30001: the API token is missing or invalid."""

    default_code = 30001


class InsufficientCreditsError(APIError):
    """30004: the account has too few credits for this download."""

    default_code = 30004


class TransportError(VanceError):
    """The HTTP exchange failed: connection refused or dropped, bad answer."""


class ServiceUnreachableError(TransportError):
    """The service cannot be reached at all: connection refused, unknown host, TLS failure.

    Retried like any connection error for one call; in a batch
    (``vf.map``, ``vf.amap``, the command line, ``vance_filters.dask``) a few
    in a row stop the batch: the images not yet done fail at once with it.
    """


class RequestTimeoutError(TransportError, TimeoutError):
    """The service did not answer within the configured ``timeout``."""


class ProtocolError(TransportError):
    """The service (or a proxy before it) answered something the API never sends."""


class IncompleteDownloadError(ProtocolError):
    """A download ended before the announced length."""


class JobTimeoutError(VanceError, TimeoutError):
    """The job did not finish within ``max_wait``; it may still finish later."""


class ResultDecodeError(VanceError):
    """A downloaded (and paid) result could not be decoded or written.

    The raw bytes stay in the client's cache and ``trans_id`` names the job,
    so ``client.download(trans_id)`` fetches them again at no cost.
    """


class ResultTooLargeError(ResultDecodeError):
    """The result claims more pixels than ``max_result_pixels`` allows."""


class CreditLimitError(VanceError):
    """A batch would cost more credits than ``max_credits`` or the balance."""


class InputError(VanceError, ValueError):
    """The image given cannot be processed (raised before any request)."""


class ConfigError(VanceError, ValueError):
    """A filter parameter is outside its documented range or set."""


class DownscaleWarning(UserWarning):
    """An image was downscaled to fit the upload limits."""


class UnknownStatusWarning(UserWarning):
    """A job has stayed in a status the vendor does not document (it is still polled).

    Raised once per job, well before ``max_wait`` runs out, naming the status
    and the trans_id; a :class:`JobTimeoutError` names it too.
    """


class PrecisionWarning(UserWarning):
    """An image has more distinct levels than the service's 8 bits can give back.

    The service works in 8 bits per channel. A uint16, ``I;16``, ``I``, ``F``
    or float input is stretched over the range its values use before it is
    reduced to 8 bits, so up to 256 levels per channel survive; when a
    channel holds more distinct values than that, neighbouring levels merge.

    The message is the same for every image of a kind, so a batch warns once
    per kind under Python's default filter; the numbers are attributes.

    Attributes
    ----------
    levels_in : int
        Distinct values in the channel that lost the most.
    levels_out : int
        How many of them come back, at most.
    low, high : float
        The range the image's values use (the result is mapped back to it).
    """

    def __init__(
        self, message: str, levels_in: int = 0, levels_out: int = 0, low: float = 0, high: float = 0
    ) -> None:
        super().__init__(message)
        self.levels_in = levels_in
        self.levels_out = levels_out
        self.low = low
        self.high = high


class InsecureWebhookWarning(UserWarning):
    """A webhook URL that is not https was given."""


_CODE_TO_ERROR: dict[int, type[APIError]] = {
    cls.default_code: cls
    for cls in (
        InvalidParameterError,
        InternalServerError,
        NotFoundError,
        LimitExceededError,
        ConfigParseError,
        JobFailedError,
        AuthenticationError,
        InsufficientCreditsError,
    )
    if cls.default_code is not None
}


def error_for_code(
    code: int,
    msg: Any,
    *,
    endpoint: str | None = None,
    trans_id: str | None = None,
) -> APIError:
    """Build the typed error for an API error ``code`` and its ``msg``.

    Unknown codes give a plain :class:`APIError` carrying the code.

    Examples
    --------
    >>> err = error_for_code(30004, "Insufficient credits", endpoint="download")
    >>> type(err).__name__, err.code
    ('InsufficientCreditsError', 30004)
    >>> type(error_for_code(99999, "new")).__name__
    'APIError'
    """
    cls = _CODE_TO_ERROR.get(code, APIError)
    text = format_api_message(msg) or f"API error {code}"
    hint = _HINTS.get(code)
    return cls(text, code=code, endpoint=endpoint, trans_id=trans_id, hint=hint)


_HINTS: dict[int, str] = {
    30001: "Check the token passed as api_token= or set in VANCE_API_TOKEN",
    30004: "Top up the account's credits; check the balance with client.credits()",
    10012: "Uploads must be JPG or PNG, at most 10 MB and 34 megapixels",
    10013: "The jconfig must be a JSON object; check it with json.loads",
}
