"""The command line's batch commands: one per feature, and ``run`` (a jconfig file).

Each feature command's options come from its filter (``_cli_options``); the
batch options (``-o``, ``-j``, ``--overwrite``, ``--max-credits``...) are shared.
:func:`_run_batch` skips the outputs that exist and were made with the same
settings (their provenance record says so; others are conflicts, reported and
kept), sends the rest through :func:`vance_filters.batch.map`, writes each
result atomically with its provenance record (``_outputs``), stops when no
later image can succeed, and :func:`_report` prints the results and the totals.

With ``--on-limit tile`` the progress bar counts tiles (:class:`_TileBar`), and an
image whose output is a PNG is streamed to it band by band
(:func:`vance_filters.tiles.apply` with ``out=``), so a result bigger than memory
can be written; other containers are built in memory.
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
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filters as _filters
from . import provenance as _provenance
from ._budget import count as _plural
from ._cli_console import (
    _EPILOG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _Console,
    _nonneg_float,
    _positive_int,
    _session,
)
from ._cli_options import _OUTPUT_OPTIONS, _add_option, filter_options
from ._cli_video import add_video_options, run_videos
from ._features import FEATURES, MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from ._outputs import (
    CONTAINER_SUFFIXES,
    IMAGE_SUFFIXES,
    Recorded,
    TileCounter,
    _existing_output,
    _Item,
    _one_line,
    check_existing,
    expand_inputs,
    feature_ext,
    plan_outputs,
    read_file_bytes,
    recording_filter,
    sniff_format,
    write_output,
)
from ._outputs import UsageError as _UsageError
from .batch import map as batch_map
from .errors import (
    AuthenticationError,
    ConfigError,
    CreditLimitError,
    InputError,
    InsufficientCreditsError,
    ServiceUnreachableError,
)
from .plan import Plan, PlanRow, _filter_upload, _Prepare, _rows
from .video import is_video

if TYPE_CHECKING:
    from .client import Client, JobResult


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
# The parser: the feature commands and run
# ---------------------------------------------------------------------------


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _summary_line(cls: type) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    first = doc.split("\n\n")[0].replace("\n", " ")
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", first).replace("``", "")


def _add_batch_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image or video (.mp4 .mov .mkv .webm) files, or folders (their "
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
        help="redo images whose output exists (default: skip those made with the same settings, "
        "so a rerun resumes; report the others as conflicts)",
    )
    batch.add_argument(
        "--max-credits",
        type=_nonneg_float,
        metavar="N",
        help="refuse to start if the batch could cost more (or more than the balance)",
    )
    batch.add_argument(
        "--on-limit",
        choices=("downscale", "raise", "tile"),
        default="downscale",
        help="an image over the 10 MB / 34 MP upload limits: downscale it for the upload (the "
        "result keeps the promised size), fail it, or process it at full resolution in "
        "overlapping tiles (one result per tile, +1 for a whole-image feature) [default: downscale]",
    )
    batch.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON object on stdout (no progress bar)",
    )
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: print what each image would upload (PNG or JPEG, downscaled or not, "
        "frames, bytes), whether its result is cached, and the credits against the balance "
        "(with --json: as JSON)",
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
    cost = f"{_plural(feature.cost, 'credit')} per image"
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
    add_video_options(cmd)
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
                yield read_file_bytes(item.source)
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
    unreachable: bool = False  # stopped because the service cannot be reached

    def totals(self) -> dict[str, int]:
        counts = {"written": 0, "skipped": 0, "conflict": 0, "failed": 0, "pending": 0}
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
    write: Callable[[_Item, Any, _provenance.Provenance | None], None],
    prepare: _Prepare | None = None,
    stream_to: Callable[[Any], Path | None] | None = None,
) -> int:
    batch = _Batch(command=args.command, output_dir=args.output_dir, items=items)
    todo: list[_Item] = []
    jconfig = flt.to_jconfig()
    for item in items:
        existing = None if args.overwrite else _existing_output(item, args.output_dir)
        if existing is not None:
            # Done only if made with these settings; else kept and reported, never overwritten.
            found = check_existing(existing, jconfig)
            item.status, item.output = ("skipped" if found.done else "conflict"), existing
            item.error = found.reason
        elif item.status == "pending":
            todo.append(item)
    if getattr(args, "dry_run", False):
        return _dry_run(args, console, flt, items, prepare)
    try:
        if todo:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            with _session(args, console, pool=args.concurrency) as client:
                _process(args, client, flt, todo, write, stream_to=stream_to)
    except KeyboardInterrupt:
        batch.interrupted = True
    except CreditLimitError as exc:
        console.error(exc)  # the budget check comes before any image is sent
        return EXIT_USAGE
    except _BatchStopped as stop:
        batch.stopped = f"{type(stop.cause).__name__}: {_one_line(stop.cause)}"
        batch.unreachable = isinstance(stop.cause, ServiceUnreachableError)
    _report(args, console, batch)
    if batch.unreachable:
        # One line for the whole batch, whatever its size: what happened, what to check, and
        # what became of the images.
        totals = batch.totals()
        console.error(
            f"{_one_line_unreachable(batch)}; {totals['written']} written, "
            f"{_plural(totals['pending'], 'image')} not processed (rerun to resume)"
        )
        return EXIT_FAILED
    if batch.stopped:
        console.error(f"batch stopped, the other images would fail the same way: {batch.stopped}")
        return EXIT_FAILED
    if batch.interrupted:
        return EXIT_INTERRUPTED
    totals = batch.totals()
    return EXIT_FAILED if totals["failed"] or totals["conflict"] else EXIT_OK


def _dry_run(
    args: argparse.Namespace,
    console: _Console,
    flt: _filters.Filter,
    items: list[_Item],
    prepare: _Prepare | None,
) -> int:
    """Print the plan of the batch (:func:`vance_filters.plan.plan`): nothing is sent but ``/point``."""
    todo = [item for item in items if item.status == "pending"]
    rows: dict[int, PlanRow] = {}
    with _session(args, console, pool=1) as client:
        images: list[Any] = []
        for item in todo:
            try:
                images.append(read_file_bytes(item.source))
            except OSError as exc:
                images.append(None)
                rows[id(item)] = PlanRow(name=str(item.source), error=f"{type(exc).__name__}: {exc}")
        readable = [(item, image) for item, image in zip(todo, images) if image is not None]
        planned = _rows(
            flt,
            [image for _, image in readable],
            client=client,
            prepare=prepare or _filter_upload(args.on_limit, "auto"),
            frames="first" if prepare is not None else "all",
            names=[str(item.source) for item, _ in readable],
            on_limit=args.on_limit if prepare is None else "downscale",
        )
        rows.update({id(item): row for (item, _), row in zip(readable, planned)})
        try:
            balance: float | None = client.credits().remaining
        except (AuthenticationError, ServiceUnreachableError) as exc:
            console.err(f"balance not checked: {type(exc).__name__}: {_one_line(exc)}")
            balance = None
    ordered = [
        rows[id(item)]
        if id(item) in rows
        else PlanRow(
            name=str(item.source),
            skipped=f"{item.output} exists (--overwrite redoes it)" if item.status == "skipped" else item.status,
        )
        for item in items
    ]
    result = Plan(filter=repr(flt), per_result=float(flt.cost), rows=tuple(ordered), balance=balance)
    if args.json:
        console.out(json.dumps({"dry_run": True, **result.as_json()}, indent=2, ensure_ascii=False))
    else:
        console.out(str(result))
        if args.max_credits is not None and result.worst > args.max_credits:
            console.err(
                f"--max-credits={args.max_credits:g}: the run would refuse to start, as it could cost "
                f"up to {result.worst:g} credits with nothing cached"
            )
    return EXIT_OK


def _one_line_unreachable(batch: _Batch) -> str:
    """The unreachable service's message, without the batch's own aside (said after it)."""
    text = (batch.stopped or "").split(": ", 1)[-1]
    return re.sub(r" \(the batch stopped after [^)]*\)", "", text)


class _ImageTiles(TileCounter):
    """One image's share of a :class:`_TileBar`: 1 until its tiles are known, then its tiles."""

    def __init__(self, bar: Any, lock: threading.Lock) -> None:
        self._bar, self._lock = bar, lock
        self._planned = 1  # units this image holds in the bar's total
        self._counted = 0

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            if done == 0:
                self._bar.total += total - self._planned
                self._planned = total
                self._bar.refresh()
            else:
                self._counted += 1
                self._bar.update(1)

    def finish(self) -> None:
        with self._lock:  # a failed image, or one run whole: the bar moves on past it
            if self._counted < self._planned:
                self._bar.update(self._planned - self._counted)
                self._counted = self._planned


