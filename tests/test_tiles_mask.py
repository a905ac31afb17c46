"""RemoveBackground with on_limit="tile": the mask of the whole image, its edges refined in tiles.

The limits are made small on both sides (the emulator refuses uploads over ``LIMIT`` pixels;
the tiler and, for ``on_limit="downscale"``, the upload preparation cut for it), so a 4 MP
image needs a mask job downscaled 4x and 15 tiles. The reference is the emulator's matting
stand-in run locally on a crop centred on the subject's edge (or on a seam where the edge
crosses it): its edge is decided at full resolution, pixel by pixel, near the outline it
finds on a small copy.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

import vance_filters as vf
from vance_filters import imaging, tiles
from vance_filters.testing import Emulator, _images, _processing

#: The upload limit of these tests, on the emulator and on the client.
LIMIT = 400_000
#: Half the side of a reference crop, and the context dropped at its sides (beyond the
#: stand-in's reach: its full-resolution edge looks at most 24 px away from the outline).
HALF, CONTEXT = 256, 48


def scene(width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An object with sharp edges and fine detail (a wavy outline, 1-2 px strands, a woven
    texture) on a smooth studio backdrop with a little sensor noise; and where it is."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    back = np.stack([200 + 30 * yy / height, 205 + 20 * xx / width, 215 - 25 * yy / height], axis=-1)
    shape = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(shape)
    cx, cy, rx, ry = width * 0.5, height * 0.52, width * 0.3, height * 0.32

    def outline(t: float) -> float:
        return 1 + 0.02 * np.sin(5 * t) + 0.004 * np.sin(53 * t)

    ts = 2 * np.pi * np.arange(1440) / 1440
    draw.polygon([(cx + rx * outline(t) * np.cos(t), cy + ry * outline(t) * np.sin(t)) for t in ts], fill=255)
    for k in range(90):  # strands leaving the outline
        t = 2 * np.pi * k / 90 + 0.01
        x0, y0 = cx + rx * outline(t) * np.cos(t), cy + ry * outline(t) * np.sin(t)
        length = 8 + 10 * rng.random()
        draw.line([(x0, y0), (x0 + length * np.cos(t), y0 + length * np.sin(t))], fill=255, width=1 + k % 2)
    body = np.asarray(shape) > 0
    weave = 30 * np.sin(xx / 3.1) * np.sin(yy / 2.3) + rng.normal(0, 8, (height, width))
    colour = np.stack([80 + weave, 50 + 0.8 * weave, 40 + 0.5 * weave], axis=-1)
    pixels = np.where(body[..., None], colour, back) + rng.normal(0, 2, (height, width, 3))
    return np.uint8(np.clip(pixels, 0, 255)), body


def edge_points(width: int, height: int, n: int) -> list[tuple[int, int]]:
    """``n`` points along the scene's outline."""
    cx, cy, rx, ry = width * 0.5, height * 0.52, width * 0.3, height * 0.32
    points = []
    for k in range(n):
        t = 2 * np.pi * k / n + 0.1
        r = 1 + 0.02 * np.sin(5 * t) + 0.004 * np.sin(53 * t)
        points.append((int(cx + rx * r * np.cos(t)), int(cy + ry * r * np.sin(t))))
    return points


def errors(src: np.ndarray, alphas: list[np.ndarray], points: list[tuple[int, int]]) -> list[list[float]]:
    """Per alpha, the mean absolute error (0-255) against the stand-in run on a crop centred
    on each point."""
    height, width = src.shape[:2]
    found: list[list[float]] = [[] for _ in alphas]
    for px, py in points:
        x0, y0, x1, y1 = max(0, px - HALF), max(0, py - HALF), min(width, px + HALF), min(height, py + HALF)
        ref = np.asarray(_processing.foreground_mask(Image.fromarray(np.ascontiguousarray(src[y0:y1, x0:x1]))), float)
        inner = (slice(CONTEXT if y0 else 0, ref.shape[0] - (CONTEXT if y1 < height else 0)),
                 slice(CONTEXT if x0 else 0, ref.shape[1] - (CONTEXT if x1 < width else 0)))
        for errs, alpha in zip(found, alphas):
            errs.append(float(np.abs(alpha[y0:y1, x0:x1].astype(float) - ref)[inner].mean()))
    return found


