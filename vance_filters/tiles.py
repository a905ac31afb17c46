"""Images over the service's limits at full resolution: overlapping tiles, blended back.

``on_limit="tile"`` (and :func:`apply`) cuts the image into overlapping tiles that
each fit the upload limits and the result-size cap, runs them through
:func:`vance_filters.batch.map` (overlapped, retried, cached, journaled) and blends
the results back, in place, into one result of exactly the promised size with the
input's dtype, mode and alpha.

- Tile origins lie on a 16 px grid (JPEG blocks then decode identically in the
  overlap); the tiles of a row or column are of even size (no thin last tile).
- Every tile carries ``margin`` input pixels of context beyond its seam (at least
  the feature's receptive field; :data:`MARGIN` by default) plus half of the
  :data:`FEATHER` band, where neighbours are blended with a half-sine ramp.
- Features that look at the whole image (Repair, Restore, EnhanceFaces, Colorize,
  Recolor) get one more job: the image downscaled whole, the *anchor*; every tile's
  colour and tone are shifted to agree with it.
- Generative features (ToAnime, Animegan, Cartoonize) are refused
  (:class:`TileRefusedError`): their tiles would not agree. ``force=True`` runs them.
- RemoveBackground: the mask from one job on the whole image downscaled (as the
  anchor), its edges refined by the tiles along the mask's edge only, sent at full
  resolution (:mod:`vance_filters._tiles_mask`).

Cost: one result per tile, plus one per anchor (:func:`count`, :func:`results_of`).
RemoveBackground pays 1 + the tiles on the mask's edge, known only once the mask is
back: before that, every count here is the upper bound, 1 + every tile.

Memory: the result is assembled in one buffer, each tile blended into it in bands of
rows; ``apply(..., out=path)`` streams it to a PNG instead, holding one row of tiles
(plus the results in flight), written atomically with its provenance record before
the image data (:mod:`vance_filters._pngstream`).
"""

from __future__ import annotations

import io
import itertools
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from . import _budget
from . import provenance as _provenance
from ._defaults import default_client
from ._encode import encode_png, estimate
from ._features import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from .errors import ConfigError

if TYPE_CHECKING:
    from .client import Client
    from .filters import Filter

__all__ = [
    "FEATHER",
    "GRID",
    "MARGIN",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_RESULT_PIXELS",
    "Tile",
    "TileRefusedError",
    "apply",
    "count",
    "layout",
    "pictures",
    "policy",
    "results_of",
]

#: Tile origins are multiples of this many input pixels (JPEG's 16 px MCU).
GRID = 16
#: Context each tile carries beyond its blend band, in input pixels (read at each call).
MARGIN = 32
#: Width of the half-sine blend band centred on every seam, in input pixels.
FEATHER = 16
#: Pixels a tile upload may have (the service's 34 MP; read at each call).
MAX_PIXELS = MAX_UPLOAD_PIXELS
#: Bytes a tile upload may have (the service's 10 MB; read at each call). With
#: ``upload_format="png"`` tiles are cut small enough to fit it as PNG.
MAX_BYTES = MAX_UPLOAD_BYTES
#: Share of MAX_BYTES a PNG tile is planned for: busier tiles compress worse than the average.
_PNG_HEADROOM = 0.7
#: Rows of a tile's result blended at a time.
_BAND_ROWS = 256
#: Pixels a tile's result may have (what the service returns; read at each call).
MAX_RESULT_PIXELS = 256_000_000

Policy = Literal["local", "global", "background", "generative"]

_POLICY: dict[str, Policy] = {
    "enlarge3": "local",
    "enlarge": "local",
    "chainner": "local",
    "real_esrgan": "local",
    "denoise": "local",
    "sharpen3": "local",
    "crease_repair": "global",
    "img2sr": "global",
    "CodeFormer": "global",
    "deoldify2": "global",
    "sd_recolor": "global",
    "matting": "background",
    "cartoonize": "generative",
    "img2anime": "generative",
    "animegan2": "generative",
}
_RANK = {"local": 0, "global": 1, "background": 2, "generative": 3}


