"""What the client accepts as an image file to upload: bytes, a path or a binary file object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Union

from ._sniff import image_type

__all__ = ["FileInput", "read_file"]

FileInput = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]


def _sniff_name(data: bytes) -> str:
    kind = image_type(data)
    return {"image/png": "image.png", "image/jpeg": "image.jpg"}.get(kind or "", "image")


def read_file(file: FileInput, filename: str | None) -> tuple[bytes, str]:
    """The bytes to upload and the file name to send."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        name = None
    elif isinstance(file, (str, os.PathLike)):
        path = Path(os.fspath(file))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileNotFoundError(
                f"file={os.fspath(file)!r} cannot be read: {exc.strerror or exc}"
            ) from None
        name = path.name
    elif hasattr(file, "read"):
        data = file.read()
        if isinstance(data, str):
            raise TypeError("file= is a text file object: open it in binary mode ('rb')")
        data = bytes(data)
        raw_name = getattr(file, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) else None
    else:
        raise TypeError(
            f"file={type(file).__name__} is not supported: pass bytes, a path (str or "
            "os.PathLike) or a binary file object"
        )
    if not data:
        raise ValueError("file= is empty: there is no image to upload")
    return data, filename or name or _sniff_name(data)
