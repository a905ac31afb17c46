"""Classical stand-ins for the service's AI modules: right geometry, channels and a visible effect.

Deterministic, Pillow/numpy only, and fast enough for 33 MP inputs. Each module maps an image
in mode ``L`` or ``RGB`` (alpha is carried separately) to its result.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .._features import ANIME_STYLES, FEATURES
from ._images import decode
from ._records import Step

#: Results larger than this are refused (the job ends "fatal"): the stand-in would need
#: several GB of memory.
MAX_RESULT_PIXELS = 256_000_000
#: Above this many pixels PNG results are written with fast compression.
_DEFAULT_JPEG_QUALITY = 95


class ProcessingError(Exception):
    """The job cannot be done: it ends ``fatal``."""


# ---------------------------------------------------------------------------------------
# helpers


def _normalise(img: Image.Image) -> Image.Image:
    """The image in one of L, LA, RGB or RGBA."""
    if img.mode in ("L", "LA", "RGB", "RGBA"):
        return img
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode != "F" or arr.max(initial=0) > 1 else 1.0
        return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGBA" if "A" in img.getbands() else "RGB")


def _split(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if img.mode in ("RGBA", "LA"):
        return img.convert(img.mode[:-1]), img.getchannel("A")
    return img, None


def _join(colour: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return colour
    if alpha.size != colour.size:
        alpha = alpha.resize(colour.size, Image.Resampling.BILINEAR)
    out = colour.convert(colour.mode + "A")
    out.putalpha(alpha)
    return out


def _resize(img: Image.Image, factor: int, resample: Image.Resampling) -> Image.Image:
    if factor == 1:
        return img
    return img.resize((img.width * factor, img.height * factor), resample)


def _unsharp(img: Image.Image, amount: float, radius: float = 1.0) -> Image.Image:
    """img + amount * (img - blur(img)), clipped: a cheap unsharp mask."""
    if amount <= 0:
        return img
    return Image.blend(img.filter(ImageFilter.BoxBlur(radius)), img, 1.0 + amount)


def _smooth(img: Image.Image, amount: float, radius: float = 1.0) -> Image.Image:
    if amount <= 0:
        return img
    return Image.blend(img, img.filter(ImageFilter.BoxBlur(radius)), min(amount, 1.0))


def _med3(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """out = the median of a, b and c, elementwise (no allocation)."""
    np.minimum(a, b, out=tmp)
    np.maximum(a, b, out=out)
    np.minimum(out, c, out=out)
    np.maximum(out, tmp, out=out)


def median3(img: Image.Image) -> Image.Image:
    """A separable 3x3 median (rows, then columns): removes specks and thin scratches.

    Data-independent and fast with numpy, unlike a full rank filter on noisy 33 MP images.
    """
    src = np.asarray(img)
    if src.shape[0] < 3 or src.shape[1] < 3:
        return img.copy()
    rows = src.copy()
    tmp = np.empty_like(src[:, 1:-1])
    _med3(src[:, :-2], src[:, 1:-1], src[:, 2:], rows[:, 1:-1], tmp)
    out = rows.copy()
    tmp = np.empty_like(rows[1:-1])
    _med3(rows[:-2], rows[1:-1], rows[2:], out[1:-1], tmp)
    return Image.fromarray(out, img.mode)


def _rank3(mask: np.ndarray, op: np.ufunc) -> np.ndarray:
    """A separable 3x3 minimum or maximum of a 2-D array."""
    out = mask.copy()
    op(out[:, 1:], mask[:, :-1], out=out[:, 1:])
    op(out[:, :-1], mask[:, 1:], out=out[:, :-1])
    rows = out.copy()
    op(out[1:], rows[:-1], out=out[1:])
    op(out[:-1], rows[1:], out=out[:-1])
    return out


#: How far the local stand-ins see: a blur of a copy reduced by _CONTEXT_STEP (4x4 blocks),
#: of this sigma there, scaled back: it reaches about 28 input pixels, like a real model's
#: receptive field of tens of pixels, so a tile cut with too small a margin shows as a seam.
#: (Blurring the reduced copy keeps a 33 MP image fast; crops whose origin is a multiple of
#: the step, as tiles on the 16 px grid are, get the same values in their interior.)
_CONTEXT_SIGMA = 1.5
_CONTEXT_STEP = 4


def _context(img: Image.Image, amount: float = 0.3) -> Image.Image:
    """Local contrast against a wide neighbourhood: ``img + amount * (img - blur(img))``."""
    if amount == 0 or min(img.size) < 2 * _CONTEXT_STEP:
        return img
    small = img.reduce(_CONTEXT_STEP).filter(ImageFilter.GaussianBlur(_CONTEXT_SIGMA))
    return Image.blend(small.resize(img.size, Image.Resampling.BILINEAR), img, 1.0 + amount)


def _global_tone(out: Image.Image, source: Image.Image, gain: float = 1.12) -> Image.Image:
    """More contrast in luminance, pivoting on the *whole* source's mean luminance.

    The same change goes to every channel (no colour cast) and the mean is kept; the pivot
    is a whole-image statistic, so a tile processed alone pivots elsewhere and tiles without
    a common anchor disagree in tone by a constant, as a real global model's would.
    """
    luma = np.asarray(source if source.mode == "L" else source.convert("L"), dtype=np.float32)
    delta = (gain - 1.0) * (luma - float(luma.mean()))
    arr = np.asarray(out, dtype=np.float32)
    arr = arr + (delta if arr.ndim == 2 else delta[..., None])
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), out.mode)


def _cartoon(img: Image.Image, bits: int, edge_threshold: int = 40) -> Image.Image:
    """Flat colours taken from the picture (a small adaptive palette) with dark outlines.

    Both are found on a median-filtered copy, so sensor noise makes neither blotches nor specks.
    """
    calm = median3(img).filter(ImageFilter.BoxBlur(1))
    small = calm.copy()
    small.thumbnail((256, 256))
    palette = small.quantize(colors=8 + 4 * bits, method=Image.Quantize.FASTOCTREE)
    flat = calm.quantize(palette=palette, dither=Image.Dither.NONE).convert(img.mode)
    gray = calm if calm.mode == "L" else calm.convert("L")
    edges = gray.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > edge_threshold else 0)
    ink = Image.new(img.mode, img.size, 20 if img.mode == "L" else (20, 20, 28))
    return Image.composite(ink, flat, edges)


def _tint(img: Image.Image, palette: tuple[tuple[int, int, int], ...], strength: float) -> Image.Image:
    """RGB from luminance: a tint map (shadows, midtones, highlights) blended by strength."""
    gray = img if img.mode == "L" else img.convert("L")
    gray = _global_tone(gray, gray, 1.2)  # the tint map is spread over the whole image's tones
    black, mid, white = palette
    coloured = ImageOps.colorize(gray, black=black, white=white, mid=mid)
    return Image.blend(gray.convert("RGB"), coloured, max(0.0, min(1.0, strength)))


#: The foreground mask is found on a copy at most this many pixels wide and high.
_MASK_SIDE = 256
#: Gaps in the subject's outline up to about twice this fraction of its side are closed.
_CLOSING = 0.04
#: The outline is decided again at full resolution, pixel by pixel, from this many pixels
#: inside the outline found on the small copy to _EDGE_REACH pixels beyond it: a real model's
#: edge (hair, a sharp contour) follows the full-resolution detail, not a scaled-up coarse
#: mask. Inwards no further: the subject's own backdrop-like parts (a face lit like the wall)
#: stay. Both in pixels of the image itself, so a crop's edge is the whole image's there.
_EDGE_INSIDE = 12
_EDGE_REACH = 24
#: ...on an image whose shorter side is at least this many times _EDGE_INSIDE; a smaller one
#: gets a band of that share of its side (a 320x240 portrait: 5 px inside, 10 beyond): a
#: model's edge is uncertain by a few of its pixels, and a chin in shadow, lit like the
#: wall, must not lose a bite where the outline passes near it.
_EDGE_SHARE = 48


def _surface(width: int, height: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The quadratic basis at ``(xs, ys)``, in a ``width`` x ``height`` grid's coordinates."""
    x = xs / max(1, width - 1) - 0.5
    y = ys / max(1, height - 1) - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _background_model(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coefficients of a smooth backdrop (a quadratic surface per channel) fitted to the
    image's edges, and the mask of the edge pixels it fits.

    A robust fit: the subject may touch any edge (the bottom one of a portrait, any side of a
    crop), so the edge pixels far from the surface are dropped and it is fitted again. It
    starts from each side's median colour and from all the edges' one, and keeps the
    smoothest surface that fits many edge pixels: a backdrop is plain, a subject has detail.
    """
    h, w = arr.shape[:2]
    edges = np.zeros((h, w), bool)
    edges[[0, -1], :] = True
    edges[:, [0, -1]] = True
    ys, xs = np.nonzero(edges)
    basis = _surface(w, h, xs.astype(np.float64), ys.astype(np.float64))
    values = arr[edges]
    sides = [ys == 0, ys == h - 1, xs == 0, xs == w - 1, np.ones(len(ys), bool)]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for side in sides:
        resid = np.abs(values - np.median(values[side], axis=0)).max(axis=1)
        keep = resid <= 12.0
        if keep.sum() < 8:
            continue
        for _ in range(4):
            coeffs, *_ = np.linalg.lstsq(basis[keep], values[keep], rcond=None)
            resid = np.abs(values - basis @ coeffs).max(axis=1)
            keep = resid <= max(4.0, 3.0 * float(np.median(resid[keep])) + 2.0)
        score = keep.sum() / (1.0 + float(np.median(resid[keep])))
        if best is None or score > best[0]:
            best = (score, coeffs, keep)
    if best is None:  # no side is plain: the least-squares surface of all the edges
        coeffs, *_ = np.linalg.lstsq(basis, values, rcond=None)
        best = (0.0, coeffs, np.ones(len(ys), bool))
    _, coeffs, keep = best
    fitted = np.zeros((h, w), bool)
    fitted[ys[keep], xs[keep]] = True
    return coeffs, fitted


def _grow(seeds: np.ndarray, down: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The pixels reached from ``seeds`` by 4-neighbour steps that ``down`` / ``right`` allow.

    ``down[y, x]`` allows the step between (y, x) and (y + 1, x), ``right[y, x]`` the step
    between (y, x) and (y, x + 1), both ways.
    """
    region = seeds.copy()
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1] & down
        grown[:-1] |= region[1:] & down
        grown[:, 1:] |= region[:, :-1] & right
        grown[:, :-1] |= region[:, 1:] & right
        if np.array_equal(grown, region):
            return region
        region = grown


