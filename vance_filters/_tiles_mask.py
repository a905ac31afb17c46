"""RemoveBackground in tiles (private): the mask of the whole image, its edges refined in tiles.

The tiling policy "background" of :mod:`vance_filters.tiles`:

1. One job on the whole image, downscaled to fit the limits (by the power of two the
   anchor of the global features is: ``tiles._anchor_factor``); its alpha is scaled back
   to full size.
2. The tiles of the usual layout whose crop (widened by the downscale factor) holds part
   of the mask's edge (an alpha neither ~0 nor ~1 there) are sent at full resolution;
   the tiles wholly inside or outside the subject are not sent.
3. Their alpha is blended into the scaled-back mask with the half-sine ramps of the
   other features. The ramps of all the tiles sum to 1, so a tile not sent weighs in
   with the scaled-back mask: ``mask + sum(weight * (tile's alpha - mask))``.
4. The result is the input's own pixels with that alpha, of the kind RemoveBackground
   gives without tiles (:func:`vance_filters.imaging.restore` makes it: PIL → RGBA,
   arrays → ``(H, W, 4)`` of their dtype, bytes → their container or PNG, ``background=``
   composed locally onto the colour).

Cost: 1 + the tiles on the edge. Which tiles those are is known only once the mask is
back, so everything said before any upload (``tiles.count``, ``results_of``,
``pictures``, ``vf.plan``, ``max_credits``) is the upper bound, 1 + every tile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from . import _budget, imaging
from ._convert import DTYPE_RANGES
from .errors import ConfigError
from .tiles import Tile, _downscale, _ramp, _reporter, _Run

if TYPE_CHECKING:
    import os

    from .client import Client
    from .filters import Filter

__all__ = ["apply", "on_edge"]

#: An alpha within this of 0 or 1 (after scaling back) is not an edge.
_SURE = 2 / 255


def _job(flt: Filter) -> Filter:
    """The filter each job runs: ``flt`` without the output options that would drop the
    alpha (``background=`` is composed here, a JPEG result has no alpha)."""
    step = flt.steps()[0]
    changes: dict[str, Any] = {}
    if getattr(step, "background", None) is not None:
        changes["background"] = None
    if getattr(step, "format", None) not in (None, "png"):
        changes["format"] = None
        changes["quality"] = None
    return dataclasses.replace(step, **changes) if changes else flt  # type: ignore[type-var]


def _alpha(result: Any) -> np.ndarray:
    """The alpha plane of a job's result (an array ``(h, w, 4)``), as float32 in 0-1."""
    values = np.asarray(result)
    plane = values[..., -1]
    name = values.dtype.name
    peak = DTYPE_RANGES[name][1] if name in DTYPE_RANGES else (65535.0 if plane.max(initial=0) > 255 else 255.0)
    return plane.astype(np.float32) / np.float32(peak)


def _scale_back(small: np.ndarray, factor: int, size: tuple[int, int]) -> np.ndarray:
    """The downscaled image's alpha at full size (bilinear; the rows and columns the
    downscale left out repeat the last ones)."""
    height, width = size
    h, w = small.shape
    plane = Image.fromarray(np.ascontiguousarray(small, np.float32))  # mode F
    big = np.asarray(plane.resize((w * factor, h * factor), Image.Resampling.BILINEAR))
    return np.pad(big, ((0, height - h * factor), (0, width - w * factor)), mode="edge")


def on_edge(mask: np.ndarray, tile: Tile, factor: int) -> bool:
    """Whether ``tile``'s crop, widened by ``factor`` pixels, holds part of the mask's edge."""
    x0, y0, x1, y1 = tile.crop
    height, width = mask.shape
    region = mask[max(0, y0 - factor):min(height, y1 + factor), max(0, x0 - factor):min(width, x1 + factor)]
    return bool(region.min() < 1 - _SURE and region.max() > _SURE)


