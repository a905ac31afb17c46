"""High bit depth through the emulator: the levels a wide image uses survive the 8-bit service.

The emulator's denoiser with ``remove_noise=0, sharpen=0`` gives the upload back untouched, so
what comes back shows exactly what the 8-bit round trip keeps.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.errors import InputError, PrecisionWarning

H, W = 24, 32
IDENTITY = vf.Denoise(remove_noise=0, sharpen=0)


def ramp(low: float, high: float, levels: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    """A float64 picture stepping through ``levels`` values from low to high, row by row."""
    count = shape[0] * shape[1]
    index = np.arange(count).reshape(shape) * levels // count
    return low + (high - low) * index / (levels - 1)


def distinct(values: np.ndarray) -> int:
    return int(np.unique(values).size)


def quiet(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        return call()


def test_detector_frame_1000_to_1100_keeps_its_levels(vance_client: vf.Client) -> None:
    frame = np.rint(ramp(1000, 1100, 101)).astype(np.uint16)
    out = quiet(lambda: IDENTITY.apply(frame, client=vance_client))  # 101 levels fit in 8 bits
    assert out.dtype == np.uint16 and out.shape == frame.shape
    assert out.min() == 1000 and out.max() == 1100
    assert distinct(out) > 90  # it came back as 1 or 2 levels when reduced over 0-65535
    assert np.array_equal(out, frame)  # stretched 0-255 and back: exact on an identity


def test_detector_frame_through_a_real_stand_in_keeps_detail(vance_client: vf.Client) -> None:
    frame = np.rint(ramp(1000, 1100, 101)).astype(np.uint16)
    out = vf.denoise(frame, client=vance_client)
    assert out.dtype == np.uint16 and 1000 <= out.min() and out.max() <= 1100
    assert distinct(out) > 90


def test_more_levels_than_8_bits_warn_and_keep_256(vance_client: vf.Client) -> None:
    frame = np.rint(ramp(1000, 1600, 601)).astype(np.uint16)
    with pytest.warns(PrecisionWarning, match="the uint16 array has more distinct levels") as record:
        out = IDENTITY.apply(frame, client=vance_client)
    warning = record[0].message
    assert isinstance(warning, PrecisionWarning)
    assert (warning.levels_in, warning.levels_out, warning.low, warning.high) == (601, 256, 1000, 1600)
    assert record[0].filename == __file__  # points at the caller's line
    assert out.min() == 1000 and out.max() == 1600
    assert distinct(out) == 256
    assert np.abs(out.astype(int) - frame).max() <= 600 / 255 / 2 + 0.5


@pytest.mark.parametrize("kind", ["array", "I;16", "png-bytes"])
def test_twelve_bit_ramp_keeps_256_levels_not_17(kind: str, vance_client: vf.Client) -> None:
    values = np.rint(ramp(0, 4095, 4096, (64, 64))).astype(np.uint16)  # every 12-bit level
    image: Any = values
    if kind != "array":
        image = Image.fromarray(values)
        if kind == "png-bytes":
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            image = buffer.getvalue()
    with pytest.warns(PrecisionWarning):
        out = IDENTITY.apply(image, client=vance_client)
    if kind == "png-bytes":
        out = Image.open(io.BytesIO(out))
        assert out.format == "PNG"
    if kind != "array":
        assert out.mode.startswith("I;16")
    back = np.asarray(out)
    assert back.min() == 0 and back.max() == 4095
    assert distinct(back) == 256


#: dtype → (low, high) of a narrow range inside the dtype's documented range.
NARROW = {
    "uint16": (1000, 1100),
    "int32": (1000, 1100),  # an integer array with values over 255: read as uint16
    "float16": (0.40, 0.44),
    "float32": (0.40, 0.44),
    "float64": (0.40, 0.44),
}
LAYOUTS = ["HW", "HW1", "HW2", "HW3", "HW4"]


def narrow_array(dtype: str, layout: str) -> np.ndarray:
    low, high = NARROW[dtype]
    gray = ramp(low, high, 101)
    planes = {
        "HW": [gray],
        "HW1": [gray],
        "HW2": [gray],
        "HW3": [gray, gray[::-1], gray[:, ::-1]],
        "HW4": [gray, gray[::-1], gray[:, ::-1]],
    }[layout]
    if layout in ("HW2", "HW4"):  # a wide alpha over the dtype's whole range
        white = 1.0 if dtype.startswith("float") else 65535
        planes.append(np.linspace(0, white, W)[None, :].repeat(H, 0))
    stack = np.stack(planes, axis=-1) if layout != "HW" else planes[0]
    if not dtype.startswith("float"):
        stack = np.rint(stack)
    return stack.astype(dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", list(NARROW))
def test_narrow_range_arrays_come_back_with_their_levels(
    dtype: str, layout: str, vance_client: vf.Client
) -> None:
    array = narrow_array(dtype, layout)
    out = quiet(lambda: IDENTITY.apply(array, client=vance_client))
    assert out.dtype == array.dtype and out.shape == array.shape
    colour = slice(0, 3) if layout in ("HW3", "HW4") else slice(0, 1)
    got = out[..., colour] if out.ndim == 3 else out[..., None]
    want = array[..., colour] if array.ndim == 3 else array[..., None]
    low, high = NARROW[dtype]
    assert got.min() >= np.asarray(low, array.dtype) and got.max() <= np.asarray(high, array.dtype)
    for c in range(got.shape[-1]):
        assert distinct(got[..., c]) > 90
    step = (high - low) / 255
    assert np.abs(got.astype(np.float64) - want).max() <= step / 2 + (1e-3 if dtype == "float16" else 0.51)
    if layout in ("HW2", "HW4"):
        assert np.array_equal(out[..., -1], array[..., -1])  # the wide alpha, untouched


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_narrow_range_wide_pil_modes_keep_their_levels(mode: str, vance_client: vf.Client) -> None:
    values = ramp(0.40, 0.44, 101) if mode == "F" else np.rint(ramp(1000, 1100, 101))
    image = Image.fromarray(values.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    assert image.mode == mode
    out = quiet(lambda: vf.denoise(image, remove_noise=0, sharpen=0, client=vance_client))
    assert out.mode == mode and out.size == image.size
    back = np.asarray(out)
    assert distinct(back) > 90
    tolerance = 0.04 / 255 / 2 + 1e-6 if mode == "F" else 0  # 101 integer levels: exact
    assert np.abs(back.astype(np.float64) - np.asarray(image)).max() <= tolerance


@pytest.mark.parametrize(
    "image",
    [
        np.full((H, W), 1050, np.uint16),
        np.full((H, W, 3), 0.3, np.float32),
        np.full((H, W), 7, np.int64),
        Image.fromarray(np.full((H, W), 1050, np.uint16)),
    ],
    ids=["uint16", "float32", "int64", "I;16"],
)
def test_constant_images_come_back_unchanged(image: Any, vance_client: vf.Client) -> None:
    out = quiet(lambda: IDENTITY.apply(image, client=vance_client))
    before, after = np.asarray(image), np.asarray(out)
    assert after.dtype == before.dtype
    assert np.allclose(after, before, atol=1e-6, rtol=0)


def test_a_batch_of_wide_images_warns_once(vance_client: vf.Client) -> None:
    frames = [np.rint(ramp(1000, 1600 + 50 * i, 601 + 50 * i)).astype(np.uint16) for i in range(4)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for frame in frames:
            IDENTITY.apply(frame, client=vance_client)
    assert [w.category for w in caught] == [PrecisionWarning]


def test_full_range_8_bit_data_in_a_wide_dtype_does_not_warn(vance_client: vf.Client) -> None:
    eight = np.rint(ramp(0, 255, 256)).astype(np.uint8)
    for image in (eight.astype(np.uint16) * 257, eight.astype(np.float32) / 255):
        out = quiet(lambda image=image: IDENTITY.apply(image, client=vance_client))
        assert np.allclose(out, image, atol=1e-6, rtol=0)


def test_floats_outside_0_1_are_still_refused(vance_client: vf.Client) -> None:
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        vf.denoise(np.full((4, 4), 2.0, np.float32), client=vance_client)
