"""EXIF through the emulator: camera, date and GPS kept; thumbnail dropped; sizes updated;
the stored pixels and their Orientation tag agree through every door."""

from __future__ import annotations

import io
import pathlib
import struct
from typing import Any

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

import vance_filters as vf
from vance_filters import cli, imaging

MAKE, MODEL, DATETIME, ORIENTATION = 0x010F, 0x0110, 0x0132, 0x0112
DATETIME_ORIGINAL, PIXEL_X, PIXEL_Y = 0x9003, 0xA002, 0xA003
W, H = 40, 20  # as stored; orientation 6 shows it 20 wide, 40 tall
THUMBNAIL = b""  # set by camera_exif()


def camera_exif(orientation: int = 6) -> tuple[bytes, bytes]:
    """EXIF as a camera writes it: IFD0, Exif and GPS directories, and a JPEG thumbnail (IFD1)."""
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[DATETIME] = "Vance Camera Co", "VC-1", "2021:06:15 10:20:30"
    exif[ORIENTATION] = orientation
    exif[ExifTags.IFD.Exif] = {DATETIME_ORIGINAL: "2021:06:15 10:20:30", PIXEL_X: W, PIXEL_Y: H}
    exif[ExifTags.IFD.GPSInfo] = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 21.0, 5.0)}
    tiff = bytearray(exif.tobytes()[6:])
    order = "<" if tiff[:2] == b"II" else ">"
    count = struct.unpack_from(order + "H", tiff, 8)[0]
    next_at = 8 + 2 + 12 * count  # IFD0's "next directory" pointer: IFD1 goes at the end
    buffer = io.BytesIO()
    Image.new("RGB", (8, 4), (0, 255, 0)).save(buffer, "JPEG", comment=b"thumbnail-marker")
    thumbnail = buffer.getvalue()
    ifd1 = len(tiff)
    struct.pack_into(order + "I", tiff, next_at, ifd1)
    tiff += struct.pack(order + "H", 3)
    for tag, kind, value in ((0x0103, 3, 6), (0x0201, 4, ifd1 + 2 + 12 * 3 + 4), (0x0202, 4, len(thumbnail))):
        if kind == 3:
            tiff += struct.pack(order + "HHIH", tag, kind, 1, value) + b"\x00\x00"
        else:
            tiff += struct.pack(order + "HHII", tag, kind, 1, value)
    tiff += struct.pack(order + "I", 0) + thumbnail
    return b"Exif\x00\x00" + bytes(tiff), thumbnail