class _TileBar:
    """The batch's progress bar in tiles (``--on-limit tile``): its total grows by each
    image's tiles (and anchor) once they are known, and it moves by one per tile done."""

    def __init__(self, images: int, label: str) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        self.bar = tqdm(total=images, desc=label, unit="tile", file=sys.stderr)
        self._lock = threading.Lock()

    def image(self) -> TileCounter:
        return _ImageTiles(self.bar, self._lock)

    def close(self) -> None:
        self.bar.close()


def _process(
    args: argparse.Namespace,
    client: Client,
    flt: _filters.Filter,
    todo: list[_Item],
    write: Callable[[_Item, Any, _provenance.Provenance | None], None],
    *,
    stream_to: Callable[[Any], Path | None] | None = None,
) -> None:
    inputs = _LazyBytes(todo)
    show = not (args.quiet or args.json)
    tile_bar = _TileBar(len(todo), type(flt).__name__) if show and args.on_limit == "tile" else None
    results = batch_map(
        # each result a Recorded: its value and its provenance
        recording_filter(flt, stream_to=stream_to, tiles=tile_bar.image if tile_bar else None),
        inputs,
        concurrency=args.concurrency,
        progress=show and tile_bar is None,
        return_exceptions=True,
        max_credits=args.max_credits,
        client=client,
        on_limit=args.on_limit,
    )
    unreachable: ServiceUnreachableError | None = None
    try:
        for index, (item, result) in enumerate(zip(todo, results)):
            if index in inputs.errors:
                item.fail(inputs.errors[index])
            elif isinstance(result, ServiceUnreachableError):
                # Left pending, reported once: after a few in a row the batch gives up and
                # the rest come at once; results done before are still written below.
                unreachable = unreachable or result
            elif isinstance(result, BaseException):
                item.fail(result)
                if isinstance(result, _STOPS_BATCH):
                    raise _BatchStopped(result)
            else:
                assert isinstance(result, Recorded)
                try:
                    write(item, result.value, result.provenance)
                except (OSError, ValueError) as exc:  # ValueError: a record too large for a JPEG
                    item.fail(exc)
                else:
                    item.status = "written"
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        if tile_bar is not None:
            tile_bar.close()
    if unreachable is not None:
        raise _BatchStopped(unreachable)


