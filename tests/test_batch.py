"""vf.map, client.submit, the result cache and the cost guard, against the emulator."""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np
import pytest

import vance_filters as vf
from vance_filters.testing import sample_image


def images(n: int, size: tuple[int, int] = (12, 8)) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), i, np.uint8) for i in range(n)]


def test_map_yields_results_in_input_order(vance_client: vf.Client) -> None:
    inputs = images(20)
    out = list(vf.map(vf.Enlarge(scale=2), inputs, concurrency=4, client=vance_client))
    assert len(out) == 20
    for i, result in enumerate(out):
        assert result.shape == (16, 24, 3)
        assert abs(int(result.mean()) - i) <= 1  # each result is its own image's


def test_map_accepts_a_generator_and_mixed_kinds(vance_client: vf.Client, tmp_path) -> None:
    path = tmp_path / "a.png"
    sample_image(size=(10, 10)).save(path)
    mixed = (x for x in [sample_image(size=(10, 10)), np.zeros((10, 10), np.uint8), path])
    out = list(vf.map(vf.Denoise(), mixed, client=vance_client))
    from PIL import Image

    assert [isinstance(o, k) for o, k in zip(out, [Image.Image, np.ndarray, Image.Image])] == [True] * 3


@pytest.mark.timeout(60)
def test_map_overlaps_jobs(vance_emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.5, workers=16)
    inputs = images(32)
    start = time.perf_counter()
    out = list(vf.map(vf.Denoise(), inputs, concurrency=8, client=vance_client))
    elapsed = time.perf_counter() - start
    serial = 32 * 0.5
    assert len(out) == 32
    assert elapsed < serial / 2, f"{elapsed:.1f} s is not well under half of the serial {serial:.0f} s"
    assert vance_client.pool_size >= 8


def test_return_exceptions_keeps_the_batch_going(vance_emulator, vance_client: vf.Client) -> None:
    inputs: list[object] = images(6)
    inputs[2] = b"not an image"
    out = list(vf.map(vf.Denoise(), inputs, return_exceptions=True, concurrency=3, client=vance_client))
    assert isinstance(out[2], vf.InputError)
    assert all(isinstance(o, np.ndarray) for i, o in enumerate(out) if i != 2)


def test_without_return_exceptions_the_first_error_is_raised(vance_client: vf.Client) -> None:
    inputs: list[object] = images(4)
    inputs[1] = np.full((4, 4), np.nan)
    with pytest.raises(vf.InputError):
        list(vf.map(vf.Denoise(), inputs, client=vance_client))


def test_map_validates_concurrency(vance_client: vf.Client) -> None:
    with pytest.raises(vf.ConfigError, match="concurrency"):
        vf.map(vf.Denoise(), images(1), concurrency=0, client=vance_client)


def test_the_cost_guard_refuses_before_any_upload(vance_emulator, vance_client: vf.Client) -> None:
    with pytest.raises(vf.CreditLimitError, match="max_credits=5"):
        vf.map(vf.Sharpen(), images(3), max_credits=5, client=vance_client)
    vance_emulator.configure(credits=3)
    with pytest.raises(vf.CreditLimitError, match="3 left"):
        vf.map(vf.Denoise(), images(4), max_credits=100, client=vance_client)
    assert vance_emulator.request_count("upload") == 0
    out = list(vf.map(vf.Denoise(), images(3), max_credits=3, client=vance_client))
    assert len(out) == 3 and vance_emulator.credits_used == 3


def test_submit_returns_a_future(vance_client: vf.Client) -> None:
    future = vance_client.submit(sample_image(size=(8, 6)), vf.Enlarge(scale=4))
    assert isinstance(future, Future)
    assert future.result(timeout=30).size == (32, 24)
    failing = vance_client.submit(b"junk", vf.Denoise())
    assert isinstance(failing.exception(timeout=30), vf.InputError)


def test_a_second_identical_call_makes_no_request_and_costs_nothing(vance_emulator, vance_client: vf.Client) -> None:
    image = sample_image(size=(16, 12))
    first = vf.sharpen(image, client=vance_client)
    before = vance_emulator.request_count()
    second = vf.sharpen(image, client=vance_client)
    assert vance_emulator.request_count() == before
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert [p for _, p in vance_emulator.charges] == [2.0]
    vf.sharpen(image, remove_blur=0.9, client=vance_client)  # another jconfig: a new job
    assert len(vance_emulator.charges) == 2


