"""on_limit="tile": full resolution in overlapping tiles, measured against the emulator's own stand-ins.

The limits are made small on both sides (the emulator refuses uploads over ``LIMIT`` pixels;
the tiler cuts for it), so a 2 MP image needs several tiles and the suite stays fast. The
reference is the same stand-in run locally on a seam-centred crop wide enough for its
receptive field: no full-size reference is needed for a local feature.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters import cli, tiles
from vance_filters.testing import Emulator, _images, _processing
from vance_filters.testing._jconfig import parse

#: The upload limit of these tests, on the emulator and on the tiler.
LIMIT = 400_000
#: Half-width of the band measured around every seam, in input pixels.
BAND = 32
#: Context around a band for its reference crop: beyond the stand-ins' reach (~21 px).
CONTEXT = 48


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator refuses uploads over LIMIT pixels; the tiler cuts for that limit."""
    monkeypatch.setattr(_images, "MAX_UPLOAD_PIXELS", LIMIT)
    monkeypatch.setattr(tiles, "MAX_PIXELS", LIMIT)


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Photo-like: smooth shapes and gradients, fine texture and a little sensor noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, (height // 24 + 2, width // 24 + 2, 3))
    smooth = np.asarray(
        Image.fromarray(np.uint8(np.clip(128 + 55 * coarse, 0, 255))).resize((width, height), Image.BICUBIC),
        float,
    )
    return np.uint8(np.clip(smooth + rng.normal(0, 2, (height, width, 3)), 0, 255))


def stand_in(flt: vf.Filter, crop: np.ndarray) -> np.ndarray:
    """What the emulator makes of ``crop`` uploaded as PNG: the reference."""
    steps = parse(flt.to_jconfig(), known_uid=lambda uid: True).steps
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, "PNG")
    with pytest.MonkeyPatch.context() as patch:  # a local run: no upload limit
        patch.setattr(_images, "MAX_UPLOAD_PIXELS", 10**9)
        data, _ = _processing.run(buf.getvalue(), "png", steps)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def band_errors(
    flt: vf.Filter, src: np.ndarray, out: np.ndarray, cuts: list[int], axis: int, band: int = BAND,
    worst: bool = False,
) -> list[float]:
    """Mean (or ``worst``: largest) absolute error against the reference in +-band input px
    around each cut along ``axis``."""
    scale = flt.scale
    errors = []
    for cut in cuts:
        lo, hi = max(0, cut - band - CONTEXT), min(src.shape[axis], cut + band + CONTEXT)
        crop = src[:, lo:hi] if axis == 1 else src[lo:hi]
        ref = stand_in(flt, np.ascontiguousarray(crop))
        a, b = (cut - band - lo) * scale, (cut + band - lo) * scale
        ref_band = ref[:, a:b] if axis == 1 else ref[a:b]
        out_band = (out[:, (cut - band) * scale:(cut + band) * scale] if axis == 1
                    else out[(cut - band) * scale:(cut + band) * scale])
        diff = np.abs(ref_band.astype(int) - out_band.astype(int))
        errors.append(float(diff.max() if worst else diff.mean()))
    return errors


def seams(layout: list[tiles.Tile]) -> tuple[list[int], list[int]]:
    """The inner seams: x positions (vertical cuts) and y positions."""
    xs = sorted({t.core[0] for t in layout if t.core[0] > 0})
    ys = sorted({t.core[1] for t in layout if t.core[1] > 0})
    return xs, ys