def stored_pixels() -> np.ndarray:
    """A 40x20 picture stored sideways: red top-left quarter, a blue-green gradient elsewhere."""
    array = np.zeros((H, W, 3), np.uint8)
    array[..., 1] = np.linspace(40, 200, W, dtype=np.uint8)[None, :]
    array[..., 2] = 220
    array[: H // 2, : W // 2] = (230, 20, 20)
    return array


def photo(fmt: str = "JPEG", orientation: int = 6) -> bytes:
    exif, _ = camera_exif(orientation)
    buffer = io.BytesIO()
    options: dict[str, Any] = {"exif": exif}
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "WEBP":
        options["lossless"] = True
    Image.fromarray(stored_pixels()).save(buffer, fmt, **options)
    data = buffer.getvalue()
    _, thumbnail = camera_exif(orientation)
    assert fmt == "PNG" or thumbnail in data  # the input really carries the thumbnail
    return data


def assert_carried(result: Image.Image, size: tuple[int, int], raw: bytes) -> None:
    exif = result.getexif()
    assert exif[MAKE] == "Vance Camera Co" and exif[MODEL] == "VC-1"
    assert exif[DATETIME] == "2021:06:15 10:20:30"
    assert exif[ORIENTATION] == 6
    details = exif.get_ifd(ExifTags.IFD.Exif)
    assert details[DATETIME_ORIGINAL] == "2021:06:15 10:20:30"
    assert (details[PIXEL_X], details[PIXEL_Y]) == size
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[1] == "N"
    assert not exif.get_ifd(ExifTags.IFD.IFD1)  # no thumbnail directory
    assert b"thumbnail-marker" not in raw


@pytest.mark.parametrize("flt", [vf.Denoise(), vf.Enlarge(scale=2)], ids=["denoise", "enlarge"])
@pytest.mark.parametrize("kind", ["pil", "bytes", "path"])
def test_exif_survives_every_door(kind: str, flt: vf.Filter, vance_client: vf.Client, tmp_path: pathlib.Path) -> None:
    data = photo()
    image: Any = data
    if kind == "pil":
        image = Image.open(io.BytesIO(data))
    elif kind == "path":
        image = tmp_path / "camera.jpg"
        image.write_bytes(data)
    out = flt.apply(image, client=vance_client)
    size = (W * flt.scale, H * flt.scale)
    if kind == "bytes":
        raw = out
        out = Image.open(io.BytesIO(out))
        assert out.format == "JPEG"
    else:
        raw = out.info["exif"]
    assert out.size == size  # the stored pixels, never turned
    assert_carried(out, size, raw)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_exif_survives_in_png_and_webp_containers(fmt: str, vance_client: vf.Client) -> None:
    out = vf.denoise(photo(fmt), client=vance_client)
    result = Image.open(io.BytesIO(out))
    assert result.format == fmt
    assert_carried(result, (W, H), out)


def test_the_doors_agree_on_pixels_and_orientation(vance_client: vf.Client, tmp_path: pathlib.Path) -> None:
    data = photo("PNG")  # lossless, so every door starts from the same pixels
    path = tmp_path / "camera.png"
    path.write_bytes(data)
    vf.set_default_client(vance_client)
    results = {
        "function": vf.denoise(Image.open(io.BytesIO(data))),
        "filter protocol": Image.open(io.BytesIO(data)).filter(vf.Denoise()),
        "path": vf.denoise(path),
        "bytes": Image.open(io.BytesIO(vf.denoise(data))),
    }
    reference = np.asarray(results["function"].convert("RGB"))
    for door, result in results.items():
        assert result.size == (W, H), door
        assert np.array_equal(np.asarray(result.convert("RGB")), reference), door
        assert result.getexif()[ORIENTATION] == 6, door
        upright = ImageOps.exif_transpose(result)
        assert upright.size == (H, W), door  # an EXIF-aware viewer shows it 20 wide, 40 tall
        red, _, blue = upright.convert("RGB").getpixel((H - 5, 5))
        assert red > 180 and blue < 90, door  # the red quarter at the top right, as for the input


def test_input_without_exif_gets_none(vance_client: vf.Client) -> None:
    out = vf.denoise(Image.fromarray(stored_pixels()), client=vance_client)
    assert "exif" not in out.info and not out.getexif()


def test_cli_keeps_exif(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "camera.jpg"
    source.write_bytes(photo())
    code = cli.main(["--emulator", "denoise", str(source), "-o", str(tmp_path / "out")])
    capsys.readouterr()
    assert code == 0
    (written,) = (tmp_path / "out").iterdir()
    result = Image.open(written)
    assert_carried(result, (W, H), written.read_bytes())


def test_to_pil_shows_the_picture_upright() -> None:
    assert imaging.to_pil(photo()).size == (H, W)


def test_exif_too_long_for_jpeg_is_left_behind_not_fatal(vance_client: vf.Client) -> None:
    exif = Image.Exif()
    exif[MAKE] = "Vance Camera Co"
    exif[ExifTags.IFD.Exif] = {0x927C: b"\x01" * 70_000}  # a 70 KB MakerNote: JPEG holds 64 KB
    buffer = io.BytesIO()
    Image.fromarray(stored_pixels()).save(buffer, "PNG", exif=exif.tobytes())
    out = vf.denoise(buffer.getvalue(), format="jpg", client=vance_client)
    result = Image.open(io.BytesIO(out))
    assert (result.format, result.size) == ("JPEG", (W, H))
    png = Image.open(io.BytesIO(vf.denoise(buffer.getvalue(), client=vance_client)))
    assert png.getexif()[MAKE] == "Vance Camera Co"  # PNG has no such limit: kept
