"""The command line names files, takes its global options anywhere and speaks shell (issue 13.5)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vance_filters import cli
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)

GLOBAL_FLAGS = ("--emulator", "--api-base", "--cache-dir", "--no-cache", "--timeout")


@pytest.fixture
def emu(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    vance_emulator.reset()
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    yield vance_emulator
    vance_emulator.reset()


def picture(path: Path, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path, fmt)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("command", "extra", "name"),
    [
        ("denoise", [], "holiday.png"),
        ("enlarge", ["--scale", "2"], "cat-01.jpg"),
        ("run", ["--config", "JOB"], "holiday.png"),
    ],
)
def test_uploads_carry_the_file_name(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, extra: list[str], name: str
) -> None:
    source = picture(tmp_path / name, "JPEG" if name.endswith(".jpg") else "PNG")
    if "JOB" in extra:
        job = tmp_path / "job.json"
        job.write_text(json.dumps({"name": "img_denoise", "config": {"module": "denoise", "module_params": {"model_name": "DenoiseStable", "remove_noise": 3, "sharpen": 3}}}))
        extra = ["--config", os.fspath(job)]
    code, _, err = run(capsys, command, source, *extra, "-o", tmp_path / "out", "-q")
    assert code == 0, err
    (upload,) = emu.uploads.values()
    # The name the vendor's history shows: the file's own, its suffix that of what was sent
    # (a feature may send a JPEG as lossless PNG; ``run`` sends the file as it is).
    assert Path(upload.name).stem == Path(name).stem
    assert upload.name == (name if command == "run" else Path(name).stem + {"png": ".png", "jpeg": ".jpg"}[upload.format])


def test_a_bad_file_is_named_never_a_buffer(emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not really a picture")
    picture(tmp_path / "good.png")
    code, _, err = run(capsys, "denoise", bad, tmp_path / "good.png", "-o", tmp_path / "out", "-q")
    assert code == 1
    assert "BytesIO" not in err and "0x" not in err
    assert "the bytes given" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("failed:")]
    assert f"file {os.fspath(bad)!r} is not an image" in line


@pytest.mark.parametrize("flag", GLOBAL_FLAGS)
@pytest.mark.parametrize("command", ["denoise", "enlarge", "run", "credits", "history"])
def test_global_options_appear_in_each_commands_help(
    capsys: pytest.CaptureFixture[str], command: str, flag: str
) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"\n  {flag}" in out


def test_global_options_work_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No VANCE_* variable at all: only --emulator after the command makes this work.
    source = picture(tmp_path / "x.png")
    cache = tmp_path / "cache"
    code, _, err = run(
        capsys, "denoise", source, "--emulator", "-o", tmp_path / "out", "--timeout", "20",
        "--cache-dir", cache, "-q",
    )
    assert code == 0, err
    assert (tmp_path / "out" / "x.png").exists()
    assert cache.exists() and any(cache.rglob("*"))  # --cache-dir after the command was used
    code, out, _ = run(capsys, "credits", "--json", "--emulator")
    assert code == 0 and json.loads(out)["remaining"] == 500


def test_global_options_before_the_command_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = picture(tmp_path / "x.png")
    code, _, err = run(capsys, "--emulator", "--no-cache", "denoise", source, "-o", tmp_path / "out", "-q")
    assert code == 0, err
    assert (tmp_path / "out" / "x.png").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--emulator", "credits", "--api-base", "http://127.0.0.1:9/web_api/v1"],
        ["credits", "--emulator", "--api-base", "http://127.0.0.1:9/web_api/v1"],
        ["--no-cache", "credits", "--emulator", "--cache-dir", "x"],
    ],
)
def test_exclusive_global_options_are_refused_wherever_they_stand(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "not allowed with argument" in err


def test_missing_token_gets_command_line_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VANCE_API_BASE", "http://127.0.0.1:9/web_api/v1")  # never reached
    source = picture(tmp_path / "x.png")
    for argv in (["credits"], ["denoise", os.fspath(source), "-o", os.fspath(tmp_path / "out")]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        assert "set the VANCE_API_TOKEN environment variable (or add --emulator" in err
        assert "Client(" not in err and "api_token=" not in err


def test_a_budget_refusal_exits_2_with_plurals(emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = picture(tmp_path / "x.png")
    code, _, err = run(capsys, "denoise", source, "-o", tmp_path / "out", "--max-credits", "0")
    assert code == 2
    assert "this batch of 1 image costs up to 1 credit (1 credit per result)" in err
    assert "--max-credits 0" in err
    assert emu.request_count("upload") == 0
