"""Every output says where it came from: the XMP provenance record, skip-by-settings, replay.

The CLI, the Dask map's ``output_dir`` and ``vf.save`` write the record; Pillow's
``getxmp()`` (and exiftool, when installed) read it back; what it names is checked
against the emulator's own log of uploads and jobs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import vance_filters as vf
from vance_filters import cli, provenance
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def emu(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The session emulator, reset, with the CLI's environment pointing at it."""
    vance_emulator.reset()
    vance_emulator.configure(job_duration=0.0)
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    yield vance_emulator
    vance_emulator.reset()


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def make_image(path: Path, *, seed: int = 0, size: tuple[int, int] = (16, 12), alpha: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 4 if alpha else 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGBA" if alpha else "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        exif = Image.Exif()
        exif[0x010F] = "TestCam"  # Make
        img.save(path, "JPEG", quality=92, exif=exif)
    elif suffix == ".webp":
        img.save(path, "WEBP", lossless=True)
    else:
        img.save(path, "PNG")
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def description(path: Path) -> dict[str, Any]:
    """The rdf:Description of a file's XMP, as Pillow reads it."""
    with Image.open(path) as img:
        xmp = img.getxmp()
    desc = xmp["xmpmeta"]["RDF"]["Description"]
    assert isinstance(desc, dict)
    return desc


def seq(value: Any) -> list[Any]:
    """An rdf:Seq as Pillow gives it (one item: not a list)."""
    items = value["Seq"]["li"]
    return items if isinstance(items, list) else [items]


# ---------------------------------------------------------------------------
# The record in the CLI's outputs, as other tools read it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg", "photo.webp"])
def test_cli_output_names_the_job_the_emulator_ran(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source = make_image(tmp_path / "in" / name)
    code, _, err = run(capsys, "enlarge", source, "-o", tmp_path / "out", "--scale", "2")
    assert code == 0, err
    output = tmp_path / "out" / name
    desc = description(output)  # Pillow's getxmp(): PNG iTXt, JPEG APP1, WebP XMP chunk

    (trans_id,) = emu.jobs  # the one job the service ran
    job = emu.jobs[trans_id]
    assert seq(desc["TransIds"]) == [trans_id]
    (entry,) = seq(desc["Jobs"])
    assert entry["TransId"] == trans_id and entry["Cached"] == "False" and entry["Credits"] == "1"
    assert entry["UploadSHA256"] == sha(emu.uploads[job.uid].data)  # the bytes the service got
    assert desc["InputSHA256"] == sha(source.read_bytes())
    assert desc["DigitalSourceType"] == provenance.DIGITAL_SOURCE_TYPE
    assert json.loads(desc["JConfig"]) == vf.Enlarge(scale=2).to_jconfig()
    assert desc["Service"] == emu.url and desc["Library"] == f"vance-filters {vf.__version__}"
    assert desc["Credits"] == "1" and emu.credits_used == 1
    data = output.read_bytes()
    assert emu.api_token.encode() not in data
    with Image.open(output) as img:  # still a whole picture of the promised size
        img.load()
        assert img.size == (32, 24)
        if name.endswith(".jpg"):
            assert img.getexif().get(0x010F) == "TestCam"  # the EXIF carried is kept


def test_an_output_from_the_cache_names_the_job_that_made_it(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The cache keeps each result's receipt: a later output served from it still names the
    # trans_id that made it, and records that it cost nothing this time.
    source = make_image(tmp_path / "in" / "a.png")
    cache = tmp_path / "cache"
    assert run(capsys, "enlarge", source, "-o", tmp_path / "first", "--cache-dir", cache)[0] == 0
    (trans_id,) = emu.jobs
    assert run(capsys, "enlarge", source, "-o", tmp_path / "again", "--cache-dir", cache)[0] == 0
    assert emu.request_count("upload") == 1 and emu.credits_used == 1  # served from the cache
    (entry,) = seq(description(tmp_path / "again" / "a.png")["Jobs"])
    assert entry["TransId"] == trans_id and entry["Cached"] == "True" and entry["Credits"] == "0"


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
@pytest.mark.parametrize("name", ["photo.png", "photo.jpg", "photo.webp"])
def test_exiftool_reads_the_record(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source = make_image(tmp_path / name, alpha=name.endswith(".webp"))
    assert run(capsys, "denoise", source, "-o", tmp_path / "out")[0] == 0
    output = tmp_path / "out" / name
    found = subprocess.run(["exiftool", "-j", "-XMP:all", output], capture_output=True, text=True, check=True)
    (tags,) = json.loads(found.stdout)
    (trans_id,) = emu.jobs
    assert tags["TransIds"] == trans_id and tags["JobsTransId"] == trans_id
    assert tags["DigitalSourceType"] == provenance.DIGITAL_SOURCE_TYPE
    checked = subprocess.run(
        ["exiftool", "-validate", "-warning", "-a", "-s3", output], capture_output=True, text=True, check=True
    )
    # exiftool's structure checks of the file find nothing wrong (the minimal EXIF of the
    # JPEG test input lacks tags the EXIF standard wants: that is the input's, not ours)
    warnings = [w for w in checked.stdout.splitlines()[1:] if not w.startswith("Missing required JPEG")]
    assert warnings == [], checked.stdout


def test_every_frame_of_an_animation_is_named(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [Image.new("RGB", (8, 6), (40 * i, 0, 0)) for i in (1, 2, 1, 3)]  # 3 distinct
    source = tmp_path / "anim.png"
    frames[0].save(source, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert run(capsys, "enlarge", source, "-o", tmp_path / "out")[0] == 0
    record = provenance.read(tmp_path / "out" / "anim.png")
    assert record is not None
    assert sorted(record.trans_ids) == sorted(emu.jobs) and len(emu.jobs) == 3
    assert record.credits == emu.credits_used == 3
    assert {j.upload_sha256 for j in record.jobs} == {sha(u.data) for u in emu.uploads.values()}
    assert record.input_sha256 == sha(source.read_bytes())


def test_credits_recorded_add_up_to_the_ledger(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_image(tmp_path / "in" / "a.png", seed=3)
    shutil.copy(first, tmp_path / "in" / "b.png")  # the same bytes: one job, paid once
    make_image(tmp_path / "in" / "c.png", seed=4)
    assert run(capsys, "sharpen", tmp_path / "in", "-o", tmp_path / "out")[0] == 0
    records = [provenance.read(tmp_path / "out" / n) for n in ("a.png", "b.png", "c.png")]
    assert all(r is not None for r in records)
    assert sum(r.credits for r in records if r) == emu.credits_used == 2 * vf.Sharpen().cost
    assert sorted(r.jobs[0].cached for r in records if r) == [False, False, True]


def test_run_command_outputs_carry_the_record(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jconfig = {"name": "matting", "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}}}
    (tmp_path / "job.json").write_text(json.dumps(jconfig))
    source = make_image(tmp_path / "a.png")
    assert run(capsys, "run", "--config", tmp_path / "job.json", source, "-o", tmp_path / "out")[0] == 0
    record = provenance.read(tmp_path / "out" / "a.png")
    assert record is not None and record.trans_ids == list(emu.jobs) and record.same_settings(jconfig)


# ---------------------------------------------------------------------------
# The provenance command
# ---------------------------------------------------------------------------


def test_provenance_command_prints_the_record(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_image(tmp_path / "a.jpg")
    assert run(capsys, "enlarge", source, "-o", tmp_path / "out", "--scale", "4")[0] == 0
    (trans_id,) = emu.jobs
    code, out, _ = run(capsys, "provenance", tmp_path / "out" / "a.jpg")
    assert code == 0 and trans_id in out and "Enlarge(scale=4" in out and "compositeWithTrained" in out
    code, out, _ = run(capsys, "provenance", "--json", tmp_path / "out" / "a.jpg")
    report = json.loads(out)
    assert code == 0 and report["trans_ids"] == [trans_id] and report["credits"] == 1
    assert report["jconfig"] == vf.Enlarge(scale=4).to_jconfig()
    assert report["input_sha256"] == sha(source.read_bytes())
    code, _, err = run(capsys, "provenance", source)  # made by someone else
    assert code == 1 and "no vance-filters provenance record" in err


# ---------------------------------------------------------------------------
# Skip-existing means "done with these settings"
# ---------------------------------------------------------------------------


def test_other_settings_are_a_conflict_and_the_same_command_skips(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_image(tmp_path / "a.png")
    out = tmp_path / "out"
    assert run(capsys, "enlarge", source, "-o", out, "--scale", "2")[0] == 0
    made = (out / "a.png").read_bytes()
    emu.reset()

    code, _, err = run(capsys, "denoise", source, "-o", out)
    assert code == 1
    assert "0 written, 0 skipped, 0 failed, 1 conflict" in err
    assert "exists, made by Enlarge(scale=2" in err and "use --overwrite or another -o" in err
    assert (out / "a.png").read_bytes() == made and emu.request_count("upload") == 0

    code, _, err = run(capsys, "enlarge", source, "-o", out, "--scale", "4")  # other parameters
    assert code == 1 and "made by Enlarge(scale=2" in err

    code, _, err = run(capsys, "enlarge", source, "-o", out, "--scale", "2")  # the same: done
    assert code == 0 and "0 written, 1 skipped, 0 failed" in err and "conflict" not in err
    assert emu.request_count("upload") == 0

    code, out_json, _ = run(capsys, "denoise", source, "-o", out, "--json")
    report = json.loads(out_json)
    assert code == 1 and report["totals"]["conflict"] == 1
    assert report["results"][0]["status"] == "conflict" and "Enlarge" in report["results"][0]["conflict"]

    code, _, err = run(capsys, "denoise", source, "-o", out, "--overwrite")
    assert code == 0 and "1 written" in err
    record = provenance.read(out / "a.png")
    assert record is not None and record.same_settings(vf.Denoise().to_jconfig())


def test_a_file_made_by_someone_else_is_reported_not_overwritten(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_image(tmp_path / "a.png")
    foreign = make_image(tmp_path / "out" / "a.png", seed=9)
    before = foreign.read_bytes()
    code, _, err = run(capsys, "enlarge", source, "-o", tmp_path / "out")
    assert code == 1 and "made by something else" in err
    assert foreign.read_bytes() == before and emu.request_count("upload") == 0


# ---------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------


def test_replay_from_the_cache_makes_no_request(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_image(tmp_path / "a.png")
    cache = tmp_path / "cache"
    assert run(capsys, "enlarge", source, "-o", tmp_path / "out", "--cache-dir", cache)[0] == 0
    (trans_id,) = emu.jobs
    source.unlink()  # the input is gone: the cache has the result
    emu.reset()

    code, out, err = run(
        capsys, "replay", tmp_path / "out" / "a.png", "-o", tmp_path / "again", "--cache-dir", cache, "--json"
    )
    assert code == 0, err
    assert emu.requests == []  # no request at all
    report = json.loads(out)
    assert report["from"] == "cache" and report["credits"] == 0 and report["status"] == "written"
    replayed = Path(report["output"])
    with Image.open(tmp_path / "out" / "a.png") as first, Image.open(replayed) as second:
        assert np.array_equal(np.asarray(first), np.asarray(second))
    record = provenance.read(replayed)
    assert record is not None and record.trans_ids == [trans_id]
    assert record.credits == 0 and record.jobs[0].cached
    assert record.same_settings(vf.Enlarge().to_jconfig())


def test_replay_without_the_result_in_cache_asks_for_the_input(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_image(tmp_path / "a.png")
    assert run(capsys, "denoise", source, "-o", tmp_path / "out", "--cache-dir", tmp_path / "c1")[0] == 0
    made = tmp_path / "out" / "a.png"
    code, _, err = run(capsys, "replay", made, "-o", tmp_path / "again", "--cache-dir", tmp_path / "c2")
    assert code == 1 and "--input" in err

    other = make_image(tmp_path / "b.png", seed=5)
    code, _, err = run(capsys, "replay", made, "-o", tmp_path / "again", "--input", other)
    assert code == 2 and "SHA-256 differs" in err

    emu.reset()
    code, _, err = run(
        capsys, "replay", made, "-o", tmp_path / "again", "--input", source, "--cache-dir", tmp_path / "c2"
    )
    assert code == 0, err
    (trans_id,) = emu.jobs  # run again: a new job, paid
    record = provenance.read(tmp_path / "again" / "a.png")
    assert record is not None and record.trans_ids == [trans_id] and record.credits == emu.credits_used
    assert record.same_settings(vf.Denoise().to_jconfig())
    assert record.input_sha256 == sha(source.read_bytes())
    with Image.open(made) as first, Image.open(tmp_path / "again" / "a.png") as second:
        assert np.array_equal(np.asarray(first), np.asarray(second))


def test_replay_of_a_file_without_a_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_image(tmp_path / "a.png")
    code, _, err = run(capsys, "replay", source, "-o", tmp_path / "out")
    assert code == 1 and "no vance-filters provenance record" in err


# ---------------------------------------------------------------------------
# vf.save, and the record itself
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_save_writes_a_pil_result_with_its_record(
    emu: Emulator, vance_client: vf.Client, tmp_path: Path, suffix: str
) -> None:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8))
    out = vf.enlarge(image, scale=2, client=vance_client)
    path = vf.save(out, tmp_path / f"result{suffix}")
    (trans_id,) = emu.jobs
    assert seq(description(path)["TransIds"]) == [trans_id]
    record = provenance.read(path)
    assert record is not None and record.input_sha256 is None  # an image in memory has no file
    assert record.jobs[0].upload_sha256 == sha(emu.uploads[emu.jobs[trans_id].uid].data)


def test_save_bytes_and_arrays_take_the_recording(emu: Emulator, vance_client: vf.Client, tmp_path: Path) -> None:
    source = make_image(tmp_path / "in.png")
    data = source.read_bytes()
    with provenance.recording() as recorder:
        out = vf.denoise(data, client=vance_client)
        arr = vf.denoise(np.zeros((4, 4, 3), np.uint8), client=vance_client)
    with pytest.raises(ValueError, match="recording"):
        vf.save(out, tmp_path / "bytes.png")
    with provenance.recording() as one:
        out = vf.denoise(data, client=vance_client)
    vf.save(out, tmp_path / "bytes.png", provenance=one)
    record = provenance.read(tmp_path / "bytes.png")
    assert record is not None and record.input_sha256 == sha(data) and record.credits == 0  # cached
    vf.save(arr, tmp_path / "array.jpg", provenance=recorder)
    assert len(recorder.jobs) == 2 and provenance.read(tmp_path / "array.jpg") is not None


def test_embed_replaces_a_record_and_keeps_the_pixels() -> None:
    record = provenance.Provenance(
        jobs=(provenance.JobRecord("t1", False, "ab" * 32, {"name": "a<&>\"b"}, 1.0, "https://x", "F()"),),
        jconfig={"name": "a<&>\"b"}, filter="F(x='<&>')", service="https://x",
    )
    cases = [
        ("PNG", "RGBA", {}),
        ("JPEG", "RGB", {"quality": 90}),
        ("WEBP", "RGBA", {"lossless": True}),  # VP8L with alpha: a simple file made extended
        ("WEBP", "RGB", {"lossless": True}),  # VP8L
        ("WEBP", "RGB", {"quality": 80}),  # VP8 (lossy)
        ("WEBP", "RGBA", {"quality": 80}),  # VP8X + ALPH already
    ]
    for fmt, mode, options in cases:
        buffer = io.BytesIO()
        Image.new(mode, (5, 3), (10, 20, 30, 200)[: len(mode)]).save(buffer, fmt, **options)
        once = provenance.embed(buffer.getvalue(), record)
        twice = provenance.embed(once, dataclass_replace(record, filter="G()"))
        again = provenance.read(twice)
        assert again is not None and again.filter == "G()" and again.jconfig == {"name": "a<&>\"b"}
        assert twice.count(b"vance:Filter>") == 2  # one record: opening and closing tag
        with Image.open(io.BytesIO(buffer.getvalue())) as a, Image.open(io.BytesIO(twice)) as b:
            assert np.array_equal(np.asarray(a), np.asarray(b)) and a.mode == b.mode
            assert b.getxmp()["xmpmeta"]["RDF"]["Description"]["Filter"] == "G()"  # Pillow reads it
    with pytest.raises(ValueError, match="PNG, JPEG and WebP"):
        provenance.embed(b"GIF89a....", record)


def dataclass_replace(record: provenance.Provenance, **changes: Any) -> provenance.Provenance:
    import dataclasses

    return dataclasses.replace(record, **changes)


def test_a_hostile_packet_is_not_expanded() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    assert provenance.Provenance.from_xmp(bomb) is None


# ---------------------------------------------------------------------------
# The Dask map's output_dir
# ---------------------------------------------------------------------------


def test_dask_output_dir_records_and_reports_conflicts(vance_emulator: Emulator, tmp_path: Path) -> None:
    pytest.importorskip("dask")
    import vance_filters.dask as vfd

    vance_emulator.reset()
    paths = [make_image(tmp_path / "in" / f"{n}.png", seed=n) for n in range(2)]
    out = tmp_path / "out"
    with vf.Client(vance_emulator.api_token, vance_emulator.url, pickle_token=True) as client:
        written = vfd.map(vf.Enlarge(), paths, output_dir=out, client=client).compute(scheduler="sync")
        records = [provenance.read(w) for w in written]
        assert sorted(r.trans_ids[0] for r in records if r) == sorted(vance_emulator.jobs)
        again = vfd.map(vf.Enlarge(), paths, output_dir=out, client=client).compute(scheduler="sync")
        assert again == written
        conflicts = vfd.map(
            vf.Denoise(), paths, output_dir=out, client=client, return_exceptions=True
        ).compute(scheduler="sync")
        assert all(isinstance(c, FileExistsError) and "made by Enlarge" in str(c) for c in conflicts)
        with pytest.raises(FileExistsError, match="overwrite=True"):
            vfd.map(vf.Denoise(), paths, output_dir=out, client=client).compute(scheduler="sync")
        redone = vfd.map(vf.Denoise(), paths, output_dir=out, client=client, overwrite=True).compute(
            scheduler="sync"
        )
        assert all(provenance.read(p).same_settings(vf.Denoise().to_jconfig()) for p in redone)  # type: ignore[union-attr]
    vance_emulator.reset()


def test_replay_of_an_animation_needs_its_input(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [Image.new("RGB", (8, 6), (60 * i, 10, 0)) for i in (1, 2, 3)]
    source = tmp_path / "anim.webp"
    frames[0].save(source, "WEBP", save_all=True, append_images=frames[1:], duration=80, lossless=True)
    cache = tmp_path / "cache"
    assert run(capsys, "enlarge", source, "-o", tmp_path / "out", "--cache-dir", cache)[0] == 0
    made = tmp_path / "out" / "anim.webp"
    code, _, err = run(capsys, "replay", made, "-o", tmp_path / "again", "--cache-dir", cache)
    assert code == 2 and "3 jobs" in err and "--input" in err
    emu.reset()
    code, _, err = run(
        capsys, "replay", made, "-o", tmp_path / "again", "--input", source, "--cache-dir", cache
    )
    assert code == 0, err
    assert emu.request_count("upload") == 0  # every frame's result was still cached
    record = provenance.read(tmp_path / "again" / "anim.webp")
    assert record is not None and len(record.jobs) == 3 and record.credits == 0
    with Image.open(made) as first, Image.open(tmp_path / "again" / "anim.webp") as second:
        assert first.n_frames == second.n_frames == 3


def test_the_record_of_a_big_png_is_read_without_its_image_data(tmp_path: Path) -> None:
    # A streamed tiled result may be bigger than memory: `vance-filters provenance` and the
    # CLI's skip check read its record, not its pixels.
    import tracemalloc

    record = provenance.Provenance(
        jobs=(provenance.JobRecord("t1", False, "ab" * 32, {"name": "x"}, 1.0, "https://x", "F()"),),
        jconfig={"name": "x"}, filter="F()", service="https://x",
    )
    noise = np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=0)  # 18 MB of IDAT
    path = tmp_path / "big.png"
    path.write_bytes(provenance.embed(buffer.getvalue(), record))
    del noise, buffer
    tracemalloc.start()
    try:
        again = provenance.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert again is not None and again.filter == "F()" and again.jobs[0].trans_id == "t1"
    assert peak < 2_000_000, f"reading the record held {peak / 1e6:.1f} MB"