def middles(layout: list[tiles.Tile]) -> tuple[list[int], list[int]]:
    """The middles of the tiles' cores: as far from any seam as it gets."""
    xs = sorted({(t.core[0] + t.core[2]) // 2 for t in layout})
    ys = sorted({(t.core[1] + t.core[3]) // 2 for t in layout})
    return xs, ys


def check_enlarge_seams(client: vf.Client, width: int, height: int, upload_format: str, tolerance: float) -> None:
    src = photo(width, height)
    flt = vf.Enlarge(scale=2)
    layout = tiles.layout(width, height, scale=2)
    assert len(layout) >= 2 and all(t.pixels <= tiles.MAX_PIXELS for t in layout)
    out = tiles.apply(flt, src, client=client, upload_format=upload_format)  # type: ignore[arg-type]
    assert out.shape == (2 * height, 2 * width, 3) and out.dtype == np.uint8
    xs, ys = seams(layout)
    at_seams = band_errors(flt, src, out, xs, 1) + band_errors(flt, src, out, ys, 0)
    mx, my = middles(layout)
    away = band_errors(flt, src, out, mx, 1) + band_errors(flt, src, out, my, 0)
    assert max(at_seams) <= tolerance, at_seams
    assert max(at_seams) <= max(away) * 1.1 + 0.05, (at_seams, away)  # the seams are not worse
    if upload_format == "png":  # lossless tiles with enough context: the very same pixels
        worst = band_errors(flt, src, out, xs, 1, worst=True) + band_errors(flt, src, out, ys, 0, worst=True)
        assert max(worst) <= 1


@pytest.mark.parametrize(("upload_format", "tolerance"), [("png", 1.0), ("jpeg", 3.0)])
def test_enlarge_in_tiles_matches_the_stand_in_at_every_seam(
    vance_client: vf.Client, small_limits: None, upload_format: str, tolerance: float
) -> None:
    assert len(tiles.layout(1280, 960, scale=2)) >= 4  # seams both ways
    check_enlarge_seams(vance_client, 1280, 960, upload_format, tolerance)


BIG = pytest.mark.skipif(os.environ.get("VANCE_TILES_BIG") != "1",
                         reason="the full-size runs are opt-in: set VANCE_TILES_BIG=1")


@BIG
@pytest.mark.timeout(1200)
def test_a_40_mp_photo_enlarged_in_tiles_at_the_real_limits(vance_client: vf.Client) -> None:
    check_enlarge_seams(vance_client, 7744, 5168, "png", 1.0)  # 40 MP, the service's own limits


def test_a_margin_below_the_receptive_field_shows_as_a_seam(vance_client: vf.Client, small_limits: None) -> None:
    src = photo(960, 640, seed=1)
    flt = vf.Enlarge(scale=2)
    out = tiles.apply(flt, src, client=vance_client, margin=0)
    xs, ys = seams(tiles.layout(960, 640, scale=2, margin=0))
    near = band_errors(flt, src, out, xs, 1, band=8, worst=True) + band_errors(flt, src, out, ys, 0, band=8, worst=True)
    assert min(near) >= 3, near  # the emulator's stand-in sees farther than the tile did


def unevenly_lit(width: int, height: int) -> np.ndarray:
    """A photo lit from one corner: dark on one side, bright on the other."""
    light = np.linspace(0.35, 1.25, width)[None, :] * np.linspace(0.6, 1.1, height)[:, None]
    return np.uint8(np.clip(photo(width, height, seed=3) * light[..., None], 0, 255))


def test_a_global_stand_in_on_a_crop_alone_steps_in_tone(small_limits: None) -> None:
    # Why Repair needs the anchor: the stand-in pivots on the whole image's luminance.
    src = unevenly_lit(640, 480)
    whole = stand_in(vf.Repair(), src)
    half = stand_in(vf.Repair(), np.ascontiguousarray(src[:, 320:]))
    assert abs(float(whole[:, 340:620].mean()) - float(half[:, 20:300].mean())) > 2


def check_repair_seams(client: vf.Client, width: int, height: int) -> None:
    src = unevenly_lit(width, height)
    flt = vf.Repair()
    layout = tiles.layout(width, height)
    assert len(layout) >= 2
    before = client.credits().remaining
    out = tiles.apply(flt, src, client=client)
    assert client.credits().remaining == before - (len(layout) + 1) * flt.cost  # tiles + anchor
    assert tiles.count(flt, width, height) == len(layout) + 1
    whole = stand_in(flt, src).astype(np.float32)  # a global feature's reference is the whole image
    error = out.astype(np.float32) - whole
    xs, ys = seams(layout)
    # No step: the error's profile across every seam is as flat as the image's own line-to-line change.
    columns = error.mean(axis=(0, 2))
    rows = error.mean(axis=(1, 2))
    line_to_line = np.abs(np.diff(whole.mean(axis=(0, 2)))).mean()
    for cut in xs:
        assert abs(columns[cut:cut + 8].mean() - columns[cut - 8:cut].mean()) < max(0.5, line_to_line)
    for cut in ys:
        assert abs(rows[cut:cut + 8].mean() - rows[cut - 8:cut].mean()) < max(0.5, line_to_line)
    assert np.abs(error).mean() < 1.5  # tone and colour agree with the whole-image result


def test_repair_in_tiles_shows_no_step_at_the_seams(vance_client: vf.Client, small_limits: None) -> None:
    check_repair_seams(vance_client, 1280, 960)


@BIG
@pytest.mark.timeout(1200)
def test_a_60_mp_unevenly_lit_repair_in_tiles_at_the_real_limits(vance_client: vf.Client) -> None:
    check_repair_seams(vance_client, 9504, 6336)  # 60 MP


def test_on_limit_tile_keeps_the_kind_mode_and_alpha(
    vance_client: vf.Client, small_limits: None
) -> None:
    rgba = np.dstack([photo(900, 700, seed=4), np.tile(np.linspace(0, 255, 900, dtype=np.uint8), (700, 1))])
    pil = Image.fromarray(rgba, "RGBA")
    out = vf.Enlarge(scale=2).apply(pil, client=vance_client, on_limit="tile")
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (1800, 1400)
    alpha = np.asarray(out.getchannel("A"), float)[::2, ::2]
    assert np.abs(alpha - rgba[..., 3]).mean() < 2  # alpha carried across the seams
    gray16 = (photo(900, 700, seed=5)[..., 0].astype(np.uint16) * 257)
    out16 = vf.sharpen(gray16, client=vance_client, on_limit="tile")
    assert out16.shape == (700, 900) and out16.dtype == np.uint16
    data = io.BytesIO()
    Image.fromarray(photo(900, 700, seed=6)).save(data, "PNG")
    raw = vf.Denoise().apply(data.getvalue(), client=vance_client, on_limit="tile")
    assert isinstance(raw, bytes) and Image.open(io.BytesIO(raw)).size == (900, 700)


def test_generative_features_are_refused_unless_forced(vance_client: vf.Client, small_limits: None) -> None:
    before = vance_client.credits().remaining
    with pytest.raises(tiles.TileRefusedError, match="would not agree"):
        vf.ToAnime().apply(photo(900, 700), client=vance_client, on_limit="tile")
    with pytest.raises(tiles.TileRefusedError, match="RemoveBackground"):  # alone it tiles: test_tiles_mask
        (vf.Denoise() | vf.RemoveBackground()).apply(photo(900, 700), client=vance_client, on_limit="tile")
    assert vance_client.credits().remaining == before  # refused before any upload
    with pytest.warns(DeprecationWarning):  # the cartoonizer is deprecated by the vendor
        out = tiles.apply(vf.Cartoonize(), photo(900, 700), client=vance_client, force=True)
    assert out.shape == (700, 900, 3)


def test_max_credits_counts_tiles_and_anchors(vance_client: vf.Client, small_limits: None) -> None:
    n = tiles.count(vf.Repair(), 1280, 960)
    with pytest.raises(vf.CreditLimitError, match="tile"):
        vf.Repair().apply(unevenly_lit(1280, 960), client=vance_client, on_limit="tile", max_credits=n - 1)


def test_plan_counts_every_tile_and_the_anchor_as_the_run_spends(
    vance_client: vf.Client, small_limits: None
) -> None:
    src = unevenly_lit(1280, 960)
    flt = vf.Repair()
    before = vf.plan(flt, [src], client=vance_client, on_limit="tile")
    assert before[0].distinct == tiles.count(flt, 1280, 960) == len(tiles.layout(1280, 960)) + 1
    assert all(u.size[0] * u.size[1] <= LIMIT and u.format == "png" for u in before[0].uploads)
    assert vf._budget.cost_of(flt, src, on_limit="tile").credits == before.credits
    spent = vance_client.credits().remaining
    flt.apply(src, client=vance_client, on_limit="tile")
    assert spent - vance_client.credits().remaining == before.credits  # as planned
    after = vf.plan(flt, [src], client=vance_client, on_limit="tile")
    assert after.credits == 0 and after[0].status == "cached"  # every tile is in the result cache
    assert vf.plan(vf.ToAnime(), [src], client=vance_client, on_limit="tile")[0].error


def test_cli_on_limit_tile(
    vance_emulator: Emulator, small_limits: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vance_emulator.reset()
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    source = tmp_path / "big.png"
    Image.fromarray(photo(1000, 700, seed=7)).save(source)
    code = cli.main(["sharpen", os.fspath(source), "-o", os.fspath(tmp_path / "out"), "-q", "--on-limit", "tile"])
    assert code == 0, capsys.readouterr().err
    with Image.open(tmp_path / "out" / "big.png") as out:
        assert out.size == (1000, 700)
    assert vance_emulator.credits_used == len(tiles.layout(1000, 700)) * vf.Sharpen().cost
    code = cli.main(["sharpen", os.fspath(source), "-o", os.fspath(tmp_path / "plan"), "--on-limit", "tile",
                     "--dry-run", "--json"])
    planned = json.loads(capsys.readouterr().out)
    # The dry run counts what the run spent: every tile (each CLI run starts with an empty cache here).
    assert code == 0 and planned["totals"]["credits"] == vance_emulator.credits_used


def test_png_tiles_are_cut_to_fit_the_byte_limit_as_encoded(
    vance_client: vf.Client, small_limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tiles, "MAX_BYTES", 300_000)
    src = photo(1280, 960, seed=8)
    auto = vf.plan(vf.Sharpen(), [src], client=vance_client, on_limit="tile")
    lossless = vf.plan(vf.Sharpen(), [src], client=vance_client, on_limit="tile", upload_format="png")
    assert lossless[0].distinct > auto[0].distinct  # smaller tiles, so each fits as PNG
    assert all(u.format == "png" and u.bytes <= 300_000 for u in lossless[0].uploads)
    assert lossless.credits == vf._budget.cost_of(vf.Sharpen(), src, on_limit="tile", upload_format="png").credits


@pytest.mark.parametrize("kind", ["rgb8", "gray16"])
def test_a_streamed_result_is_the_same_pixels_written_band_by_band(
    vance_client: vf.Client, small_limits: None, tmp_path: Path, kind: str
) -> None:
    import tracemalloc

    src = photo(700, 1400, seed=9) if kind == "rgb8" else photo(700, 1400, seed=9)[..., 1].astype(np.uint16) * 257
    flt = vf.Enlarge(scale=2)
    assert len({t.row for t in tiles.layout(700, 1400, scale=2)}) >= 3  # several bands
    tiles.apply(flt, src, client=vance_client)  # both measured runs below read the same cache

    def peak_of(**options: object) -> tuple[object, int]:
        tracemalloc.start()
        try:
            done = tiles.apply(flt, src, client=vance_client, concurrency=1, **options)  # type: ignore[arg-type]
            return done, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    in_memory, memory_peak = peak_of()
    path, stream_peak = peak_of(out=tmp_path / "big.png")
    assert isinstance(in_memory, np.ndarray) and isinstance(path, Path)
    with Image.open(path) as streamed:
        assert np.array_equal(np.asarray(streamed), in_memory)
    assert stream_peak < memory_peak  # no full-size buffer (the in-flight tiles dominate at this size)


def test_tiles_fit_the_clients_result_cap(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_processing, "MAX_RESULT_PIXELS", 2_000_000)  # the service refuses bigger results
    src = photo(640, 480, seed=10)
    with vf.Client(vance_emulator.api_token, vance_emulator.url, max_result_pixels=2_000_000) as client:
        planned = vf.plan(vf.Enlarge(scale=4), [src], client=client, on_limit="tile")
        before = client.credits().remaining
        out = vf.Enlarge(scale=4).apply(src, client=client, on_limit="tile")
        assert out.shape == (1920, 2560, 3)
        assert before - client.credits().remaining == planned.credits == len(
            tiles.layout(640, 480, scale=4, max_result_pixels=2_000_000)
        )
        assert all(u.size[0] * u.size[1] * 16 <= 2_000_000 for u in planned[0].uploads)
    with pytest.raises(ValueError, match="max_result_pixels"):
        vf.Client("token", "http://127.0.0.1:1", max_result_pixels=0)


def test_every_frame_of_a_stack_is_tiled_and_counted(vance_client: vf.Client, small_limits: None) -> None:
    stack = np.stack([photo(900, 700, seed=11), photo(900, 700, seed=12)])
    per_frame = len(tiles.layout(900, 700))
    assert vf._budget.cost_of(vf.Denoise(), stack, on_limit="tile").uploads == 2 * per_frame
    with pytest.raises(vf.CreditLimitError):
        vf.denoise(stack, client=vance_client, on_limit="tile", max_credits=2 * per_frame - 1)
    before = vance_client.credits().remaining
    out = vf.denoise(stack, client=vance_client, on_limit="tile", max_credits=2 * per_frame)
    assert out.shape == stack.shape and before - vance_client.credits().remaining == 2 * per_frame
