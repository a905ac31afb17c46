"""The 10 MB / 34 MP upload limits, end to end: the emulator never sees more, the user gets the promised size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters._features import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS


def noisy(width: int, height: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 200, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 55, width, dtype=np.float32)[None, :]
    base = (y + x).astype(np.uint8)
    shape = (height, width) if channels == 1 else (height, width, channels)
    noise = rng.integers(0, 40, size=shape, dtype=np.uint8)
    if channels == 1:
        return base + noise
    return base[..., None] + noise


def uploaded(emu) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    (record,) = emu.uploads.values()
    return len(record.data), record.width, record.height


@pytest.mark.timeout(120)
def test_a_40_megapixel_image_goes_through_at_its_own_size(vance_emulator, vance_client: vf.Client) -> None:
    array = noisy(8000, 5000)
    with pytest.warns(vf.DownscaleWarning, match="8000x5000"):
        out = vf.repair(array, client=vance_client)
    nbytes, width, height = uploaded(vance_emulator)
    assert nbytes <= MAX_UPLOAD_BYTES and width * height <= MAX_UPLOAD_PIXELS
    assert out.shape == array.shape and out.dtype == np.uint8


@pytest.mark.timeout(120)
def test_an_image_of_12_mb_as_png_goes_through(vance_emulator, vance_client: vf.Client) -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, size=(3000, 4000), dtype=np.uint8)  # gray noise: PNG only, ~12 MB
    png = io.BytesIO()
    Image.fromarray(gray).save(png, "PNG", compress_level=1)
    assert png.tell() > 12_000_000
    with pytest.warns(vf.DownscaleWarning):
        out = vf.enlarge(png.getvalue(), scale=2, client=vance_client)
    nbytes, width, height = uploaded(vance_emulator)
    assert nbytes <= MAX_UPLOAD_BYTES and width * height <= MAX_UPLOAD_PIXELS
    result = Image.open(io.BytesIO(out))
    assert result.format == "PNG" and result.size == (8000, 6000)


def test_on_limit_raise_refuses_before_any_upload(vance_emulator, vance_client: vf.Client) -> None:
    with pytest.raises(vf.LimitExceededError, match="on_limit"):
        vf.denoise(np.zeros((6000, 6000), np.uint8), on_limit="raise", client=vance_client)
    assert vance_emulator.request_count() == 0


def test_an_image_within_the_limits_is_uploaded_losslessly(vance_emulator, vance_client: vf.Client) -> None:
    array = noisy(1000, 1000)
    vf.denoise(array, client=vance_client)
    (record,) = vance_emulator.uploads.values()
    assert record.format == "png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(record.data))), array)
