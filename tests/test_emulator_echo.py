"""The emulator's echo jobs (``Emulator(echo_jobs=True)``, ``--echo-jobs``): benchmarks of the client.

A job returns its upload at the result's size (pixel repetition) in the format the service
answers, without the stand-ins' effect; the wire, the geometry and the billing are as usual.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.testing import Emulator


def _file(picture: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_echo_job_returns_the_upload_enlarged_in_its_format(fmt: str) -> None:
    picture = np.zeros((24, 32, 3), np.uint8)
    picture[..., 0] = np.arange(32) * 8  # smooth: JPEG keeps it closely
    picture[..., 1] = np.arange(24)[:, None] * 10
    data = _file(picture, fmt)
    with Emulator(echo_jobs=True) as emu, vf.Client(emu.api_token, emu.url, cache=False) as client:
        result = client.run_job(data, vf.Enlarge(scale=2).to_jconfig())
        assert emu.credits_used == 1  # billed as any job
        emu.reset()  # a reset keeps the echo
        again = client.run_job(data, vf.Enlarge(scale=4).to_jconfig())
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.format == fmt and image.size == (64, 48)
        echoed = np.asarray(image.convert("RGB"))
    uploaded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    expected = uploaded.repeat(2, axis=0).repeat(2, axis=1)
    if fmt == "PNG":
        assert np.array_equal(echoed, expected)  # exactly the pixels, repeated
    else:
        assert np.abs(echoed.astype(int) - expected).mean() < 3  # JPEG's loss only
    assert Image.open(io.BytesIO(again.data)).size == (128, 96)


def test_without_echo_the_stand_in_changes_the_picture() -> None:
    picture = np.random.default_rng(1).integers(0, 256, (24, 32, 3), np.uint8)
    data = _file(picture, "PNG")
    with Emulator() as emu, vf.Client(emu.api_token, emu.url, cache=False) as client:
        result = np.asarray(Image.open(io.BytesIO(client.run_job(data, vf.Enlarge(scale=2).to_jconfig()).data)))
    assert not np.array_equal(result[..., :3], picture.repeat(2, axis=0).repeat(2, axis=1))


def test_echo_jobs_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="echo_jobs"):
        Emulator(echo_jobs="yes")  # type: ignore[arg-type]