def sent_tiles(emu: Emulator, src: np.ndarray, layout: list[tiles.Tile]) -> tuple[list[tiles.Tile], int]:
    """The tiles the emulator received (matched by their pixels), and how many uploads it had."""
    sent = []
    for upload in emu.uploads.values():
        pixels = np.asarray(Image.open(io.BytesIO(upload.data)).convert("RGB"))
        for tile in layout:
            x0, y0, x1, y1 = tile.crop
            if pixels.shape[:2] == (y1 - y0, x1 - x0) and np.array_equal(pixels, src[y0:y1, x0:x1]):
                sent.append(tile)
    return sent, len(emu.uploads)


def test_the_stand_ins_edge_needs_full_resolution() -> None:
    """The matting stand-in decides its edge pixel by pixel: a crop's edge is the whole image's
    there, and a mask found on a copy downscaled 4x and scaled back is visibly off along it."""
    src, body = scene(1200, 900, seed=1)
    whole = np.asarray(_processing.foreground_mask(Image.fromarray(src)), float)
    assert (whole[body] > 128).mean() > 0.99 and (whole[~body] < 128).mean() > 0.99
    # (a crop of 576 px or more: a smaller image gets a shallower band, see _EDGE_SHARE)
    crop = np.asarray(_processing.foreground_mask(Image.fromarray(np.ascontiguousarray(src[100:700, 150:750]))), float)
    inner = (slice(CONTEXT, -CONTEXT), slice(CONTEXT, -CONTEXT))
    assert np.abs(crop - whole[100:700, 150:750])[inner].mean() < 0.5
    small = Image.fromarray(src).resize((300, 225), Image.Resampling.BOX)
    scaled = np.asarray(_processing.foreground_mask(small).resize((1200, 900), Image.Resampling.BILINEAR), float)
    edge = (np.abs(np.diff(body.astype(np.int8), axis=0, prepend=0)) > 0) | (
        np.abs(np.diff(body.astype(np.int8), axis=1, prepend=0)) > 0)
    near = _processing._near_any(edge, 3)  # within 3 px of the edge
    assert np.abs(scaled - whole)[near].mean() > 40  # smeared over ~4 px, strands faded (~90 levels)


