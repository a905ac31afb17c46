"""Video in, video out (vance_filters.video and the CLI), on the emulator with clips made here by PyAV.

The clip: 64x48 H.264, 30 frames at 12 fps with a stretch of variable frame
rate, drawn "on twos" (15 drawings, each shown twice, its number written on
it), AAC audio and (in .mkv) a SubRip subtitle stream.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

import vance_filters as vf
from vance_filters import cli, video
from vance_filters.errors import CreditLimitError, InputError
from vance_filters.testing import _processing
from vance_filters.testing._jconfig import parse

av = pytest.importorskip("av")

FRAMES, DRAWINGS, SIZE = 30, 15, (64, 48)
MS = Fraction(1, 1000)


def make_clip(path: Path, *, frames: int = FRAMES) -> Path:
    """Write the test clip; every frame's pts in ms, with a variable-rate stretch (frames 10-17)."""
    out = av.open(os.fspath(path), "w")
    stream = out.add_stream("libx264", rate=12)
    stream.width, stream.height = SIZE
    stream.pix_fmt = "yuv420p"
    stream.time_base = stream.codec_context.time_base = MS
    stream.options = {"crf": "23"}
    audio = out.add_stream("aac", rate=8000)
    subtitles = None
    if path.suffix == ".mkv":
        srt = path.with_suffix(".srt")
        srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nline 0\n\n2\n00:00:01,000 --> 00:00:01,500\nline 1\n")
        subtitles = av.open(os.fspath(srt))
        template = out.add_stream_from_template(subtitles.streams[0])
    out.metadata["title"] = "test clip"
    pts = 0
    for index in range(frames):
        drawing = index // 2
        image = Image.new("RGB", SIZE, (20 + drawing * 7 % 200, 40, 90))
        ImageDraw.Draw(image).text((8, 14), str(drawing), fill=(255, 255, 255))
        frame = av.VideoFrame.from_image(image)
        frame.pts, frame.time_base = pts, MS
        pts += 83 if not 10 <= index < 18 else (40 if index % 2 else 130)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    samples = 0
    for _ in range(frames * 8000 // 12 // 1024):
        chunk = (np.sin(np.arange(samples, samples + 1024) / 5) * 0.3).astype(np.float32)[None, :]
        sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        sound.sample_rate, sound.pts = 8000, samples
        samples += 1024
        for packet in audio.encode(sound):
            out.mux(packet)
    for packet in audio.encode():
        out.mux(packet)
    if subtitles is not None:
        for packet in subtitles.demux():
            if packet.dts is not None:
                packet.stream = template
                out.mux(packet)
        subtitles.close()
    out.close()
    return path


def frame_times(path: Path) -> list[Fraction]:
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def pictures(path: Path) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def stand_in(flt: vf.Filter, picture: np.ndarray) -> np.ndarray:
    """What the emulator makes of ``picture`` uploaded as PNG (its stand-in, run here)."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "PNG")
    data, _ = _processing.run(buf.getvalue(), "png", parse(flt.to_jconfig(), known_uid=lambda uid: True).steps)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def far(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of two pictures' 8x8-block means: small for codec noise, large for a digit."""
    return float(np.abs(video._signature(a, 8) - video._signature(b, 8)).max())


def other_packets(path: Path) -> dict[str, list[tuple[Any, bytes]]]:
    found: dict[str, list[tuple[Any, bytes]]] = {}
    with av.open(os.fspath(path)) as container:
        for packet in container.demux():
            if packet.stream.type != "video" and packet.dts is not None:
                found.setdefault(packet.stream.type, []).append(
                    (packet.pts * packet.time_base, bytes(packet))
                )
    return found


@pytest.fixture(params=[".mkv", ".mp4"])
def clip(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return make_clip(tmp_path / f"clip{request.param}")


def test_only_the_picture_changes(clip: Path, emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    out = tmp_path / f"out{clip.suffix}"
    report = video.process(vf.Enlarge(scale=2), clip, out, client=vance_client, concurrency=4)
    assert report.frames == FRAMES and report.kept == []
    times = frame_times(clip)
    assert len(set(times)) == FRAMES and len(set(np.diff([float(t) for t in times]).round(3))) > 1  # VFR
    assert frame_times(out) == times  # every frame, at its own time
    before, after = other_packets(clip), other_packets(out)
    assert set(before) == ({"audio", "subtitle"} if clip.suffix == ".mkv" else {"audio"})
    assert after == before  # audio (and subtitle) packets copied byte for byte, at their times
    with av.open(os.fspath(out)) as container:
        assert container.metadata.get("title") == "test clip"
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (128, 96) and stream.codec_context.name == "h264"


def test_rotation_is_kept(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", frames=6)
    rotated = tmp_path / "rotated.mp4"
    with av.open(os.fspath(plain)) as source, av.open(os.fspath(rotated), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        stream.set_display_rotation(90)
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    out = tmp_path / "out.mp4"
    video.process(vf.Enlarge(scale=2), rotated, out, client=vance_client)
    with av.open(os.fspath(rotated)) as before, av.open(os.fspath(out)) as after:
        turned = next(before.decode(video=0)).rotation
        assert turned != 0 and next(after.decode(video=0)).rotation == turned


def test_each_drawing_is_paid_once_and_keeps_its_own_result(
    emu: Any, vance_client: vf.Client, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    out = tmp_path / "out.mkv"
    report = video.process(vf.Enlarge(scale=2), clip, out, client=vance_client)
    assert emu.credits_used <= DRAWINGS * 1.02 and report.distinct <= DRAWINGS * 1.02
    # Every output frame is its own input frame enlarged (the emulator's stand-in upscale),
    # never the result of another drawing: a neighbour from another drawing is far off.
    sources, results = pictures(clip), pictures(out)
    assert len(results) == FRAMES
    for index, (source, result) in enumerate(zip(sources, results)):
        up = stand_in(vf.Enlarge(scale=2), source)
        own = far(result, up)
        assert own < 12, (index, own)
        for other in (index - 2, index + 2):  # another drawing (frames are on twos)
            if 0 <= other < FRAMES:
                theirs = far(results[other], up)
                assert theirs > own + 8, (index, other, own, theirs)


def test_threshold_zero_sends_every_changed_frame(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    planned = video.plan(vf.Enlarge(scale=2), clip, client=vance_client, threshold=0)
    assert DRAWINGS < planned.distinct <= FRAMES  # codec noise makes some repeats differ
    default = video.plan(vf.Enlarge(scale=2), clip, client=vance_client)
    assert default.distinct == DRAWINGS and default.frames == FRAMES


def test_max_credits_refuses_before_anything_is_sent(
    emu: Any, vance_client: vf.Client, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    with pytest.raises(CreditLimitError, match="max_credits=10"):
        video.process(vf.Enlarge(scale=2), clip, tmp_path / "out.mkv", client=vance_client, max_credits=10)
    assert emu.credits_used == 0 and not list(tmp_path.glob("*out*"))


def test_a_failed_frame_stops_the_run_naming_it(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    emu.fail_jobs(1)
    with pytest.raises(video.VideoFrameError, match=r"frame 0 at 0\.000 s") as caught:
        video.process(vf.Enlarge(scale=2), clip, tmp_path / "out.mkv", client=vance_client, concurrency=1)
    assert (caught.value.frame, caught.value.time) == (0, 0.0)
    assert not list(tmp_path.glob("*out*"))  # no half-written clip


def test_on_error_keep_keeps_the_original_frame(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    out = tmp_path / "out.mkv"
    emu.fail_jobs(1)
    report = video.process(
        vf.Enlarge(scale=2), clip, out, client=vance_client, concurrency=1, on_error="keep"
    )
    assert [(k.frame, k.time) for k in report.kept] == [(0, 0.0), (1, 0.083)]  # drawing 0: both frames
    assert frame_times(out) == frame_times(clip)
    first = pictures(out)[0]
    assert first.shape == (96, 128, 3)


def test_restyling_features_warn_of_flicker(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=4)
    for flt in (vf.ToAnime(), vf.Animegan(), vf.Recolor()):
        with pytest.warns(video.FlickerWarning, match="flicker"):
            video.plan(flt, clip, client=vance_client)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", video.FlickerWarning)
        video.plan(vf.Enlarge(), clip, client=vance_client)


def test_without_pyav_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(InputError, match=r"pip install 'vance-filters\[video\]'"):
        video.plan(vf.Enlarge(), tmp_path / "clip.mp4", check_balance=False)
    code = "import sys, vance_filters, vance_filters.video; print('av' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True).stdout == "False\n"


def test_cli_dry_run_predicts_the_charge_then_the_run_pays_it(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_clip(tmp_path / "clip.mp4")
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    args = ["enlarge", os.fspath(clip), "--scale", "2", "-o", os.fspath(tmp_path / "out"),
            "--cache-dir", os.fspath(tmp_path / "cache")]  # fmt: skip
    assert cli.main([*args, "--dry-run", "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert predicted["frames"] == FRAMES and emu.credits_used == 0 and not (tmp_path / "out").exists()
    assert cli.main([*args, "-q"]) == 0
    assert emu.credits_used == predicted["credits"] == DRAWINGS
    assert frame_times(tmp_path / "out" / "clip.mp4") == frame_times(clip)
    assert "15 distinct" in capsys.readouterr().err



@pytest.mark.parametrize("kill_after", [4, 11])
def test_a_killed_run_rerun_pays_nothing_twice(emu: Any, tmp_path: Path, kill_after: int) -> None:
    clip = make_clip(tmp_path / "clip.mkv")
    out = tmp_path / "out"
    emu.configure(job_duration=0.15, workers=2)
    env = {**os.environ, "VANCE_API_TOKEN": emu.api_token, "VANCE_API_BASE": emu.url}
    command = [sys.executable, "-m", "vance_filters", "enlarge", os.fspath(clip), "--scale", "2",
               "-o", os.fspath(out), "-j", "2", "-q", "--cache-dir", os.fspath(tmp_path / "cache")]  # fmt: skip
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while emu.credits_used < kill_after and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert emu.credits_used < DRAWINGS and not (out / "clip.mkv").exists()  # killed part-way
    emu.configure(job_duration=0.0)
    rerun = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert emu.credits_used == DRAWINGS  # what an uninterrupted run charges (see the dry-run test)
    assert frame_times(out / "clip.mkv") == frame_times(clip)
    assert [p.name for p in out.iterdir()] == ["clip.mkv"]  # no partial file left behind


def test_cli_skips_a_finished_output_and_refuses_a_mix_with_images(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=6)
    image = tmp_path / "photo.png"
    Image.new("RGB", (8, 8)).save(image)
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    args = ["enlarge", os.fspath(clip), "--scale", "2", "-o", os.fspath(tmp_path / "out"), "--no-cache", "-q"]
    assert cli.main(args) == 0
    paid = emu.credits_used
    assert paid == 3  # 3 drawings on twos
    assert cli.main(args) == 0  # the output exists: skipped, nothing sent
    assert emu.credits_used == paid and "skipped" in capsys.readouterr().err
    assert cli.main([*args[:2], os.fspath(image), *args[2:]]) == 2
    assert "separate runs" in capsys.readouterr().err


def make_webm(path: Path, *, frames: int = 6) -> Path:
    """A VP9 clip without sound (WebM takes neither H.264 nor AAC), drawn on twos like the others."""
    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", SIZE, (20 + index // 2 * 37 % 200, 40, 90))
            ImageDraw.Draw(image).text((8, 14), str(index // 2), fill=(255, 255, 255))
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm"])
def test_the_output_carries_its_record_in_every_container(
    suffix: str, emu: Any, vance_client: vf.Client, tmp_path: Path
) -> None:
    clip = make_webm(tmp_path / "clip.webm") if suffix == ".webm" else make_clip(tmp_path / f"clip{suffix}", frames=6)
    out = tmp_path / f"out{suffix}"
    flt = vf.Enlarge(scale=2)
    video.process(flt, clip, out, client=vance_client, crf=20)
    record = video.record_of(out)
    assert record is not None and record.kept == ()
    assert record.same_settings(flt.to_jconfig(), video.settings(video_codec=video.default_codec(out), crf=20))
    assert not record.same_settings(flt.to_jconfig(), video.settings(video_codec=video.default_codec(out)))
    assert not record.same_settings(vf.Enlarge(scale=4).to_jconfig(), record.settings)
    assert (record.frames, record.distinct, record.credits) == (6, 3, 3)
    assert record.provenance.service == vance_client.base_url and "Enlarge" in record.provenance.filter
    assert video.record_of(clip) is None  # the input holds none
    assert frame_times(out) == frame_times(clip)


def test_kept_frames_are_in_the_record(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=6)
    out = tmp_path / "out.mkv"
    emu.fail_jobs(1)
    video.process(vf.Enlarge(scale=2), clip, out, client=vance_client, concurrency=1, on_error="keep")
    record = video.record_of(out)
    assert record is not None and record.kept == (0, 1)
    assert other_packets(out) == other_packets(clip) and frame_times(out) == frame_times(clip)


def test_cli_skips_only_a_same_settings_output(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    out = tmp_path / "out"
    args = ["enlarge", os.fspath(clip), "--scale", "2", "-o", os.fspath(out), "--no-cache", "-q"]
    assert cli.main(args) == 0
    paid = emu.credits_used
    written = (out / "clip.mp4").read_bytes()
    capsys.readouterr()
    assert cli.main(args) == 0 and emu.credits_used == paid  # same settings: skipped
    assert "skipped" in capsys.readouterr().err
    for other in (["--crf", "22"], ["--scale", "4"], ["--video-upload-format", "png"]):
        assert cli.main([*args, *other]) == 1  # other settings: a conflict, nothing sent
        err = capsys.readouterr().err
        assert "conflict" in err and "--overwrite" in err, err
    assert emu.credits_used == paid and (out / "clip.mp4").read_bytes() == written
    assert cli.main(["provenance", os.fspath(out / "clip.mp4"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["video"]["crf"] == 18 and shown["frames"] == 6 and shown["jconfig"]["name"] == "enlarge3"
    (out / "clip.mp4").write_bytes(clip.read_bytes())  # someone else's clip under that name
    assert cli.main(args) == 1
    assert "holds no vance-filters record" in capsys.readouterr().err
    assert cli.main(["provenance", os.fspath(out / "clip.mp4")]) == 1
    assert cli.main([*args, "--overwrite"]) == 0 and video.record_of(out / "clip.mp4") is not None


def test_cli_redoes_an_output_with_kept_frames(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=6)
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    out = tmp_path / "out"
    args = ["enlarge", os.fspath(clip), "--scale", "2", "-o", os.fspath(out), "-j", "1", "-q",
            "--cache-dir", os.fspath(tmp_path / "cache"), "--on-error", "keep"]  # fmt: skip
    emu.fail_jobs(1)
    assert cli.main(args) == 1  # a frame kept as its original
    assert video.record_of(out / "clip.mkv").kept == (0, 1)
    paid = emu.credits_used
    assert cli.main(args) == 0 and "redoing" in capsys.readouterr().err
    assert video.record_of(out / "clip.mkv").kept == () and emu.credits_used == paid + 1  # only the failed one


def test_a_damaged_result_is_fetched_again_free(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=6)
    emu.fail("download", body=b"\xff\xd8\xff\xe0" + bytes(200), content_type="image/jpeg")  # a JPEG's head only
    report = video.process(vf.Enlarge(scale=2), clip, tmp_path / "out.mkv", client=vance_client, concurrency=1)
    assert report.kept == [] and report.frames == 6 and emu.credits_used == 3  # the trans_id again: no charge
    assert emu.request_count("download") == 4 and emu.request_count("upload") == 3
    first = pictures(tmp_path / "out.mkv")[0]
    assert far(first, stand_in(vf.Enlarge(scale=2), pictures(clip)[0])) < 12


def test_a_result_that_never_decodes_fails_its_frame(emu: Any, vance_client: vf.Client, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=6)
    emu.fail("download", times=100, body=b"\xff\xd8\xff\xe0" + bytes(200), content_type="image/jpeg")
    report = video.process(
        vf.Enlarge(scale=2), clip, tmp_path / "out.mkv", client=vance_client, concurrency=1, on_error="keep"
    )
    assert [k.frame for k in report.kept] == list(range(6)) and "ResultDecodeError" in report.kept[0].error
    assert emu.request_count("download") == 6  # each fetched again once, then given up
    assert len(pictures(tmp_path / "out.mkv")) == 6