def _blend(out: np.ndarray, base: np.ndarray, alpha: np.ndarray, tile: Tile, xs: list[tuple[int, int]],
           ys: list[tuple[int, int]]) -> None:
    """Add one tile's share to ``out`` in place: its half-sine weight times how far its
    alpha is from the scaled-back mask ``base``."""
    x0, y0, x1, y1 = tile.crop
    w, h = x1 - x0, y1 - y0
    if alpha.shape != (h, w):
        raise ConfigError(
            f"a tile of {w}x{h} came back {alpha.shape[1]}x{alpha.shape[0]}: its mask cannot be blended"
        )
    wx = _ramp(w, 1, x0, xs[tile.col][0] if tile.col else None,
               xs[tile.col][1] if tile.col < len(xs) - 1 else None).astype(np.float32)
    wy = _ramp(h, 1, y0, ys[tile.row][0] if tile.row else None,
               ys[tile.row][1] if tile.row < len(ys) - 1 else None).astype(np.float32)
    region = out[y0:y1, x0:x1]
    region += wy[:, None] * wx[None, :] * (alpha - base[y0:y1, x0:x1])


def _restore(flt: Filter, image: Any, alpha: np.ndarray) -> Any:
    """``image``'s own pixels with ``alpha``, of the kind RemoveBackground gives back."""
    colour, _, source = imaging._intake(image)  # the 8-bit colour the service would have sent back
    alpha8 = Image.fromarray(np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8))
    prepared = imaging.Prepared(data=b"", format="png", filename="", size=source.size, downscale=1.0,
                                source=source)
    background = getattr(flt.steps()[-1], "background", None)
    out = imaging.restore_decoded(
        colour.convert("RGB"), alpha8, prepared, output="rgba", out_format=flt.out_format,
        dpi=flt.out_dpi, quality=flt.out_quality, background=background,
    )
    if isinstance(image, np.ndarray) and background is None and image.dtype != np.bool_:
        own = image if image.ndim == 2 else (image[..., 0] if image.shape[2] <= 2 else image[..., :3])
        out[..., :3] = own[..., None] if own.ndim == 2 else own  # exact, even for 16-bit values
    return out


def apply(
    flt: Filter,
    image: Any,
    run: _Run,
    *,
    client: Client,
    upload_format: str,
    max_credits: float | None,
    concurrency: int,
    progress: bool | Callable[[int, int], None],
    out: str | os.PathLike[str] | None,
) -> Any:
    """Run RemoveBackground (``flt``) on ``image`` as :mod:`vance_filters.tiles` cut it (``run``)."""
    from . import batch  # batch imports filters, which imports the tiles lazily

    if out is not None:
        raise ConfigError(
            "out= cannot stream RemoveBackground in tiles: its mask is refined over the whole"
            " image. Leave out= unset and save the result it returns"
        )
    layout, anchored, factor = run.tiles, run.anchored, run.factor
    bound = len(layout) + int(anchored)
    if max_credits is not None or bound > 1:
        _budget.check(
            float(bound * flt.cost),
            max_credits=max_credits,
            client=client,
            what=f"this tiled call (1 mask job + up to {_budget.count(len(layout), 'tile')} along the"
            " mask's edge, an upper bound: only the tiles on the edge are sent)",
            per_result=flt.cost,
            fewer="fewer tiles (raise max_pixels, lower the margin) or use on_limit='downscale'",
        )
    job = _job(flt)

    def send(pictures: Iterator[np.ndarray], count: int) -> Iterator[Any]:
        return batch.map(job, pictures, concurrency=max(1, min(concurrency, count)), progress=False,
                         client=client, on_limit="raise", upload_format=upload_format)  # type: ignore[arg-type]

    height, width = run.arr.shape[:2]
    report, bar = _reporter(progress, bound, type(flt).__name__)
    try:
        report(0, bound)
        if not anchored:  # one tile: the image fits one upload, its mask comes at full resolution
            alpha = _alpha(next(send(iter([run.arr]), 1)))
            report(1, bound)
            return _restore(flt, image, alpha)
        small = next(send(iter([_downscale(run.arr, factor)]), 1))
        report(1, bound)
        base = _scale_back(_alpha(small), factor, (height, width))
        edge = [tile for tile in layout if on_edge(base, tile, factor)]
        report(0, 1 + len(edge))  # the bound comes down to what is sent
        mask = base.copy()
        if edge:
            xs = sorted({(t.core[0], t.core[2]) for t in layout})
            ys = sorted({(t.core[1], t.core[3]) for t in layout})
            crops = (np.ascontiguousarray(run.arr[t.crop[1]:t.crop[3], t.crop[0]:t.crop[2]]) for t in edge)
            for done, (tile, result) in enumerate(zip(edge, send(crops, len(edge))), 2):
                _blend(mask, base, _alpha(result), tile, xs, ys)
                report(done, 1 + len(edge))
        del base
        return _restore(flt, image, mask)
    finally:
        if bar is not None:
            bar.close()
