"""The output files of a batch: which inputs, which names, how they are written.

Folders expand to their image files (:func:`expand_inputs`), every input gets
a unique, safe output name inside the output folder (:func:`plan_outputs`,
:func:`safe_stem`, :func:`feature_ext`, :func:`sniff_format`), an existing
output is found so a rerun resumes, and each result is written atomically
(:func:`write_atomic`). Shared by the command line and :mod:`vance_filters.dask`;
nothing here knows about argparse.

Every output carries its provenance (:mod:`vance_filters.provenance`): a batch
runs its filter through :func:`recording_filter`, so each result comes back
with the record of the jobs that made it (:class:`Recorded`), and
:func:`write_output` writes the record into the file. An existing output is
kept (skipped) only when its record names the same settings
(:func:`check_existing`); one made otherwise, or by someone else, is a
conflict: reported, not overwritten.

With ``on_limit="tile"`` a result whose output is a PNG is streamed to it band
by band (:func:`vance_filters.tiles.apply` with ``out=``: atomically, the record
inside before the image data), never whole in memory; other containers are
built in memory and written as usual. Reading an existing PNG's record skips
its image data, so a rerun does not read a result bigger than memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _atomic
from . import provenance as _provenance
from ._sniff import image_format
from .errors import InputError, VanceError

if TYPE_CHECKING:
    from .filters import FeatureFilter

__all__ = [
    "CONTAINER_SUFFIXES",
    "IMAGE_SUFFIXES",
    "Existing",
    "FileBytes",
    "OutputItem",
    "Recorded",
    "TileCounter",
    "UsageError",
    "check_existing",
    "check_existing_video",
    "expand_inputs",
    "feature_ext",
    "filter_from_spec",
    "plan_outputs",
    "read_file_bytes",
    "recording_filter",
    "safe_stem",
    "sniff_format",
    "write_atomic",
    "write_output",
]

#: Suffixes a directory given as input expands to (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")

#: Container format (as sniffed) -> the suffixes it is written with; the first is canonical.
CONTAINER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe"),
    "png": (".png",),
    "webp": (".webp",),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
    "gif": (".gif",),
}


class UsageError(ValueError):
    """Inputs or options that cannot run (the CLI's exit status 2, nothing sent)."""


def sniff_format(head: bytes) -> str | None:
    """The container format of image bytes from their magic number, or None.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"\\xff\\xd8\\xff\\xe0")
    ('png', 'jpeg')
    >>> sniff_format(b"??") is None
    True
    """
    kind = image_format(head)
    if kind is not None:
        return kind
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


@dataclass
class _Item:
    """One input of a batch and what became of it."""

    source: Path
    stem: str  # the output's name without extension (unique in the batch)
    ext: str | None  # ".png"...; None: decided by the result's bytes (run)
    output: Path | None = None
    status: str = "pending"  # pending | written | skipped | conflict | failed
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
        if self.status == "conflict":
            out["conflict"] = self.error
        if self.trans_id:
            out["trans_id"] = self.trans_id
        return out


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders as their image files (sorted, not recursive), without repeats.

    Raises
    ------
    UsageError
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
            raise UsageError(f"{os.fspath(raw)!r}: no such file or folder")
        for entry in entries:
            key = os.path.normcase(os.path.abspath(entry))
            if key not in seen:
                seen.add(key)
                found.append(entry)
    if not found:
        raise UsageError(
            "no images to process: folders are searched for " + ", ".join(IMAGE_SUFFIXES) + " files"
        )
    return found


class FileBytes(bytes):
    """A file's bytes that know the file's path: the upload carries its name, errors name it.

    A filter given bytes gives back bytes in the same container, which a batch
    writes as they are; ``imaging`` reads ``name`` for the upload's file name
    (the vendor's history shows it) and for its messages.
    """

    name: str


def read_file_bytes(path: Path) -> FileBytes:
    """The bytes of the file at ``path``, named by it (``OSError`` if it cannot be read).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "photo.png"
    ...     _ = path.write_bytes(b"data")
    ...     data = read_file_bytes(path)
    >>> data == b"data", os.path.basename(data.name)
    (True, 'photo.png')
    """
    data = FileBytes(path.read_bytes())
    data.name = os.fspath(path)
    return data


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
                raise UsageError(f"{source}: output name {item.output} would leave {output_dir}")
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
    """Write ``data`` to ``path`` atomically (:func:`vance_filters._atomic.write_atomic`).

    The folder never holds a partial output; the output gets the usual
    permissions (``0o666`` less the umask).
    """
    _atomic.write_atomic(path, [data])


def feature_ext(flt: FeatureFilter) -> Callable[[Path], str | None]:
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


#: The public name of a batch input's record.
OutputItem = _Item


# ---------------------------------------------------------------------------
# Provenance: what each output records, and what an existing output was made with
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A batch result and the provenance record of the jobs that made it (None: no job reported)."""

    value: Any
    provenance: _provenance.Provenance | None


class TileCounter:
    """Told of one image's tiles as they are done (a progress display implements it)."""

    def __call__(self, done: int, total: int) -> None:
        """``(0, total)`` once the image's tiles are known, then ``(done, total)`` per result."""

    def finish(self) -> None:
        """The image is over (done, failed or run without tiles)."""


class _RecordingFilter:
    """``flt`` whose ``apply`` returns a :class:`Recorded`: the record is kept per image.

    Each image's call runs in its own recording, in the thread that runs it,
    so the jobs of one image (every frame of an animation) make its record.
    With ``on_limit="tile"``, an image for which ``stream_to`` names a PNG file
    is streamed to it (the value is then that path), and ``tiles`` (if given)
    makes a :class:`TileCounter` per image.
    """

    def __init__(
        self,
        flt: Any,
        *,
        stream_to: Callable[[Any], Path | None] | None = None,
        tiles: Callable[[], TileCounter] | None = None,
    ) -> None:
        self.flt = flt
        self._stream_to = stream_to
        self._tiles = tiles

    @property
    def cost(self) -> int:
        return int(self.flt.cost)

    def apply(self, image: Any, *, client: Any, on_limit: Any, upload_format: Any) -> Recorded:
        counter = self._tiles() if self._tiles is not None and on_limit == "tile" else None
        try:
            with _provenance.recording() as recorder:
                value = self._run(image, client=client, on_limit=on_limit, upload_format=upload_format,
                                  counter=counter)
        finally:
            if counter is not None:
                counter.finish()
        return Recorded(value, recorder.provenance(input_sha256=_provenance.input_digest(image)))

    def _run(self, image: Any, *, client: Any, on_limit: Any, upload_format: Any,
             counter: TileCounter | None) -> Any:
        if on_limit == "tile" and (self._stream_to is not None or counter is not None):
            from . import frames, tiles  # tiles sits above this module's other users

            if not frames.is_multiframe(image):  # an animation: frame by frame, in memory
                to = self._stream_to if tiles.policy(self.flt) != "background" else None  # a mask is refined whole
                out = to(image) if to is not None else None
                return tiles.apply(self.flt, image, client=client, upload_format=upload_format,
                                   progress=counter or False, out=out)
        return self.flt.apply(image, client=client, on_limit=on_limit, upload_format=upload_format)


_recording_classes: dict[str, type[_RecordingFilter]] = {}


def recording_filter(
    flt: Any,
    *,
    stream_to: Callable[[Any], Path | None] | None = None,
    tiles: Callable[[], TileCounter] | None = None,
) -> Any:
    """``flt`` for :func:`vance_filters.batch.map`, each result a :class:`Recorded`.

    The wrapper's class bears ``flt``'s class name, which labels the progress bar.
    With ``on_limit="tile"``: ``stream_to(image)`` names the PNG file a result is
    streamed to (None: built in memory), and ``tiles()`` gives each image a
    :class:`TileCounter` for a progress display.
    """
    name = type(flt).__name__
    cls = _recording_classes.get(name)
    if cls is None:
        cls = _recording_classes[name] = type(name, (_RecordingFilter,), {})
    return cls(flt, stream_to=stream_to, tiles=tiles)


def write_output(path: Path, data: bytes, record: _provenance.Provenance | None) -> None:
    """Write ``data`` atomically with ``record`` as its XMP (PNG, JPEG, WebP; others as they are)."""
    if record is not None and sniff_format(data[:32]) in _provenance.CARRIERS:
        data = _provenance.embed(data, record)
    write_atomic(path, data)


@dataclass(frozen=True)
class Existing:
    """An output that exists: kept as done, or a conflict (``reason`` says why)."""

    path: Path
    done: bool
    reason: str | None = None


def check_existing(path: Path, jconfig: Any, *, rerun: str = "use --overwrite or another -o") -> Existing:
    """Whether the output at ``path`` was made with ``jconfig`` (its provenance record says).

    A PNG, JPEG or WebP file without a record (made by someone else) or with
    other settings is a conflict; a container that cannot hold a record
    (GIF, TIFF, BMP) counts as done, as before records existed.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "a.png"
    ...     _ = path.write_bytes(_provenance._tiny_png())
    ...     print(check_existing(path, {"name": "x"}).reason)
    exists, made by something else (it holds no vance-filters record); use --overwrite or another -o
    """
    try:
        data = _provenance.without_image_data(path)
    except OSError as exc:
        return Existing(path, False, f"exists and cannot be read ({exc.strerror or exc}); {rerun}")
    if sniff_format(data[:32]) not in _provenance.CARRIERS:
        return Existing(path, True)
    record = _provenance.read(data)
    if record is None:
        return Existing(
            path, False, f"exists, made by something else (it holds no vance-filters record); {rerun}"
        )
    if record.same_settings(jconfig):
        return Existing(path, True)
    return Existing(path, False, f"exists, made by {record.describe()}; {rerun}")


def filter_from_spec(spec: Any) -> Any:
    """The filter or pipeline a provenance record's ``spec`` describes.

    Only the library's feature filters are built (by class name, with their
    recorded parameters, validated by their constructors).

    Raises
    ------
    ValueError
        The spec names something else or is malformed.

    Examples
    --------
    >>> import vance_filters as vf
    >>> filter_from_spec(_provenance.filter_spec(vf.Enlarge(scale=4)))
    Enlarge(scale=4, suppress_noise=40, remove_blur=60)
    """
    from . import filters

    try:
        built = []
        for step in spec["steps"]:
            cls = getattr(filters, str(step["filter"]), None)
            if not (isinstance(cls, type) and issubclass(cls, filters.FeatureFilter)):
                raise ValueError(f"{step['filter']!r} is not a vance_filters feature filter")  # noqa: TRY004
            params: dict[str, Any] = {
                str(k): tuple(v) if isinstance(v, list) else v for k, v in dict(step["params"]).items()
            }
            built.append(cls(**params))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the recorded filter cannot be built: {exc}") from None
    if not built:
        raise ValueError("the recorded filter has no steps")
    return built[0] if len(built) == 1 else filters.Pipeline(*built)


def check_existing_video(
    path: Path, jconfig: Any, wanted: dict[str, Any], *, rerun: str = "use --overwrite or another -o"
) -> Existing:
    """Whether the video at ``path`` was made with ``jconfig`` and the video settings ``wanted``.

    Done (skip it) when its record says so; not done and no reason (redo it) when the
    record lists frames kept as originals; a conflict otherwise (no record, other settings,
    unreadable), as :func:`vance_filters._outputs.check_existing` judges images.
    """
    from ._video_record import record_of  # PyAV is imported only to read a video

    try:
        record = record_of(path)
    except InputError as exc:
        return Existing(path, False, f"exists and cannot be read as a video ({exc.message}); {rerun}")
    if record is None:
        return Existing(
            path, False, f"exists, made by something else (it holds no vance-filters record); {rerun}"
        )
    if not record.same_settings(jconfig, wanted):
        made = ", ".join(f"{k}={v}" for k, v in record.settings.items() if wanted.get(k) != v)
        what = record.provenance.describe() + (f" with {made}" if made else "")
        return Existing(path, False, f"exists, made by {what}; {rerun}")
    return Existing(path, not record.kept)
