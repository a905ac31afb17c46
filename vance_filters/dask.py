"""Scale out over a Dask cluster: a filter over thousands of images, many machines at once.

>>> import vance_filters.dask as vfd                        # doctest: +SKIP
>>> bag = vfd.map(vf.Denoise(), paths, output_dir="out/")   # doctest: +SKIP
>>> written = bag.compute()                                 # doctest: +SKIP

:func:`map` turns a list of images (or a ``dask.bag.Bag`` of them) into a Bag
whose partitions each run :func:`vance_filters.map` on a worker, so inside a
partition uploads, server jobs and downloads overlap exactly as they do
locally, and partitions run side by side on every worker.

What crosses to the workers is the filter and the client's *settings*; the
API token is not pickled (unless ``Client(pickle_token=True)``): each worker
reads ``VANCE_API_TOKEN`` from its own environment. Give every worker the
same ``Client(cache_dir=...)`` on a shared disk and a task that Dask re-runs
after its worker died finds the results already paid for and pays nothing
twice.

This module is optional (``pip install "vance-filters[dask]"``); ``import
vance_filters`` never imports it, nor Dask.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import dask.bag as db
except ImportError as exc:  # pragma: no cover - the tests run with the extra installed
    raise ImportError(
        "vance_filters.dask needs Dask: pip install 'vance-filters[dask]' "
        "(dask[distributed] for a cluster)"
    ) from exc

from . import _outputs, batch, imaging
from ._choices import ON_LIMIT, UPLOAD_FORMATS, check_choice
from ._defaults import default_client
from .client import TOKEN_ENV
from .errors import AuthenticationError, ConfigError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter, OnLimit, UploadFormat

__all__ = ["map"]

_builtin_map = map

#: Suffixes an output may carry; an output of an input's stem with any of them counts as written.
_OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp", ".gif")


@dataclass(frozen=True)
class _Planned:
    """An image and the output path planned for it in the caller (list inputs)."""

    image: Any
    output: str


def map(
    flt: Filter,
    images: Sequence[Any] | db.Bag,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    concurrency: int = 8,
    max_credits: float | None = None,
    client: Client | None = None,
    npartitions: int | None = None,
    return_exceptions: bool = False,
    on_limit: OnLimit = "downscale",
    upload_format: UploadFormat = "auto",
    overwrite: bool = False,
) -> db.Bag:
    """Apply ``flt`` to every image on a Dask cluster; a lazy ``dask.bag.Bag`` of results, in order.

    Parameters
    ----------
    flt : Filter
        Any filter or pipeline (it is pickled to the workers).
    images : sequence or dask.bag.Bag
        A list of paths (or bytes, arrays, PIL images), or a Bag of them.
        Paths must be readable by the workers (a shared disk).
    output_dir : str or os.PathLike, optional
        Write each result there instead of returning it: every worker writes
        its outputs atomically (temp file + rename) and the Bag holds the
        written paths (str), each with its provenance record
        (:mod:`vance_filters.provenance`). An output that already exists and
        was made with the same settings (its record says so) is skipped (its
        path is returned, nothing is uploaded), so a rerun resumes; one made
        otherwise, or by someone else, is left alone and reported as a
        ``FileExistsError`` in its place (raised, unless
        ``return_exceptions``). Paths
        keep their name as the CLI names them (``photos/cat.jpg`` ->
        ``out/cat.jpg``; in a list two inputs with one stem get distinct
        names, in a Bag stems must be unique); bytes, arrays and images are
        named by a digest of their content. Arrays and images are written as
        8-bit PNG (JPEG when the filter's ``format="jpg"``).
    concurrency : int
        Images in flight at once inside each partition (default 8), as for
        :func:`vance_filters.map`.
    max_credits : float, optional
        Checked in the caller before anything is submitted: refuse
        (``CreditLimitError``) a batch whose worst case exceeds this or the
        account's balance. Outputs already written are not counted; a Bag is
        counted by computing ``bag.count()``.
    client : Client, optional
        Its settings (base URL, timeouts, retries, ``cache_dir``...) travel to
        the workers, its token does not (unless ``pickle_token=True``).
        Default: the caller's default client. Use ``cache_dir`` on a disk all
        workers share so re-run tasks are free.
    npartitions : int, optional
        Partitions of a list input (default: one per ``concurrency`` images).
        A Bag keeps its own partitions.
    return_exceptions : bool
        Put a failed image's typed error in its place instead of failing the
        partition's task.
    on_limit, upload_format : str
        As for :meth:`Filter.apply`.
    overwrite : bool
        Write every output, replacing those that exist (default False).

    Returns
    -------
    dask.bag.Bag
        Results of each input's kind (PIL for paths), or written paths when
        ``output_dir`` is given; ``.compute()`` runs it.

    Raises
    ------
    CreditLimitError
        From the budget check, before anything is submitted.
    AuthenticationError
        On ``compute()``, when a worker has no ``VANCE_API_TOKEN``; it names
        the variable and the worker.

    Examples
    --------
    >>> import vance_filters as vf, vance_filters.dask as vfd
    >>> from vance_filters.testing import Emulator
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url, pickle_token=True) as client:
    ...     bag = vfd.map(vf.Enlarge(scale=2), [b"not an image"], client=client,
    ...                   return_exceptions=True)
    ...     [type(r).__name__ for r in bag.compute(scheduler="sync")]
    ['InputError']
    """
    _check_int("concurrency", concurrency)
    if npartitions is not None:
        _check_int("npartitions", npartitions)
    if overwrite not in (True, False):
        raise ConfigError(f"overwrite={overwrite!r} is not allowed: expected True or False")
    if return_exceptions not in (True, False):
        raise ConfigError(f"return_exceptions={return_exceptions!r} is not allowed: expected True or False")
    from .filters import Filter

    if not isinstance(flt, Filter):
        raise TypeError(f"flt={flt!r} is not a vance_filters filter or pipeline")
    check_choice("on_limit", on_limit, ON_LIMIT)
    check_choice("upload_format", upload_format, UPLOAD_FORMATS)
    client = client if client is not None else default_client()
    out = Path(output_dir).expanduser().resolve() if output_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"output_dir={os.fspath(output_dir)!r} exists and is not a folder")  # type: ignore[arg-type]

    if isinstance(images, db.Bag):
        bag = images
        if max_credits is not None:
            batch.check_budget(flt, int(bag.count().compute()), max_credits=max_credits, client=client)
    else:
        if isinstance(images, (str, bytes, os.PathLike)) or not isinstance(images, Iterable):
            raise TypeError(
                f"images={type(images).__name__} is not allowed: pass a list of images or a dask.bag.Bag"
            )
        items: list[Any] = list(images)
        todo = len(items)
        if out is not None:
            items = _plan(flt, items, out)
            todo = sum(1 for item in items if overwrite or _existing(Path(item.output)) is None)
        if max_credits is not None:
            batch.check_budget(flt, todo, max_credits=max_credits, client=client)
        parts = npartitions or max(1, math.ceil(len(items) / concurrency))
        bag = db.from_sequence(items, npartitions=min(parts, max(1, len(items))))
    return bag.map_partitions(
        _run_partition,
        flt=flt,
        client=client,
        output_dir=None if out is None else os.fspath(out),
        concurrency=concurrency,
        return_exceptions=return_exceptions,
        on_limit=on_limit,
        upload_format=upload_format,
        overwrite=overwrite,
    )


def _check_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}={value!r} is not allowed: expected an integer >= 1")


def _is_path(image: Any) -> bool:
    return isinstance(image, (str, os.PathLike))


def _ext_of(flt: Filter) -> Any:
    """The CLI's rule for an output's extension (the filter's format, else the input's container)."""
    return _outputs.feature_ext(flt.steps()[-1])  # the last step holds a pipeline's output options


def _plan(flt: Filter, images: list[Any], output_dir: Path) -> list[_Planned]:
    """Output paths for a list, planned in the caller: path inputs as the CLI names them."""
    paths = [Path(os.fspath(image)) for image in images if _is_path(image)]
    named = iter(_outputs.plan_outputs(paths, output_dir, ext_of=_ext_of(flt)))
    planned = []
    for image in images:
        if _is_path(image):
            item = next(named)
            assert item.output is not None
            planned.append(_Planned(image, os.fspath(item.output)))
        else:
            planned.append(_Planned(image, os.fspath(_output_path(flt, image, output_dir))))
    return planned


def _digest(image: Any) -> str:
    """A content digest naming an image that has no file name."""
    digest = hashlib.sha256()
    if isinstance(image, (bytes, bytearray, memoryview)):
        digest.update(bytes(image))
    elif hasattr(image, "__array_interface__") and hasattr(image, "dtype"):
        import numpy as np

        array = np.ascontiguousarray(image)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    else:  # a PIL image
        digest.update(f"{image.mode}{image.size}".encode())
        digest.update(image.tobytes())
    return digest.hexdigest()[:20]


def _output_path(flt: Filter, image: Any, output_dir: Path) -> Path:
    """Where an image's result goes when no plan was made for it (Bag elements)."""
    if _is_path(image):
        source = Path(os.fspath(image))
        return output_dir / f"{_outputs.safe_stem(source.stem)}{_ext_of(flt)(source) or '.png'}"
    fmt = flt.out_format
    if isinstance(image, (bytes, bytearray, memoryview)):
        kind = _outputs.sniff_format(bytes(image[:32]))
        ext = "." + fmt if fmt else _outputs.CONTAINER_SUFFIXES[kind][0] if kind else ".png"
    else:
        ext = ".jpg" if fmt == "jpg" else ".png"
    return output_dir / f"{_digest(image)}{ext}"


