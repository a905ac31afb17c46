"""The ``vance-filters`` command line: every feature over files and folders.

::

    vance-filters [--emulator | --api-base URL] [--timeout S] COMMAND ...

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

This module holds the parser, the commands, the client session and the batch
runner; the options generated from the filters live in ``_cli_options`` and
the output files of a batch (names, planning, atomic writes) in ``_outputs``.

The API token is read from ``VANCE_API_TOKEN`` only: an option would show it
in ``ps`` and in the shell's history.

Exit status: 0 success, 1 an image or the command failed, 2 invalid usage or
parameters (nothing was sent), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import json
import os
import re
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filters as _filters
from ._cli_options import _OUTPUT_OPTIONS, _add_option, filter_options
from ._features import FEATURES, MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from ._outputs import (
    CONTAINER_SUFFIXES,
    IMAGE_SUFFIXES,
    _existing_output,
    _Item,
    _one_line,
    expand_inputs,
    feature_ext,
    plan_outputs,
    safe_stem,  # noqa: F401 - re-exported: cli.safe_stem
    sniff_format,
    write_atomic,
)
from ._outputs import UsageError as _UsageError
from .batch import map as batch_map
from .errors import (
    AuthenticationError,
    ConfigError,
    CreditLimitError,
    InputError,
    InsufficientCreditsError,
    VanceError,
)

if TYPE_CHECKING:
    from .client import Client, JobResult

__all__ = ["build_parser", "main"]

PROG = "vance-filters"
TOKEN_ENV = "VANCE_API_TOKEN"
BASE_ENV = "VANCE_API_BASE"

#: Exit statuses.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The feature filters, in the order the help lists them; the subcommand of
#: each is its class name in kebab case (``RemoveBackground`` -> ``remove-background``).
FEATURE_FILTERS: tuple[type[_filters.FeatureFilter], ...] = (
    _filters.Enlarge,
    _filters.Denoise,
    _filters.Sharpen,
    _filters.RemoveBackground,
    _filters.UpscaleAnime,
    _filters.Repair,
    _filters.Restore,
    _filters.Cartoonize,
    _filters.ToAnime,
    _filters.Animegan,
    _filters.Recolor,
    _filters.Colorize,
    _filters.EnhanceFaces,
)


class _BatchStopped(Exception):
    """An error that every later image would meet too: the batch stops (exit status 1)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


#: Errors after which no later image of the batch can succeed.
_STOPS_BATCH = (AuthenticationError, InsufficientCreditsError)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


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
        return _redact(text, [*self.secrets, token])

    def out(self, text: str) -> None:
        print(self._clean(text), file=sys.stdout, flush=True)

    def err(self, text: str) -> None:
        print(self._clean(text), file=sys.stderr, flush=True)

    def error(self, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else _one_line(exc)
        self.err(f"error: {message}")


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------

_TOKEN_NOTE = (
    f"The API token is read from the {TOKEN_ENV} environment variable only; there is no option "
    "for it because a command-line argument shows in `ps` and in the shell's history. Without an "
    "account, add --emulator to run any command against a built-in emulator."
)
_EXIT_NOTE = (
    "exit status: 0 success, 1 an image or the command failed, 2 invalid usage or parameters "
    "(nothing was sent), 130 interrupted"
)
_EPILOG = "\n\n".join(textwrap.fill(t, 79) for t in (_TOKEN_NOTE, _EXIT_NOTE))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vance-filters")
    except PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


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
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--emulator",
        action="store_true",
        help="run the command against an in-process emulator of the API (no account, no "
        "credits; results are classical stand-ins)",
    )
    target.add_argument(
        "--api-base",
        metavar="URL",
        help=f"the API's base URL [default: ${BASE_ENV}, else the VanceAI service]",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        help="seconds to wait for each HTTP answer [default: 30]",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep every downloaded (paid) result here, so a rerun or an interrupted batch never "
        "pays twice [default: the platform's cache folder, e.g. ~/.cache/vance_filters; "
        "memory only with --emulator]",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help="do not reuse or keep results (every image is processed and paid again)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for cls in FEATURE_FILTERS:
        _add_feature_command(sub, cls)
    _add_run_command(sub)
    _add_credits_command(sub)
    _add_history_command(sub)
    _add_emulator_command(sub)
    return parser


def _summary_line(cls: type) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    first = doc.split("\n\n")[0].replace("\n", " ")
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", first).replace("``", "")


def _add_batch_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, or folders (their "
        + ", ".join(s[1:].upper() for s in IMAGE_SUFFIXES)
        + " files, not recursive)",
    )
    batch = cmd.add_argument_group("batch options")
    batch.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("vance-out"),
        metavar="DIR",
        help="folder for the results, created if needed; each is named <input stem>.<ext> "
        "[default: vance-out]",
    )
    batch.add_argument(
        "-j",
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="images in flight at once [default: 8]",
    )
    batch.add_argument(
        "--overwrite",
        action="store_true",
        help="redo images whose output exists (default: skip them, so a rerun resumes)",
    )
    batch.add_argument(
        "--max-credits",
        type=_nonneg_float,
        metavar="N",
        help="refuse to start if the batch could cost more (or more than the balance)",
    )
    batch.add_argument(
        "--on-limit",
        choices=("downscale", "raise"),
        default="downscale",
        help="an image over the 10 MB / 34 MP upload limits: downscale it for the upload (the "
        "result keeps the promised size) or fail it [default: downscale]",
    )
    batch.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object on stdout (no progress bar)",
    )
    batch.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar and no summary (failures are still reported)",
    )


