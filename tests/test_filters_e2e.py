"""Every feature through the emulator, over the real input matrix: same kind out, promised size."""

from __future__ import annotations

import io
import pathlib
import warnings

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.testing import sample_image

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    FILTERS = [
        vf.Enlarge(scale=2),
        vf.Denoise(),
        vf.Sharpen(),
        vf.RemoveBackground(),
        vf.UpscaleAnime(scale=4),
        vf.UpscaleAnime(scale=1, model="real_esrgan"),
        vf.Repair(),
        vf.Restore(),
        vf.Cartoonize(),
        vf.ToAnime(),
        vf.Animegan(),
        vf.Recolor(),
        vf.Colorize(),
        vf.EnhanceFaces(),
        vf.Denoise() | vf.Colorize() | vf.Enlarge(scale=4),
    ]
IDS = [repr(f)[:40] for f in FILTERS]

W, H = 20, 14
BASE = sample_image("object", size=(W, H))
PIL_MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


def pil_input(mode: str) -> Image.Image:
    if mode in ("I;16", "I", "F"):
        return BASE.convert("L").convert(mode)
    return BASE.convert(mode)


def expected_mode(mode: str, output: str) -> str:
    if output == "rgba":
        return "RGBA"
    has_alpha = mode in ("LA", "RGBA", "PA")
    if output == "rgb":
        if has_alpha:
            return "RGBA"
        return "CMYK" if mode == "CMYK" else "RGB"
    return {"P": "RGB", "PA": "RGBA"}.get(mode, mode)


@pytest.mark.parametrize("mode", PIL_MODES)
@pytest.mark.parametrize("flt", FILTERS, ids=IDS)
def test_pil_in_pil_out(flt: vf.Filter, mode: str, vance_client: vf.Client) -> None:
    image = pil_input(mode)
    out = flt.apply(image, client=vance_client)
    assert isinstance(out, Image.Image)
    assert out.size == (W * flt.scale, H * flt.scale)
    assert out.mode == expected_mode(mode, flt.output)


def array_input(dtype: str, channels: int | None) -> np.ndarray:
    rgba = np.asarray(BASE.convert("RGBA")).copy()
    rgba[..., 3] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    gray = np.asarray(BASE.convert("L"))
    if channels is None:
        data = gray
    elif channels == 1:
        data = gray[..., None]
    elif channels == 2:
        data = np.dstack([gray, rgba[..., 3]])
    else:
        data = rgba[..., :channels]
    if dtype == "uint8":
        return data.copy()
    if dtype == "uint16":
        return data.astype(np.uint16) * 257
    if dtype == "bool":
        return data >= 64
    return (data / 255.0).astype(dtype)


ARRAYS = [
    (dtype, channels)
    for dtype in ("uint8", "uint16", "float32", "float64")
    for channels in (None, 1, 2, 3, 4)
] + [("bool", None), ("bool", 1)]


def expected_channels(channels: int | None, output: str) -> int | None:
    if output == "rgba":
        return 4
    if output == "rgb":
        return 4 if channels in (2, 4) else 3
    return channels


@pytest.mark.parametrize(("dtype", "channels"), ARRAYS, ids=[f"{d}-{c}" for d, c in ARRAYS])
@pytest.mark.parametrize("flt", FILTERS, ids=IDS)
def test_array_in_array_out(flt: vf.Filter, dtype: str, channels: int | None, vance_client: vf.Client) -> None:
    array = array_input(dtype, channels)
    out = flt.apply(array, client=vance_client)
    assert isinstance(out, np.ndarray)
    assert out.dtype == array.dtype
    want = expected_channels(channels, flt.output)
    shape = (H * flt.scale, W * flt.scale) + (() if want is None else (want,))
    assert out.shape == shape
    if out.dtype.kind == "f":
        assert 0.0 <= out.min() and out.max() <= 1.0
    assert out.any(), "the result is not blank"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("flt", FILTERS, ids=IDS)
def test_bytes_in_bytes_out_same_container(flt: vf.Filter, fmt: str, vance_client: vf.Client) -> None:
    buffer = io.BytesIO()
    BASE.save(buffer, fmt)
    out = flt.apply(buffer.getvalue(), client=vance_client)
    assert isinstance(out, bytes)
    decoded = Image.open(io.BytesIO(out))
    want = "PNG" if flt.output == "rgba" else fmt  # JPEG cannot hold the cut-out's alpha
    assert decoded.format == want
    assert decoded.size == (W * flt.scale, H * flt.scale)


def test_bytes_out_format_is_honoured(vance_client: vf.Client) -> None:
    buffer = io.BytesIO()
    BASE.save(buffer, "JPEG")
    out = vf.denoise(buffer.getvalue(), format="png", client=vance_client)
    assert Image.open(io.BytesIO(out)).format == "PNG"


