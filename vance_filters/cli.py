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
import secrets
import sys
import textwrap
import threading
import types
import typing
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filters as _filters
from ._features import (
    ANIME_STRENGTH,
    ANIME_STYLES,
    CONTROLNETS,
    DPI_RANGE,
    FEATURES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    OUTPUT_FORMATS,
    QUALITY_RANGE,
    Param,
)
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

#: Suffixes a directory given as input expands to (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")

#: Container format (as sniffed) -> the suffixes it is written with; the first is canonical.
CONTAINER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe"),
    "png": (".png",),
    "webp": (".webp",),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "gif": (".gif",),
}
_OUTPUT_OPTIONS = ("format", "quality", "dpi", "background")
#: Flags of the batch options; a filter field with the same name gets another flag.
_BATCH_FLAGS = frozenset(
    {
        "--output-dir",
        "--concurrency",
        "--overwrite",
        "--max-credits",
        "--on-limit",
        "--json",
        "--quiet",
    }
)
#: Readable flags for fields whose own name is taken by a batch option.
_RENAMED_FLAGS = {("ToAnime", "overwrite"): "--prompt-overwrite"}


class _UsageError(Exception):
    """A command line that cannot run (exit status 2, nothing sent)."""


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


def sniff_format(head: bytes) -> str | None:
    """The container format of image bytes from their magic number, or None.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"\\xff\\xd8\\xff\\xe0")
    ('png', 'jpeg')
    >>> sniff_format(b"??") is None
    True
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def safe_stem(stem: str) -> str:
    """A file-name stem that is one plain, visible name inside a folder, whatever the input.

    Path separators and control characters become ``_``; leading dots go (no
    hidden outputs, no ``.``/``..``, nothing that looks like the CLI's temp files).
    """
    cleaned = "".join("_" if (c in "/\\:" or ord(c) < 32) else c for c in stem)
    cleaned = cleaned.strip().lstrip(".").strip()
    return cleaned[:200] or "image"


def _inside(folder: Path, path: Path) -> bool:
    """True when ``path`` names an entry directly inside ``folder``."""
    return path.parent.resolve() == folder.resolve() and path.name not in ("", ".", "..")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected an integer >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected a number > 0")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: expected a number >= 0")
    return value


def _colour(text: str) -> tuple[int, int, int] | str:
    """``R,G,B`` becomes a tuple; anything else is left for the filter to judge."""
    parts = text.split(",")
    if len(parts) == 3:
        try:
            return (int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            pass
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
        return _redact(text, [*self.secrets, token])

    def out(self, text: str) -> None:
        print(self._clean(text), file=sys.stdout, flush=True)

    def err(self, text: str) -> None:
        print(self._clean(text), file=sys.stderr, flush=True)

    def error(self, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else _one_line(exc)
        self.err(f"error: {message}")


def _one_line(exc: BaseException) -> str:
    """An error as one line; a VanceError without its Python-API resume advice."""
    if isinstance(exc, VanceError):
        text = exc.message
        tags = [f"code {exc.code}"] if exc.code is not None else []
        tags += [f"/{exc.endpoint}"] if exc.endpoint else []
        if tags:
            text += f" [{', '.join(tags)}]"
        if exc.trans_id:
            text += f" (trans_id {exc.trans_id})"
        if exc.hint:
            text += f". {exc.hint}"
    else:
        text = str(exc)
    return " ".join((text or type(exc).__name__).split())


# ---------------------------------------------------------------------------
# Options generated from the filters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    """One command-line option derived from a filter's dataclass field."""

    name: str  # the dataclass field
    kind: str  # "bool", "int", "float", "str", "list", "colour"
    default: Any  # the dataclass default (None: computed or unset)
    allowed: str  # the documented range or set, for --help ("" when free)
    doc: str  # the field's description from the class docstring
    metavar: str | None = None
    owner: str = ""  # the filter class's name
    default_text: str = ""  # shown when the default is None

    @property
    def flag(self) -> str:
        flag = "--" + self.name.replace("_", "-")
        if flag in _BATCH_FLAGS:
            return _RENAMED_FLAGS.get((self.owner, self.name), f"--param-{flag[2:]}")
        return flag

    def help(self) -> str:
        parts = []
        if self.allowed and self.allowed not in self.doc:
            parts.append(self.allowed)
        if self.default is not None and not (self.kind == "str" and self.default == ""):
            shown = self.default
            if isinstance(shown, tuple):
                shown = " ".join(map(str, shown))
            parts.append(f"default: {shown}")
        elif self.kind == "str" and self.default == "":
            parts.append("default: empty")
        elif self.default_text:
            parts.append(f"default: {self.default_text}")
        text = self.doc
        if parts:
            text = f"{text} [{'; '.join(parts)}]" if text else "; ".join(parts)
        return text.replace("%", "%%")


def _docstring_params(cls: type) -> dict[str, str]:
    """Field descriptions from the numpydoc ``Parameters`` sections of ``cls`` and its bases."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        match = re.search(
            r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.DOTALL | re.MULTILINE
        )
        if not match:
            continue
        names: list[str] = []
        lines: dict[str, list[str]] = {}
        for line in match.group(1).splitlines():
            if line and not line[0].isspace():
                names = [n.strip() for n in line.split(":")[0].split(",")]
                for n in names:
                    lines[n] = []
            elif names:
                for n in names:
                    lines[n].append(line.strip())
        for n, text in lines.items():
            found[n] = " ".join(t for t in text if t)
    return found


_RANGE_SENTENCE = re.compile(r"^\s*(?:[\d.]+\s*-\s*[\d.]+)?\s*[,;]?\s*(?:[Dd]efault\b.*)?$")


def _clean_doc(text: str, default: Any) -> str:
    """The description without the sentences that only restate the range or default."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "").replace("`", "")
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z0-9])", text)
    kept = []
    for sentence in sentences:
        if default is not None and _RANGE_SENTENCE.match(sentence):
            continue
        if default is not None:
            sentence = re.sub(r"\s*[Dd]efault [^\s]+\.?$", "", sentence)
        kept.append(sentence)
    return " ".join(s for s in kept if s.strip()).strip()


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _param_allowed(p: Param) -> str:
    if p.choices is not None:
        return "one of " + ", ".join(str(c) for c in p.choices)
    if p.kind in (int, float) and p.low is not None and p.high is not None:
        return p.doc or f"{_number(p.low)}-{_number(p.high)}"
    if p.kind is str:
        limits = []
        if p.max_len is not None:
            limits.append(f"at most {p.max_len} characters")
        if p.ascii_only:
            limits.append("English (ASCII) only")
        return ", ".join(limits)
    return ""


def _special_allowed(cls: type, name: str) -> str | None:
    """Sets that depend on another field, derived from the feature table."""
    if cls is _filters.UpscaleAnime:
        models = getattr(cls, "MODELS", {})
        if name == "model":
            return "one of " + ", ".join(models)
        if name == "scale":
            return "; ".join(
                f"{', '.join(map(str, scales))} with {model}"
                for model, (_, scales) in models.items()
            )
    if cls is _filters.ToAnime:
        if name == "style":
            return "one of " + ", ".join(ANIME_STYLES)
        if name == "look":
            return "one of " + ", ".join(ANIME_STRENGTH)
        if name == "controlnets":
            return "one or more of " + ", ".join(CONTROLNETS)
    return None


def _output_allowed(name: str) -> tuple[str, str, str, str]:
    """(kind, allowed, metavar, default text) of the output options every feature takes."""
    if name == "format":
        return (
            "str",
            "one of " + ", ".join(OUTPUT_FORMATS),
            "{" + ",".join(OUTPUT_FORMATS) + "}",
            "the input's format (PNG for a cut-out)",
        )
    if name == "quality":
        return "int", f"JPEG quality {QUALITY_RANGE[0]}-{QUALITY_RANGE[1]}", "Q", "the service's"
    if name == "dpi":
        return "int", f"{DPI_RANGE[0]}-{DPI_RANGE[1]}", "DPI", "the input's"
    return "colour", "#rrggbb, a CSS colour name or R,G,B", "COLOUR", "none (keep transparency)"


def _kind_of(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if len(args) == 1 else annotation
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return "list"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    return "str"


def filter_options(cls: type[_filters.FeatureFilter]) -> list[_Option]:
    """The command-line options of a feature filter, derived from its fields.

    Each option's range comes from the documented feature table
    (``_features.Param``), its default from the dataclass field and its text
    from the class docstring.

    Examples
    --------
    >>> [o.flag for o in filter_options(_filters.Colorize)][:1]
    ['--render-factor']
    """
    hints = typing.get_type_hints(cls)
    docs = _docstring_params(cls)
    feature = FEATURES[cls.module]
    params = {p.name: p for p in feature.params}
    options: list[_Option] = []
    output: list[_Option] = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        doc = _clean_doc(docs.get(f.name, ""), default)
        if f.name in _OUTPUT_OPTIONS:
            out_kind, out_allowed, out_metavar, shown = _output_allowed(f.name)
            output.append(
                _Option(f.name, out_kind, default, out_allowed, doc, out_metavar, cls.__name__, shown)
            )
            continue
        kind = _kind_of(hints.get(f.name, str))
        param = params.get(f.name)
        special = _special_allowed(cls, f.name)
        metavar: str | None = None
        if special is not None:
            allowed = special
        elif param is not None and param.kind.__name__ == kind:
            allowed = _param_allowed(param)
            if param.choices is not None:
                metavar = "{" + ",".join(str(c) for c in param.choices) + "}"
        else:
            allowed = ""
        if metavar is None and kind in ("int", "float"):
            metavar = "N" if kind == "int" else "X"
        elif metavar is None and kind in ("str", "list"):
            metavar = f.name.upper()
        if allowed.startswith("one of ") and set(re.findall(r"\w+", doc)) <= set(
            re.findall(r"\w+", allowed)
        ):
            doc = ""  # the description only lists the choices
        options.append(_Option(f.name, kind, default, allowed, doc, metavar, cls.__name__))
    return options + output


def _add_option(group: argparse._ArgumentGroup, option: _Option) -> None:
    common: dict[str, Any] = {
        "dest": option.name,
        "default": argparse.SUPPRESS,
        "help": option.help(),
    }
    if option.kind == "bool":
        group.add_argument(option.flag, action=argparse.BooleanOptionalAction, **common)
        return
    types_ = {"int": int, "float": float, "str": str, "list": str, "colour": _colour}
    common["type"] = types_[option.kind]
    common["metavar"] = option.metavar
    if option.kind == "list":
        common["nargs"] = "+"
    group.add_argument(option.flag, **common)


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


@dataclass
class _Item:
    """One input of a batch and what became of it."""

    source: Path
    stem: str  # the output's name without extension (unique in the batch)
    ext: str | None  # ".png"...; None: decided by the result's bytes (run)
    output: Path | None = None
    status: str = "pending"  # pending | written | skipped | failed
    error: str | None = None
    error_type: str | None = None
    trans_id: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.status = "failed"
        self.error = _one_line(exc)
        self.error_type = type(exc).__name__
        self.trans_id = getattr(exc, "trans_id", None) or None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input": str(self.source),
            "output": str(self.output) if self.output is not None else None,
            "status": self.status,
        }
        if self.status == "failed":
            out["error"] = self.error
            out["error_type"] = self.error_type
        if self.trans_id:
            out["trans_id"] = self.trans_id
        return out


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders as their image files (sorted, not recursive), without repeats.

    Raises
    ------
    _UsageError
        An input that does not exist, or nothing to process at all.
    """
    found: list[Path] = []
    seen: set[str] = set()
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            entries = sorted(
                (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=lambda p: p.name,
            )
        elif path.exists():
            entries = [path]
        else:
            raise _UsageError(f"{os.fspath(raw)!r}: no such file or folder")
        for entry in entries:
            key = os.path.normcase(os.path.abspath(entry))
            if key not in seen:
                seen.add(key)
                found.append(entry)
    if not found:
        raise _UsageError(
            "no images to process: folders are searched for " + ", ".join(IMAGE_SUFFIXES) + " files"
        )
    return found


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(32)


def plan_outputs(
    sources: Sequence[Path],
    output_dir: Path,
    *,
    ext_of: Callable[[Path], str | None],
) -> list[_Item]:
    """Give every input a unique output name inside ``output_dir``.

    The name is ``<input stem>.<ext>``; a later input whose name is taken gets
    ``<stem>-<parent folder>``, then ``<stem>-2``, ``<stem>-3``... Names are
    compared case-insensitively (the output folder may be on such a disk) and
    the plan depends only on the order of the inputs, so a rerun maps every
    input to the same output. No name can leave ``output_dir``.
    """
    taken: set[str] = set()
    items = []
    for source in sources:
        ext = ext_of(source)
        base = safe_stem(source.stem)
        parent = safe_stem(source.resolve().parent.name or "root")
        candidates = [base, f"{base}-{parent}"]
        candidates += (f"{base}-{n}" for n in range(2, len(sources) + 3))
        for stem in candidates:
            if stem.lower() not in taken:
                break
        taken.add(stem.lower())
        item = _Item(source=source, stem=stem, ext=ext)
        if ext is not None:
            item.output = output_dir / f"{stem}{ext}"
            if not _inside(output_dir, item.output):  # pragma: no cover - safe_stem forbids it
                raise _UsageError(f"{source}: output name {item.output} would leave {output_dir}")
        items.append(item)
    return items


def _existing_output(item: _Item, output_dir: Path) -> Path | None:
    if item.ext is not None:
        assert item.output is not None
        return item.output if os.path.lexists(item.output) else None
    for ext in (".png", ".jpg"):
        path = output_dir / f"{item.stem}{ext}"
        if os.path.lexists(path):
            return path
    return None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``.

    The temp file is removed on any failure, KeyboardInterrupt included, so
    the folder never holds a partial output. The output gets the usual
    permissions (``0o666`` less the umask).
    """
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileExistsError:  # pragma: no cover - 48 random bits
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def feature_ext(flt: _filters.FeatureFilter) -> Callable[[Path], str | None]:
    """How an input path's output is suffixed: ``flt.format`` if set, else the input's real container."""
    def ext_of(path: Path) -> str | None:
        if flt.format is not None:
            return "." + flt.format
        try:
            container = sniff_format(_head(path))
        except OSError:
            container = None
        suffix = path.suffix.lower()
        if container is None:
            return suffix or ".png"
        suffixes = CONTAINER_SUFFIXES[container]
        return suffix if suffix in suffixes else suffixes[0]

    return ext_of


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
    costs = [1]
    for step in steps:
        config = step.get("config") if isinstance(step, dict) else None
        module = config.get("module") if isinstance(config, dict) else None
        feature = FEATURES.get(module) if isinstance(module, str) else None
        if feature is not None:
            costs.append(feature.cost)
    return max(costs)


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