def _add_feature_command(
    sub: argparse._SubParsersAction, cls: type[_filters.FeatureFilter]
) -> None:
    feature = FEATURES[cls.module]
    cost = f"{feature.cost} credit{'s' if feature.cost > 1 else ''} per image"
    cmd = sub.add_parser(
        _kebab(cls.__name__),
        help=f"{_summary_line(cls)} ({cost})",
        description=f"{_summary_line(cls)}\n\nCost: {cost}; an image already processed with the "
        "same parameters in this run costs nothing.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options = filter_options(cls)
    params = cmd.add_argument_group("feature parameters")
    output = cmd.add_argument_group("output options")
    for option in options:
        _add_option(output if option.name in _OUTPUT_OPTIONS else params, option)
    _add_batch_options(cmd)
    cmd.set_defaults(handler=_cmd_feature, filter_class=cls, options=[o.name for o in options])


def _add_run_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "run",
        help="run any jconfig file (e.g. from the vendor's documentation) on images",
        description="Send a jconfig file as is, for every input image, and write each result's "
        "bytes with the extension of their real format. The file is read as UTF-8 with or without "
        'a BOM. In "cn_configs", an "image_uid" of null or "<uid_from_upload>" becomes the '
        "image's own upload. JPG/PNG inputs within the upload limits are sent unchanged; others "
        "are converted (and downscaled only if needed).",
        epilog=_EPILOG,
    )
    cmd.add_argument(
        "--config", required=True, type=Path, metavar="JOB.json", help="the jconfig file"
    )
    _add_batch_options(cmd)
    cmd.set_defaults(handler=_cmd_run)


def _add_credits_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "credits",
        help="show the account's credits",
        description="Show the account's credits: total, used, remaining.",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_credits)


def _add_history_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "history",
        help="show the credit history",
        description="Show the credit history (/points/record), newest first.",
    )
    cmd.add_argument(
        "--page", type=_positive_int, default=1, metavar="N", help="page to show [default: 1]"
    )
    cmd.add_argument(
        "--limit",
        type=_positive_int,
        default=20,
        metavar="N",
        help="entries per page [default: 20]",
    )
    cmd.add_argument("--all", action="store_true", help="every page")
    cmd.add_argument("--json", action="store_true", help="print one JSON object")
    cmd.set_defaults(handler=_cmd_history)


def _add_emulator_command(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser(
        "emulator",
        help="run the API emulator in the foreground",
        description="Run the local emulator of the VanceAI API until Ctrl-C, and print the base "
        "URL "
        "and the token to use it from another shell.",
    )
    cmd.add_argument(
        "--host", default="127.0.0.1", help="address to listen on [default: 127.0.0.1]"
    )
    cmd.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one [default: 8000]"
    )
    cmd.add_argument(
        "--credits",
        type=_nonneg_float,
        default=500.0,
        metavar="N",
        help="starting balance [default: 500]",
    )
    cmd.add_argument(
        "--job-duration",
        type=_nonneg_float,
        default=0.0,
        metavar="S",
        help="seconds each job runs [default: 0]",
    )
    cmd.add_argument(
        "--workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="jobs run at once [default: 4]",
    )
    cmd.set_defaults(handler=_cmd_emulator)


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


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