def _existing(output: Path) -> Path | None:
    """An output already written for this stem (its planned suffix, or another image suffix)."""
    if os.path.lexists(output):
        return output
    for suffix in _OUTPUT_SUFFIXES:
        other = output.with_suffix(suffix)
        if os.path.lexists(other):
            return other
    return None


def _payload(image: Any) -> Any:
    """What goes to the filter when the result is written: a file's bytes (bytes come back)."""
    if _is_path(image):
        try:
            return _outputs.read_file_bytes(Path(os.fspath(image)))  # named: uploads carry it
        except OSError:
            return image  # the filter names the problem (InputError) in this image's place
    return image


def _file_bytes(result: Any, flt: Filter) -> bytes:
    """A result as the bytes of an image file."""
    if isinstance(result, bytes):
        return result
    import io

    pil = imaging.to_pil(result)
    buffer = io.BytesIO()
    if flt.out_format == "jpg":
        pil = pil.convert("RGB") if pil.mode not in ("L", "RGB") else pil
        pil.save(buffer, "JPEG", quality=flt.out_quality or 95)
    else:
        pil.save(buffer, "PNG")
    return buffer.getvalue()


def _write(output: Path, data: bytes, record: Any = None) -> str:
    """Write atomically, with the provenance record; a result whose container differs from the
    planned suffix is named by it."""
    kind = _outputs.sniff_format(data[:32])
    if kind is not None and output.suffix.lower() not in _outputs.CONTAINER_SUFFIXES[kind]:
        output = output.with_suffix(_outputs.CONTAINER_SUFFIXES[kind][0])
    output.parent.mkdir(parents=True, exist_ok=True)
    _outputs.write_output(output, data, record)
    return os.fspath(output)


