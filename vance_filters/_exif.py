"""EXIF carry-over (private): the input's camera metadata, fitted to the result.

The rule for orientation: the stored pixels are sent and given back as they
are (Pillow's filter protocol only ever sees those, and Pillow never rotates
on its own), and the ``Orientation`` tag travels with them, so an EXIF-aware
viewer shows the result upright, exactly as it showed the input.

What is carried: every tag of the main directory (camera make and model,
date, orientation, software, artist, copyright...), the Exif directory
(capture dates, exposure...) and the GPS directory. What is not: the embedded
thumbnail (it shows the input, not the result), the interoperability pointer
and the tags that describe the input file's own layout (strips, tiles,
compression, bits per sample: TIFF structure). The size fields
(``PixelXDimension`` / ``PixelYDimension``, and ``ImageWidth`` /
``ImageLength`` when present) are set to the result's size.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

__all__ = ["ORIENTATION", "fit", "orientation", "read", "upright"]

ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_IMAGE_WIDTH, _IMAGE_LENGTH = 0x0100, 0x0101
#: Tags of the main directory that describe the input file's layout, not the picture.
_STRUCTURAL = frozenset(
    {
        0x00FE,
        0x00FF,  # NewSubfileType, SubfileType
        0x0102,
        0x0103,
        0x0106,
        0x0107,
        0x0108,
        0x0109,
        0x010A,  # bits, compression, photometric...
        0x0111,
        0x0115,
        0x0116,
        0x0117,
        0x0118,
        0x0119,  # strips, samples per pixel
        0x011C,
        0x013D,
        0x0140,
        0x0142,
        0x0143,
        0x0144,
        0x0145,  # planar, predictor, colormap, tiles
        0x014A,
        0x0152,
        0x0153,
        0x0154,
        0x0155,  # SubIFDs, extra samples, sample format
        0x0201,
        0x0202,  # JPEGInterchangeFormat(Length): a thumbnail
        0x8773,  # InterColorProfile (the ICC profile travels on its own)
        0x935C,  # ImageSourceData (Photoshop layers)
    }
)

_T = Image.Transpose
#: Orientation → the transpose that shows the stored pixels upright (as ``ImageOps.exif_transpose``).
_TRANSPOSE = {
    2: _T.FLIP_LEFT_RIGHT,
    3: _T.ROTATE_180,
    4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE,
    6: _T.ROTATE_270,
    7: _T.TRANSVERSE,
    8: _T.ROTATE_90,
}


def read(image: Image.Image) -> bytes | None:
    """The image's EXIF worth carrying (see the module's docstring), as ``Exif\\0\\0`` bytes, or None.

    Read from a JPEG, PNG, WebP or TIFF file, or ``info["exif"]``; the
    thumbnail and the layout tags are left behind here, once.
    """
    try:
        exif = image.getexif()
        if not len(exif):
            return None
        out = Image.Exif()
        for tag, value in exif.items():
            if tag in _STRUCTURAL or tag in (_EXIF_IFD, _GPS_IFD):
                continue
            out[tag] = value
        details: dict[int, Any] = dict(exif.get_ifd(_EXIF_IFD))
        details.pop(_INTEROP_IFD, None)
        if details:
            out[_EXIF_IFD] = details
        gps = dict(exif.get_ifd(_GPS_IFD))
        if gps:
            out[_GPS_IFD] = gps
        return out.tobytes() if len(out) else None
    except Exception:  # noqa: BLE001 - broken EXIF is no EXIF
        return None


def _load(data: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data)
    return exif


def orientation(data: bytes | None) -> int:
    """The Orientation tag (1-8) of EXIF bytes from :func:`read`, 1 when absent or invalid."""
    if data is None:
        return 1
    try:
        value = _load(data).get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(image: Image.Image, data: bytes | None) -> Image.Image:
    """``image`` turned as the Orientation tag says (for viewing: :func:`imaging.to_pil`)."""
    method = _TRANSPOSE.get(orientation(data))
    return image if method is None else image.transpose(method)


def fit(data: bytes | None, size: tuple[int, int]) -> bytes | None:
    """EXIF bytes from :func:`read` with the size fields set to ``size`` (``(width, height)``)."""
    if data is None:
        return None
    try:
        exif = _load(data)
        if _IMAGE_WIDTH in exif or _IMAGE_LENGTH in exif:
            exif[_IMAGE_WIDTH], exif[_IMAGE_LENGTH] = size
        details: dict[int, Any] = dict(exif.get_ifd(_EXIF_IFD))
        if _PIXEL_X in details or _PIXEL_Y in details:
            details[_PIXEL_X], details[_PIXEL_Y] = size
            exif[_EXIF_IFD] = details
        return exif.tobytes()
    except Exception:  # noqa: BLE001 - metadata Pillow cannot rewrite is left behind
        return None
