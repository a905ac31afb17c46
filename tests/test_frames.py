"""Every frame: animations, multi-page TIFFs and stacks through every door, on the emulator over HTTP.

Fixtures are drawn with Pillow here (tiny frames, few of them); each is checked
to read back as meant before it is used.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters import _budget
from vance_filters import frames as vff
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(120)

SIZE = (12, 10)  # width, height
DURATIONS = [100, 150, 70]  # ms; GIF stores 10 ms steps, so these are exact there
CONTAINERS = {"GIF": ".gif", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tiff"}
FILTERS = {
    "enlarge2": (vf.Enlarge(scale=2), 2),
    "remove_background": (vf.RemoveBackground(), 1),
    "denoise": (vf.Denoise(), 1),
}
CLEAR = (0, 0)  # a transparent pixel of every fixture frame (columns 0-2)
SOLID = (8, 5)  # an opaque one


def frame_pictures(count: int = 3, *, seed: int = 0) -> list[Image.Image]:
    """Distinct RGBA frames: a coloured block on noise, columns 0-2 transparent."""
    rng = np.random.default_rng(seed)
    pictures = []
    for index in range(count):
        pixels = rng.integers(0, 256, (SIZE[1], SIZE[0], 4), dtype=np.uint8)
        pixels[..., 3] = 255
        pixels[2:8, 4 + index % 6 : 7 + index % 6, :3] = (40 * index % 256, 200, 90)
        pixels[:, :3] = 0  # transparent, and black beneath (what GIF and WebP keep)
        pictures.append(Image.fromarray(pixels, "RGBA"))
    return pictures


def save_animation(pictures: list[Image.Image], container: str, durations: list[int]) -> bytes:
    """Pillow's own writers (they merge consecutive repeats: the fixtures have none)."""
    out = io.BytesIO()
    first, rest = pictures[0], pictures[1:]
    if container == "TIFF":
        first.save(out, "TIFF", save_all=True, append_images=rest)
    elif container == "GIF":
        first.save(out, "GIF", save_all=True, append_images=rest, duration=durations, loop=0, disposal=2)
    else:
        first.save(out, container, save_all=True, append_images=rest, duration=durations, loop=0)
    return out.getvalue()


def look(data: bytes | Image.Image) -> dict[str, Any]:
    """What a viewer sees in a multi-frame file: every frame composited, with its timing."""
    image = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    shown = []
    durations = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        durations.append(image.info.get("duration"))
        shown.append(np.asarray(image.convert("RGBA")))
    return {
        "format": image.format,
        "frames": len(shown),
        "durations": durations,
        "loop": image.info.get("loop"),
        "pixels": shown,
    }


@pytest.fixture(scope="module")
def fixtures() -> dict[str, bytes]:
    made = {}
    for container in CONTAINERS:
        data = save_animation(frame_pictures(), container, DURATIONS)
        seen = look(data)
        assert seen["format"] == container and seen["frames"] == 3
        assert all(p[CLEAR[1], CLEAR[0], 3] == 0 for p in seen["pixels"]), container
        if container != "TIFF":
            assert seen["durations"] == DURATIONS and seen["loop"] == 0
        made[container] = data
    return made


