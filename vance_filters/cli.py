"""The ``vance-filters`` command line: every feature over files and folders.

::

    vance-filters [--emulator | --api-base URL] [--timeout S] COMMAND ...
    vance-filters COMMAND ... [--emulator | --api-base URL] [--timeout S]

    vance-filters enlarge photos/ --scale 4 -o out/ -j 8
    vance-filters run --config job.json photos/*.jpg -o out/
    vance-filters credits
    vance-filters history --all --json
    vance-filters emulator --port 8000

One subcommand per feature, its options generated from the filter's dataclass
fields, their ranges and defaults from the documented feature table. Batches
go through :func:`vance_filters.batch.map`; each output is written atomically
into the output folder (never outside it), existing outputs are skipped so an
interrupted batch resumes, and one failed image never stops the rest.

This module holds the entry point: :func:`main`, :func:`build_parser`, the
global options and the dispatch to a command. The commands live in
``_cli_batch`` (one per feature, and ``run``) and ``_cli_service`` (credits,
history, emulator, cache, doctor), the console, messages and client session
they share in ``_cli_console``, the options generated from the filters in
``_cli_options`` and the output files of a batch (names, planning, atomic
writes) in ``_outputs``.

The API token is read from ``VANCE_API_TOKEN`` only: an option would show it
in ``ps`` and in the shell's history.

Exit status: 0 success, 1 an image or the command failed, 2 invalid usage or
parameters, or a batch over its budget (nothing was sent), 130 interrupted (Ctrl-C).

A service that cannot be reached (refused, unknown host, TLS) stops a batch
after a few failures in a row: one line says so, the results already done are
written, and a rerun resumes.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ._cli_batch import (
    FEATURE_FILTERS,
    _add_feature_command,
    _add_run_command,
    _kebab,  # noqa: F401 - re-exported: cli._kebab
    read_jconfig,  # noqa: F401 - re-exported: cli.read_jconfig
)
from ._cli_console import (
    _EPILOG,
    BASE_ENV,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,  # noqa: F401 - re-exported: cli.EXIT_OK
    EXIT_USAGE,
    PROG,
    TOKEN_ENV,  # noqa: F401 - re-exported: cli.TOKEN_ENV
    _Console,
    _positive_float,
    _version,
)
from ._cli_options import filter_options  # noqa: F401 - re-exported: cli.filter_options
from ._cli_service import (
    _add_cache_command,
    _add_credits_command,
    _add_doctor_command,
    _add_emulator_command,
    _add_history_command,
    _add_provenance_command,
    _add_replay_command,
)
from ._outputs import UsageError as _UsageError
from ._outputs import (
    plan_outputs,  # noqa: F401 - re-exported: cli.plan_outputs
    safe_stem,  # noqa: F401 - re-exported: cli.safe_stem
)
from .errors import ConfigError, VanceError

__all__ = ["build_parser", "main"]


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``vance-filters`` argument parser (one subcommand per feature plus the tools).

    Examples
    --------
    >>> build_parser().parse_args(["enlarge", "a.png", "--scale", "4"]).scale
    4
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Every VanceAI image feature as a command over files and folders.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for cls in FEATURE_FILTERS:
        _add_feature_command(sub, cls)
    _add_run_command(sub)
    _add_credits_command(sub)
    _add_history_command(sub)
    _add_emulator_command(sub)
    _add_cache_command(sub)
    _add_doctor_command(sub)
    _add_provenance_command(sub)
    _add_replay_command(sub)
    for cmd in sub.choices.values():
        # The same options after the command (``denoise x.png --emulator``), listed in its
        # --help; a default only at the top, so one given before the command is kept.
        _add_global_options(cmd, cmd.add_argument_group("global options"), top=False)
    return parser


#: The global options, as (dest, the two that exclude each other).
_EXCLUSIVE = (("emulator", "api_base"), ("cache_dir", "no_cache"))


def _add_global_options(
    parser: argparse.ArgumentParser, group: argparse._ActionsContainer, *, top: bool
) -> None:
    """``--emulator``, ``--api-base``, ``--timeout``, ``--cache-dir``, ``--no-cache``."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    target = group.add_mutually_exclusive_group() if top else group
    target.add_argument(
        "--emulator",
        action="store_true",
        default=default(False),
        help="run the command against an in-process emulator of the API (no account, no "
        "credits; results are classical stand-ins)",
    )
    target.add_argument(
        "--api-base",
        metavar="URL",
        default=default(None),
        help=f"the API's base URL [default: ${BASE_ENV}, else the VanceAI service]",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        default=default(None),
        help="seconds to wait for each HTTP answer [default: 30]",
    )
    cache = group.add_mutually_exclusive_group() if top else group
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=default(None),
        help="keep every downloaded (paid) result here, so a rerun or an interrupted batch never "
        "pays twice [default: the platform's cache folder, e.g. ~/.cache/vance_filters; "
        "memory only with --emulator]",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        default=default(False),
        help="do not reuse or keep results (every image is processed and paid again)",
    )


def _check_exclusive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse two global options that exclude each other, one before and one after the command."""
    for first, second in _EXCLUSIVE:
        if getattr(args, first) and getattr(args, second):
            flags = (f"--{first.replace('_', '-')}", f"--{second.replace('_', '-')}")
            parser.error(f"argument {flags[1]}: not allowed with argument {flags[0]}")


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def _show_warning(console: _Console) -> Callable[..., None]:
    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        console.err(f"warning: {' '.join(str(message).split())}")

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vance-filters`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 an image or the command failed, 2 invalid usage or
        parameters (nothing was sent), 130 interrupted.

    Examples
    --------
    >>> main(["--emulator", "credits", "--json"])  # doctest: +SKIP
    {"total": 500.0, "used": 0.0, "remaining": 500.0}
    0
    """
    console = _Console()
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        _check_exclusive(parser, args)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning(console)
        try:
            return int(args.handler(args, console))
        except KeyboardInterrupt:
            console.err("interrupted")
            return EXIT_INTERRUPTED
        except (ConfigError, _UsageError) as exc:
            console.error(exc)
            return EXIT_USAGE
        except VanceError as exc:
            console.error(exc)
            return EXIT_FAILED
        except OSError as exc:
            console.error(exc)
            return EXIT_FAILED