def _where() -> str:
    """This worker, for error messages: its Dask address and host."""
    try:
        from distributed import get_worker

        return f"Dask worker {get_worker().address} on host {socket.gethostname()!r}"
    except (ImportError, ValueError):
        return f"process {os.getpid()} on host {socket.gethostname()!r}"


def _require_token(client: Client) -> None:
    """Fail fast, naming the variable and the worker, when this worker has no token."""
    try:
        client._token()
    except AuthenticationError as exc:
        exc.hint = (
            f"{_where()} has no API token: set {TOKEN_ENV} in every worker's environment "
            "(e.g. before starting the cluster, or with a Dask WorkerPlugin); it is not "
            "sent with the tasks unless Client(pickle_token=True)"
        )
        raise


def _run_partition(
    images: Iterable[Any],
    *,
    flt: Filter,
    client: Client,
    output_dir: str | None,
    concurrency: int,
    return_exceptions: bool,
    on_limit: OnLimit,
    upload_format: UploadFormat,
    overwrite: bool = False,
) -> list[Any]:
    """One partition on a worker: ``vf.map`` over it, writing outputs when asked."""
    items = list(images)
    if not items:
        return []
    options: dict[str, Any] = {
        "concurrency": min(concurrency, len(items)),
        "return_exceptions": return_exceptions,
        "client": client,
        "on_limit": on_limit,
        "upload_format": upload_format,
    }
    if output_dir is None:
        _require_token(client)
        return list(batch.map(flt, [_unplanned(i) for i in items], **options))
    folder = Path(output_dir)
    plans = [
        item if isinstance(item, _Planned) else _Planned(item, os.fspath(_output_path(flt, item, folder)))
        for item in items
    ]
    results: list[Any] = []
    todo: list[int] = []
    jconfig = flt.to_jconfig()
    for index, plan in enumerate(plans):
        existing = None if overwrite else _existing(Path(plan.output))
        if existing is None:
            results.append(None)
            todo.append(index)
            continue
        found = _outputs.check_existing(existing, jconfig, rerun="pass overwrite=True or another output_dir")
        if found.done:
            results.append(os.fspath(existing))
        else:  # made otherwise, or by someone else: kept, and said
            conflict = FileExistsError(f"{existing} {found.reason}")
            if not return_exceptions:
                raise conflict
            results.append(conflict)
    if not todo:
        return results
    _require_token(client)
    recorded = _outputs.recording_filter(flt)  # each result with the record of its jobs
    outputs = batch.map(recorded, (_payload(plans[i].image) for i in todo), **options)
    for index, result in zip(todo, outputs):
        if isinstance(result, BaseException):
            results[index] = result
        else:
            assert isinstance(result, _outputs.Recorded)
            data = _file_bytes(result.value, flt)
            results[index] = _write(Path(plans[index].output), data, result.provenance)
    return results


def _unplanned(item: Any) -> Any:
    return item.image if isinstance(item, _Planned) else item
