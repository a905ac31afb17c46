"""The image boundary: every input kind in, the same kind out, through a stand-in server.

``serve`` does what the service does to an upload: decode it, scale it, make
RGB or RGBA for the features that do, and answer in the uploaded format (PNG
for a background removal). Round trips ``restore(serve(prepare(x)), prepare(x))``
are checked for type, mode / dtype, layout, value range, size, alpha values,
ICC profile, DPI, EXIF orientation (kept as a tag) and background composition.
"""

from __future__ import annotations

import io
import logging
import pathlib
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from vance_filters import imaging
from vance_filters.errors import ConfigError, InputError
from vance_filters.imaging import DTYPE_RANGES, Prepared, prepare, restore

# Wide inputs are fed on purpose here; the warning itself is tested in tests/test_depth_e2e.py.
pytestmark = pytest.mark.filterwarnings("ignore::vance_filters.errors.PrecisionWarning")

W, H = 24, 16
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --------------------------------------------------------------------------- helpers


def server_alpha(size: tuple[int, int]) -> np.ndarray:
    """The alpha the stand-in background remover makes: a diagonal ramp."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 255 // max(1, width - 1) + y * 7) % 256).astype(np.uint8)


def serve(
    prepared: Prepared, *, scale: int = 1, output: str = "same", fmt: str | None = None
) -> bytes:
    """What the service answers for this upload (nearest-neighbour scaling keeps values)."""
    upload = Image.open(io.BytesIO(prepared.data))
    assert upload.format in ("PNG", "JPEG"), upload.format
    assert upload.size == prepared.size
    result = upload.convert("RGBA" if "A" in upload.getbands() else upload.mode)
    if scale != 1:
        result = result.resize(
            (upload.width * scale, upload.height * scale), Image.Resampling.NEAREST
        )
    if output == "rgb":
        result = result.convert("RGB")
    if output == "rgba":
        result = result.convert("RGB")
        result.putalpha(Image.fromarray(server_alpha(result.size)))
    fmt = fmt or ("PNG" if output == "rgba" else upload.format)
    buffer = io.BytesIO()
    result.save(buffer, fmt)
    return buffer.getvalue()


def rgb_base(width: int = W, height: int = H) -> np.ndarray:
    """A colourful uint8 (H, W, 3) image with every channel varying."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // (width - 1), y * 255 // (height - 1), (x * 37 + y * 91) % 256], axis=-1
    ).astype(np.uint8)


def alpha_base(width: int = W, height: int = H) -> np.ndarray:
    """A smooth alpha ramp (0-255), so a resized alpha stays close to the original."""
    y, x = np.mgrid[0:height, 0:width]
    return (x * 255 // (width - 1)).astype(np.uint8) // 2 + (y * 127 // (height - 1)).astype(
        np.uint8
    )