def _report(args: argparse.Namespace, console: _Console, batch: _Batch) -> None:
    if args.json:
        console.out(json.dumps(batch.as_json(), indent=2, ensure_ascii=False))
    totals = batch.totals()
    failed = [item for item in batch.items if item.status == "failed"]
    if not (args.quiet or args.json or batch.unreachable):
        line = (
            f"{totals['written']} written, {totals['skipped']} skipped, {totals['failed']} failed"
        )
        if totals["conflict"]:
            line += f", {_plural(totals['conflict'], 'conflict')}"
        if batch.interrupted or batch.stopped:
            state = "interrupted" if batch.interrupted else "stopped"
            line = f"{state}: {line}, {totals['pending']} not processed (rerun to resume)"
        console.err(f"{line} (in {batch.output_dir})")
    elif batch.interrupted and not args.json:
        console.err("interrupted (rerun to resume)")
    if not args.json:
        for item in batch.items:
            if item.status == "conflict":
                console.err(f"conflict: {item.output} {item.error}")
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
    if any(is_video(source) for source in sources):
        return run_videos(args, console, flt, sources)  # vance_filters.video, per clip
    items = plan_outputs(sources, args.output_dir, ext_of=feature_ext(flt))
    _refuse_overwriting_inputs(items)

    def write(item: _Item, result: bytes | Path, record: _provenance.Provenance | None) -> None:
        assert item.output is not None and item.ext is not None
        if record is not None and record.trans_ids:
            item.trans_id = record.trans_ids[0]
        if isinstance(result, Path):  # streamed there, its record inside (stream_to)
            return
        kind = sniff_format(result[:32])
        if kind is not None and item.ext not in CONTAINER_SUFFIXES[kind]:
            # The container could not hold the result (e.g. alpha): name it by what it is.
            item.output = item.output.with_name(item.stem + CONTAINER_SUFFIXES[kind][0])
        write_output(item.output, result, record)

    # --on-limit tile: a PNG output is streamed to (a tiled result may be bigger than memory).
    streamed = {os.fspath(item.source): item.output for item in items if item.ext == ".png"}

    def stream_to(image: Any) -> Path | None:
        return streamed.get(getattr(image, "name", ""))

    return _run_batch(args, console, flt, items, write=write, stream_to=stream_to)


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
    total = 0
    for step in steps:
        config = step.get("config") if isinstance(step, dict) else None
        module = config.get("module") if isinstance(config, dict) else None
        feature = FEATURES.get(module) if isinstance(module, str) else None
        # every step counts, an unknown one as 1 credit: a budget never under-counts
        total += feature.cost if feature is not None else 1
    return max(total, 1)