@pytest.mark.parametrize("as_str", [True, False], ids=["str", "pathlib"])
def test_path_in_pil_out(tmp_path: pathlib.Path, as_str: bool, vance_client: vf.Client) -> None:
    path = tmp_path / "photo.jpg"
    BASE.save(path)
    out = vf.enlarge(str(path) if as_str else path, scale=4, client=vance_client)
    assert isinstance(out, Image.Image)
    assert out.size == (W * 4, H * 4)


def test_alpha_survives_a_feature_that_does_not_make_it(vance_client: vf.Client) -> None:
    rgba = BASE.convert("RGBA")
    alpha = Image.linear_gradient("L").resize(rgba.size)
    rgba.putalpha(alpha)
    out = vf.denoise(rgba, client=vance_client)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))
    big = vf.enlarge(rgba, scale=2, client=vance_client)
    expected = np.asarray(alpha.resize(big.size, Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(np.asarray(big.getchannel("A"), dtype=float) - expected).max() <= 8


def test_background_removal_makes_a_real_mask(vance_client: vf.Client) -> None:
    image = sample_image("object", size=(64, 48))
    alpha = np.asarray(vf.remove_background(image, client=vance_client).getchannel("A"))
    assert alpha[0, 0] < 32 and alpha[24, 32] > 224  # border out, the object in
    flat = vf.remove_background(image, background=(0, 255, 0), client=vance_client)
    assert flat.mode == "RGB" and flat.getpixel((0, 0))[1] > 200


def test_the_three_doors_give_the_same_result(vance_emulator, vance_client: vf.Client) -> None:
    image = sample_image("photo", size=(32, 24))
    vf.set_default_client(vance_client)
    by_function = vf.enlarge(image, scale=4)
    by_apply = vf.Enlarge(scale=4).apply(image)
    by_pillow = image.filter(vf.Enlarge(scale=4))
    assert by_pillow.size == (128, 96)
    assert np.array_equal(np.asarray(by_function), np.asarray(by_apply))
    assert np.array_equal(np.asarray(by_function), np.asarray(by_pillow))
    assert vance_emulator.request_count("upload") == 1  # the other two came from the cache


def test_pillow_filter_keeps_a_palette_image_working(vance_client: vf.Client) -> None:
    vf.set_default_client(vance_client)
    out = BASE.convert("P").filter(vf.Denoise())
    assert out.mode == "RGB" and out.size == BASE.size


def test_a_pipeline_is_one_upload_one_transform_one_download(vance_emulator, vance_client: vf.Client) -> None:
    pipeline = vf.Sharpen() | vf.EnhanceFaces() | vf.Enlarge(scale=2)
    out = pipeline.apply(BASE, client=vance_client)
    assert out.size == (W * 2, H * 2)
    counts = {e: vance_emulator.request_count(e) for e in ("upload", "transform", "progress", "download")}
    assert counts["upload"] == counts["transform"] == counts["download"] == 1
    assert [p for _, p in vance_emulator.charges] == [4.0] == [float(pipeline.cost)]  # every step: 2 + 1 + 1
    (job,) = vance_emulator.jobs.values()
    assert [s["name"] for s in job.jconfig["config"]] == ["va_sharpen_standard", "CodeFormer", "enlarge3"]


def test_to_anime_fills_in_its_own_upload_uid(vance_emulator, vance_client: vf.Client) -> None:
    vf.to_anime(BASE, style="disney_girl", client=vance_client)
    (job,) = vance_emulator.jobs.values()
    assert job.jconfig["cn_configs"] == [{"image_uid": job.uid, "cn_name": "more_cartoon_lineart"}]


def test_output_options_reach_the_result(vance_client: vf.Client) -> None:
    buffer = io.BytesIO()
    BASE.save(buffer, "PNG")
    out = vf.enhance_faces(buffer.getvalue(), format="jpg", quality=40, dpi=300, client=vance_client)
    decoded = Image.open(io.BytesIO(out))
    assert decoded.format == "JPEG"
    assert round(decoded.info["dpi"][0]) == 300


def test_bad_input_raises_before_any_request(vance_emulator, vance_client: vf.Client) -> None:
    for bad in (np.zeros((0, 5)), np.full((4, 4), np.nan), np.full((4, 4), 2.0), b"not an image",
                "/no/such/file.png", np.zeros((4, 4, 5), np.uint8)):
        with pytest.raises(vf.InputError):
            vf.denoise(bad, client=vance_client)
    assert vance_emulator.request_count() == 0


def test_a_failed_job_raises_with_its_trans_id(vance_emulator, vance_client: vf.Client) -> None:
    vance_emulator.fail_jobs(1)
    with pytest.raises(vf.JobFailedError) as info:
        vf.denoise(BASE, client=vance_client)
    assert info.value.trans_id in vance_emulator.jobs
    assert vance_emulator.charges == []