def as_input(kind: str, data: bytes, container: str, tmp_path: Path) -> Any:
    if kind == "bytes":
        return data
    if kind == "path":
        path = tmp_path / f"anim{CONTAINERS[container]}"
        path.write_bytes(data)
        return path
    if kind == "pil":
        return Image.open(io.BytesIO(data))
    # "stack": what imageio gives (iio.imread(..., index=None)), read here by Pillow for every
    # container, with the alpha channel
    return np.stack(look(data)["pixels"])


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("kind", ["path", "bytes", "pil", "stack"])
@pytest.mark.parametrize("container", list(CONTAINERS))
def test_every_frame_comes_back(
    emu: Emulator,
    vance_client: vf.Client,
    fixtures: dict[str, bytes],
    tmp_path: Path,
    container: str,
    kind: str,
    filter_name: str,
) -> None:
    flt, scale = FILTERS[filter_name]
    data = fixtures[container]
    source = look(data)
    out = flt.apply(as_input(kind, data, container, tmp_path), client=vance_client)
    # each frame as one picture through the same filter (answered from the client's cache)
    single = [flt.apply(Image.fromarray(p), client=vance_client) for p in source["pixels"]]
    size = (SIZE[0] * scale, SIZE[1] * scale)
    assert emu.request_count("upload") == 3  # three distinct frames, each sent once

    if kind == "stack":
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8
        assert out.shape == (3, size[1], size[0], 4)
        for got, want in zip(out, single, strict=True):
            assert np.array_equal(got, np.asarray(want.convert("RGBA")))
        return

    if kind == "bytes":
        assert isinstance(out, bytes)
    else:
        assert isinstance(out, Image.Image) and out.format == container
        assert out.n_frames == 3
        out.seek(2)
        out.seek(0)
    seen = look(out)
    assert seen["format"] == container
    assert seen["frames"] == 3
    if container == "TIFF":
        assert seen["loop"] is None
    else:
        assert seen["durations"] == DURATIONS  # GIF: 10 ms steps, exact
        assert seen["loop"] == 0
    for got, want in zip(seen["pixels"], single, strict=True):  # in order: TIFF pages too
        assert (got.shape[1], got.shape[0]) == size
        expected = np.asarray(want.convert("RGBA"))
        if container == "GIF":  # one bit of alpha, 256 colours
            assert np.array_equal(got[..., 3] > 0, expected[..., 3] >= 128)
            opaque = got[..., 3] > 0
            assert np.abs(got[..., :3].astype(int) - expected[..., :3])[opaque].mean() < 8
        else:
            assert np.array_equal(got[..., 3], expected[..., 3])
            visible = expected[..., 3] > 0
            assert np.array_equal(got[..., :3][visible], expected[..., :3][visible])
        if filter_name != "remove_background":  # the input's alpha is kept
            assert got[CLEAR[1] * scale, CLEAR[0] * scale, 3] == 0
            assert got[SOLID[1] * scale, SOLID[0] * scale, 3] == 255


def test_no_ghosting_where_a_frame_is_clear(emu: Emulator, vance_client: vf.Client) -> None:
    """A frame that is clear where the last was drawn stays clear (GIF disposal, APNG, WebP)."""
    drawn = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    drawn.paste((250, 10, 10, 255), (2, 2, 10, 8))
    moved = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    moved.paste((10, 10, 250, 255), (0, 0, 3, 3))
    for container in ("GIF", "PNG", "WEBP"):
        data = save_animation([drawn, moved, drawn], container, DURATIONS)
        if look(data)["pixels"][1][5, 6, 3] != 0:  # Pillow's WebP writer may drop the alpha
            data = _write_with_repeats([drawn, moved, drawn], container, DURATIONS)
        assert look(data)["pixels"][1][5, 6, 3] == 0, container
        out = look(vf.denoise(data, client=vance_client))
        assert out["frames"] == 3
        second = out["pixels"][1]
        assert second[5, 6, 3] == 0, container  # where frame 1 was drawn, frame 2 is clear
        assert second[1, 1, 3] == 255, container


def test_repeats_cost_one_credit_each_and_budget_refuses_first(
    emu: Emulator, vance_client: vf.Client
) -> None:
    distinct = frame_pictures(15, seed=3)
    order = list(range(15)) + [0, 2, 4, 6, 8, 10, 12, 14, 1]  # 9 exact repeats, none consecutive
    pictures = [distinct[i] for i in order]
    durations = [20 + 10 * (i % 5) for i in range(24)]
    data = save_animation(pictures, "GIF", durations)
    assert Image.open(io.BytesIO(data)).n_frames == 24

    assert _budget.cost_of(vf.Enlarge(), data) == _budget.Cost(frames=24, uploads=15, credits=15.0)
    with pytest.raises(vf.CreditLimitError, match=r"24 frames \(15 distinct\) costs up to 15 credits"):
        vf.enlarge(data, client=vance_client, max_credits=14)
    assert emu.request_count("upload") == 0 and emu.credits_used == 0

    out = vf.enlarge(data, client=vance_client, max_credits=15)
    assert emu.credits_used == 15  # on the emulator's ledger: each distinct frame once
    assert emu.request_count("upload") == 15
    seen = look(out)
    assert seen["frames"] == 24 and seen["durations"] == durations and seen["loop"] == 0
    for twin, original in zip(order[15:], range(15, 24), strict=True):
        assert np.array_equal(seen["pixels"][original], seen["pixels"][twin])