def _upload_bytes(data: bytes, on_limit: str) -> tuple[bytes, str | None]:
    """``data`` itself when the service takes it as it is, else a converted upload; its name."""
    named = getattr(data, "name", None)
    name = Path(named).name if isinstance(named, str) else None
    if not data:
        raise InputError("the file is empty: there is no image to upload")
    if on_limit == "tile":
        raise ConfigError(
            "--on-limit tile needs a feature command (e.g. `enlarge`): a jconfig job is sent as"
            " it is, and its steps' tiling policy is unknown; use --on-limit downscale or raise"
        )
    from . import frames

    if frames.is_multiframe(data):
        # A jconfig job takes one picture; sending the first frame alone would lose the rest.
        raise InputError(
            f"the file holds {frames.frame_count(data)} frames and a job file's job takes one "
            "picture: run a feature command (e.g. `enlarge`) to process every frame"
        )
    if sniff_format(data[:32]) in ("png", "jpeg") and len(data) <= MAX_UPLOAD_BYTES:
        from PIL import Image

        with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError):
            # A header Pillow cannot read goes through the conversion below, which says why.
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
            if width * height <= MAX_UPLOAD_PIXELS:
                return bytes(data), name
    from . import imaging

    prepared = imaging.prepare(data, on_limit=on_limit)  # type: ignore[arg-type]
    return prepared.data, prepared.filename


class _RunJob(_filters.Filter):
    """A jconfig sent as is, as a filter for :func:`batch.map`: bytes in, :class:`JobResult` out."""

    def __init__(self, jconfig: dict[str, Any]) -> None:
        self._jconfig = jconfig

    def __repr__(self) -> str:
        return f"run --config (jconfig {self._jconfig.get('name')!r})"

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
        data, filename = _upload_bytes(image, on_limit)
        result = client.run_job(data, self._jconfig, filename=filename)
        _provenance.report_job(self, result, data, self._jconfig, client.base_url, image)
        return result


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

    def write(item: _Item, result: JobResult, record: _provenance.Provenance | None) -> None:
        kind = sniff_format(result.data[:32])
        ext = CONTAINER_SUFFIXES[kind][0] if kind is not None else ".bin"
        item.output = args.output_dir / f"{item.stem}{ext}"
        item.trans_id = result.trans_id or (record.trans_ids[0] if record and record.trans_ids else None)
        write_output(item.output, result.data, record)

    def prepare(image: bytes) -> tuple[bytes, str, tuple[int, int], tuple[int, int], float]:
        data, _ = _upload_bytes(image, args.on_limit)
        sent, original = _size(data), _size(image)
        return data, sniff_format(data[:32]) or "?", sent, original, original[0] / max(sent[0], 1)

    return _run_batch(args, console, _RunJob(jconfig), items, write=write, prepare=prepare)


def _size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size