def noisy_photo(
    height: int, width: int, *, amp: int = 8, seed: int = 0, channels: int = 3
) -> np.ndarray:
    """A synthetic noisy photo: smooth gradients plus uniform noise (fast for large sizes)."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 120, width).astype(np.uint8)
    ys = np.linspace(0, 100, height).astype(np.uint8)
    photo = np.empty((height, width, channels), np.uint8)
    photo[:] = xs[None, :, None]
    photo += ys[:, None, None]
    if channels > 1:
        photo[..., 1] //= 2
    photo += rng.integers(0, amp, size=photo.shape, dtype=np.uint8)
    return photo


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def as_rgba(image: Image.Image) -> np.ndarray:
    if image.mode in ("La", "RGBa"):
        image = image.convert("LA" if image.mode == "La" else "RGBA")
    return np.asarray(image.convert("RGBA")).astype(int)


# --------------------------------------------------------------------------- PIL modes


def _gray(image: Image.Image) -> Image.Image:
    return image.convert("L")


def make_pil(name: str) -> Image.Image:
    """A test image for each Pillow mode (``P+t`` is a palette image with transparency)."""
    rgb = Image.fromarray(rgb_base())
    alpha = Image.fromarray(alpha_base())
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    gray16 = (np.asarray(_gray(rgb)).astype(np.uint16) * 257 + 3).astype(np.uint16)
    factories = {
        "1": lambda: _gray(rgb).point(lambda v: 255 if v > 100 else 0).convert("1"),
        "L": lambda: _gray(rgb),
        "LA": lambda: Image.merge("LA", (_gray(rgb), alpha)),
        "La": lambda: Image.merge("LA", (_gray(rgb), alpha)).convert("La"),
        "P": lambda: rgb.quantize(64),
        "P+t": lambda: _with_transparency(rgb.quantize(64)),
        "PA": lambda: rgba.convert("PA"),
        "RGB": lambda: rgb,
        "RGBA": lambda: rgba,
        "RGBa": lambda: rgba.convert("RGBa"),
        "RGBX": lambda: rgb.convert("RGBX"),
        "CMYK": lambda: rgb.convert("CMYK"),
        "YCbCr": lambda: rgb.convert("YCbCr"),
        "HSV": lambda: rgb.convert("HSV"),
        "LAB": lambda: rgb.convert("LAB"),
        "I;16": lambda: Image.fromarray(gray16),
        "I;16B": lambda: Image.frombytes("I;16B", (W, H), gray16.astype(">u2").tobytes()),
        "I;16L": lambda: Image.frombytes("I;16L", (W, H), gray16.astype("<u2").tobytes()),
        "I (0-255)": lambda: _gray(rgb).convert("I"),
        "I (0-65535)": lambda: Image.fromarray(gray16.astype(np.int32)),
        "F (0-1)": lambda: Image.fromarray(np.asarray(_gray(rgb)).astype(np.float32) / 255),
        "F (0-255)": lambda: _gray(rgb).convert("F"),
    }
    return factories[name]()


def _with_transparency(image: Image.Image) -> Image.Image:
    image.info["transparency"] = 0
    return image


#: Pillow mode given → mode given back for output="same".
SAME_MODE = {
    "1": "1",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "P": "RGB",
    "P+t": "RGBA",
    "PA": "RGBA",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGBX",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "HSV": "HSV",
    "LAB": "LAB",
    "I;16": "I;16",
    "I;16B": "I;16B",
    "I;16L": "I;16L",
    "I (0-255)": "I",
    "I (0-65535)": "I",
    "F (0-1)": "F",
    "F (0-255)": "F",
}
WIDE = {
    "I;16": 65535,
    "I;16B": 65535,
    "I;16L": 65535,
    "I (0-255)": 255,
    "I (0-65535)": 65535,
    "F (0-1)": 1.0,
    "F (0-255)": 255.0,
}
GRAY = {"1", "L", "LA", "La", *WIDE}
ALPHA = {"LA", "La", "P+t", "PA", "RGBA", "RGBa"}


def expected_mode(name: str, output: str) -> str:
    if output == "rgba":
        return "RGBA"
    if output == "rgb" and name in GRAY:
        return "RGBA" if name in ALPHA else "RGB"
    return SAME_MODE[name]


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("output", ["same", "rgb", "rgba"])
@pytest.mark.parametrize("name", list(SAME_MODE))
def test_pil_round_trip(name: str, output: str, scale: int) -> None:
    image = make_pil(name)
    prepared = prepare(image)
    assert prepared.source.kind == "pil"
    assert prepared.format == "png"  # small, gray and palette images all go lossless
    out = restore(serve(prepared, scale=scale, output=output), prepared, scale=scale, output=output)
    assert isinstance(out, Image.Image)
    assert out.mode == expected_mode(name, output)
    assert out.size == (W * scale, H * scale)
    if output == "rgba":
        assert np.array_equal(np.asarray(out.getchannel("A")), server_alpha(out.size))
    elif name in ALPHA:
        original_alpha = as_rgba(image)[..., 3]
        got = np.asarray(out.getchannel("A")).astype(int)
        if scale == 1:
            assert np.array_equal(got, original_alpha)
        else:  # resized with Lanczos: close to the nearest-neighbour enlargement
            diff = np.abs(got - np.kron(original_alpha, np.ones((2, 2), int)))
            assert diff.mean() <= (12 if name == "P+t" else 4)  # P+t: hard 0/255 edges
            assert name == "P+t" or diff.max() <= 40
    if scale == 1 and output == "same":
        _assert_same_values(name, image, out)


def _assert_same_values(name: str, image: Image.Image, out: Image.Image) -> None:
    if name in WIDE:
        peak = WIDE[name]
        before = np.asarray(image).astype(np.float64)
        after = np.asarray(out).astype(np.float64)
        assert after.min() >= 0 and after.max() <= peak
        assert np.abs(after - before).max() <= peak / 255 / 2 + 1e-6
        return
    before, after = as_rgba(image), as_rgba(out)
    tolerance = {"YCbCr": 3, "HSV": 6, "LAB": 16}.get(name, 0)  # lossy colour-space trips
    assert np.abs(after - before).max() <= tolerance


def test_wide_gray_is_sent_as_8_bit_png_stretched_over_the_range_it_uses() -> None:
    image = make_pil("I;16")
    prepared = prepare(image)
    upload = Image.open(io.BytesIO(prepared.data))
    assert (upload.format, upload.mode) == ("PNG", "L")
    assert prepared.source.peak == 65535
    values = np.asarray(image).astype(np.float64)
    low, high = values.min(), values.max()
    assert np.array_equal(np.asarray(upload), np.rint((values - low) * 255 / (high - low)))


def test_mode_one_comes_back_bilevel_by_threshold() -> None:
    image = make_pil("1")
    prepared = prepare(image)
    out = restore(serve(prepared), prepared)
    assert out.mode == "1"
    assert np.array_equal(np.asarray(out), np.asarray(image))


# --------------------------------------------------------------------------- arrays

DTYPES = ["uint8", "uint16", "float16", "float32", "float64", "bool"]
LAYOUTS = {"HW": (), "HW1": (1,), "HW2": (2,), "HW3": (3,), "HW4": (4,)}


def make_array(dtype: str, layout: str) -> np.ndarray:
    """Values spread over the dtype's whole range; alpha (the last channel of HW2/HW4) smooth."""
    rgb = rgb_base().astype(np.float64) / 255
    gray = rgb.mean(axis=2, keepdims=True)
    planes = {
        "HW": gray[..., 0],
        "HW1": gray,
        "HW2": np.concatenate([gray, alpha_base()[..., None] / 255], -1),
        "HW3": rgb,
        "HW4": np.concatenate([rgb, alpha_base()[..., None] / 255], -1),
    }[layout]
    if dtype == "bool":
        return planes > 0.5
    values = planes * DTYPE_RANGES[dtype][1]
    if dtype.startswith("uint"):
        values = np.rint(values)
    return values.astype(dtype)


