"""Bad input and hostile results: typed errors, quickly, with no memory blow-up.

Property-based: arbitrary arrays, arbitrary bytes and arbitrary objects give
either a correct :class:`Prepared` or :class:`InputError`, never another
exception; arrays are accepted exactly when the documented table allows them.
"""

from __future__ import annotations

import io
import pathlib
import resource
import struct
import time
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from test_imaging import noisy_photo, rgb_base, serve

from vance_filters.errors import InputError, ResultDecodeError, ResultTooLargeError
from vance_filters.imaging import DTYPE_RANGES, MAX_RESULT_PIXELS, Prepared, prepare, restore

# Wide inputs are fed on purpose here; the warning itself is tested in tests/test_depth_e2e.py.
pytestmark = pytest.mark.filterwarnings("ignore::vance_filters.errors.PrecisionWarning")

TRANS_ID = "6de4b562d1a01c3d2520608eae929646"


def png_claiming(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed)."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid small JPEG whose SOF0 is patched to claim ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    return prepare(rgb_base())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- hostile results


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "bomb",
    [png_claiming(100_000, 100_000), jpeg_claiming(65_000, 65_000), gif_claiming(65_535, 65_535)],
    ids=["png-100000x100000", "jpeg-65000x65000", "gif-65535x65535"],
)
def test_decompression_bomb_is_refused_fast_with_low_memory(
    prepared: Prepared, bomb: bytes
) -> None:
    before = peak_rss_mb()
    start = time.perf_counter()
    with pytest.raises(ResultTooLargeError) as info:
        restore(bomb, prepared, trans_id=TRANS_ID)
    assert time.perf_counter() - start < 1.0
    assert peak_rss_mb() - before < 100
    assert info.value.trans_id == TRANS_ID
    assert isinstance(info.value, ResultDecodeError)


def test_bomb_message_names_the_size_and_the_limit(prepared: Prepared) -> None:
    with pytest.raises(ResultTooLargeError) as info:
        restore(png_claiming(100_000, 100_000), prepared)
    text = str(info.value)
    assert (
        "100000x100000" in text and "max_result_pixels" in text and str(MAX_RESULT_PIXELS) in text
    )


def test_max_result_pixels_is_adjustable(prepared: Prepared) -> None:
    result = serve(prepared, scale=2)
    with pytest.raises(ResultTooLargeError):
        restore(result, prepared, scale=2, max_result_pixels=100)
    assert restore(result, prepared, scale=2, max_result_pixels=48 * 32).shape == (32, 48, 3)


def test_large_result_beyond_pillows_own_guard_is_allowed() -> None:
    """A legit 8x result of a big image exceeds Pillow's global guard; max_result_pixels decides."""
    assert MAX_RESULT_PIXELS > 2 * Image.MAX_IMAGE_PIXELS
    small = prepare(np.zeros((4, 4), np.uint8))
    # the header check passes for a claim under max_result_pixels; decoding then fails cleanly
    with pytest.raises(ResultDecodeError) as info:
        restore(png_claiming(20_000, 10_000), small, max_result_pixels=MAX_RESULT_PIXELS)
    assert not isinstance(info.value, ResultTooLargeError)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not an image at all",
        b'{"code": 10011, "msg": "file does not exist"}',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        png_claiming(4, 4)[:40],
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
        b"\xff\xd8\xff" + bytes(range(256)),
    ],
    ids=["empty", "text", "json", "html", "truncated-png", "png-signature", "jpeg-soi"],
)
def test_garbage_result_is_a_decode_error_with_the_trans_id(
    prepared: Prepared, garbage: bytes
) -> None:
    with pytest.raises(ResultDecodeError) as info:
        restore(garbage, prepared, trans_id=TRANS_ID)
    assert info.value.trans_id == TRANS_ID
    assert not isinstance(info.value, ResultTooLargeError)
    assert "client.download" in str(info.value)  # says how to recover the paid result