@pytest.fixture(scope="module")
def small_limits() -> Iterator[None]:
    """The emulator refuses uploads over LIMIT pixels; the tiler and the upload preparation cut for it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_images, "MAX_UPLOAD_PIXELS", LIMIT)
        patch.setattr(tiles, "MAX_PIXELS", LIMIT)
        patch.setitem(imaging.prepare.__kwdefaults__, "max_pixels", LIMIT)  # on_limit="downscale"
        yield


@pytest.fixture(scope="module")
def photo_run(small_limits: None) -> Iterator[dict[str, Any]]:
    """One tiled run of a 4.3 MP scene (and its plan, and on_limit="downscale"), on a fresh emulator."""
    src, body = scene(2400, 1800)
    flt = vf.RemoveBackground()
    with Emulator() as emu, vf.Client(emu.api_token, emu.url) as client:
        planned = vf.plan(flt, [src], client=client, on_limit="tile")
        before = client.credits().remaining
        out = flt.apply(src, client=client, on_limit="tile")
        charged = before - client.credits().remaining
        layout = tiles.layout(2400, 1800)
        sent, uploads = sent_tiles(emu, src, layout)
        used = emu.credits_used
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", vf.DownscaleWarning)
            down = flt.apply(src, client=client, on_limit="downscale")
        yield {"src": src, "body": body, "out": out, "down": down, "planned": planned, "charged": charged,
               "layout": layout, "sent": sent, "uploads": uploads, "used": used, "client": client}


def test_the_result_is_the_inputs_own_pixels_with_an_alpha(photo_run: dict[str, Any]) -> None:
    out, src = photo_run["out"], photo_run["src"]
    assert out.shape == (1800, 2400, 4) and out.dtype == np.uint8
    assert np.array_equal(out[..., :3], src)  # full resolution, untouched
    alpha, body = out[..., 3], photo_run["body"]
    assert (alpha[body] > 128).mean() > 0.99 and (alpha[~body] < 128).mean() > 0.99


def test_the_edges_match_the_stand_in_at_full_resolution(photo_run: dict[str, Any]) -> None:
    """Crops centred on the edge, and on the points where the edge crosses a seam."""
    src, out, down, layout = photo_run["src"], photo_run["out"], photo_run["down"], photo_run["layout"]
    body = photo_run["body"]
    on_edge = edge_points(2400, 1800, 8)
    seam_xs = sorted({t.core[0] for t in layout if t.core[0]})
    seam_ys = sorted({t.core[1] for t in layout if t.core[1]})
    ends = [(i, np.flatnonzero(np.diff(body[:, x].astype(np.int8)))) for i, x in enumerate(seam_xs)]
    crossing = [(seam_xs[i], int(y)) for i, found in ends for y in (found.min(), found.max())]
    ends = [(i, np.flatnonzero(np.diff(body[y].astype(np.int8)))) for i, y in enumerate(seam_ys)]
    crossing += [(int(x), seam_ys[i]) for i, found in ends for x in (found.min(), found.max())]
    assert len(crossing) == 2 * (len(seam_xs) + len(seam_ys)) >= 8  # the outline crosses every seam twice
    tiled, scaled = errors(src, [out[..., 3], down[..., 3]], on_edge + crossing)
    # The stand-in finds its outline on a 256 px copy of what it is given, so a tile and a
    # reference crop of another size may disagree by a pixel or two where strands crowd the
    # outline: well under one level on average over a crop. Downscaled 4x, every edge is
    # smeared over ~4 px and the strands fade: about 3 levels.
    assert max(tiled) <= 0.5, tiled
    assert all(t * 5 <= s for t, s in zip(tiled, scaled)), (tiled, scaled)  # clearly better than downscale


def test_only_the_tiles_on_the_edge_are_sent_and_paid(photo_run: dict[str, Any]) -> None:
    layout, sent, body = photo_run["layout"], photo_run["sent"], photo_run["body"]

    def holds_edge(tile: tiles.Tile, grow: int) -> bool:
        x0, y0, x1, y1 = tile.crop
        region = body[max(0, y0 - grow):y1 + grow, max(0, x0 - grow):x1 + grow]
        return bool(region.any() and not region.all())

    assert photo_run["uploads"] == 1 + len(sent)  # the mask job, then the tiles on the edge
    assert {t for t in layout if holds_edge(t, -8)} <= set(sent) <= {t for t in layout if holds_edge(t, 16)}
    inside = [t for t in layout if body[t.crop[1]:t.crop[3], t.crop[0]:t.crop[2]].all()]
    outside = [t for t in layout if not body[t.crop[1]:t.crop[3], t.crop[0]:t.crop[2]].any()]
    assert inside and outside and not set(inside + outside) & set(sent)  # never sent
    assert photo_run["charged"] == photo_run["used"] == 1 + len(sent)  # the emulator's own account


def test_the_plan_is_the_upper_bound_and_the_run_stays_under_it(photo_run: dict[str, Any]) -> None:
    planned, layout, src = photo_run["planned"], photo_run["layout"], photo_run["src"]
    flt = vf.RemoveBackground()
    bound = len(layout) + 1  # the mask job + every tile
    assert planned[0].distinct == tiles.count(flt, 2400, 1800) == tiles.results_of(flt, src) == bound
    assert planned.credits == bound * flt.cost == vf._budget.cost_of(flt, src, on_limit="tile").credits
    assert all(u.size[0] * u.size[1] <= LIMIT for u in planned[0].uploads)  # every upload within the limit
    assert planned[0].uploads[0].size == (600, 450)  # the mask job, downscaled 4x
    assert photo_run["charged"] < planned.credits
    client = photo_run["client"]
    with pytest.raises(vf.CreditLimitError, match="upper bound"):
        flt.apply(src, client=client, on_limit="tile", max_credits=bound - 1)
    again = flt.apply(src, client=client, on_limit="tile", max_credits=bound)  # the bound is enough
    assert np.array_equal(again, photo_run["out"])  # and the same result, from the cache


# -- every kind of input ------------------------------------------------------------------------

SMALL = (960, 720)
SMALL_LIMIT = 120_000


def as_kind(rgb: np.ndarray, kind: str, path: Path) -> Any:
    """``rgb`` as the input kind ``kind`` (``path``: where a file goes)."""
    if kind == "pil-rgb":
        return Image.fromarray(rgb)
    if kind == "pil-rgba":
        return Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]), "RGBA")
    if kind == "pil-l":
        return Image.fromarray(rgb).convert("L")
    if kind == "uint8":
        return rgb
    if kind == "uint16":
        return rgb.astype(np.uint16) * 256 + 7  # 16-bit values 8 bits cannot hold
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG" if kind == "bytes-jpeg" else "PNG", quality=95)
    if kind == "path":
        path.write_bytes(buf.getvalue())
        return path
    return buf.getvalue()


def shape_of(result: Any) -> tuple[Any, ...]:
    """What kind of result this is: type, mode or dtype and channels, container."""
    if isinstance(result, Image.Image):
        return ("pil", result.mode)
    if isinstance(result, np.ndarray):
        return ("array", result.dtype.name, result.shape[2:])
    with Image.open(io.BytesIO(result)) as img:
        return ("bytes", img.format, img.mode)


def alpha_of(result: Any) -> np.ndarray:
    if isinstance(result, np.ndarray):
        return np.rint(result[..., 3] / (257.0 if result.dtype == np.uint16 else 1.0)).astype(np.uint8)
    img = result if isinstance(result, Image.Image) else Image.open(io.BytesIO(result))
    return np.asarray(img.getchannel("A"))


KINDS = ["pil-rgb", "pil-rgba", "pil-l", "uint8", "uint16", "bytes-png", "bytes-jpeg", "path"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_input_comes_back_as_without_tiles(
    vance_emulator: Emulator, vance_client: vf.Client, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_images, "MAX_UPLOAD_PIXELS", SMALL_LIMIT)
    monkeypatch.setattr(tiles, "MAX_PIXELS", SMALL_LIMIT)
    rgb, body = scene(*SMALL, seed=3)
    image = as_kind(rgb, kind, tmp_path / "in.png")
    if kind == "uint16":  # the 8-bit uploads merge levels; the result keeps the input's own
        warnings.simplefilter("ignore", vf.PrecisionWarning)
    flt = vf.RemoveBackground()
    tiny = as_kind(np.ascontiguousarray(rgb[::12, ::12]), kind, tmp_path / "tiny.png")
    expected = shape_of(flt.apply(tiny, client=vance_client))  # what RemoveBackground gives without tiles
    vance_emulator.reset()
    out = flt.apply(image, client=vance_client, on_limit="tile")
    assert shape_of(out) == expected
    assert vance_emulator.credits_used == len(vance_emulator.uploads) <= tiles.count(flt, *SMALL)
    alpha = alpha_of(out)
    assert alpha.shape == (720, 960)
    assert (alpha[body] > 128).mean() > 0.98 and (alpha[~body] < 128).mean() > 0.98
    if kind in ("uint8", "uint16"):
        assert np.array_equal(out[..., :3], image)  # the input's own values, even 16-bit ones
    elif kind in ("pil-rgb", "pil-rgba", "bytes-png", "path"):
        pil = out if isinstance(out, Image.Image) else Image.open(io.BytesIO(out))
        assert np.array_equal(np.asarray(pil.convert("RGB")), rgb)
    elif kind == "pil-l":
        assert np.array_equal(np.asarray(out)[..., 0], np.asarray(image))


def test_background_composes_the_refined_cut_out(vance_client: vf.Client, small_limits: None) -> None:
    src, body = scene(1200, 900, seed=5)
    out = vf.RemoveBackground(background=(0, 255, 0)).apply(src, client=vance_client, on_limit="tile")
    assert out.shape == (900, 1200, 3)  # composed: no alpha, as without tiles
    assert (np.abs(out[~body].astype(int) - [0, 255, 0]).max(axis=1) < 8).mean() > 0.98  # the backdrop: green
    assert (out[body] == src[body]).all(axis=1).mean() > 0.98  # the subject: its own pixels


def test_a_pipeline_and_streaming_are_refused_before_any_upload(
    vance_emulator: Emulator, vance_client: vf.Client, small_limits: None, tmp_path: Path
) -> None:
    src, _ = scene(1200, 900)
    with pytest.raises(tiles.TileRefusedError, match="RemoveBackground in a pipeline"):
        (vf.Sharpen() | vf.RemoveBackground()).apply(src, client=vance_client, on_limit="tile")
    with pytest.raises(vf.ConfigError, match="out="):
        tiles.apply(vf.RemoveBackground(), src, client=vance_client, out=tmp_path / "x.png")
    assert vance_emulator.request_count("upload") == 0 and vance_emulator.credits_used == 0


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "tile-bar"])
def test_cli_remove_background_in_tiles(
    vance_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    quiet: bool,
) -> None:
    from vance_filters import cli

    monkeypatch.setattr(_images, "MAX_UPLOAD_PIXELS", SMALL_LIMIT)
    monkeypatch.setattr(tiles, "MAX_PIXELS", SMALL_LIMIT)
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    rgb, body = scene(*SMALL, seed=7)
    source = tmp_path / "big.png"
    Image.fromarray(rgb).save(source)
    bound = tiles.count(vf.RemoveBackground(), *SMALL)
    code = cli.main(["remove-background", str(source), "-o", str(tmp_path / "plan"), "--on-limit", "tile",
                     "--dry-run", "--json"])
    planned = json.loads(capsys.readouterr().out)
    assert code == 0 and planned["totals"]["credits"] == bound  # before the mask is known: the upper bound
    code = cli.main(["remove-background", str(source), "-o", str(tmp_path / "out"), "--on-limit", "tile",
                     *(["-q"] if quiet else [])])
    err = capsys.readouterr().err
    assert code == 0, err
    if not quiet:  # the bar counts the mask job and the edge tiles sent, and ends full
        sent = len(vance_emulator.uploads)
        assert f"{sent}/{sent}" in err, err
    with Image.open(tmp_path / "out" / "big.png") as out:
        assert out.size == SMALL and out.mode == "RGBA"
        assert np.array_equal(np.asarray(out.convert("RGB")), rgb)
        alpha = np.asarray(out.getchannel("A"))
    assert (alpha[body] > 128).mean() > 0.98 and (alpha[~body] < 128).mean() > 0.98
    assert vance_emulator.credits_used == len(vance_emulator.uploads) <= bound


def test_every_frame_of_a_stack_is_masked_in_tiles_within_its_bound(
    vance_emulator: Emulator, vance_client: vf.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_images, "MAX_UPLOAD_PIXELS", SMALL_LIMIT)
    monkeypatch.setattr(tiles, "MAX_PIXELS", SMALL_LIMIT)
    (first, body), (second, _) = scene(*SMALL, seed=8), scene(*SMALL, seed=9)
    stack = np.stack([first, second])
    bound = 2 * tiles.count(vf.RemoveBackground(), *SMALL)
    assert vf._budget.cost_of(vf.RemoveBackground(), stack, on_limit="tile").uploads == bound
    with pytest.raises(vf.CreditLimitError, match="upper bound|costs up to"):
        vf.remove_background(stack, client=vance_client, on_limit="tile", max_credits=bound - 1)
    out = vf.remove_background(stack, client=vance_client, on_limit="tile", max_credits=bound)
    assert out.shape == (2, 720, 960, 4) and np.array_equal(out[..., :3], stack)
    assert (out[0, ..., 3][body] > 128).mean() > 0.98
    assert vance_emulator.credits_used == len(vance_emulator.uploads) <= bound