class TileRefusedError(ConfigError):
    """This filter cannot run in tiles (raised before any upload)."""


def policy(flt: Filter) -> Policy:
    """How ``flt`` is tiled: the strictest policy of its steps.

    Examples
    --------
    >>> import vance_filters as vf
    >>> policy(vf.Enlarge()), policy(vf.Repair()), policy(vf.Colorize() | vf.Enlarge())
    ('local', 'global', 'global')
    >>> policy(vf.Cartoonize())
    'generative'
    """
    found: Policy = "local"
    for step in flt.steps():
        own = _POLICY[step.feature.module]
        if _RANK[own] > _RANK[found]:
            found = own
    return found


@dataclass(frozen=True)
class Tile:
    """One tile: the input box it uploads (``crop``) and the box it owns (``core``).

    Boxes are ``(left, top, right, bottom)`` in input pixels; ``row``, ``col`` its place.
    """

    row: int
    col: int
    core: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]

    @property
    def pixels(self) -> int:
        """Pixels uploaded for this tile."""
        return (self.crop[2] - self.crop[0]) * (self.crop[3] - self.crop[1])


def _seams(length: int, parts: int) -> list[int]:
    """``parts + 1`` cut positions on the grid, parts of even size."""
    cuts = [0]
    for k in range(1, parts):
        cuts.append(round(k * length / parts / GRID) * GRID)
    cuts.append(length)
    return cuts