def test_html_excerpt_is_short_and_printable(prepared: Prepared) -> None:
    page = b"<html>" + b"x" * 5000 + b"\x00\x01</html>"
    with pytest.raises(ResultDecodeError) as info:
        restore(page, prepared)
    assert "<html>" in str(info.value) and len(str(info.value)) < 400


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((5, 0), np.uint8), "empty"),
        (np.zeros((3,), np.uint8), "dimensions"),
        (np.zeros((2, 2, 2, 2), np.uint8), "dimensions"),
        (np.zeros((4, 4, 5), np.uint8), "5 channels"),
        (np.array([[0.5, np.nan]]), "NaN"),
        (np.array([[0.5, np.inf]], np.float32), "inf"),
        (np.array([[0.5, 1.5]]), "outside [0, 1]"),
        (np.array([[-0.1, 0.5]]), "outside [0, 1]"),
        (np.full((4, 4), 70_000, np.int64), "0-65535"),
        (np.full((4, 4), -1, np.int8), "0-255"),
        (np.zeros((3, 16, 12), np.uint8), "np.moveaxis(a, 0, -1)"),
        (np.zeros((4, 4), np.complex64), "complex64"),
        (np.zeros((4, 4), object), "object"),
        (b"", "empty bytes"),
        (b"definitely not an image", "not an image"),
        (png_claiming(4, 4)[:40], "not an image"),
        (png_claiming(100_000, 100_000), "MAX_IMAGE_PIXELS"),
        (12, "int"),
        (None, "NoneType"),
        ([[0, 1], [1, 0]], "list"),
        (Image.new("RGB", (0, 0)), "empty"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_input_is_an_input_error_naming_the_problem(value: Any, words: str) -> None:
    with pytest.raises(InputError) as info:
        prepare(value)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_array_errors_say_what_is_allowed() -> None:
    with pytest.raises(InputError, match=r"uint8 \(0-255\).*float32 \(0-1\)"):
        prepare(np.zeros((4, 4), np.complex64))


def test_missing_path_directory_and_non_image(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        prepare(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        prepare(str(tmp_path))
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        prepare(text)


def test_truncated_file_is_an_input_error(tmp_path: pathlib.Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(noisy_photo(64, 64)).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError):
        prepare(path)
    with pytest.raises(InputError):
        prepare(Image.open(path))  # a lazily opened Pillow image that fails to load


def test_wide_pil_modes_out_of_range_are_input_errors() -> None:
    with pytest.raises(InputError, match="NaN"):
        prepare(Image.fromarray(np.array([[0.5, np.nan]], np.float32)))
    with pytest.raises(InputError, match="values in"):
        prepare(Image.fromarray(np.array([[-5, 3]], np.int32)))


# --------------------------------------------------------------------------- property-based

ALL_DTYPES = [
    np.uint8,
    np.uint16,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint32,
    np.uint64,
    np.complex64,
]


def array_is_allowed(array: np.ndarray) -> bool:
    """The documented table, independently of the implementation."""
    integer = array.dtype.kind in "iu"
    if array.dtype.name not in DTYPE_RANGES and not integer:
        return False
    if array.ndim not in (2, 3) or 0 in array.shape:
        return False
    if array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4):
        return False
    if integer:  # any integer dtype holding values in 0-65535
        return bool((array >= 0).all() and (array <= 65535).all())
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            return bool(np.isfinite(array).all() and (array >= 0).all() and (array <= 1).all())
    return True


arrays = st.sampled_from(ALL_DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        elements=(
            st.floats(-0.5, 1.5, width=16 if dtype == np.float16 else 32)
            | st.sampled_from([0.0, 1.0, float("nan"), float("inf"), -float("inf")])
            if np.dtype(dtype).kind == "f"
            else None
        ),
    )
)
documented_arrays = st.sampled_from(sorted(DTYPE_RANGES)).flatmap(
    lambda name: hnp.arrays(
        np.dtype(name),
        st.tuples(st.integers(1, 6), st.integers(1, 6))
        | st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
        elements=(
            st.floats(0, 1, width=16 if name == "float16" else 32)
            if name.startswith("float")
            else None
        ),
    )
)
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(arrays | documented_arrays)
def test_any_array_is_prepared_correctly_or_refused(array: np.ndarray) -> None:
    allowed = array_is_allowed(array)
    try:
        prepared = prepare(array)
    except InputError as exc:
        assert not allowed, f"a documented array was refused: {exc}"
        assert str(exc)
        return
    assert allowed, "an array outside the documented table was accepted"
    upload = Image.open(io.BytesIO(prepared.data))
    assert upload.size == (array.shape[1], array.shape[0]) == prepared.size
    out = restore(serve(prepared), prepared)
    assert out.dtype == array.dtype and out.shape == array.shape


def _valid_image_bytes() -> list[bytes]:
    out = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(rgb_base(8, 6)).save(buffer, fmt)
        out.append(buffer.getvalue())
    return out


VALID = _valid_image_bytes()


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
@PROPERTY
@given(st.binary(max_size=300) | mutated_images())
def test_any_bytes_are_prepared_or_refused(data: bytes) -> None:
    try:
        prepared = prepare(data)
    except InputError as exc:
        assert str(exc)
        return
    upload = Image.open(io.BytesIO(prepared.data))
    assert upload.format in ("PNG", "JPEG") and upload.size == prepared.size
    out = restore(serve(prepared), prepared)
    assert isinstance(out, bytes) and Image.open(io.BytesIO(out)).size == prepared.source.size


@PROPERTY
@given(
    st.none()
    | st.integers()
    | st.floats()
    | st.lists(st.integers(0, 255), max_size=5)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.text(alphabet="abc_/", min_size=1, max_size=12).map(lambda s: f"/nonexistent/{s}")
)
def test_any_other_object_is_refused(value: Any) -> None:
    with pytest.raises(InputError):
        prepare(value)
