"""The upload limits and the encoding policy: lossless when it fits, fast always.

Large images are synthetic noisy photos made with numpy. The full-size cases
(33 MP, 40 MP, > 10 MB as PNG) run at the real limits; the policy details run
on small images against small ``max_bytes`` so they stay fast.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from test_imaging import noisy_photo, serve

from vance_filters import _encode
from vance_filters.errors import DownscaleWarning, LimitExceededError
from vance_filters.imaging import prepare, promised_size, restore

MAX_BYTES = 10_000_000
MAX_PIXELS = 34_000_000


@pytest.fixture
def png_encodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """The sizes of every image the policy encodes as PNG (the library's own helper)."""
    sizes: list[tuple[int, int]] = []
    real = _encode.encode_png

    def counting(image: Image.Image) -> bytes:
        sizes.append(image.size)
        return real(image)

    monkeypatch.setattr(_encode, "encode_png", counting)
    yield sizes


def uploaded(prepared_data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(prepared_data))
    image.load()
    return image


# --------------------------------------------------------------------------- full-size promises


def test_small_image_over_the_limit_is_png_encoded_once(png_encodes: list[tuple[int, int]]) -> None:
    photo = noisy_photo(300, 400)  # small enough that the "estimate" is the real encode
    prepared = prepare(photo, max_bytes=150_000)
    assert prepared.format == "jpeg"
    assert png_encodes.count((400, 300)) == 1


def test_one_megapixel_photo_goes_lossless(png_encodes: list[tuple[int, int]]) -> None:
    photo = noisy_photo(1000, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DownscaleWarning)
        prepared = prepare(photo)
    assert prepared.format == "png" and prepared.downscale == 1.0
    assert np.array_equal(np.asarray(uploaded(prepared.data)), photo)  # lossless
    assert png_encodes == [(1000, 1000)]  # one encode, no estimate needed
    assert np.array_equal(restore(serve(prepared), prepared), photo)


@pytest.mark.timeout(30)
def test_33_mp_noisy_photo_goes_to_jpeg_without_a_full_png_encode(
    png_encodes: list[tuple[int, int]],
) -> None:
    photo = noisy_photo(4700, 7000)  # 32.9 MP, ~55 MB as PNG
    with warnings.catch_warnings():
        warnings.simplefilter("error", DownscaleWarning)
        prepared = prepare(photo)
    assert prepared.format == "jpeg" and prepared.size == (7000, 4700)
    assert len(prepared.data) <= MAX_BYTES
    assert prepared.png_estimate is not None and prepared.png_estimate > MAX_BYTES
    assert (7000, 4700) not in png_encodes  # only sample strips were PNG-encoded
    assert sum(w * h for w, h in png_encodes) < 0.05 * 7000 * 4700
    assert "JPEG" in prepared.reason


@pytest.mark.timeout(30)
def test_40_mp_image_is_downscaled_to_the_pixel_limit_and_restored() -> None:
    photo = noisy_photo(5000, 8000)
    with pytest.warns(DownscaleWarning) as record:
        prepared = prepare(photo)
    width, height = prepared.size
    assert (
        width * height <= MAX_PIXELS and width * height > 0.99 * MAX_PIXELS
    )  # no more than needed
    assert len(prepared.data) <= MAX_BYTES
    message = str(record[0].message)
    assert "8000x5000" in message and f"{width}x{height}" in message and "resized back" in message
    assert prepared.downscale == pytest.approx(8000 / width, rel=1e-3)
    out = restore(serve(prepared), prepared)
    assert out.shape == (5000, 8000, 3) and out.dtype == np.uint8


@pytest.mark.timeout(30)
def test_image_over_10_mb_as_png_goes_as_jpeg_at_full_size() -> None:
    photo = noisy_photo(2400, 3000)  # 7.2 MP, ~12 MB as PNG
    with warnings.catch_warnings():
        warnings.simplefilter("error", DownscaleWarning)
        prepared = prepare(photo)
    assert prepared.png_estimate is not None and prepared.png_estimate > MAX_BYTES
    assert prepared.format == "jpeg" and prepared.subsampling == "4:4:4"
    assert prepared.size == (3000, 2400) and len(prepared.data) <= MAX_BYTES
    out = restore(serve(prepared, scale=2), prepared, scale=2)
    assert out.shape == (4800, 6000, 3)


@pytest.mark.timeout(30)
def test_gray_over_10_mb_as_png_is_downscaled_as_png() -> None:
    gray = noisy_photo(3000, 4000, amp=64, channels=1)[..., 0]  # 12 MP of noisy gray
    with pytest.warns(DownscaleWarning, match="4000x3000"):
        prepared = prepare(gray)
    assert prepared.format == "png" and len(prepared.data) <= MAX_BYTES
    assert uploaded(prepared.data).mode == "L"
    assert "gray" in prepared.reason
    out = restore(serve(prepared), prepared)
    assert out.shape == (3000, 4000) and out.dtype == np.uint8


def test_on_limit_raise_for_too_many_pixels() -> None:
    big = np.zeros((5000, 8000), np.uint8)
    with pytest.raises(LimitExceededError) as info:
        prepare(big, on_limit="raise")
    text = str(info.value)
    assert "8000x5000" in text and "34 MP" in text and "10 MB" in text and "on_limit" in text
    assert info.value.code == 10012


# --------------------------------------------------------------------------- the policy, small


def test_on_limit_raise_for_too_many_bytes() -> None:
    gray = noisy_photo(400, 500, amp=64, channels=1)
    with pytest.raises(LimitExceededError, match="on_limit"):
        prepare(gray, on_limit="raise", max_bytes=50_000)


def test_jpeg_fallback_is_not_a_limit_event() -> None:
    photo = noisy_photo(400, 500)
    prepared = prepare(photo, on_limit="raise", max_bytes=200_000)
    assert prepared.format == "jpeg" and prepared.size == (500, 400)


def test_jpeg_420_when_444_does_not_fit() -> None:
    photo = noisy_photo(400, 500)
    image = Image.fromarray(photo)
    size_444 = len(_encode.encode_jpeg(image, "4:4:4"))
    size_420 = len(_encode.encode_jpeg(image, "4:2:0"))
    assert size_420 < size_444
    prepared = prepare(photo, max_bytes=(size_420 + size_444) // 2)
    assert (prepared.format, prepared.subsampling, prepared.size) == ("jpeg", "4:2:0", (500, 400))


@pytest.mark.parametrize("upload_format", ["auto", "png", "jpeg"])
def test_downscale_is_the_smallest_that_fits(upload_format: str) -> None:
    gray = noisy_photo(600, 800, amp=64, channels=1)[..., 0]
    max_bytes = 120_000
    with pytest.warns(DownscaleWarning):
        prepared = prepare(gray, upload_format=upload_format, max_bytes=max_bytes)
    assert len(prepared.data) <= max_bytes
    assert prepared.format == ("jpeg" if upload_format == "jpeg" else "png")
    # 3% less downscale would not fit: the factor is (almost) the smallest one
    width = round(prepared.size[0] * 1.03)
    height = round(prepared.size[1] * 1.03)
    bigger = Image.fromarray(gray).resize((width, height), Image.Resampling.LANCZOS)
    encode = _encode.encode_png if prepared.format == "png" else _encode.encode_jpeg
    assert len(encode(bigger)) > max_bytes


def test_forced_png_on_a_photo_downscales_rather_than_going_lossy() -> None:
    photo = noisy_photo(300, 400)
    with pytest.warns(DownscaleWarning):
        prepared = prepare(photo, upload_format="png", max_bytes=150_000)
    assert prepared.format == "png" and len(prepared.data) <= 150_000


def test_alpha_upload_downscales_as_png_and_restores_the_promised_size() -> None:
    rgba = noisy_photo(300, 400, channels=4)
    with pytest.warns(DownscaleWarning):
        prepared = prepare(rgba, send_alpha=True, max_bytes=150_000)
    assert prepared.format == "png" and uploaded(prepared.data).mode == "RGBA"
    assert promised_size(prepared, 2) == (800, 600)
    out = restore(serve(prepared, scale=2), prepared, scale=2)
    assert out.shape == (600, 800, 4)


def test_pixel_limit_is_respected_for_any_aspect_ratio() -> None:
    tall = np.full((3001, 7), 128, np.uint8)
    with pytest.warns(DownscaleWarning):
        prepared = prepare(tall, max_pixels=10_000)
    width, height = prepared.size
    assert width * height <= 10_000
    out = restore(serve(prepared), prepared)
    assert out.shape == (3001, 7)


def test_estimate_is_close_to_the_real_size() -> None:
    image = Image.fromarray(noisy_photo(1200, 1600))
    for encoder, align in ((_encode.encode_png, 1), (_encode.encode_jpeg, 16)):
        real = len(encoder(image))
        assert abs(_encode.estimate(image, encoder, align=align) - real) < 0.05 * real


def test_decision_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="vance_filters.imaging"):
        prepared = prepare(noisy_photo(400, 500), max_bytes=200_000)
    message = " ".join(r.getMessage() for r in caplog.records if r.name == "vance_filters.imaging")
    assert "jpeg" in message and str(prepared.png_estimate) in message
    assert "PNG estimated" in prepared.reason


def test_a_wrong_estimate_costs_an_encode_never_a_wrong_upload(
    monkeypatch: pytest.MonkeyPatch, png_encodes: list[tuple[int, int]]
) -> None:
    """An estimate that says PNG fits when it does not: the real encode is checked."""
    photo = noisy_photo(600, 800)
    real = _encode.probe

    def optimistic(
        image: Image.Image, encoder: _encode.Encoder, *, align: int = 1
    ) -> tuple[int, bytes | None]:
        guess, _ = real(image, encoder, align=align)
        return (guess // 10 if encoder is _encode.encode_png else guess), None

    monkeypatch.setattr(_encode, "probe", optimistic)
    prepared = prepare(photo, max_bytes=500_000)
    assert prepared.format == "jpeg" and len(prepared.data) <= 500_000
    assert png_encodes.count((800, 600)) == 1  # the one wasted full-size PNG encode
    assert "but was" in prepared.reason