def expected_shape(layout: str, output: str, scale: int) -> tuple[int, ...]:
    base = (H * scale, W * scale)
    if output == "rgba":
        return (*base, 4)
    if output == "rgb":
        return (*base, 4) if layout in ("HW2", "HW4") else (*base, 3)
    return base + LAYOUTS[layout]


def in_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    """8-bit values written in ``dtype``'s range, per the documented table."""
    if dtype == "bool":
        return values >= 128
    if dtype == "uint16":
        return values.astype(np.uint16) * 257
    if dtype.startswith("float"):
        return values.astype(dtype) / np.dtype(dtype).type(255)
    return values


def quantum(dtype: str) -> float:
    """The largest error the 8-bit round trip may add, in the dtype's units."""
    high = DTYPE_RANGES[dtype][1]
    if dtype == "uint8" or dtype == "bool":
        return 0
    if dtype == "uint16":
        return 128
    return high / 255 / 2 + (1e-3 if dtype == "float16" else 1e-6)


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("output", ["same", "rgb", "rgba"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_array_round_trip(dtype: str, layout: str, output: str, scale: int) -> None:
    array = make_array(dtype, layout)
    prepared = prepare(array)
    source = prepared.source
    assert (source.kind, source.dtype, source.layout) == ("array", dtype, layout)
    out = restore(serve(prepared, scale=scale, output=output), prepared, scale=scale, output=output)
    assert isinstance(out, np.ndarray)
    assert out.dtype == array.dtype
    assert out.shape == expected_shape(layout, output, scale)
    low, high = DTYPE_RANGES[dtype]
    assert out.min() >= low and out.max() <= high
    has_alpha = layout in ("HW2", "HW4")
    if output == "rgba":
        want = server_alpha((W * scale, H * scale))
        assert np.array_equal(out[..., 3], in_dtype(want, dtype))
    elif has_alpha:
        alpha = array[..., -1]
        if scale == 1:
            assert np.array_equal(out[..., -1], alpha)  # exact, in the caller's dtype
        else:
            near = np.kron(alpha.astype(np.float64), np.ones((2, 2)))
            assert np.abs(out[..., -1].astype(np.float64) - near).mean() <= 0.02 * high
    if scale == 1 and output == "same":
        diff = np.abs(out.astype(np.float64) - array.astype(np.float64))
        assert diff.max() <= quantum(dtype)


def test_array_input_is_not_modified() -> None:
    array = make_array("float32", "HW4")
    before = array.copy()
    prepared = prepare(array)
    restore(serve(prepared), prepared)
    assert np.array_equal(array, before)


def test_non_contiguous_array_is_accepted() -> None:
    array = np.asfortranarray(rgb_base())[::-1, ::2]
    prepared = prepare(array)
    out = restore(serve(prepared), prepared)
    assert np.array_equal(out, array)


# --------------------------------------------------------------------------- bytes and paths

CONTAINERS = ["PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"]


def container_bytes(fmt: str, *, alpha: bool = False, **options: Any) -> bytes:
    image = Image.fromarray(rgb_base())
    if alpha:
        image.putalpha(Image.fromarray(alpha_base()))
    if fmt == "WEBP":
        options.setdefault("lossless", True)
    return encoded(image, fmt, **options)


@pytest.mark.parametrize("output", ["same", "rgb", "rgba"])
@pytest.mark.parametrize("fmt", CONTAINERS)
def test_bytes_round_trip_keeps_the_container(fmt: str, output: str) -> None:
    data = container_bytes(fmt)
    prepared = prepare(data)
    assert prepared.source.kind == "bytes" and prepared.source.container == fmt
    out = restore(serve(prepared, scale=2, output=output), prepared, scale=2, output=output)
    assert isinstance(out, bytes)
    result = Image.open(io.BytesIO(out))
    expected_fmt = "PNG" if output == "rgba" and fmt in ("JPEG", "BMP") else fmt  # no alpha there
    assert result.format == expected_fmt
    assert result.size == (2 * W, 2 * H)
    if output == "rgba" and fmt != "GIF":
        assert np.array_equal(np.asarray(result.convert("RGBA"))[..., 3], server_alpha(result.size))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_bytes_with_alpha_come_back_with_their_alpha(fmt: str) -> None:
    data = container_bytes(fmt, alpha=True)
    prepared = prepare(data)
    assert Image.open(io.BytesIO(prepared.data)).mode == "RGB"  # the colour goes to the server
    out = Image.open(io.BytesIO(restore(serve(prepared), prepared)))
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], alpha_base())