def _near_any(mask: np.ndarray, reach: int) -> np.ndarray:
    """The pixels within about ``reach`` (a square) of a True pixel of ``mask`` (a box blur:
    8-bit, fast and small on 33 MP; a lone pixel at a corner of the square may not reach)."""
    spread = Image.fromarray(mask.view(np.uint8) * np.uint8(255), "L").filter(ImageFilter.BoxBlur(reach))
    return np.asarray(spread) > 0


def foreground_mask(img: Image.Image) -> Image.Image:
    """A classical foreground mask (mode L) of a subject in front of a smooth backdrop.

    The backdrop is what can be reached from the image's border by small steps (a plain
    wall, a studio gradient), starting from the border pixels that resemble the backdrop
    (a smooth surface fitted to the border: the subject's shoulders may touch it). The
    subject's outline stops the walk; everything inside it, regions of backdrop-like colour
    included, is foreground. Found on a small copy, opened to drop speckles and scaled
    back; near the outline found there, every full-resolution pixel is then decided by its
    own colour (how far from the backdrop), so the edge follows the full-resolution detail.
    """
    rgb = img.convert("RGB")
    small = rgb.copy()
    small.thumbnail((_MASK_SIDE, _MASK_SIDE), Image.Resampling.BOX)
    if min(small.size) < 3:
        return Image.new("L", img.size, 255)
    arr = np.asarray(small.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64)
    h, w = arr.shape[:2]
    coeffs, edges = _background_model(arr)
    ys, xs = np.mgrid[0:h, 0:w]
    model = _surface(w, h, xs.astype(np.float64), ys.astype(np.float64)) @ coeffs
    dist = np.abs(arr - model).max(axis=2)
    # The backdrop's own spread around the fit (noise, what the surface misses), from its edges.
    threshold = max(3.0, float(np.percentile(dist[edges], 99)) * 1.3 + 0.5)
    down = np.abs(arr[1:] - arr[:-1]).max(axis=2)
    right = np.abs(arr[:, 1:] - arr[:, :-1]).max(axis=2)
    steps = np.concatenate([right[0][edges[0, 1:] & edges[0, :-1]], right[-1][edges[-1, 1:] & edges[-1, :-1]],
                            down[:, 0][edges[1:, 0] & edges[:-1, 0]], down[:, -1][edges[1:, -1] & edges[:-1, -1]]])
    step_limit = max(2.0, float(np.percentile(steps, 99)) * 1.5 + 0.5) if steps.size else 2.0
    near = dist <= threshold
    border = np.zeros(dist.shape, bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    background = _grow(border & near, near[1:] & near[:-1] & (down < step_limit),
                       near[:, 1:] & near[:, :-1] & (right < step_limit))
    hard = (~background).view(np.uint8)
    hard = _rank3(_rank3(hard, np.minimum), np.maximum)  # opening: drop speckles
    # Closing: bridge a shaded part of the subject that matches the backdrop (a chin in shadow).
    opened = hard
    reach = max(1, round(min(hard.shape) * _CLOSING))
    for op in [np.maximum] * reach + [np.minimum] * reach:
        hard = _rank3(hard, op)
    coarse = np.asarray(Image.fromarray(hard * np.uint8(255), "L").resize(img.size, Image.Resampling.BILINEAR))
    bridged = np.asarray(Image.fromarray((hard > opened).view(np.uint8) * np.uint8(255), "L")
                         .resize(img.size, Image.Resampling.BILINEAR)) > 0
    return Image.fromarray(_refine(rgb, coarse, bridged, coeffs, (w, h), threshold), "L")


def _refine(rgb: Image.Image, coarse: np.ndarray, bridged: np.ndarray, coeffs: np.ndarray,
            small: tuple[int, int], threshold: float) -> np.ndarray:
    """``coarse`` (uint8, full size) with its outline decided again at full resolution
    (``bridged``: where the closing filled it in, also decided again near the outline)."""
    width, height = rgb.size
    outline = (coarse > 0) & (coarse < 255)
    if not outline.any():
        return coarse.copy()
    inside = min(_EDGE_INSIDE, max(2, min(width, height) // _EDGE_SHARE))
    band = _near_any(outline, inside)
    band |= _near_any(outline, inside * _EDGE_REACH // _EDGE_INSIDE) & ((coarse == 0) | bridged)
    calm = np.asarray(rgb.filter(ImageFilter.BoxBlur(1)))  # sensor noise, 3x3
    by, bx = np.nonzero(band)
    # The backdrop's surface at the full-resolution pixels' centres, in the small copy's grid.
    sx, sy = (bx + 0.5) * (small[0] / width) - 0.5, (by + 0.5) * (small[1] / height) - 0.5
    far = np.abs(calm[by, bx].astype(np.float64) - _surface(small[0], small[1], sx, sy) @ coeffs).max(axis=1)
    # The backdrop's spread at full resolution, from the band's pixels the coarse mask calls
    # backdrop (a median: the edge's own transition pixels are among them).
    backdrop = far[(coarse[by, bx] == 0) & (far <= 3 * threshold)]
    spread = max(threshold, 3.0 * float(np.median(backdrop)) + 0.5) if backdrop.size > 16 else threshold
    out = coarse.copy()
    out[band] = np.clip(np.rint((far - spread) * (255.0 / (2.0 * spread))), 0, 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------------------------------
# modules: (colour image L/RGB, module_params) -> image


def _enlarge(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    img = _context(img)
    big = _resize(_smooth(img, p.get("suppress_noise", 40) / 200), scale, Image.Resampling.LANCZOS)
    return _unsharp(big, p.get("remove_blur", 60) / 100)


def _anime_upscale(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    img = _context(img, 0.2)
    if scale == 1:  # enhance without enlarging
        return _unsharp(median3(img), 0.8)
    return _unsharp(_resize(img, scale, Image.Resampling.BICUBIC), 0.6)


def _denoise(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    # The local contrast belongs to the sharpening: remove_noise=0, sharpen=0 leaves the
    # picture as it was (tests use that as an identity on the service's side).
    if p.get("sharpen", 75) > 0 or p.get("auto_params", False):
        img = _context(img, 0.15 * (p.get("sharpen", 75) / 75 if not p.get("auto_params") else 1.0))
    if p.get("auto_params", False):
        return _unsharp(median3(img), 0.3)
    out = median3(img) if p.get("remove_noise", 75) > 0 else img
    return _unsharp(out, p.get("sharpen", 75) / 150)


def _sharpen(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    img = _context(img, 0.2)
    if p.get("autoparams", False):
        return _unsharp(img, 1.0, 2)
    out = _smooth(img, p.get("suppress_noise", 0.5) * 0.4)
    out = _smooth(out, p.get("remove_artifacts", 0.5) * 0.2, 0.5)
    return _unsharp(out, 0.5 + 1.5 * p.get("remove_blur", 0.5), 2)


def _crease_repair(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    # Thin scratches and spots vanish under a median; a light unsharp mask keeps the detail.
    return _global_tone(_unsharp(median3(img), 0.3), img)


def _img2sr(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    out = _unsharp(img, 1.5 * p.get("strength", 0.9), 2)
    # The face enhancer smooths skin a little first; tones and colours stay as they were.
    out = _unsharp(_smooth(img, 0.5), 1.2, 2) if p.get("face_enhancer", True) else out
    return _global_tone(out, img)


def _codeformer(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    # Smoother skin, crisper features; no tone or colour change (the model keeps both).
    return _global_tone(_unsharp(_smooth(img, 0.6), 0.6, 2), img)


def _cartoonize(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    return _cartoon(img, 3)


def _img2anime(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    styles = list(ANIME_STYLES)
    index = styles.index(p.get("model_name", styles[0]))
    bits = 2 if p.get("denoising_strength", 0.75) >= 0.7 else 3
    out = _cartoon(img, bits)
    if out.mode == "RGB":
        out = ImageEnhance.Color(out).enhance(1.2 + 0.05 * index)
    return out


def _animegan(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    out = _cartoon(img, 3, edge_threshold=30)
    return ImageEnhance.Color(out).enhance(1.3) if out.mode == "RGB" else out


def _deoldify(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    strength = 0.5 + p.get("render_factor", 30) / 140
    return _tint(img, ((30, 22, 18), (176, 128, 96), (250, 240, 214)), strength)


def _recolor(img: Image.Image, p: dict[str, Any], scale: int) -> Image.Image:
    return _tint(img, ((18, 26, 48), (150, 132, 110), (244, 238, 226)), 0.85)


_Op = Callable[[Image.Image, dict[str, Any], int], Image.Image]
_MODULES: dict[str, _Op] = {
    "enlarge3": _enlarge,
    "enlarge": _enlarge,
    "chainner": _anime_upscale,
    "real_esrgan": _anime_upscale,
    "denoise": _denoise,
    "sharpen3": _sharpen,
    "crease_repair": _crease_repair,
    "img2sr": _img2sr,
    "CodeFormer": _codeformer,
    "cartoonize": _cartoonize,
    "img2anime": _img2anime,
    "animegan2": _animegan,
    "deoldify2": _deoldify,
    "sd_recolor": _recolor,
}


def apply_step(img: Image.Image, step: Step) -> Image.Image:
    """Run one step on an image in L, LA, RGB or RGBA; the result is in one of those too."""
    feature = FEATURES[step.module]
    scale = feature.scale_of(step.module_params)
    colour, alpha = _split(img)
    if step.module == "matting":
        rgb = colour.convert("RGB")
        mask = foreground_mask(rgb)
        if alpha is not None:
            mask = Image.fromarray(np.minimum(np.asarray(mask), np.asarray(alpha)), "L")
        return _join(rgb, mask)
    out = _MODULES[step.module](colour, step.module_params, scale)
    if feature.output == "rgb":
        return out.convert("RGB")
    return _join(out, alpha)


def _bg_color(out_params: dict[str, Any]) -> tuple[int, int, int] | None:
    composed = out_params.get("bg_composed")
    if not isinstance(composed, dict):
        return None
    color = composed["bg_color"]
    return (color["r"], color["g"], color["b"])


def _flatten(img: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    if img.mode not in ("RGBA", "LA"):
        return img
    base = Image.new("RGB", img.size, color)
    base.paste(img.convert("RGBA"), mask=img.getchannel("A"))
    return base if img.mode == "RGBA" else base.convert("L")


def encode(img: Image.Image, fmt: str, out_params: dict[str, Any]) -> bytes:
    """The result file: ``fmt`` is ``"jpeg"`` or ``"png"``; quality and dpi from out_params."""
    options: dict[str, Any] = {}
    dpi = out_params.get("dpi")
    if dpi:
        options["dpi"] = (dpi, dpi)
    if fmt == "jpeg":
        img = _flatten(img, (255, 255, 255))
        quality = (out_params.get("compress") or {}).get("quality", _DEFAULT_JPEG_QUALITY)
        options["quality"] = quality
    else:
        options["compress_level"] = 1
    buf = io.BytesIO()
    img.save(buf, "JPEG" if fmt == "jpeg" else "PNG", **options)
    return buf.getvalue()


def result_size(width: int, height: int, steps: Sequence[Step]) -> tuple[int, int]:
    """The size of the result of ``steps`` on a ``width`` x ``height`` image."""
    for step in steps:
        factor = FEATURES[step.module].scale_of(step.module_params)
        width, height = width * factor, height * factor
    return width, height


def run(
    data: bytes, upload_format: str, steps: Sequence[Step], *, echo: bool = False
) -> tuple[bytes, str]:
    """Run all ``steps`` in order on the uploaded bytes: ``(result bytes, "jpeg"|"png")``.

    The output format is the last step's ``out_params.format``, else the uploaded format
    (PNG when the result has an alpha channel); ``bg_composed`` flattens it onto a colour.
    Results are RGB or RGBA, whatever the upload's mode, as the service's models produce.
    ``echo``: the result is the upload itself at the result's size (pixel repetition), with
    no stand-in effect: same geometry, format and wire, at the least CPU (benchmarks that
    measure the client use it).
    """
    try:
        img = decode(data)
    except Exception as exc:  # noqa: BLE001 - a broken upload fails the job
        raise ProcessingError(f"the upload cannot be decoded: {exc}") from None
    width, height = result_size(img.width, img.height, steps)
    if width * height > MAX_RESULT_PIXELS:
        raise ProcessingError(f"the result would have {width}x{height} pixels")
    img = _normalise(img)
    if echo:
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.NEAREST)
    else:
        for step in steps:
            img = apply_step(img, step)
    out_params = steps[-1].out_params
    color = _bg_color(out_params)
    if color is not None:
        img = _flatten(img, color)
    # The service's models produce colour: a gray upload comes back as RGB (gray values).
    if img.mode in ("L", "LA"):
        img = img.convert("RGB" if img.mode == "L" else "RGBA")
    requested = out_params.get("format")
    if requested is not None:
        fmt = "jpeg" if requested == "jpg" else "png"
    else:
        fmt = "png" if img.mode in ("RGBA", "LA") else upload_format
    return encode(img, fmt, out_params), fmt