class _LazyBytes:
    """The inputs' bytes, read one by one as ``batch.map`` asks for them (sized for the bar).

    A file that cannot be read yields ``b""`` (rejected before any request)
    and its error is kept to be reported in its place.
    """

    def __init__(self, items: Sequence[_Item]) -> None:
        self._items = items
        self.errors: dict[int, OSError] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[bytes]:
        for index, item in enumerate(self._items):
            try:
                yield item.source.read_bytes()
            except OSError as exc:
                self.errors[index] = exc
                yield b""


@dataclass
class _Batch:
    """A batch's items and the totals printed at its end."""

    command: str
    output_dir: Path
    items: list[_Item] = field(default_factory=list)
    interrupted: bool = False
    stopped: str | None = None  # why the batch stopped early

    def totals(self) -> dict[str, int]:
        counts = {"written": 0, "skipped": 0, "failed": 0, "pending": 0}
        for item in self.items:
            counts[item.status] += 1
        counts["total"] = len(self.items)
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "output_dir": str(self.output_dir),
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "results": [item.as_json() for item in self.items],
            "totals": self.totals(),
        }


def _run_batch(
    args: argparse.Namespace,
    console: _Console,
    flt: _filters.Filter,
    items: list[_Item],
    *,
    write: Callable[[_Item, Any], None],
) -> int:
    batch = _Batch(command=args.command, output_dir=args.output_dir, items=items)
    todo: list[_Item] = []
    for item in items:
        existing = None if args.overwrite else _existing_output(item, args.output_dir)
        if existing is not None:
            item.status, item.output = "skipped", existing
        elif item.status == "pending":
            todo.append(item)
    try:
        if todo:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            with _session(args, console, pool=args.concurrency) as client:
                _process(args, client, flt, todo, write)
    except KeyboardInterrupt:
        batch.interrupted = True
    except CreditLimitError as exc:
        console.error(exc)
        return EXIT_FAILED
    except _BatchStopped as stop:
        batch.stopped = f"{type(stop.cause).__name__}: {_one_line(stop.cause)}"
    _report(args, console, batch)
    if batch.stopped:
        console.error(f"batch stopped, the other images would fail the same way: {batch.stopped}")
        return EXIT_FAILED
    if batch.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if batch.totals()["failed"] else EXIT_OK


def _process(
    args: argparse.Namespace,
    client: Client,
    flt: _filters.Filter,
    todo: list[_Item],
    write: Callable[[_Item, Any], None],
) -> None:
    inputs = _LazyBytes(todo)
    results = batch_map(
        flt,
        inputs,
        concurrency=args.concurrency,
        progress=not (args.quiet or args.json),
        return_exceptions=True,
        max_credits=args.max_credits,
        client=client,
        on_limit=args.on_limit,
    )
    try:
        for index, (item, result) in enumerate(zip(todo, results)):
            if index in inputs.errors:
                item.fail(inputs.errors[index])
            elif isinstance(result, BaseException):
                item.fail(result)
                if isinstance(result, _STOPS_BATCH):
                    raise _BatchStopped(result)
            else:
                try:
                    write(item, result)
                except OSError as exc:
                    item.fail(exc)
                else:
                    item.status = "written"
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _report(args: argparse.Namespace, console: _Console, batch: _Batch) -> None:
    if args.json:
        console.out(json.dumps(batch.as_json(), indent=2, ensure_ascii=False))
    totals = batch.totals()
    failed = [item for item in batch.items if item.status == "failed"]
    if not (args.quiet or args.json):
        line = (
            f"{totals['written']} written, {totals['skipped']} skipped, {totals['failed']} failed"
        )
        if batch.interrupted or batch.stopped:
            state = "interrupted" if batch.interrupted else "stopped"
            line = f"{state}: {line}, {totals['pending']} not processed (rerun to resume)"
        console.err(f"{line} (in {batch.output_dir})")
    elif batch.interrupted and not args.json:
        console.err("interrupted (rerun to resume)")
    if not args.json:
        for item in failed:
            console.err(f"failed: {item.source}: {item.error_type}: {item.error}")