@pytest.mark.parametrize(
    ("out_format", "expected"), [("jpg", "JPEG"), ("png", "PNG"), ("JPG", "JPEG")]
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_bytes_out_format_overrides_the_container(fmt: str, out_format: str, expected: str) -> None:
    prepared = prepare(container_bytes(fmt))
    out = restore(serve(prepared), prepared, out_format=out_format)
    assert Image.open(io.BytesIO(out)).format == expected


def test_sixteen_bit_png_bytes_come_back_sixteen_bit() -> None:
    data = encoded(make_pil("I;16"), "PNG")
    prepared = prepare(data)
    result = Image.open(io.BytesIO(restore(serve(prepared), prepared)))
    assert result.format == "PNG" and result.mode.startswith("I")
    before = np.asarray(Image.open(io.BytesIO(data))).astype(int)
    assert np.abs(np.asarray(result).astype(int) - before).max() <= 128


@pytest.mark.parametrize("as_path", [str, pathlib.Path], ids=["str", "pathlib"])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_paths_give_pil(tmp_path: pathlib.Path, fmt: str, as_path: Any) -> None:
    file = tmp_path / f"in.{fmt.lower()}"
    file.write_bytes(container_bytes(fmt, icc_profile=SRGB, dpi=(200, 200)))
    prepared = prepare(as_path(file))
    assert prepared.source.kind == "path"
    out = restore(serve(prepared, scale=2), prepared, scale=2)
    assert isinstance(out, Image.Image)
    assert out.mode == "RGB" and out.size == (2 * W, 2 * H)
    assert out.info["icc_profile"] == SRGB
    assert out.info["dpi"] == pytest.approx((200, 200), abs=0.01)


# --------------------------------------------------------------------------- ICC, DPI, EXIF


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_icc_and_dpi_carried_onto_result_bytes(fmt: str) -> None:
    data = container_bytes(fmt, icc_profile=SRGB, dpi=(300, 300))
    prepared = prepare(data)
    assert prepared.source.icc_profile == SRGB
    out = Image.open(io.BytesIO(restore(serve(prepared, scale=2), prepared, scale=2)))
    assert out.info.get("icc_profile") == SRGB
    if fmt != "WEBP":  # WebP has no DPI field
        assert out.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_dpi_argument_overrides_the_input_dpi() -> None:
    prepared = prepare(container_bytes("JPEG", dpi=(72, 72)))
    out = Image.open(io.BytesIO(restore(serve(prepared), prepared, dpi=600)))
    assert out.info["dpi"] == (600, 600)


def test_pil_icc_and_dpi_carried_onto_result_info() -> None:
    image = Image.fromarray(rgb_base())
    image.info.update(icc_profile=SRGB, dpi=(150, 150))
    prepared = prepare(image)
    out = restore(serve(prepared, scale=2), prepared, scale=2)
    assert out.info["icc_profile"] == SRGB and out.info["dpi"] == (150, 150)


def test_upload_carries_no_metadata() -> None:
    image = Image.fromarray(rgb_base())
    image.info.update(icc_profile=SRGB, dpi=(150, 150), transparency=(1, 2, 3))
    upload = Image.open(io.BytesIO(prepare(image).data))
    assert "icc_profile" not in upload.info and "transparency" not in upload.info


def test_colour_key_transparency_is_alpha() -> None:
    image = Image.fromarray(rgb_base())
    key = tuple(int(v) for v in rgb_base()[0, 0])
    image.info["transparency"] = key
    prepared = prepare(image)
    out = restore(serve(prepared), prepared)
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((5, 5))[3] == 255


def test_gray_icc_profile_is_not_put_on_an_rgb_result() -> None:
    gray_profile = b"not-really-a-gray-profile"
    image = make_pil("L")
    image.info["icc_profile"] = gray_profile
    prepared = prepare(image)
    assert restore(serve(prepared), prepared).info["icc_profile"] == gray_profile
    rgb = restore(serve(prepared, output="rgb"), prepared, output="rgb")
    assert rgb.mode == "RGB" and "icc_profile" not in rgb.info


def oriented_jpeg(orientation: int) -> bytes:
    """A 40x20 JPEG, stored sideways: red top-left quarter, the rest blue."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[...] = (0, 0, 255)
    stored[:10, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("kind", ["bytes", "pil", "path"])
def test_exif_rotated_input_keeps_its_stored_pixels_and_its_orientation_tag(
    kind: str, tmp_path: pathlib.Path
) -> None:
    data = oriented_jpeg(6)  # 6: rotate 90 degrees clockwise to display
    source: Any = data
    if kind == "pil":
        source = Image.open(io.BytesIO(data))
    elif kind == "path":
        source = tmp_path / "sideways.jpg"
        source.write_bytes(data)
    prepared = prepare(source)
    upload = np.asarray(Image.open(io.BytesIO(prepared.data)).convert("RGB")).astype(int)
    assert upload.shape[:2] == (20, 40)  # as stored: 40 wide, 20 tall, red top-left quarter
    assert upload[5, 5, 0] > 200 and upload[5, 5, 2] < 60
    assert upload[15, 35, 2] > 200
    out = restore(serve(prepared, scale=2), prepared, scale=2)
    result = Image.open(io.BytesIO(out)) if kind == "bytes" else out
    assert result.size == (80, 40)  # the stored pixels, enlarged
    exif = result.getexif()
    assert exif[0x0112] == 6  # so a viewer turns the result as it turned the input
    upright = ImageOps.exif_transpose(result)
    assert upright.size == (40, 80)
    assert upright.convert("RGB").getpixel((30, 10))[0] > 200  # red at the top right, upright


# --------------------------------------------------------------------------- options, records


def test_send_alpha_uploads_rgba_png() -> None:
    prepared = prepare(make_array("uint8", "HW4"), send_alpha=True)
    upload = Image.open(io.BytesIO(prepared.data))
    assert (upload.format, upload.mode) == ("PNG", "RGBA")
    assert np.array_equal(np.asarray(upload)[..., 3], alpha_base())


def test_send_alpha_with_forced_jpeg_is_refused() -> None:
    with pytest.raises(ConfigError, match="send_alpha"):
        prepare(make_array("uint8", "HW4"), send_alpha=True, upload_format="jpeg")


def test_forced_jpeg_upload() -> None:
    photo = noisy_photo(64, 96, amp=2)
    prepared = prepare(photo, upload_format="jpeg")
    assert prepared.format == "jpeg" and prepared.filename == "image.jpg"
    assert Image.open(io.BytesIO(prepared.data)).format == "JPEG"
    out = restore(serve(prepared), prepared)
    assert out.dtype == np.uint8 and np.abs(out.astype(int) - photo).mean() < 2


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: prepare(rgb_base(), upload_format="gif"), "upload_format"),
        (lambda: prepare(rgb_base(), on_limit="ignore"), "on_limit"),
        (lambda: prepare(rgb_base(), max_bytes=0), "max_bytes"),
        (lambda: restore(b"", prepare(rgb_base()), output="bgr"), "output"),
        (lambda: restore(b"", prepare(rgb_base()), out_format="gif"), "out_format"),
        (lambda: restore(b"", prepare(rgb_base()), scale=0), "scale"),
        (lambda: restore(b"", prepare(rgb_base()), max_result_pixels=-1), "max_result_pixels"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(call: Any, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        call()


def test_decision_is_logged_and_recorded(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="vance_filters.imaging"):
        prepared = prepare(rgb_base())
    assert prepared.reason.startswith("lossless PNG")
    assert prepared.downscale == 1.0 and prepared.size == (W, H)
    record = next(r for r in caplog.records if r.name == "vance_filters.imaging")
    assert "png" in record.getMessage() and str(len(prepared.data)) in record.getMessage()
    assert "data" not in repr(prepared)  # no bytes dump in the repr


def test_to_pil_gives_an_upright_8_bit_image() -> None:
    assert imaging.to_pil(make_array("uint16", "HW2")).mode == "LA"
    assert imaging.to_pil(make_pil("I;16")).mode == "L"
    assert imaging.to_pil(oriented_jpeg(6)).size == (20, 40)
    with pytest.raises(InputError):
        imaging.to_pil(np.zeros((0, 3)))


# --------------------------------------------------------------------------- unusual results


def test_sixteen_bit_result_from_the_server_is_read_as_16_bit() -> None:
    prepared = prepare(make_array("uint16", "HW"))
    upload = np.asarray(Image.open(io.BytesIO(prepared.data))).astype(np.uint16)
    result = encoded(Image.fromarray(upload * 257), "PNG")  # the same pixels, written as 16-bit
    out = restore(result, prepared)
    assert out.dtype == np.uint16 and np.array_equal(out, restore(prepared.data, prepared))


@pytest.mark.parametrize("layout", ["HW3", "HW4"])
def test_rgba_output_without_server_alpha(layout: str) -> None:
    array = make_array("uint8", layout)
    prepared = prepare(array)
    out = restore(serve(prepared, output="rgb"), prepared, output="rgba")  # no alpha sent back
    assert out.shape == (H, W, 4)
    expected = array[..., 3] if layout == "HW4" else np.full((H, W), 255, np.uint8)
    assert np.array_equal(out[..., 3], expected)


def test_explicit_jpg_out_format_drops_the_alpha() -> None:
    prepared = prepare(container_bytes("PNG"))
    out = Image.open(
        io.BytesIO(
            restore(serve(prepared, output="rgba"), prepared, output="rgba", out_format="jpg")
        )
    )
    assert (out.format, out.mode) == ("JPEG", "RGB")


@pytest.mark.parametrize("name", ["1", "I;16", "F (0-1)"])
def test_modes_jpeg_cannot_hold_are_written_as_8_bit(name: str) -> None:
    image = make_pil(name)
    data = encoded(image, "TIFF")
    prepared = prepare(data)
    out = Image.open(io.BytesIO(restore(serve(prepared), prepared, out_format="jpg")))
    assert (out.format, out.mode) == ("JPEG", "L")  # plain 8 bits: white is the mode's white
    expected = np.asarray(image).astype(np.float64) * 255 / WIDE[name] if name in WIDE else np.asarray(
        image.convert("L")
    ).astype(int)
    assert np.abs(np.asarray(out).astype(int) - expected).mean() < 3  # same picture, 8-bit


def test_tiff_keeps_wide_modes() -> None:
    data = encoded(make_pil("F (0-1)"), "TIFF")
    prepared = prepare(data)
    out = Image.open(io.BytesIO(restore(serve(prepared), prepared)))
    assert (out.format, out.mode) == ("TIFF", "F")
    assert np.abs(np.asarray(out) - np.asarray(make_pil("F (0-1)"))).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_returned_arrays_are_writable(dtype: str, layout: str) -> None:
    prepared = prepare(make_array(dtype, layout))
    out = restore(serve(prepared), prepared)
    assert out.flags.writeable
    out[0, 0] = 0  # users modify results in place


# --------------------------------------------------------------------------- background=


@pytest.mark.parametrize("dtype", DTYPES)
def test_background_composes_whatever_alpha_is_left(dtype: str) -> None:
    array = make_array(dtype, "HW4")
    prepared = prepare(array)
    # the service sends its own alpha too: both it and the caller's are composed away
    out = restore(serve(prepared, output="rgba"), prepared, output="rgba", background=(0, 0, 255))
    assert out.shape == (H, W, 3) and out.dtype == array.dtype
    low, high = DTYPE_RANGES[dtype]
    clear = (array[..., 3] == low) | (server_alpha((W, H)) == 0)
    assert clear.any()
    blue = np.array([low, low, high], dtype=array.dtype)
    assert (out[clear] == blue).all()


def test_background_must_be_an_rgb_triple() -> None:
    prepared = prepare(make_array("uint8", "HW4"))
    with pytest.raises(ConfigError, match="background"):
        restore(serve(prepared), prepared, background="white")  # type: ignore[arg-type]


def test_an_8_bit_result_of_a_wide_gray_input_is_in_the_modes_range() -> None:
    frame = np.linspace(1000, 1100, W * H).reshape(H, W).astype(np.uint16)
    prepared = prepare(Image.fromarray(frame))
    out = restore(serve(prepared, output="rgb"), prepared, output="rgb")  # a colorizer: 8-bit RGB
    assert out.mode == "RGB"
    expected = np.rint(frame / 257)  # dark, as the 16-bit frame is: not stretched to 0-255
    assert np.abs(np.asarray(out)[..., 0].astype(int) - expected).max() <= 1