def test_one_frame_only_when_asked(emu: Emulator, vance_client: vf.Client, fixtures: dict[str, bytes]) -> None:
    gif = fixtures["GIF"]
    first = vf.enlarge(gif, client=vance_client, frames="first")
    assert getattr(Image.open(io.BytesIO(first)), "n_frames", 1) == 1
    assert look(vf.enlarge(gif, client=vance_client))["frames"] == 3
    pil = vf.enlarge(Image.open(io.BytesIO(gif)), client=vance_client, frames="first")
    assert getattr(pil, "n_frames", 1) == 1 and pil.size == (24, 20)

    stack = np.zeros((4, 10, 12, 3), np.uint8)
    assert vf.enlarge(stack, client=vance_client, frames="first").shape == (20, 24, 3)
    assert vf.enlarge(stack, client=vance_client).shape == (4, 20, 24, 3)
    gray = np.zeros((4, 10, 12), np.uint16)
    with pytest.raises(vf.InputError):  # (T, H, W) is a stack only when the caller says so
        vf.enlarge(gray, client=vance_client)
    out = vf.enlarge(gray, client=vance_client, frames=True)
    assert out.shape == (4, 20, 24) and out.dtype == np.uint16
    with pytest.raises(vf.ConfigError, match="frames='every'"):
        vf.enlarge(stack, client=vance_client, frames="every")  # type: ignore[arg-type]
    with pytest.raises(vf.ConfigError, match="max_credits=-1"):
        vf.enlarge(stack, client=vance_client, max_credits=-1)


def test_format_png_gives_an_apng_and_jpg_keeps_the_container(
    emu: Emulator, vance_client: vf.Client, fixtures: dict[str, bytes]
) -> None:
    apng = look(vf.enlarge(fixtures["GIF"], client=vance_client, format="png"))
    assert apng["format"] == "PNG" and apng["frames"] == 3 and apng["durations"] == DURATIONS
    gif = look(vf.enlarge(fixtures["GIF"], client=vance_client, format="jpg"))
    assert gif["format"] == "GIF" and gif["frames"] == 3  # JPEG holds one picture


def _dcx(pages: list[Image.Image]) -> bytes:
    """A DCX file (pages of PCX): multi-frame, readable by Pillow, not written back here."""
    import struct

    encoded = []
    for page in pages:
        out = io.BytesIO()
        page.save(out, "PCX")
        encoded.append(out.getvalue())
    offset = 4 + 4 * (len(encoded) + 1)
    header = struct.pack("<I", 987654321)
    for data in encoded:
        header += struct.pack("<I", offset)
        offset += len(data)
    return header + struct.pack("<I", 0) + b"".join(encoded)


def test_a_multi_frame_file_that_cannot_be_written_back_is_refused(
    emu: Emulator, vance_client: vf.Client
) -> None:
    data = _dcx([p.convert("RGB") for p in frame_pictures(2)])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    with pytest.raises(vf.InputError, match=r"DCX given holds 2 frames.*frames='first'"):
        vf.denoise(data, client=vance_client)
    assert emu.request_count("upload") == 0
    assert isinstance(vf.denoise(data, client=vance_client, frames="first"), bytes)
    with pytest.raises(vf.InputError, match="DCX"):
        vf.denoise(Image.open(io.BytesIO(data)), client=vance_client)