def _spans(length: int, parts: int, reach: int) -> list[tuple[int, int, int, int]] | None:
    """``(core0, core1, crop0, crop1)`` per part, or None when the parts are too thin."""
    cuts = _seams(length, parts)
    spans = []
    for a, b in itertools.pairwise(cuts):
        if b - a < max(GRID, FEATHER):
            return None
        lo = 0 if a == 0 else max(0, (a - reach) // GRID * GRID)
        hi = length if b == length else min(length, b + reach)
        spans.append((a, b, lo, hi))
    return spans


def layout(
    width: int,
    height: int,
    *,
    scale: int = 1,
    margin: int | None = None,
    max_pixels: int | None = None,
    max_result_pixels: int | None = None,
) -> list[Tile]:
    """The fewest tiles (row by row) whose uploads and results fit the limits.

    Examples
    --------
    >>> tiles = layout(3000, 2000, max_pixels=1_000_000)
    >>> len(tiles), all(t.pixels <= 1_000_000 for t in tiles)
    (8, True)
    >>> sorted({t.crop[0] % GRID for t in tiles})
    [0]
    """
    margin = MARGIN if margin is None else margin
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    max_result_pixels = MAX_RESULT_PIXELS if max_result_pixels is None else max_result_pixels
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ConfigError(f"margin={margin!r} is not allowed: expected an int >= 0 (input pixels)")
    limit = min(max_pixels, max_result_pixels // (scale * scale))
    reach = margin + FEATHER // 2
    best: tuple[int, int, list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]] | None = None
    for nx in range(1, max(1, width // GRID) + 1):
        xs = _spans(width, nx, reach)
        if xs is None:
            break
        widest = max(s[3] - s[2] for s in xs)
        if widest > limit:
            continue
        for ny in range(1, max(1, height // GRID) + 1):
            if best is not None and nx * ny >= best[0] * best[1]:
                break
            ys = _spans(height, ny, reach)
            if ys is None:
                break
            if widest * max(s[3] - s[2] for s in ys) <= limit:
                best = (nx, ny, xs, ys)
                break
    if best is None:
        raise ConfigError(
            f"a {width}x{height} image cannot be cut into tiles of at most {limit} pixels"
            f" with a margin of {margin} px: raise max_pixels or lower the margin"
        )
    _, _, xs, ys = best
    return [
        Tile(row, col, (x[0], y[0], x[1], y[1]), (x[2], y[2], x[3], y[3]))
        for row, y in enumerate(ys)
        for col, x in enumerate(xs)
    ]


def _anchor_factor(width: int, height: int, scale: int, max_pixels: int, max_result_pixels: int) -> int:
    """The power of two the anchor is downscaled by so it fits both limits."""
    factor = 1
    while True:
        w, h = width // factor, height // factor
        if w * h <= max_pixels and w * h * scale * scale <= max_result_pixels:
            return factor
        factor *= 2


def count(
    flt: Filter,
    width: int,
    height: int,
    *,
    margin: int | None = None,
    max_pixels: int | None = None,
    max_result_pixels: int | None = None,
) -> int:
    """Results a tiled run of a ``width`` x ``height`` image pays for: tiles + anchors.

    For RemoveBackground the upper bound: its mask job + every tile (only the tiles
    on the mask's edge are sent).

    Examples
    --------
    >>> import vance_filters as vf
    >>> count(vf.Enlarge(scale=2), 3000, 2000, max_pixels=1_000_000)
    8
    >>> count(vf.Repair(), 3000, 2000, max_pixels=1_000_000)
    9
    >>> count(vf.RemoveBackground(), 3000, 2000, max_pixels=1_000_000)  # at most
    9
    """
    tiles = layout(width, height, scale=flt.scale, margin=margin, max_pixels=max_pixels,
                   max_result_pixels=max_result_pixels)
    return len(tiles) + (1 if policy(flt) in ("global", "background") and len(tiles) > 1 else 0)


# -- the image as an array, and back ---------------------------------------------------


def _as_array(image: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """The input as an array ``(H, W[, C])``, and how to turn a result array into its kind."""
    if isinstance(image, np.ndarray):
        return image, lambda out: out
    if isinstance(image, Image.Image):
        pil = image
        if pil.mode not in ("L", "LA", "RGB", "RGBA", "I;16"):
            has_alpha = "A" in pil.getbands() or "transparency" in pil.info
            pil = pil.convert("RGBA" if has_alpha else "RGB")
        return np.asarray(pil), Image.fromarray
    if isinstance(image, (bytes, bytearray, memoryview)):
        opened = Image.open(io.BytesIO(bytes(image)))
        fmt = opened.format or "PNG"
        arr, back = _as_array(opened)

        def to_bytes(out: np.ndarray) -> bytes:
            buf = io.BytesIO()
            back(out).save(buf, fmt)
            return buf.getvalue()

        return arr, to_bytes
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            opened.load()
            return _as_array(opened)
    raise ConfigError(
        f"on_limit='tile' takes a PIL image, an array, bytes or a path, not {type(image).__name__}"
    )


def _downscale(arr: np.ndarray, factor: int) -> np.ndarray:
    """``arr`` averaged over ``factor`` x ``factor`` blocks, in its own dtype."""
    if factor == 1:
        return arr
    h, w = arr.shape[0] // factor, arr.shape[1] // factor
    blocks = arr[: h * factor, : w * factor].reshape(h, factor, w, factor, *arr.shape[2:])
    small = blocks.mean(axis=(1, 3), dtype=np.float64)
    return _cast(small, arr.dtype)


def _cast(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    if dtype == np.bool_:
        return values >= 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _ramp(length: int, scale: int, start: int, cut_lo: int | None, cut_hi: int | None) -> np.ndarray:
    """A tile's weight along one axis, per output pixel of its crop: 1 in its core, a
    half-sine ramp across the FEATHER band around each inner seam, 0 beyond."""
    centres = start + (np.arange(length * scale) + 0.5) / scale  # in input pixels
    weight = np.ones(length * scale)
    half = FEATHER / 2
    if cut_lo is not None:
        t = np.clip((centres - (cut_lo - half)) / FEATHER, 0.0, 1.0)
        weight *= np.sin(t * np.pi / 2) ** 2
    if cut_hi is not None:
        t = np.clip((centres - (cut_hi - half)) / FEATHER, 0.0, 1.0)
        weight *= np.cos(t * np.pi / 2) ** 2
    return weight


def _prior(spans: list[tuple[int, int]], index: int, lo: int, length: int, scale: int) -> np.ndarray:
    """The summed weight of the tiles before ``index`` along one axis, over a crop."""
    total = np.zeros(length * scale)
    last = len(spans) - 1
    for k in range(index):
        a, b = spans[k]
        total += _ramp(length, scale, lo, a if k > 0 else None, b if k < last else None)
    return total


# -- the run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """What a tiled run of one image sends: its tiles, whether it has an anchor, and how small."""

    arr: np.ndarray
    back: Callable[[np.ndarray], Any]
    tiles: list[Tile]
    anchored: bool
    factor: int

    def uploads(self) -> Iterator[np.ndarray]:
        """The pictures sent, in order: the anchor (if any), then every tile's crop."""
        if self.anchored:
            yield _downscale(self.arr, self.factor)
        for tile in self.tiles:
            x0, y0, x1, y1 = tile.crop
            yield np.ascontiguousarray(self.arr[y0:y1, x0:x1])


def _check_policy(flt: Filter, force: bool) -> Policy:
    kind = policy(flt)
    if kind == "generative" and not force:
        raise TileRefusedError(
            f"{flt!r} is generative: tiles processed apart would not agree (styles, outlines and"
            " colours differ from tile to tile). Pass force=True to tile it anyway, or"
            " on_limit='downscale'"
        )
    if kind == "background" and len(flt.steps()) > 1:
        raise TileRefusedError(
            f"{flt!r}: RemoveBackground in a pipeline cannot run in tiles (its tiles keep the"
            " input's own pixels). Run the other steps in tiles first, then RemoveBackground,"
            " or use on_limit='downscale'"
        )
    return kind


def _png_pixels(arr: np.ndarray) -> int:
    """Pixels a PNG tile of ``arr`` may have to fit MAX_BYTES (from a few encoded strips)."""
    sample = arr if arr.dtype == np.uint8 else (arr.astype(np.float64) * (255.0 / max(1.0, float(arr.max()))))
    sample = sample.astype(np.uint8)
    if sample.ndim == 3 and sample.shape[2] not in (3, 4):
        sample = sample[..., 0]
    pil = Image.fromarray(sample)
    per_pixel = max(estimate(pil, encode_png), 1) / (arr.shape[0] * arr.shape[1])
    if arr.dtype.itemsize > 1 and arr.dtype != np.bool_:
        per_pixel *= 2  # 16-bit uploads
    return max(GRID * GRID, int(MAX_BYTES * _PNG_HEADROOM / per_pixel))


def _prepare_run(
    flt: Filter,
    image: Any,
    *,
    margin: int | None,
    upload_format: str = "auto",
    force: bool,
    max_pixels: int | None,
    max_result_pixels: int | None,
) -> _Run:
    kind = _check_policy(flt, force)
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    max_result_pixels = MAX_RESULT_PIXELS if max_result_pixels is None else max_result_pixels
    arr, back = _as_array(image)
    height, width = arr.shape[:2]
    scale = flt.scale
    if upload_format == "png":
        max_pixels = min(max_pixels, _png_pixels(arr))
    tiles = layout(width, height, scale=scale, margin=margin, max_pixels=max_pixels,
                   max_result_pixels=max_result_pixels)
    anchored = kind in ("global", "background") and len(tiles) > 1  # RemoveBackground's mask job
    factor = _anchor_factor(width, height, scale, max_pixels, max_result_pixels) if anchored else 1
    return _Run(arr, back, tiles, anchored, factor)


def results_of(
    flt: Filter,
    image: Any,
    *,
    upload_format: str = "auto",
    max_result_pixels: int | None = None,
) -> int:
    """Results a tiled run of ``image`` pays for (tiles + anchor), nothing cut or encoded.

    For RemoveBackground the upper bound (:func:`count`).

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> results_of(vf.Repair(), np.zeros((6000, 8000, 3), np.uint8))
    3
    """
    run = _prepare_run(flt, image, margin=None, force=False, max_pixels=None,
                       max_result_pixels=max_result_pixels, upload_format=upload_format)
    return len(run.tiles) + int(run.anchored)


def pictures(
    flt: Filter,
    image: Any,
    *,
    margin: int | None = None,
    force: bool = False,
    max_pixels: int | None = None,
    max_result_pixels: int | None = None,
    upload_format: str = "auto",
) -> list[np.ndarray]:
    """The pictures a tiled run of ``image`` uploads, in order (the anchor first, if any).

    What :func:`vance_filters.plan.plan` prepares and looks up for ``on_limit="tile"``.
    For RemoveBackground the upper bound: its mask job first, then every tile (only
    those on the mask's edge are sent).

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> sent = pictures(vf.Repair(), np.zeros((600, 400, 3), np.uint8), max_pixels=100_000)
    >>> len(sent), sent[0].shape  # the anchor (halved), then 4 tiles
    (5, (300, 200, 3))
    """
    run = _prepare_run(flt, image, margin=margin, force=force, max_pixels=max_pixels,
                       max_result_pixels=max_result_pixels, upload_format=upload_format)
    return list(run.uploads())


def apply(
    flt: Filter,
    image: Any,
    *,
    client: Client | None = None,
    margin: int | None = None,
    force: bool = False,
    max_pixels: int | None = None,
    max_result_pixels: int | None = None,
    upload_format: Literal["auto", "png", "jpeg"] = "auto",
    max_credits: float | None = None,
    concurrency: int = 4,
    progress: bool | Callable[[int, int], None] = False,
    out: str | os.PathLike[str] | None = None,
) -> Any:
    """Run ``flt`` on ``image`` in overlapping tiles, at full resolution.

    What ``on_limit="tile"`` does, with every setting at hand.

    Parameters
    ----------
    flt : Filter
        Any filter or pipeline whose :func:`policy` is "local" or "global"
        (or "generative" with ``force=True``), or RemoveBackground alone
        ("background": the mask job, then only the tiles on the mask's edge).
    image : PIL.Image.Image, numpy.ndarray, bytes, str or os.PathLike
        The image; the result is of its kind (a path gives a PIL image).
    client : Client, optional
        Default: the module-level client.
    margin : int, optional
        Context beyond each blend band, in input pixels (default :data:`MARGIN`):
        at least the feature's receptive field.
    force : bool
        Run a generative feature in tiles anyway (its tiles may disagree).
    max_pixels, max_result_pixels : int, optional
        Limits per upload and per result (default :data:`MAX_PIXELS`, and the
        client's ``max_result_pixels`` or :data:`MAX_RESULT_PIXELS`).
    upload_format : {"auto", "png", "jpeg"}
        Per tile, as for :meth:`Filter.apply`: "auto" sends PNG when a tile fits
        10 MB, else JPEG; "png" cuts tiles small enough to be sent lossless.
    max_credits : float, optional
        Refuse (``CreditLimitError``, before any upload) a run that could cost more
        than this or the balance: (tiles + anchors) x ``flt.cost``.
    concurrency : int
        Tiles in flight at once (up to twice as many results wait in memory).
        At most 2 when streaming: memory then holds a row of tiles (the band
        of output rows) and 4 results, whatever the result's size.
    progress : bool or callable
        True: a progress bar on stderr counting tiles (and the anchor). A
        callable is called as ``progress(done, total)`` in the calling thread:
        ``(0, total)`` before the first upload, then after each result.
    out : str or os.PathLike, optional
        Stream the result to this PNG file band by band (8 or 16 bits, 1-4
        channels) instead of returning it: only a row of tiles is held, so a
        result bigger than memory can be made. The file is written atomically
        (a temporary name, then renamed) and carries the run's provenance
        record (:func:`vance_filters.provenance.read`), as ``vf.save`` writes.
        Not for RemoveBackground (``ConfigError``: its mask is refined over
        the whole image).

    Returns
    -------
    PIL.Image.Image, numpy.ndarray, bytes or pathlib.Path
        The result, ``flt.scale`` times the input's size (``out`` as a Path
        when given).

    Raises
    ------
    TileRefusedError
        The filter cannot be tiled (generative, or RemoveBackground in a pipeline).
    CreditLimitError
        Over ``max_credits`` or the balance.

    Examples
    --------
    >>> import numpy as np, vance_filters as vf
    >>> from vance_filters.testing import Emulator
    >>> img = np.random.default_rng(0).integers(0, 255, (300, 200, 3), np.uint8)
    >>> with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
    ...     out = apply(vf.Enlarge(scale=2), img, client=client, max_pixels=40_000)
    >>> out.shape, out.dtype
    ((600, 400, 3), dtype('uint8'))
    """
    from . import batch  # batch imports filters, which imports this module lazily

    client = client if client is not None else default_client()
    if max_result_pixels is None:
        max_result_pixels = client.max_result_pixels
    run = _prepare_run(flt, image, margin=margin, force=force, max_pixels=max_pixels,
                       max_result_pixels=max_result_pixels, upload_format=upload_format)
    if policy(flt) == "background":  # the mask whole, its edges refined in tiles
        from . import _tiles_mask

        return _tiles_mask.apply(flt, image, run, client=client, upload_format=upload_format,
                                 max_credits=max_credits, concurrency=concurrency, progress=progress, out=out)
    tiles, anchored = run.tiles, run.anchored
    results = len(tiles) + int(anchored)
    if max_credits is not None or results > 1:  # many results: the balance is read first
        _budget.check(
            float(results * flt.cost),
            max_credits=max_credits,
            client=client,
            what=f"this tiled call ({_budget.count(len(tiles), 'tile')}"
            f"{' + 1 anchor' if anchored else ''})",
            per_result=flt.cost,
            fewer="fewer tiles (raise max_pixels, lower the margin) or use on_limit='downscale'",
        )

    def tiles_done(concurrency: int) -> Iterator[Any]:
        return _counted(
            batch.map(
                flt,
                run.uploads(),
                concurrency=max(1, min(concurrency, results)),
                progress=False,
                client=client,
                on_limit="raise",
                upload_format=upload_format,
            ),
            results,
            progress,
            type(flt).__name__,
        )

    if out is not None:
        from . import _tiles_stream  # imports this module

        return _tiles_stream.run(Path(out), flt, run, tiles_done, concurrency, client.base_url,
                                 _provenance.input_digest(image))
    done = tiles_done(concurrency)
    height, width = run.arr.shape[:2]
    scale, factor = flt.scale, run.factor
    anchor = np.asarray(next(done), dtype=np.float64) if anchored else None
    xs = sorted({(t.core[0], t.core[2]) for t in tiles})
    ys = sorted({(t.core[1], t.core[3]) for t in tiles})
    buffer: np.ndarray | None = None
    for tile, result in zip(tiles, done):
        result = np.asarray(result)
        if buffer is None:  # zeros: never NaN, whatever the dtype
            buffer = np.zeros((height * scale, width * scale, *result.shape[2:]), result.dtype)
        _blend(buffer, 0, result, tile, xs, ys, scale, anchor, factor)
    assert buffer is not None  # layout gives at least one tile
    return run.back(buffer)


def _counted(
    done: Iterator[Any], total: int, progress: bool | Callable[[int, int], None], label: str
) -> Iterator[Any]:
    """``done``, reporting each result to ``progress`` (a callable, or True for a bar of tiles)."""
    if progress is False or progress is None:
        yield from done
        return
    report, bar = _reporter(progress, total, label)
    try:
        report(0, total)
        for count, result in enumerate(done, 1):
            report(count, total)
            yield result
    finally:
        if bar is not None:
            bar.close()


def _reporter(
    progress: bool | Callable[[int, int], None], total: int, label: str
) -> tuple[Callable[[int, int], None], Any]:
    """``progress`` as a ``(done, total)`` callable (``(0, total)`` announces a total, which
    may change), and the bar to close when ``progress`` is True (a bar of tiles on stderr)."""
    if callable(progress):
        return progress, None
    if not progress:
        return (lambda done, total: None), None
    from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

    bar = tqdm(total=total, desc=label, unit="tile", file=sys.stderr)

    def report(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        if done:
            bar.update(done - bar.n)

    return report, bar


def _blend(
    out: np.ndarray,
    top: int,
    result: np.ndarray,
    tile: Tile,
    xs: list[tuple[int, int]],
    ys: list[tuple[int, int]],
    scale: int,
    anchor: np.ndarray | None,
    factor: int,
) -> None:
    """Composite one tile's result into ``out`` (whose first row is output row ``top``)
    in place, over the tiles before it."""
    x0, y0, x1, y1 = tile.crop
    w, h = x1 - x0, y1 - y0
    if result.shape[:2] != (h * scale, w * scale):
        raise ConfigError(
            f"a tile of {w}x{h} came back {result.shape[1]}x{result.shape[0]}, not"
            f" {w * scale}x{h * scale}: this filter's results cannot be tiled"
        )
    offset = _offset(result, tile, anchor, scale, factor) if anchor is not None else None
    wx = _ramp(w, scale, x0, xs[tile.col][0] if tile.col else None,
               xs[tile.col][1] if tile.col < len(xs) - 1 else None)
    wy = _ramp(h, scale, y0, ys[tile.row][0] if tile.row else None,
               ys[tile.row][1] if tile.row < len(ys) - 1 else None)
    cx = _prior(xs, tile.col, x0, w, scale)
    cy = _prior(ys, tile.row, y0, h, scale)
    region = out[y0 * scale - top:y1 * scale - top, x0 * scale:x1 * scale]
    # In bands of rows, in float32: the temporaries stay a small fraction of the tile. Runs
    # of columns this tile owns alone in a band are copied; only the blend bands are mixed.
    for r0 in range(0, region.shape[0], _BAND_ROWS):
        r1 = min(region.shape[0], r0 + _BAND_ROWS)
        own = (wy[r0:r1, None] * wx[None, :]).astype(np.float32)
        total = own + (cy[r0:r1, None] + wy[r0:r1, None] * cx[None, :]).astype(np.float32)
        alpha = np.divide(own, total, out=np.zeros_like(own), where=total > 1e-12)
        partial = ~(alpha == 1.0).all(axis=0)
        edges = [0, *(np.flatnonzero(np.diff(partial.view(np.int8))) + 1).tolist(), partial.size]
        for c0, c1 in itertools.pairwise(edges):
            target = region[r0:r1, c0:c1]
            values = result[r0:r1, c0:c1]
            if not partial[c0]:  # this tile's alone here
                np.copyto(target, values if offset is None else _cast(values + offset, out.dtype))
                continue
            weight = alpha[:, c0:c1]
            if result.ndim == 3:
                weight = weight[..., None]
            mixed = values.astype(np.float32)
            if offset is not None:
                mixed += offset
            mixed *= weight
            mixed += target.astype(np.float32) * (1.0 - weight)
            np.copyto(target, _cast(mixed, out.dtype), where=np.broadcast_to(weight > 0, target.shape))


def _offset(values: np.ndarray, tile: Tile, anchor: np.ndarray, scale: int, factor: int) -> np.ndarray:
    """Per channel, what brings this tile's mean over its core to the anchor's there."""
    left, top, right, bottom = (scale * v for v in tile.core)
    ox, oy = tile.crop[0] * scale, tile.crop[1] * scale
    a_box = [math.ceil(v / factor) for v in (left, top)] + [v // factor for v in (right, bottom)]
    a_box[2] = min(a_box[2], anchor.shape[1])
    a_box[3] = min(a_box[3], anchor.shape[0])
    if a_box[2] <= a_box[0] or a_box[3] <= a_box[1]:
        return np.zeros(values.shape[2:])
    reference = anchor[a_box[1]:a_box[3], a_box[0]:a_box[2]]
    own = values[a_box[1] * factor - oy:a_box[3] * factor - oy, a_box[0] * factor - ox:a_box[2] * factor - ox]
    own_mean = own.mean(axis=(0, 1), dtype=np.float64)
    return np.asarray(reference.mean(axis=(0, 1)) - own_mean, dtype=np.float32)