# ---------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------


def _build_filter(args: argparse.Namespace) -> _filters.FeatureFilter:
    cls: type[_filters.FeatureFilter] = args.filter_class
    kwargs = {name: getattr(args, name) for name in args.options if hasattr(args, name)}
    if "controlnets" in kwargs:
        kwargs["controlnets"] = tuple(kwargs["controlnets"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # e.g. the vendor's deprecation of a feature
        flt = cls(**kwargs)
    for warning in seen:
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if cls.module == "matting" and flt.format is None and flt.background is None:
        # A cut-out has alpha, which JPEG cannot hold: write PNG (the service's own choice).
        flt = dataclasses.replace(flt, format="png")
    return flt


def _cmd_feature(args: argparse.Namespace, console: _Console) -> int:
    flt = _build_filter(args)  # ConfigError -> exit 2, before any request
    sources = expand_inputs(args.inputs)
    items = plan_outputs(sources, args.output_dir, ext_of=feature_ext(flt))
    _refuse_overwriting_inputs(items)

    def write(item: _Item, result: bytes) -> None:
        assert item.output is not None and item.ext is not None
        kind = sniff_format(result[:32])
        if kind is not None and item.ext not in CONTAINER_SUFFIXES[kind]:
            # The container could not hold the result (e.g. alpha): name it by what it is.
            item.output = item.output.with_name(item.stem + CONTAINER_SUFFIXES[kind][0])
        write_atomic(item.output, result)

    return _run_batch(args, console, flt, items, write=write)


def _refuse_overwriting_inputs(items: Sequence[_Item]) -> None:
    for item in items:
        if item.output is not None and item.output.exists():
            with contextlib.suppress(OSError):
                if item.output.samefile(item.source):
                    raise _UsageError(
                        f"{item.source}: its output would replace the input itself: choose "
                        "another --output-dir"
                    )


def _jconfig_cost(jconfig: Any) -> int:
    steps = jconfig.get("config") if isinstance(jconfig, dict) else None
    steps = steps if isinstance(steps, list) else [jconfig]
    costs = []
    for step in steps:
        config = step.get("config") if isinstance(step, dict) else None
        module = config.get("module") if isinstance(config, dict) else None
        feature = FEATURES.get(module) if isinstance(module, str) else None
        if feature is not None:
            costs.append(feature.cost)
    return sum(costs) or 1  # every step counts: a budget never under-counts


def _upload_bytes(data: bytes, on_limit: str) -> bytes:
    """``data`` itself when the service takes it as it is, else a converted upload."""
    if not data:
        raise InputError("the file is empty: there is no image to upload")
    if sniff_format(data[:32]) in ("png", "jpeg") and len(data) <= MAX_UPLOAD_BYTES:
        from PIL import Image

        with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError):
            # A header Pillow cannot read goes through the conversion below, which says why.
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
            if width * height <= MAX_UPLOAD_PIXELS:
                return data
    from . import imaging

    return imaging.prepare(data, on_limit=on_limit).data  # type: ignore[arg-type]


class _RunJob(_filters.Filter):
    """A jconfig sent as is, as a filter for :func:`batch.map`: bytes in, :class:`JobResult` out."""

    def __init__(self, jconfig: dict[str, Any]) -> None:
        self._jconfig = jconfig

    def to_jconfig(self) -> dict[str, Any]:
        return self._jconfig

    @property
    def cost(self) -> int:
        return _jconfig_cost(self._jconfig)

    def apply(  # type: ignore[override]
        self,
        image: bytes,
        *,
        client: Client | None = None,
        on_limit: str = "downscale",
        upload_format: str = "auto",
    ) -> JobResult:
        assert client is not None
        return client.run_job(_upload_bytes(image, on_limit), self._jconfig)


# tqdm labels the bar with the filter's class name.
_RunJob.__name__ = "jconfig"


def read_jconfig(path: Path) -> dict[str, Any]:
    """A jconfig file as a JSON object (UTF-8, with or without a BOM).

    Raises
    ------
    _UsageError
        The file cannot be read, is not JSON, or is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise _UsageError(f"--config {os.fspath(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise _UsageError(f"--config {os.fspath(path)!r} is not UTF-8 text: {exc.reason}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _UsageError(f"--config {os.fspath(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _UsageError(
            f"--config {os.fspath(path)!r} holds a JSON {type(value).__name__}: a jconfig is an "
            'object such as {"name": ..., "config": {...}}'
        )
    return value


def _cmd_run(args: argparse.Namespace, console: _Console) -> int:
    jconfig = read_jconfig(args.config)
    sources = expand_inputs(args.inputs)
    items = plan_outputs(sources, args.output_dir, ext_of=lambda _: None)

    def write(item: _Item, result: JobResult) -> None:
        kind = sniff_format(result.data[:32])
        ext = CONTAINER_SUFFIXES[kind][0] if kind is not None else ".bin"
        item.output = args.output_dir / f"{item.stem}{ext}"
        item.trans_id = result.trans_id
        write_atomic(item.output, result.data)

    return _run_batch(args, console, _RunJob(jconfig), items, write=write)


def _cmd_credits(args: argparse.Namespace, console: _Console) -> int:
    with _session(args, console) as client:
        credits = client.credits()
    if args.json:
        console.out(
            json.dumps(
                {"total": credits.total, "used": credits.used, "remaining": credits.remaining}
            )
        )
    else:
        console.out(f"total:     {credits.total:.3f}")
        console.out(f"used:      {credits.used:.3f}")
        console.out(f"remaining: {credits.remaining:.3f}")
    return EXIT_OK


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "point_type": entry.point_type,
        "job": entry.job,
        "info": entry.info,
        "point": entry.point,
        "balance": entry.balance,
        "created_at": entry.created_at.strftime("%Y-%m-%d %H:%M:%S") if entry.created_at else None,
    }


def _cmd_history(args: argparse.Namespace, console: _Console) -> int:
    with _session(args, console) as client:
        if args.all:
            entries = list(client.iter_credit_history(limit=args.limit))
            page_info: dict[str, Any] = {"total": len(entries)}
        else:
            page = client.credit_history(page=args.page, limit=args.limit)
            entries = list(page.entries)
            page_info = {
                "current_page": page.current_page,
                "last_page": page.last_page,
                "per_page": page.per_page,
                "total": page.total,
            }
    rows = [_entry_json(e) for e in entries]
    if args.json:
        console.out(json.dumps({"entries": rows, **page_info}, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        console.out("no credit history")
    else:
        header = ("created_at", "type", "job", "info", "points", "balance")
        table = [header] + [
            (
                r["created_at"] or "-",
                r["point_type"],
                r["job"],
                r["info"],
                f"{r['point']:.3f}",
                f"{r['balance']:.3f}",
            )
            for r in rows
        ]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
        for row in table:
            console.out(
                "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            )
    if not args.all:
        console.out(
            f"page {page_info['current_page']} of {page_info['last_page']} "
            f"({page_info['total']} entries)"
        )
    return EXIT_OK


def _cmd_emulator(args: argparse.Namespace, console: _Console) -> int:
    if args.emulator or args.api_base:
        raise _UsageError(
            "the emulator command runs a server: it takes no --emulator or --api-base"
        )
    from .testing import Emulator

    emu = Emulator(
        host=args.host,
        port=args.port,
        credits=args.credits,
        job_duration=args.job_duration,
        workers=args.workers,
    )
    try:
        emu.__enter__()
    except OSError as exc:
        raise _UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    try:
        # The emulator's own throw-away token: printing it is the point.
        print(f"VanceAI API emulator listening on {emu.url}", flush=True)
        print(f"API token: {emu.api_token}", flush=True)
        print("Use it from another shell with:", flush=True)
        print(f"  export {BASE_ENV}={emu.url}", flush=True)
        print(f"  export {TOKEN_ENV}={emu.api_token}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr, flush=True)
    finally:
        emu.__exit__(None, None, None)
    return EXIT_OK


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