@pytest.mark.parametrize("container", ["PNG", "WEBP", "TIFF"])
def test_exif_and_icc_ride_along(
    emu: Emulator, vance_client: vf.Client, container: str
) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "FrameCam"  # Make
    pictures = [p.convert("RGB") for p in frame_pictures()]
    out = io.BytesIO()
    options: dict[str, Any] = {"exif": exif.tobytes(), "icc_profile": icc}
    if container != "TIFF":
        options.update(duration=DURATIONS, loop=0)
    pictures[0].save(out, container, save_all=True, append_images=pictures[1:], **options)
    result = Image.open(io.BytesIO(vf.enlarge(out.getvalue(), client=vance_client)))
    assert result.n_frames == 3
    assert result.getexif().get(0x010F) == "FrameCam"
    assert result.info.get("icc_profile") == icc


def test_sixteen_bit_pages_stay_sixteen_bit(emu: Emulator, vance_client: vf.Client) -> None:
    ramp = np.arange(120, dtype=np.uint16).reshape(10, 12)
    pages = [Image.fromarray(ramp * (i + 1) * 100) for i in range(3)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], dpi=(300, 300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = Image.open(io.BytesIO(vf.enlarge(out.getvalue(), client=vance_client)))
    assert result.n_frames == 3
    for index in range(3):  # in order, each in its own range
        result.seek(index)
        assert result.mode == "I;16" and result.size == (24, 20)
        assert np.asarray(result).max() == 119 * (index + 1) * 100
    assert result.info["dpi"] == pytest.approx((300, 300))


def test_single_image_budget_uses_the_same_guard(emu: Emulator, vance_client: vf.Client) -> None:
    with pytest.raises(vf.CreditLimitError, match="1 image costs up to 2 credits"):
        vf.sharpen(np.zeros((4, 4, 3), np.uint8), client=vance_client, max_credits=1)
    assert emu.request_count("upload") == 0


def test_batch_budget_counts_frames(emu: Emulator, vance_client: vf.Client, fixtures: dict[str, bytes]) -> None:
    images = [fixtures["GIF"], np.zeros((4, 4, 3), np.uint8)]
    with pytest.raises(vf.CreditLimitError, match=r"2 images \(4 uploads"):
        list(vf.map(vf.Enlarge(), images, client=vance_client, max_credits=3))
    assert emu.request_count("upload") == 0
    out = list(vf.map(vf.Enlarge(), images, client=vance_client, max_credits=4))
    assert look(out[0])["frames"] == 3


def test_progress_shows_frames_on_a_long_animation(
    emu: Emulator, vance_client: vf.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = np.stack([np.full((4, 4), i, np.uint8) for i in range(vff.PROGRESS_FRAMES + 1)])
    vf.denoise(stack, client=vance_client, frames=True)
    assert f"{vff.PROGRESS_FRAMES + 1}/{vff.PROGRESS_FRAMES + 1}" in capsys.readouterr().err
    vf.denoise(stack[:3], client=vance_client, frames=True)
    assert capsys.readouterr().err == ""


def test_imageio_recipe(emu: Emulator, vance_client: vf.Client, tmp_path: Path) -> None:
    """The README's spelling: imageio reads a stack, the filter scales it, imageio writes it."""
    iio = pytest.importorskip("imageio.v3")
    path = tmp_path / "in.gif"
    path.write_bytes(save_animation(frame_pictures(), "GIF", DURATIONS))
    vf.set_default_client(vance_client)
    # the README's lines, verbatim
    stack = iio.imread(path, index=None, mode="RGBA")  # (T, H, W, 4): every frame, composited
    durations = [iio.immeta(path, index=i)["duration"] for i in range(len(stack))]
    iio.imwrite(tmp_path / "out.gif", vf.enlarge(stack, scale=2), duration=durations, loop=0)

    seen = look((tmp_path / "out.gif").read_bytes())
    assert seen["frames"] == 3 and seen["durations"] == DURATIONS and seen["loop"] == 0
    assert seen["pixels"][0].shape[:2] == (20, 24)
    (tmp_path / "out2.gif").write_bytes(vf.enlarge(path.read_bytes(), scale=2))
    kept = look((tmp_path / "out2.gif").read_bytes())
    assert kept["durations"] == DURATIONS and (kept["pixels"][0][..., 3] == 0).any()
    frames = np.stack(list(iio.imiter(path, mode="RGBA")))  # imiter's frames, stacked
    assert vf.enlarge(frames, scale=2).shape == (3, 20, 24, 4)


def test_cli_writes_every_frame(
    vance_emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, fixtures: dict[str, bytes],
) -> None:
    from vance_filters import cli

    vance_emulator.configure(job_duration=0.0)
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "anim.gif").write_bytes(fixtures["GIF"])
    out = tmp_path / "out"
    code = cli.main(["enlarge", str(folder), "-o", str(out), "--max-credits", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "3 uploads" in err and "costs up to 3 credits" in err
    assert vance_emulator.request_count("upload") == 0
    code = cli.main(["enlarge", str(folder), "-o", str(out), "--max-credits", "3", "-q"])
    assert code == 0, capsys.readouterr().err
    seen = look((out / "anim.gif").read_bytes())
    assert seen["format"] == "GIF" and seen["frames"] == 3 and seen["durations"] == DURATIONS
    assert seen["pixels"][0].shape[:2] == (20, 24)


def test_cli_run_refuses_an_animation_instead_of_sending_one_frame(
    vance_emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, fixtures: dict[str, bytes],
) -> None:
    import json

    from vance_filters import cli

    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    config = tmp_path / "job.json"
    config.write_text(json.dumps(vf.Denoise().to_jconfig()), encoding="utf-8")
    source = tmp_path / "anim.png"
    source.write_bytes(fixtures["PNG"])  # an APNG: a PNG the service would take as one picture
    code = cli.main(["run", "--config", str(config), str(source), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 0 and "holds 3 frames" in err and "`enlarge`" in err
    assert vance_emulator.request_count("upload") == 0


def _write_with_repeats(pictures: list[Image.Image], container: str, durations: list[int]) -> bytes:
    """A file that keeps consecutive repeats (Pillow's writers would merge them)."""
    split = vff.Frames(kind="bytes", frames=pictures, container=container, durations=[float(d) for d in durations], loop=0)
    return vff.write(split, pictures)  # type: ignore[no-any-return]


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=30, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(
    container=st.sampled_from(list(CONTAINERS)),
    kind=st.sampled_from(["bytes", "pil", "path", "stack"]),
    order=st.lists(st.integers(0, 2), min_size=2, max_size=6),
    ticks=st.lists(st.integers(2, 30), min_size=6, max_size=6),
    filter_name=st.sampled_from(list(FILTERS)),
)
def test_no_input_with_n_frames_comes_back_with_fewer(
    vance_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory,
    container: str, kind: str, order: list[int], ticks: list[int], filter_name: str,
) -> None:
    """Repeats (consecutive ones too) and any timing: N frames in, N out, or a typed error."""
    pictures = frame_pictures(3, seed=7)
    chosen = [pictures[i] for i in order]
    durations = [10 * t for t in ticks[: len(order)]]
    data = _write_with_repeats(chosen, container, durations)
    count = look(data)["frames"]
    assert count == len(order)  # the writer keeps every frame, repeats included
    tmp_path = tmp_path_factory.mktemp("prop")
    with vf.Client(vance_emulator.api_token, vance_emulator.url) as client:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = FILTERS[filter_name][0].apply(as_input(kind, data, container, tmp_path), client=client)
        except vf.VanceError:
            return  # a typed error is allowed; a silent loss is not
    got = len(out) if isinstance(out, np.ndarray) else look(out)["frames"]
    assert got == count
    if kind != "stack" and container != "TIFF":
        assert look(out)["durations"] == durations
