"""Tiled results streamed to disk: the PNG writer, the CLI's streamed outputs, tiles in the bar.

A result streamed to a PNG (``tiles.apply(out=...)``, the CLI's ``--on-limit tile`` with a
PNG output) is never whole in memory, is written atomically and carries its provenance
record before the image data, so ``vance-filters provenance`` reads it and a rerun skips it.
The 100 MP x4 soak (``VANCE_TILES_SOAK=1``) runs ``benchmarks/tiles_soak.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_tiles import LIMIT, photo

import vance_filters as vf
from vance_filters import _outputs, cli, tiles
from vance_filters._pngstream import PngStream
from vance_filters.testing import Emulator, _images

ROOT = Path(__file__).resolve().parent.parent
U8 = np.dtype(np.uint8)


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator refuses uploads over LIMIT pixels; the tiler cuts for that limit."""
    monkeypatch.setattr(_images, "MAX_UPLOAD_PIXELS", LIMIT)
    monkeypatch.setattr(tiles, "MAX_PIXELS", LIMIT)


@pytest.fixture
def cli_env(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    vance_emulator.reset()
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    return vance_emulator


def chunks(path: Path) -> list[bytes]:
    """The chunk types of a PNG file, in order (IDAT runs collapsed to one)."""
    kinds: list[bytes] = []
    with path.open("rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        while header := fh.read(8):
            (length,) = struct.unpack(">I", header[:4])
            fh.seek(length + 4, os.SEEK_CUR)
            if not (kinds and kinds[-1] == header[4:] == b"IDAT"):
                kinds.append(header[4:])
    return kinds


def samples_of(data: bytes, width: int, channels: int, dtype: np.dtype = U8) -> bytes:  # type: ignore[type-arg]
    """The samples of a PNG's bytes whose rows all use the Up filter (as PngStream writes them)."""
    inflate = zlib.decompressobj()
    raw = bytearray()
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        if data[position + 4:position + 8] == b"IDAT":
            raw += inflate.decompress(data[position + 8:position + 8 + length])
        position += 12 + length
    rows = np.frombuffer(bytes(raw), np.uint8).reshape(-1, 1 + width * channels * dtype.itemsize)
    assert (rows[:, 0] == 2).all()  # filter type 2 (Up) on every row: written by PngStream
    return np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8).tobytes()  # undone, modulo 256


def samples(path: Path, width: int, channels: int, dtype: np.dtype) -> np.ndarray:  # type: ignore[type-arg]
    """The samples of a PNG file whose rows all use the Up filter, by zlib over its IDAT."""
    raw = samples_of(path.read_bytes(), width, channels, dtype)
    return np.frombuffer(raw, dtype).reshape(-1, width, channels).astype(dtype.newbyteorder("="))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = cli.main([*args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_the_writer_puts_the_record_before_the_image_data_or_after_it_when_it_outgrew_its_room(
    tmp_path: Path,
) -> None:
    img = np.random.default_rng(0).integers(0, 65535, (300, 70, 4), np.uint16)
    record = vf.provenance.Provenance(jobs=(), jconfig={"name": "enlarge3"}, filter="Enlarge()", service="s")
    for room, where in [(4096, 1), (64, -2)]:  # -2: just before IEND
        path = tmp_path / f"room{room}.png"
        png = PngStream(path, width=70, height=300, channels=4, dtype=np.dtype(np.uint16), xmp_room=room)
        for start in range(0, 300, 90):
            png.write(img[start:start + 90])
        png.xmp = record.to_xmp()
        assert not path.exists()  # a temporary name until closed
        assert png.close() == path
        assert chunks(path)[where] == b"iTXt" and b"IDAT" in chunks(path)
        assert chunks(path).count(b"iTXt") == 1  # an outgrown room is no XMP any more
        assert np.array_equal(samples(path, 70, 4, np.dtype(">u2")), img)  # 16-bit RGBA, exactly
        with Image.open(path) as back:  # Pillow reads it too (as 8-bit RGBA)
            assert np.array_equal(np.asarray(back), (img >> 8).astype(np.uint8))
        assert vf.provenance.read(path) == record
        assert _outputs.check_existing(path, {"name": "enlarge3"}).done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room4096.png", "room64.png"]  # no temp left


def test_a_stream_stopped_midway_leaves_the_old_file_and_no_temp(
    vance_client: vf.Client, small_limits: None, tmp_path: Path
) -> None:
    src = photo(700, 1400, seed=9)
    target = tmp_path / "out.png"
    target.write_bytes(b"the old output")
    seen: list[tuple[int, int]] = []

    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        tiles.apply(vf.Enlarge(scale=2), src, client=vance_client, out=target, progress=progress)
    assert target.read_bytes() == b"the old output"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    total = len(tiles.layout(700, 1400, scale=2))
    assert seen == [(0, total), (1, total), (2, total), (3, total)]


def test_a_streamed_file_carries_the_record_of_its_tiles(
    vance_client: vf.Client, small_limits: None, tmp_path: Path
) -> None:
    data = (tmp_path / "in.png")
    Image.fromarray(photo(900, 700, seed=3)).save(data)
    flt = vf.Repair()  # a global feature: tiles + the anchor
    results = tiles.results_of(flt, data.read_bytes())
    assert results == len(tiles.layout(900, 700)) + 1 > 2
    with vf.provenance.recording() as outer:
        path = tiles.apply(flt, data.read_bytes(), client=vance_client, out=tmp_path / "out.png")
    record = vf.provenance.read(path)
    assert record is not None and len(record.trans_ids) == results == len(set(record.trans_ids))
    assert record.credits == results * flt.cost
    assert record.input_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert record.same_settings(flt.to_jconfig())
    assert chunks(path)[:3] == [b"IHDR", b"iTXt", b"IDAT"]
    assert len(outer.jobs) == results  # an outer recording (the CLI's) still sees every job


def test_the_cli_streams_a_tiled_png_with_its_record_and_a_rerun_skips_it(
    cli_env: Emulator, small_limits: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = photo(480, 3600, seed=5)  # tall: several rows of tiles, so several bands
    source = tmp_path / "tall.png"
    Image.fromarray(src).save(source)
    layout = tiles.layout(480, 3600, scale=2)
    assert len({t.row for t in layout}) >= 4
    out, cache = tmp_path / "out" / "tall.png", tmp_path / "cache"
    args = ["enlarge", os.fspath(source), "--scale", "2", "--on-limit", "tile", "-o", os.fspath(out.parent),
            "--cache-dir", os.fspath(cache)]

    code, report = run_cli(args, capsys)
    assert code == 0 and report["results"][0]["status"] == "written"
    assert cli_env.credits_used == len(layout) * vf.Enlarge(scale=2).cost
    assert chunks(out)[:3] == [b"IHDR", b"iTXt", b"IDAT"]  # the record before the image data
    assert [p.name for p in out.parent.iterdir()] == ["tall.png"]  # no temporary left
    # The same pixels as the tiled run built in memory (its tiles from the CLI's cache), every
    # row Up-filtered: written band by band by the stream, not encoded whole by Pillow.
    with vf.Client(cli_env.api_token, cli_env.url, cache_dir=cache) as client:
        in_memory = vf.Enlarge(scale=2).apply(src, client=client, on_limit="tile")
    assert np.array_equal(samples(out, 960, 3, np.dtype(np.uint8)), in_memory)
    with Image.open(out) as streamed:
        assert streamed.size == (960, 7200)

    code = cli.main(["provenance", os.fspath(out), "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and len(record["trans_ids"]) == len(layout) and record["credits"] == len(layout)
    assert record["jconfig"] == json.loads(json.dumps(vf.Enlarge(scale=2).to_jconfig()))
    assert record["input_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()

    spent = cli_env.credits_used
    assert spent == len(layout)  # the reference came from the cache
    code, report = run_cli(args, capsys)  # the same settings: done already
    assert code == 0 and report["results"][0]["status"] == "skipped" and cli_env.credits_used == spent
    code, report = run_cli([*args, "--scale", "4"], capsys)  # other settings: a conflict, kept
    assert report["results"][0]["status"] == "conflict" and cli_env.credits_used == spent
    before = out.read_bytes()
    code, report = run_cli([*args, "--overwrite"], capsys)  # made again, every tile from the cache
    assert code == 0 and report["results"][0]["status"] == "written" and cli_env.credits_used == spent
    assert vf.provenance.read(out).credits == 0
    assert samples_of(out.read_bytes(), 960, 3) == samples_of(before, 960, 3)


def test_the_cli_builds_other_containers_in_memory_and_counts_tiles_in_its_bar(
    cli_env: Emulator, small_limits: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(photo(1000, 700, seed=6)).save(folder / "a.jpg", quality=95)
    Image.fromarray(photo(120, 80, seed=7)).save(folder / "b.png")  # fits: one tile
    tiled = len(tiles.layout(1000, 700))
    assert tiled > 1
    code = cli.main(["denoise", os.fspath(folder), "--on-limit", "tile", "-o", os.fspath(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"{tiled + 1}/{tiled + 1} [" in err and "tile/s" in err  # the bar counted tiles
    record = vf.provenance.read(tmp_path / "out" / "a.jpg")
    assert record is not None and len(record.trans_ids) == tiled
    with Image.open(tmp_path / "out" / "a.jpg") as out:
        assert out.format == "JPEG" and out.size == (1000, 700)
    assert chunks(tmp_path / "out" / "b.png")[:3] == [b"IHDR", b"iTXt", b"IDAT"]


SOAK = pytest.mark.skipif(os.environ.get("VANCE_TILES_SOAK") != "1",
                          reason="the 100 MP x4 soak is opt-in: set VANCE_TILES_SOAK=1")


@SOAK
@pytest.mark.timeout(3600)
def test_a_100_mp_image_enlarged_x4_streams_to_disk_in_bounded_memory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, os.fspath(ROOT / "benchmarks" / "tiles_soak.py"), "--json", "--dir", os.fspath(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["size"] == [figures["width"] * 4, figures["height"] * 4]
    assert figures["width"] * figures["height"] >= 100_000_000
    assert figures["max_band_error"] <= 1
    # Bounded by a few tiles: the input, a band of rows (a row of tiles) and the results in
    # flight, whatever the result's height (benchmarks/tiles_soak.py's bound); less than
    # the 4.8 GB result.
    assert figures["peak_rss"] <= figures["bound"], figures
    assert figures["peak_rss"] < figures["result_bytes"], figures


def test_the_iend_of_a_streamed_png_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    with PngStream(path, width=5, height=3, channels=1, dtype=np.dtype(np.uint8)) as png:
        png.write(np.arange(15, dtype=np.uint8).reshape(3, 5))
    data = path.read_bytes()
    assert data.endswith(b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
    assert chunks(path) == [b"IHDR", b"IDAT", b"IEND"]
