"""The promised output kinds through the emulator: background= is opaque RGB, gray stays gray,
and the Python API's rough edges (integer arrays, channel-first arrays, closed images)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters import imaging
from vance_filters.errors import InputError

H, W = 24, 32


def rgba_cutout() -> np.ndarray:
    """A photo whose left third is fully transparent (the caller's own hole)."""
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    rgba[..., 1] = 90
    rgba[..., 2] = np.linspace(255, 0, H, dtype=np.uint8)[:, None]
    rgba[..., 3] = 255
    rgba[:, : W // 3, 3] = 0
    return rgba


WHITE = (255, 255, 255)


@pytest.mark.parametrize("flt", [vf.RemoveBackground(background="white"), vf.Denoise(background=(255, 255, 255))],
                         ids=["remove_background", "denoise"])
def test_background_gives_opaque_rgb_for_rgba_pil(flt: vf.Filter, vance_client: vf.Client) -> None:
    out = flt.apply(Image.fromarray(rgba_cutout()), client=vance_client)
    assert out.mode == "RGB"  # no alpha, no transparent holes
    hole = np.asarray(out)[:, : W // 3 - 1]
    assert (hole >= 250).all()  # the caller's transparent pixels show the background colour


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "int32"])
def test_background_gives_opaque_rgb_for_rgba_arrays(dtype: str, vance_client: vf.Client) -> None:
    rgba = rgba_cutout().astype(np.float64) / 255
    white = 1.0 if dtype == "float32" else 65535 if dtype == "uint16" else 255
    array = (rgba * white).astype(dtype)
    out = vf.remove_background(array, background="white", client=vance_client)
    assert out.shape == (H, W, 3) and out.dtype == array.dtype
    hole = out[:, : W // 3 - 1].astype(np.float64)
    assert np.allclose(hole, white, rtol=0.01)


@pytest.mark.parametrize("layout", ["LA-array", "LA-pil"])
def test_gray_with_alpha_and_background_gives_rgb(layout: str, vance_client: vf.Client) -> None:
    rgba = rgba_cutout()
    gray_alpha = np.dstack([rgba[..., 1], rgba[..., 3]])
    image = gray_alpha if layout == "LA-array" else Image.fromarray(gray_alpha, "LA")
    out = vf.remove_background(image, background=(0, 0, 255), client=vance_client)
    values = np.asarray(out)
    assert values.shape == (H, W, 3)
    assert (values[:, : W // 3 - 1] == (0, 0, 255)).all()


def test_background_on_rgba_png_bytes_gives_rgb_png(vance_client: vf.Client) -> None:
    buffer = io.BytesIO()
    Image.fromarray(rgba_cutout()).save(buffer, "PNG")
    out = Image.open(io.BytesIO(vf.remove_background(buffer.getvalue(), background="white", client=vance_client)))
    assert (out.format, out.mode) == ("PNG", "RGB")


def test_without_background_the_cutout_keeps_its_alpha(vance_client: vf.Client) -> None:
    out = vf.remove_background(Image.fromarray(rgba_cutout()), client=vance_client)
    assert out.mode == "RGBA" and (np.asarray(out)[:, : W // 3 - 1, 3] == 0).all()


@pytest.mark.parametrize("mode", ["L", "LA", "I;16"])
def test_an_rgb_result_of_a_gray_upload_comes_back_gray(mode: str) -> None:
    gray = np.linspace(0, 255, W * H).reshape(H, W).astype(np.uint8)
    image = Image.fromarray(gray).convert(mode) if mode != "I;16" else Image.fromarray(gray.astype(np.uint16) * 257)
    prepared = imaging.prepare(image)
    assert Image.open(io.BytesIO(prepared.data)).mode == "L"  # a gray upload
    upload = Image.open(io.BytesIO(prepared.data))
    buffer = io.BytesIO()
    upload.convert("RGB").save(buffer, "PNG")  # what the real models send back: RGB
    out = imaging.restore(buffer.getvalue(), prepared, output="same")
    assert out.mode == mode
    assert np.array_equal(np.asarray(out.convert("L") if mode == "LA" else out), np.asarray(image.convert("L") if mode == "LA" else image))


# --------------------------------------------------------------------------- Python API edges


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint32", "uint64"])
def test_integer_arrays_within_0_255_come_back_in_their_dtype(dtype: str, vance_client: vf.Client) -> None:
    array = np.arange(H * W * 3).reshape(H, W, 3) % 100
    array = array.astype(dtype)
    out = vf.denoise(array, remove_noise=0, sharpen=0, client=vance_client)
    assert out.dtype == array.dtype and np.array_equal(out, array)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32"])
def test_integer_arrays_within_0_65535_are_read_as_16_bit(dtype: str, vance_client: vf.Client) -> None:
    array = (np.arange(H * W).reshape(H, W) * 5).astype(dtype)  # 0-3835: 12-bit data
    with pytest.warns(vf.PrecisionWarning):
        out = vf.denoise(array, remove_noise=0, sharpen=0, client=vance_client)
    assert out.dtype == array.dtype and out.min() == 0 and out.max() == array.max()
    assert np.abs(out.astype(np.int64) - array).max() <= 3835 / 255 / 2 + 0.5


@pytest.mark.parametrize(("value", "words"), [(-1, "0-255"), (70_000, "0-65535")])
def test_integer_arrays_out_of_range_are_refused_naming_the_range(
    value: int, words: str, vance_client: vf.Client, vance_emulator
) -> None:
    array = np.zeros((H, W), np.int64)
    array[3, 4] = value
    before = vance_emulator.request_count()
    with pytest.raises(InputError, match=words) as info:
        vf.denoise(array, client=vance_client)
    assert f"[{min(value, 0)}, {max(value, 0)}]" in str(info.value)
    assert vance_emulator.request_count() == before


@pytest.mark.parametrize("channels", [3, 4])
def test_channel_first_arrays_get_a_moveaxis_hint(channels: int, vance_client: vf.Client) -> None:
    with pytest.raises(InputError, match=r"channel-first.*np\.moveaxis\(a, 0, -1\)"):
        vf.denoise(np.zeros((channels, H, W), np.uint8), client=vance_client)


def test_a_closed_image_gets_a_plain_message(vance_client: vf.Client, tmp_path) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(rgba_cutout()).save(path)
    with Image.open(path) as image:
        pass
    with pytest.raises(InputError, match="the image was closed.*reopen it") as info:
        vf.denoise(image, client=vance_client)
    assert "Operation on closed image" not in str(info.value)
