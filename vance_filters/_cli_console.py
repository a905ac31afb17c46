"""The command line's console, messages and session, shared by every command.

:class:`_Console` writes results on stdout and everything human on stderr,
never the token (:func:`_redact`), with the library's Python advice told for
the shell (:func:`_cli_advice`); :func:`vance_filters._budget.count` words the counts. Here too
are the program's name, environment variables and exit statuses, the argparse
number types and help notes the command modules share, and :func:`_session`,
the client a command talks through (the service or an in-process emulator).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ._outputs import UsageError as _UsageError
from ._outputs import _one_line

if TYPE_CHECKING:
    from .client import Client


PROG = "vance-filters"
TOKEN_ENV = "VANCE_API_TOKEN"
BASE_ENV = "VANCE_API_BASE"

#: Exit statuses.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# ---------------------------------------------------------------------------
# Argument types, messages and help notes
# ---------------------------------------------------------------------------


def _number_type(kind: type, low: float, inclusive: bool) -> Callable[[str], Any]:
    """An argparse ``type=`` reading an int or float at least (or above) ``low``."""
    noun = "an integer" if kind is int else "a number"
    bound = f"{noun} {'>=' if inclusive else '>'} {low:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (value >= low if inclusive else value > low):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected {bound}")
        return value

    return parse


_positive_int = _number_type(int, 1, inclusive=True)
_positive_float = _number_type(float, 0, inclusive=False)
_nonneg_float = _number_type(float, 0, inclusive=True)


#: Python-API advice in the library's messages, and its command-line equivalent.
_CLI_ADVICE = (
    (
        f"pass Client(api_token=...) or set the {TOKEN_ENV} environment variable",
        f"set the {TOKEN_ENV} environment variable (or add --emulator to try without an account)",
    ),
    (
        f"Check the token passed as api_token= or set in {TOKEN_ENV}",
        f"Check the token in the {TOKEN_ENV} environment variable",
    ),
    ("check the balance with client.credits()", f"check the balance with `{PROG} credits`"),
    (f"base URL ({BASE_ENV})", f"base URL (--api-base or {BASE_ENV})"),
    ("raise timeout= if", "raise --timeout if"),
    ("raise max_credits or", "raise --max-credits or"),
    ("more than max_credits=", "more than --max-credits "),
)


def _cli_advice(text: str) -> str:
    """``text`` with the library's Python advice (``Client(api_token=...)``) told for the shell."""
    for python, shell in _CLI_ADVICE:
        text = text.replace(python, shell)
    return text


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class _Console:
    """Where the CLI writes: results on stdout, everything human on stderr, never the token."""

    def __init__(self) -> None:
        self.secrets: list[str] = []

    def _clean(self, text: str) -> str:
        token = os.environ.get(TOKEN_ENV, "").strip()
        return _cli_advice(_redact(text, [*self.secrets, token]))

    def out(self, text: str) -> None:
        print(self._clean(text), file=sys.stdout, flush=True)

    def err(self, text: str) -> None:
        print(self._clean(text), file=sys.stderr, flush=True)

    def error(self, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else _one_line(exc)
        self.err(f"error: {message}")


_TOKEN_NOTE = (
    f"The API token is read from the {TOKEN_ENV} environment variable only; there is no option "
    "for it because a command-line argument shows in `ps` and in the shell's history. Without an "
    "account, add --emulator to run any command against a built-in emulator."
)
_EXIT_NOTE = (
    "exit status: 0 success, 1 an image or the command failed, 2 invalid usage or parameters, "
    "or a batch over --max-credits or the balance (nothing was sent), 130 interrupted"
)
_EPILOG = "\n\n".join(textwrap.fill(t, 79) for t in (_TOKEN_NOTE, _EXIT_NOTE))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vance-filters")
    except PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


# ---------------------------------------------------------------------------
# The session: a client, against the service or an in-process emulator
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _session(args: argparse.Namespace, console: _Console, *, pool: int = 10) -> Iterator[Client]:
    from .client import Client

    settings: dict[str, Any] = {"pool_size": max(10, pool)}
    if args.timeout is not None:
        settings["timeout"] = args.timeout
    if args.no_cache:
        settings["cache"] = False
    elif args.cache_dir:
        settings["cache_dir"] = args.cache_dir
    elif not args.emulator:
        settings["cache_dir"] = True  # the platform's cache folder: paid results survive a crash
    if not args.emulator:
        try:
            client = Client(base_url=args.api_base, **settings)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
        with client:
            yield client
        return
    from .testing import Emulator

    with Emulator() as emu:
        console.secrets.append(emu.api_token)
        if not getattr(args, "quiet", False):
            console.err(
                f"{PROG}: --emulator: using an in-process emulator at {emu.url} "
                "(no account, no real credits; results are classical stand-ins)"
            )
        with Client(api_token=emu.api_token, base_url=emu.url, **settings) as client:
            yield client