def test_the_disk_cache_makes_a_new_process_rerun_free(vance_emulator, tmp_path) -> None:
    image = sample_image(size=(16, 12))
    with vf.Client(vance_emulator.api_token, vance_emulator.url, cache_dir=tmp_path) as client:
        vf.denoise(image, client=client)
    before = vance_emulator.request_count()
    with vf.Client(vance_emulator.api_token, vance_emulator.url, cache_dir=tmp_path) as client:
        vf.denoise(image, client=client)
    assert vance_emulator.request_count() == before
    with vf.Client(vance_emulator.api_token, vance_emulator.url, cache=False) as client:
        vf.denoise(image, client=client)
    assert vance_emulator.request_count() > before


def test_submit_grows_with_the_pool(vance_emulator, vance_client: vf.Client) -> None:
    vance_emulator.configure(job_duration=0.3, workers=16)
    small = vf.Client(vance_emulator.api_token, vance_emulator.url, pool_size=2)
    small.submit(np.zeros((4, 4), np.uint8), vf.Denoise()).result(timeout=30)
    small.ensure_pool(8)
    start = time.perf_counter()
    futures = [small.submit(images(1)[0] + i, vf.Denoise()) for i in range(8)]
    for future in futures:
        future.result(timeout=30)
    assert time.perf_counter() - start < 4 * 0.3  # 8 at once, not 2 at a time
    small.close()


def test_a_repeat_hands_out_a_fresh_copy(vance_emulator, vance_client: vf.Client) -> None:
    array = np.full((8, 8, 3), 90, np.uint8)
    first = vf.denoise(array, client=vance_client)
    first[:] = 0  # the caller owns its result
    second = vf.denoise(array, client=vance_client)
    assert second.any() and second is not first
    image = sample_image(size=(8, 8))
    one = vf.denoise(image, client=vance_client)
    one.paste((0, 0, 0), (0, 0, 8, 8))
    assert vf.denoise(image, client=vance_client).getpixel((4, 4)) != (0, 0, 0)
    assert vance_emulator.request_count("upload") == 2


def test_a_changed_input_is_not_mistaken_for_a_repeat(vance_emulator, vance_client: vf.Client) -> None:
    array = np.full((8, 8), 90, np.uint8)
    array[7, 6:] = (0, 255)  # the whole 8-bit range: as uint16 * 257 it is sent unstretched
    vf.denoise(array, client=vance_client)
    array[0, 0] = 91
    vf.denoise(array, client=vance_client)
    assert vance_emulator.request_count("upload") == 2
    # the same picture as uint16 uploads the same bytes (a free cache hit) but comes back uint16
    wide = vf.denoise(array.astype(np.uint16) * 257, client=vance_client)
    assert wide.dtype == np.uint16 and vance_emulator.request_count("upload") == 2


# ---------------------------------------------------------------------------
# A folder as the batch (issue 13.6)
# ---------------------------------------------------------------------------


def _folder_of_images(folder) -> list[str]:  # type: ignore[no-untyped-def]
    from PIL import Image

    folder.mkdir()
    names = ["b.png", "a.jpg", "c.PNG"]
    for i, name in enumerate(names):
        Image.fromarray(np.full((4, 6 + i, 3), 10 * i, np.uint8)).save(folder / name, "JPEG" if name.endswith(".jpg") else "PNG")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    return sorted(names)


@pytest.mark.parametrize("as_path", [False, True])
def test_map_over_a_folder_takes_its_images_sorted_by_name(vance_client: vf.Client, tmp_path, as_path: bool) -> None:
    assert _folder_of_images(tmp_path / "photos") == ["a.jpg", "b.png", "c.PNG"]
    folder = tmp_path / "photos" if as_path else str(tmp_path / "photos")
    out = list(vf.map(vf.Enlarge(scale=2), folder, client=vance_client))
    # a.jpg is 7 wide, b.png 6, c.PNG 8; notes.txt and sub/ are not images.
    assert [o.size for o in out] == [(14, 8), (12, 8), (16, 8)]


@pytest.mark.parametrize("images", ["photo.png", b"\x89PNG...", "no-such-folder"])
def test_map_refuses_a_str_or_bytes_that_is_not_a_folder(vance_client: vf.Client, images: object) -> None:
    with pytest.raises(TypeError, match="pass a list of images"):
        vf.map(vf.Denoise(), images, client=vance_client)  # type: ignore[arg-type]
    assert vance_client.cache is None or len(vance_client.cache) == 0  # type: ignore[arg-type]


def test_a_file_path_is_not_iterated_character_by_character(vance_client: vf.Client, tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "one.png"
    Image.new("RGB", (5, 4)).save(path)
    with pytest.raises(TypeError, match=r"is not a folder: pass a list of images \(e\.g\. \[.*one\.png'\]"):
        vf.map(vf.Denoise(), str(path), client=vance_client)
    (out,) = vf.map(vf.Denoise(), [str(path)], client=vance_client)
    assert out.size == (5, 4)
