"""Filter.apply_async and vf.aio.amap against the emulator: order, overlap, cancellation."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.aio import amap
from vance_filters.testing import Emulator, sample_image


def arrays(n: int, size: tuple[int, int] = (12, 8)) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8) for i in range(n)]


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


async def collect(iterator: AsyncIterator[object]) -> list[object]:
    return [item async for item in iterator]


def max_overlap(emu: Emulator) -> int:
    """Most server jobs that were running at the same moment."""
    events = []
    for job in emu.jobs.values():
        assert job.finished_at is not None
        events += [(job.created_at, 1), (job.finished_at, -1)]
    running = best = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        best = max(best, running)
    return best


@pytest.mark.parametrize(
    "make",
    [
        lambda: sample_image(size=(10, 7)),
        lambda: np.arange(70, dtype=np.uint16).reshape(7, 10) * 900,
        lambda: png(sample_image(size=(10, 7))),
    ],
    ids=["pil", "uint16-array", "png-bytes"],
)
def test_apply_async_gives_what_apply_gives(make, vance_client: vf.Client) -> None:  # type: ignore[no-untyped-def]
    flt = vf.Enlarge(scale=2)
    awaited = asyncio.run(flt.apply_async(make(), client=vance_client))
    direct = flt.apply(make(), client=vance_client)
    assert type(awaited) is type(direct)
    if isinstance(direct, bytes):
        assert awaited == direct
    else:
        assert np.array_equal(np.asarray(awaited), np.asarray(direct))
        assert np.asarray(awaited).dtype == np.asarray(direct).dtype


def test_apply_async_raises_the_typed_error(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    vance_emulator.fail_jobs(times=1)
    with pytest.raises(vf.JobFailedError) as info:
        asyncio.run(vf.Denoise().apply_async(arrays(1)[0], client=vance_client))
    assert info.value.trans_id in vance_emulator.jobs


@pytest.mark.timeout(30)
def test_apply_async_leaves_the_event_loop_free(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.5)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.create_task(ticker())
        await vf.Denoise().apply_async(arrays(1)[0], client=vance_client)
        tick.cancel()
        return ticks

    assert asyncio.run(main()) >= 20


@pytest.mark.timeout(30)
def test_amap_yields_in_input_order(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.05, workers=8)
    vance_emulator.fail("download", times=1, delay=0.4)  # one result arrives late
    inputs = arrays(12)
    out = asyncio.run(collect(amap(vf.Enlarge(scale=2), inputs, concurrency=4, client=vance_client)))
    assert len(out) == 12
    assert [int(o.mean()) for o in out] == [int(i.mean()) for i in inputs]  # type: ignore[union-attr]
    assert all(o.shape == (16, 24, 3) for o in out)  # type: ignore[union-attr]


def test_amap_takes_an_async_iterable_of_mixed_kinds(vance_client: vf.Client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.png"
    sample_image(size=(9, 9)).save(path)

    async def source() -> AsyncIterator[object]:
        for item in (np.zeros((9, 9), np.uint8), path, png(sample_image(size=(9, 9)))):
            await asyncio.sleep(0)
            yield item

    out = asyncio.run(collect(amap(vf.Denoise(), source(), client=vance_client)))
    assert [type(o) for o in out] == [np.ndarray, Image.Image, bytes]


@pytest.mark.timeout(30)
def test_amap_overlaps_up_to_its_concurrency(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.5, workers=16)
    start = time.perf_counter()
    out = asyncio.run(collect(amap(vf.Denoise(), arrays(16), concurrency=8, client=vance_client)))
    elapsed = time.perf_counter() - start
    assert len(out) == 16
    assert elapsed < 16 * 0.5 / 3, f"{elapsed:.1f} s is not well under the serial 8 s"
    assert max_overlap(vance_emulator) <= 8

    vance_emulator.reset()
    vance_emulator.configure(job_duration=0.3, workers=16)
    asyncio.run(collect(amap(vf.Denoise(), arrays(12, (5, 5)), concurrency=3, client=vance_client)))
    assert 2 <= max_overlap(vance_emulator) <= 3  # the client's 10 threads are not all used


def test_amap_return_exceptions(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    inputs: list[object] = arrays(5)
    inputs[2] = b"not an image"
    out = asyncio.run(collect(amap(vf.Denoise(), inputs, return_exceptions=True, client=vance_client)))
    assert isinstance(out[2], vf.InputError)
    assert all(isinstance(o, np.ndarray) for i, o in enumerate(out) if i != 2)
    with pytest.raises(vf.InputError):
        asyncio.run(collect(amap(vf.Denoise(), inputs, client=vance_client)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_amap_validates_concurrency(bad: object, vance_client: vf.Client) -> None:
    with pytest.raises(vf.ConfigError, match="concurrency"):
        asyncio.run(collect(amap(vf.Denoise(), [], concurrency=bad, client=vance_client)))  # type: ignore[arg-type]


def test_amap_uses_the_default_client(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    out = asyncio.run(collect(amap(vf.Denoise(), arrays(2))))
    assert len(out) == 2 and vance_emulator.request_count("upload") == 2


# -- cancellation ---------------------------------------------------------------------------------


def _wait_for(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("during", ["server job", "download"])
def test_cancelling_stops_the_wait_not_the_job(during: str, vance_emulator: Emulator, vance_client: vf.Client) -> None:
    if during == "server job":
        vance_emulator.configure(job_duration=1.0)
    else:
        vance_emulator.fail("download", times=1, delay=1.0)
    image = arrays(1)[0]
    flt = vf.Denoise()

    async def main() -> float:
        task = asyncio.create_task(flt.apply_async(image, client=vance_client))
        await asyncio.sleep(0.3 if during == "server job" else 0.0)
        if during == "download":
            while vance_emulator.request_count("download") == 0:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # the download is under way
        assert not vance_emulator.charges  # nothing downloaded yet: the job is under way
        start = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.1  # the waiting stopped at once
    # ...but the job under way went on in the background: downloaded once, paid once, cached.
    _wait_for(lambda: len(vance_emulator.charges) == 1, timeout=5)
    (job,) = vance_emulator.jobs.values()
    _wait_for(lambda: len(vance_client.cache) == 1, timeout=5)  # type: ignore[arg-type]
    assert job.downloads == 1
    before = vance_emulator.request_count()
    again = asyncio.run(flt.apply_async(image, client=vance_client))
    assert vance_emulator.request_count() == before  # served from the cache: free
    assert again.shape == image.shape and len(vance_emulator.charges) == 1


@pytest.mark.timeout(30)
def test_leaving_amap_early_never_starts_the_rest(vance_emulator: Emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.3)

    async def first_only() -> object:
        async for result in amap(vf.Denoise(), arrays(6), concurrency=1, client=vance_client):
            return result
        return None

    assert isinstance(asyncio.run(first_only()), np.ndarray)
    time.sleep(1.0)  # room for any straggler to show up at the emulator
    assert vance_emulator.request_count("upload") <= 2
    # a job that had started ran to its end (downloaded, paid, cached): none was abandoned
    assert len(vance_emulator.charges) == vance_emulator.request_count("upload")


@pytest.mark.parametrize("as_path", [False, True])
def test_amap_over_a_folder_and_refuses_a_plain_str(vance_client: vf.Client, tmp_path, as_path: bool) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for name, width in (("z.png", 3), ("a.png", 5)):
        Image.new("RGB", (width, 4)).save(folder / name)

    async def collect(images: object) -> list[object]:
        return [r async for r in vf.amap(vf.Denoise(), images, client=vance_client)]  # type: ignore[arg-type]

    out = asyncio.run(collect(folder if as_path else str(folder)))
    assert [o.size for o in out] == [(5, 4), (3, 4)]  # a.png, then z.png
    with pytest.raises(TypeError, match="pass a list of images"):
        asyncio.run(collect(str(folder / "a.png")))
