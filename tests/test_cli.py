"""The vance-filters command line, run in-process against the emulator over real HTTP."""

from __future__ import annotations

import _thread
import codecs
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vance_filters import cli
from vance_filters._features import FEATURES
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def emu(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The plugin's emulator, with the CLI's environment pointing at it."""
    vance_emulator.reset()
    vance_emulator.configure(job_duration=0.0)
    monkeypatch.setenv("VANCE_API_TOKEN", vance_emulator.api_token)
    monkeypatch.setenv("VANCE_API_BASE", vance_emulator.url)
    yield vance_emulator
    vance_emulator.reset()


def make_image(
    path: Path, *, size: tuple[int, int] = (16, 12), seed: int = 0, mode: str = "RGB"
) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    img = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def files_in(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden ones (temp files) included."""
    return sorted(os.listdir(folder)) if folder.exists() else []


def flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# Every feature subcommand
# ---------------------------------------------------------------------------

#: command, extra options, size factor, result mode for an RGB input, module and
#: module_params the service must receive (a subset).
FEATURE_CASES = [
    (
        "enlarge",
        ["--scale", "4", "--suppress-noise", "10"],
        4,
        "RGB",
        "enlarge3",
        {
            "model_name": "EnlargeStandard_4x_Stable",
            "scale": 4,
            "suppress_noise": 10,
            "remove_blur": 60,
        },
    ),
    (
        "denoise",
        ["--remove-noise", "50", "--no-auto-params"],
        1,
        "RGB",
        "denoise",
        {"remove_noise": 50, "sharpen": 75, "auto_params": False},
    ),
    (
        "sharpen",
        ["--remove-blur", "0.8", "--autoparams"],
        1,
        "RGB",
        "sharpen3",
        {"remove_blur": 0.8, "autoparams": True, "automodel": True},
    ),
    ("remove-background", [], 1, "RGBA", "matting", {"model_name": "MattingStable"}),
    (
        "upscale-anime",
        ["--scale", "1", "--model", "real_esrgan"],
        1,
        "RGB",
        "real_esrgan",
        {"model_name": "RealEsrganStable", "scale": "1x"},
    ),
    (
        "upscale-anime",
        [],
        2,
        "RGB",
        "chainner",
        {"model_name": "Anime_4x_AnimeSharp", "scale": "2x"},
    ),
    ("repair", [], 1, "RGB", "crease_repair", {"model_name": "CreaseRepairStable"}),
    (
        "restore",
        ["--strength", "0.85", "--no-face-enhancer"],
        1,
        "RGB",
        "img2sr",
        {"strength": 0.85, "face_enhancer": False},
    ),
    ("cartoonize", [], 1, "RGB", "cartoonize", {"model_name": "CartoonizeStable"}),
    (
        "to-anime",
        [
            "--style",
            "disney_girl",
            "--look",
            "realistic",
            "--prompt",
            "a girl",
            "--prompt-overwrite",
        ],
        1,
        "RGB",
        "img2anime",
        {
            "model_name": "disney_girl",
            "denoising_strength": 0.65,
            "prompt": "a girl",
            "overwrite": True,
        },
    ),
    ("animegan", ["--no-single-face"], 1, "RGB", "animegan2", {"single_face": False}),
    (
        "recolor",
        ["--prompt", "blue sky", "--negative-prompt", "red"],
        1,
        "RGB",
        "sd_recolor",
        {"prompt": "blue sky", "negative_prompt": "red"},
    ),
    ("colorize", ["--render-factor", "45"], 1, "RGB", "deoldify2", {"render_factor": 45}),
    ("enhance-faces", [], 1, "RGB", "CodeFormer", {"model_name": "CodeFormerStable"}),
]


def _steps(jconfig: dict) -> list[dict]:
    config = jconfig["config"]
    return [s["config"] for s in config] if isinstance(config, list) else [config]


@pytest.mark.parametrize(
    ("command", "extra", "factor", "mode", "module", "params"),
    FEATURE_CASES,
    ids=[f"{c[0]}{' ' + ' '.join(c[1]) if c[1] else ''}" for c in FEATURE_CASES],
)
def test_feature_subcommand_writes_results(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    extra: list[str],
    factor: int,
    mode: str,
    module: str,
    params: dict,
) -> None:
    png = make_image(tmp_path / "in" / "first.png", size=(16, 12), seed=1)
    jpg = make_image(tmp_path / "in" / "second.jpg", size=(10, 14), seed=2)
    out = tmp_path / "out"
    code, _, err = run(capsys, command, png, jpg, "-o", out, "-q", *extra)
    assert code == 0, err
    # A cut-out keeps its alpha: written as PNG whatever the input's format.
    expected = {
        "first.png": ("PNG", (16, 12)),
        "second.png" if mode == "RGBA" else "second.jpg": (
            "PNG" if mode == "RGBA" else "JPEG",
            (10, 14),
        ),
    }
    assert files_in(out) == sorted(expected)
    for name, (fmt, (w, h)) in expected.items():
        with Image.open(out / name) as img:
            assert img.format == fmt
            assert img.size == (w * factor, h * factor)
            assert img.mode == mode
    assert emu.request_count("upload") == 2
    jobs = list(emu.jobs.values())
    assert len(jobs) == 2
    for job in jobs:
        step = _steps(job.jconfig)[-1]
        assert step["module"] == module
        assert params.items() <= step["module_params"].items()
    if command == "cartoonize":
        assert "warning:" in err and "deprecated" in err.lower()


def test_to_anime_controlnets_reach_the_service(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_image(tmp_path / "face.png")
    code, _, err = run(
        capsys,
        "to-anime",
        src,
        "-o",
        tmp_path / "out",
        "-q",
        "--controlnets",
        "cartoon_canny",
        "cartoon_tile",
    )
    assert code == 0, err
    (job,) = emu.jobs.values()
    (upload,) = emu.uploads.values()
    assert job.jconfig["cn_configs"] == [
        {"image_uid": upload.uid, "cn_name": "cartoon_canny"},
        {"image_uid": upload.uid, "cn_name": "cartoon_tile"},
    ]


@pytest.mark.parametrize(
    ("options", "fmt", "name"),
    [
        (["--format", "png"], "PNG", "photo.png"),
        (["--format", "jpg", "--quality", "70", "--dpi", "300"], "JPEG", "photo.jpg"),
    ],
)
def test_output_options(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    fmt: str,
    name: str,
) -> None:
    src = make_image(tmp_path / "photo.jpg")
    out = tmp_path / "out"
    code, _, err = run(capsys, "denoise", src, "-o", out, "-q", *options)
    assert code == 0, err
    assert files_in(out) == [name]
    with Image.open(out / name) as img:
        assert img.format == fmt
        if "--dpi" in options:
            assert round(img.info["dpi"][0]) == 300
    (job,) = emu.jobs.values()
    out_params = _steps(job.jconfig)[-1]["out_params"]
    assert out_params["format"] == fmt.lower().replace("jpeg", "jpg")


def test_remove_background_with_a_background_colour_gives_rgb(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_image(tmp_path / "cut.png")
    code, _, err = run(
        capsys, "remove-background", src, "-o", tmp_path / "out", "-q", "--background", "0,255,255"
    )
    assert code == 0, err
    with Image.open(tmp_path / "out" / "cut.png") as img:
        assert img.mode == "RGB"
    (job,) = emu.jobs.values()
    assert _steps(job.jconfig)[-1]["out_params"]["bg_composed"] == {
        "bg_color": {"r": 0, "g": 255, "b": 255}
    }


# ---------------------------------------------------------------------------
# --help: documented ranges and defaults
# ---------------------------------------------------------------------------


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, _ = run(capsys, *argv, "--help")
    assert code == 0
    return flat(out)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "enlarge",
            [
                "--scale {2,4,6,8}",
                "default: 2",
                "--suppress-noise N 0-100; default: 40",
                "--remove-blur N 0-100; default: 60",
            ],
        ),
        ("denoise", ["--remove-noise N 0-100; default: 75", "--auto-params, --no-auto-params"]),
        (
            "sharpen",
            [
                "--remove-blur X 0.00-1.00; default: 0.5",
                "--automodel, --no-automodel",
                "2 credits per image",
            ],
        ),
        ("restore", ["--strength X 0.80-1.00; default: 0.9", "[default: True]"]),
        ("colorize", ["--render-factor N 10-70; default: 30"]),
        ("upscale-anime", ["2, 4, 8 with animesharp", "1, 2, 4, 6, 8 with real_esrgan"]),
        (
            "to-anime",
            [
                "at most 140 characters",
                "--controlnets",
                "cartoon_normal_noforge",
                "default: style1",
            ],
        ),
    ],
)
def test_help_shows_documented_ranges_and_defaults(
    capsys: pytest.CaptureFixture[str], command: str, expected: list[str]
) -> None:
    text = help_text(capsys, command)
    for snippet in expected:
        assert snippet in text
    for snippet in (
        "--format {jpg,png}",
        "--quality Q",
        "0-2000",
        "-j N, --concurrency N",
        "[default: 8]",
        "--overwrite",
        "--json",
        "--max-credits",
        "VANCE_API_TOKEN",
    ):
        assert snippet in text


@pytest.mark.parametrize("cls", cli.FEATURE_FILTERS, ids=lambda c: c.__name__)
def test_help_lists_every_field_with_its_table_range(
    capsys: pytest.CaptureFixture[str], cls: type
) -> None:
    text = help_text(capsys, cli._kebab(cls.__name__))
    params = {p.name: p for p in FEATURES[cls.module].params}
    for option in cli.filter_options(cls):
        assert option.flag in text
        param = params.get(option.name)
        if (
            param is not None
            and param.low is not None
            and param.high is not None
            and option.default is not None
        ):
            assert f"{option.flag} {option.metavar} {param.doc}" in text


def test_top_level_help_explains_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys)
    assert "VANCE_API_TOKEN" in text and "ps" in text and "history" in text
    assert "--api-token" not in text and "--token" not in text
    for command in (
        "enlarge",
        "remove-background",
        "enhance-faces",
        "run",
        "credits",
        "history",
        "emulator",
    ):
        assert command in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert re.fullmatch(r"vance-filters \S+\n", out)


# ---------------------------------------------------------------------------
# Invalid parameters: exit 2, nothing sent
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["enlarge", "--scale", "3"], "scale=3"),
        (["enlarge", "--suppress-noise", "101"], "suppress_noise=101"),
        (["sharpen", "--remove-blur", "1.5"], "remove_blur=1.5"),
        (["restore", "--strength", "0.5"], "strength=0.5"),
        (["colorize", "--render-factor", "5"], "render_factor=5"),
        (["upscale-anime", "--scale", "6"], "scale=6"),
        (["to-anime", "--style", "nope"], "style='nope'"),
        (["to-anime", "--prompt", "caf\u00e9"], "prompt="),
        (["to-anime", "--controlnets", "cartoon_nope"], "controlnets="),
        (["denoise", "--quality", "101"], "quality=101"),
        (["denoise", "--format", "gif"], "format='gif'"),
        (["remove-background", "--background", "not-a-colour"], "background="),
        (["enlarge", "--scale", "four"], "--scale"),
        (["enlarge", "-j", "0"], "--concurrency"),
    ],
)
def test_invalid_values_exit_2_before_any_request(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], names: str
) -> None:
    src = make_image(tmp_path / "a.png")
    out = tmp_path / "out"
    code, _, err = run(capsys, argv[0], src, "-o", out, *argv[1:])
    assert code == 2
    assert names in err
    assert "Traceback" not in err
    assert emu.request_count() == 0
    assert not out.exists()


def test_missing_input_exits_2(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "enlarge", tmp_path / "nope.png", "-o", tmp_path / "out")
    assert code == 2
    assert err.startswith("error: ") and "nope.png" in err
    assert emu.request_count() == 0


# ---------------------------------------------------------------------------
# run --config
# ---------------------------------------------------------------------------

VENDOR_JCONFIG = {
    "name": "enlarge3",
    "config": {
        "module": "enlarge3",
        "module_params": {
            "model_name": "EnlargeStandard_2x_Stable",
            "suppress_noise": 26,
            "remove_blur": 26,
            "scale": 2,
        },
        "out_params": {"format": "jpg", "compress": {"quality": 90}},
    },
}


def test_run_config_with_a_bom(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "job.json"
    config.write_bytes(codecs.BOM_UTF8 + json.dumps(VENDOR_JCONFIG, indent=2).encode())
    src = make_image(tmp_path / "in" / "pic.png", size=(12, 9))
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "run", "--config", config, src, "-o", out, "--json")
    assert code == 0, err
    # The result is JPEG (out_params.format), so it is written as .jpg whatever the input was.
    assert files_in(out) == ["pic.jpg"]
    with Image.open(out / "pic.jpg") as img:
        assert (img.format, img.size) == ("JPEG", (24, 18))
    (job,) = emu.jobs.values()
    assert job.jconfig == VENDOR_JCONFIG
    (upload,) = emu.uploads.values()
    assert upload.data == src.read_bytes()  # a PNG within the limits is sent as it is
    report = json.loads(stdout)
    (result,) = report["results"]
    assert result["status"] == "written"
    assert result["output"] == str(out / "pic.jpg")
    assert result["trans_id"] == job.trans_id


def test_run_config_converts_what_the_service_cannot_take(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "job.json"
    matting = {
        "name": "matting",
        "config": {"module": "matting", "module_params": {"model_name": "MattingStable"}},
    }
    config.write_text(json.dumps(matting), encoding="utf-8")
    src = tmp_path / "pic.bmp"
    with Image.open(make_image(tmp_path / "tmp.png")) as img:
        img.save(src, "BMP")
    code, _, err = run(capsys, "run", "--config", config, src, "-o", tmp_path / "out", "-q")
    assert code == 0, err
    assert files_in(tmp_path / "out") == ["pic.png"]
    (upload,) = emu.uploads.values()
    assert upload.format in ("png", "jpeg")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", codecs.BOM_UTF8 + b"nope"])
def test_run_config_that_is_not_a_json_object_exits_2(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    config = tmp_path / "job.json"
    config.write_bytes(content)
    src = make_image(tmp_path / "pic.png")
    code, _, err = run(capsys, "run", "--config", config, src, "-o", tmp_path / "out")
    assert code == 2
    assert err.startswith("error: --config")
    assert emu.request_count() == 0


# ---------------------------------------------------------------------------
# credits and history
# ---------------------------------------------------------------------------


def test_credits_and_history(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [make_image(tmp_path / "in" / f"p{i}.png", seed=i) for i in range(3)]
    assert run(capsys, "sharpen", *sources[:1], "-o", tmp_path / "out", "-q")[0] == 0
    assert run(capsys, "enlarge", *sources[1:], "-o", tmp_path / "out2", "-q")[0] == 0
    assert emu.credits_used == 4.0

    code, out, _ = run(capsys, "credits", "--json")
    assert code == 0
    assert json.loads(out) == {
        "total": emu.balance + emu.credits_used,
        "used": 4.0,
        "remaining": emu.balance,
    }
    code, out, _ = run(capsys, "credits")
    assert code == 0
    assert re.search(r"used:\s+4\.000", out) and re.search(rf"remaining:\s+{emu.balance:.3f}", out)

    code, out, _ = run(capsys, "history", "--json")
    page = json.loads(out)
    assert code == 0
    assert page["total"] == 3 and len(page["entries"]) == 3
    assert sorted(e["point"] for e in page["entries"]) == [1.0, 1.0, 2.0]
    assert {e["job"] for e in page["entries"]} == {"va_sharpen_standard", "enlarge3"}
    assert all(e["point_type"] == "download" for e in page["entries"])

    code, out, _ = run(capsys, "history", "--all", "--limit", "1", "--json")
    assert code == 0
    assert len(json.loads(out)["entries"]) == 3

    code, out, _ = run(capsys, "history", "--page", "2", "--limit", "2")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["created_at", "type", "job", "info", "points", "balance"]
    assert len(lines) == 3  # header, one entry, the page line
    assert lines[-1] == "page 2 of 2 (3 entries)"


def test_missing_token_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--api-base", "http://127.0.0.1:9/web_api/v1", "credits")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "VANCE_API_TOKEN" in err


def test_wrong_token_is_never_printed(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "0123456789abcdef-not-the-token"
    monkeypatch.setenv("VANCE_API_TOKEN", secret)
    src = make_image(tmp_path / "a.png")
    for argv in (
        ["credits"],
        ["history", "--json"],
        ["enlarge", src, "-o", tmp_path / "out", "--json"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 1
        assert secret not in out + err
        assert "Traceback" not in err
        assert "AuthenticationError" in out + err or "token" in err.lower()
    # A batch stops at the first authentication error instead of sending every image.
    many = [make_image(tmp_path / f"m{i}.png", seed=i) for i in range(6)]
    uploads = emu.request_count("upload")
    code, out, err = run(capsys, "enlarge", *many, "-o", tmp_path / "out", "-j", "1", "--json")
    assert code == 1
    assert json.loads(out)["totals"]["pending"] >= 3
    assert emu.request_count("upload") - uploads <= 3
    assert "batch stopped" in err and secret not in out + err


# ---------------------------------------------------------------------------
# Batches: --json, skipping, budgets, the "Done when" scenario
# ---------------------------------------------------------------------------


def test_json_results_and_resume(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    for i in range(3):
        make_image(folder / f"img{i}.png", seed=i)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    kept = ("--cache-dir", tmp_path / "cache")  # the emulator's results stay in memory unless asked
    code, stdout, err = run(capsys, *kept, "enlarge", folder, "-o", out, "--json")
    assert code == 0
    assert err == ""  # no progress bar, no summary: the JSON says it all
    report = json.loads(stdout)
    assert report["totals"] == {"written": 3, "skipped": 0, "conflict": 0, "failed": 0, "pending": 0, "total": 3}
    assert [r["input"] for r in report["results"]] == [
        str(folder / f"img{i}.png") for i in range(3)
    ]
    assert {r["status"] for r in report["results"]} == {"written"}
    uploads = emu.request_count("upload")

    code, stdout, err = run(capsys, *kept, "enlarge", folder, "-o", out, "--json")
    report = json.loads(stdout)
    assert code == 0
    assert report["totals"]["skipped"] == 3 and report["totals"]["written"] == 0
    assert emu.request_count("upload") == uploads

    code, _, err = run(capsys, *kept, "enlarge", folder, "-o", out, "--overwrite")
    assert code == 0
    assert "3 written, 0 skipped, 0 failed" in err
    assert emu.request_count("upload") == uploads  # rewritten from the result cache, free

    code, _, err = run(capsys, "--no-cache", "enlarge", folder, "-o", out, "--overwrite")
    assert code == 0
    assert "3 written, 0 skipped, 0 failed" in err
    assert emu.request_count("upload") == uploads + 3


def test_max_credits_refuses_before_any_upload(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = [make_image(tmp_path / f"p{i}.png", seed=i) for i in range(3)]
    code, _, err = run(capsys, "sharpen", *sources, "-o", tmp_path / "out", "--max-credits", "5")
    assert code == 2  # a budget refusal is a usage error: nothing was sent
    assert err.startswith("error: ") and "more than --max-credits 5" in err
    assert "3 images costs up to 6 credits (2 credits per result)" in err
    assert "max_credits=" not in err  # command-line advice, not the Python parameter
    assert emu.request_count("upload") == 0
    code, _, err = run(
        capsys, "sharpen", *sources, "-o", tmp_path / "out", "--max-credits", "6", "-q"
    )
    assert code == 0
    assert emu.request_count("upload") == 3


def test_batch_of_50_with_one_fatal_job_then_resume(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    for i in range(50):
        make_image(folder / f"img{i:02d}.png", size=(8, 8), seed=i)
    out = tmp_path / "out"
    emu.fail_jobs(times=1)
    code, stdout, err = run(capsys, "enlarge", folder, "-o", out, "-j", "4", "--json")
    assert code == 1
    report = json.loads(stdout)
    assert report["totals"] == {"written": 49, "skipped": 0, "conflict": 0, "failed": 1, "pending": 0, "total": 50}
    (failed,) = [r for r in report["results"] if r["status"] == "failed"]
    assert failed["error_type"] == "JobFailedError"
    assert failed["trans_id"] in emu.jobs
    expected = sorted(f"img{i:02d}.png" for i in range(50))
    missing = Path(failed["output"]).name
    assert files_in(out) == [n for n in expected if n != missing]  # no partial or temp file

    # Again without --json, one more file to redo: the failure is one readable line.
    emu.fail_jobs(times=1)
    (out / next(n for n in expected if n != missing)).unlink()
    code, _, err = run(capsys, "enlarge", folder, "-o", out, "-q")
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("failed: ") and ": JobFailedError: " in line
    assert len(files_in(out)) == 49

    uploads = emu.request_count("upload")
    code, _, err = run(capsys, "enlarge", folder, "-o", out)
    assert code == 0
    assert "1 written, 49 skipped, 0 failed" in err
    assert emu.request_count("upload") == uploads + 1
    assert files_in(out) == expected


def test_a_corrupt_input_fails_alone_and_keeps_failing(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    for i in range(5):
        make_image(folder / f"img{i}.png", seed=i)
    (folder / "img2.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    out = tmp_path / "out"
    code, _, err = run(capsys, "denoise", folder, "-o", out, "-j", "2")
    assert code == 1
    lines = err.strip().splitlines()
    assert "4 written, 0 skipped, 1 failed" in lines[-2]
    assert lines[-1].startswith(f"failed: {folder / 'img2.png'}: InputError: ")
    assert emu.request_count("upload") == 4  # the corrupt one never left the machine
    assert files_in(out) == ["img0.png", "img1.png", "img3.png", "img4.png"]
    code, _, err = run(capsys, "denoise", folder, "-o", out)
    assert code == 1
    assert "0 written, 4 skipped, 1 failed" in err
    assert emu.request_count("upload") == 4


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------


def test_interrupt_while_writing_leaves_no_partial_file(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "in"
    for i in range(6):
        make_image(folder / f"img{i}.png", seed=i)
    out = tmp_path / "out"
    real_replace = os.replace
    calls = []

    def replace(src: str, dst: str) -> None:
        if Path(dst).parent == out:  # outputs only, not the result cache's own entries
            calls.append(dst)
        if len(calls) == 3 and Path(dst).parent == out:  # Ctrl-C: third output written, not renamed
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    kept = ("--cache-dir", tmp_path / "cache")  # the emulator's results stay in memory unless asked
    code, _, err = run(capsys, *kept, "enlarge", folder, "-o", out, "-j", "1")
    monkeypatch.setattr(os, "replace", real_replace)
    assert code == 130
    assert "interrupted" in err
    assert files_in(out) == ["img0.png", "img1.png"]

    # Ctrl-C does not wait for the image in flight; it finishes in the background (a real
    # process joins it at exit) and lands in the result cache. Let it land.
    import threading
    import time

    deadline = time.monotonic() + 10
    while any(t.name.startswith("vance-map") for t in threading.enumerate()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    uploads = emu.request_count("upload")
    code, _, err = run(capsys, *kept, "enlarge", folder, "-o", out, "-j", "1")
    assert code == 0
    assert "4 written, 2 skipped, 0 failed" in err
    # results paid for before the interrupt (the one being written, the one in flight)
    # came back from the result cache: each image was uploaded and paid exactly once
    assert uploads >= 3
    assert emu.request_count("upload") == 6
    assert len(emu.charges) == 6


@pytest.mark.timeout(30)
def test_ctrl_c_mid_batch_exits_130_with_whole_files_only(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    for i in range(10):
        make_image(folder / f"img{i}.png", seed=i)
    out = tmp_path / "out"
    emu.configure(job_duration=0.25)
    stop = threading.Event()

    def press_ctrl_c() -> None:
        while not stop.is_set():
            if len([n for n in files_in(out) if not n.startswith(".")]) >= 2:
                _thread.interrupt_main()
                return
            time.sleep(0.01)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        code, _, err = run(capsys, "enlarge", folder, "-o", out, "-j", "1")
    finally:
        stop.set()
        presser.join()
    assert code == 130
    assert "interrupted" in err
    written = files_in(out)
    assert 2 <= len(written) < 10
    assert all(not n.startswith(".") for n in written)
    for name in written:
        with Image.open(out / name) as img:
            img.load()
            assert img.size == (32, 24)


# ---------------------------------------------------------------------------
# Output names: collisions and paths that try to escape
# ---------------------------------------------------------------------------


def test_same_stem_inputs_get_distinct_deterministic_names(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_image(tmp_path / "alpha" / "x.png", seed=1)
    b = make_image(tmp_path / "beta" / "x.png", seed=2)
    c = make_image(tmp_path / "beta" / "x.jpg", seed=3)
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "repair", a, b, c, "-o", out, "--json", "--format", "png")
    assert code == 0
    outputs = [r["output"] for r in json.loads(stdout)["results"]]
    assert outputs == [str(out / "x.png"), str(out / "x-beta.png"), str(out / "x-2.png")]
    code, stdout, _ = run(capsys, "repair", a, b, c, "-o", out, "--json", "--format", "png")
    report = json.loads(stdout)
    assert [r["output"] for r in report["results"]] == outputs
    assert report["totals"]["skipped"] == 3


def test_inputs_with_dotdot_or_absolute_paths_stay_inside_the_output_dir(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    make_image(tmp_path / "up.png", seed=1)
    make_image(work / "deep" / "..png", seed=2)  # stem "."
    make_image(work / "deep" / "...png", seed=3)  # stem ".."
    make_image(work / "deep" / "..\\..\\evil.png", seed=4)  # backslashes are name characters here
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*")}
    out = Path("out")
    inputs = [
        "deep/../../up.png",
        os.path.abspath("deep/..png"),
        "deep/...png",
        "deep/..\\..\\evil.png",
    ]
    code, stdout, err = run(capsys, "denoise", *inputs, "-o", out, "--json")
    assert code == 0, err
    created = {p for p in tmp_path.rglob("*")} - before
    assert created == {work / "out"} | {work / "out" / n for n in files_in(work / "out")}
    assert len(files_in(work / "out")) == 4
    for result in json.loads(stdout)["results"]:
        assert Path(result["output"]).resolve().parent == (work / "out").resolve()


@pytest.mark.parametrize(
    "source",
    [
        "../../etc/passwd.png",
        "/abs/olute/.png",
        "a/..png",
        "a/...png",
        "a/ .png",
        "..\\x.png",
        "a/\x01.png",
    ],
)
def test_planned_names_never_leave_the_output_dir(tmp_path: Path, source: str) -> None:
    (item,) = cli.plan_outputs([Path(source)], tmp_path / "out", ext_of=lambda _: ".png")
    assert item.output is not None
    assert item.output.parent == tmp_path / "out"
    assert not item.output.name.startswith(".")  # visible, and never a temp file's name
    assert "/" not in item.output.name and "\\" not in item.output.name


def test_output_dir_equal_to_input_dir_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_image(tmp_path / "a.png")
    code, _, err = run(capsys, "denoise", src, "-o", tmp_path, "--overwrite")
    assert code == 2 and "replace the input" in err
    assert emu.request_count() == 0


# ---------------------------------------------------------------------------
# --emulator, python -m, the emulator command
# ---------------------------------------------------------------------------


def test_emulator_mode_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_image(tmp_path / "cat.png", size=(10, 8))
    code, _, err = run(capsys, "--emulator", "enlarge", src, "--scale", "4", "-o", tmp_path / "out")
    assert code == 0, err
    assert "emulator" in err and "1 written, 0 skipped, 0 failed" in err
    with Image.open(tmp_path / "out" / "cat.png") as img:
        assert img.size == (40, 32)
    code, out, _ = run(capsys, "--emulator", "credits", "--json")
    assert code == 0 and json.loads(out)["used"] == 0.0


def test_python_dash_m_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vance_filters", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: vance-filters")
    assert "remove-background" in proc.stdout


@pytest.mark.timeout(30)
def test_emulator_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    import signal

    from vance_filters.client import Client

    proc = subprocess.Popen(
        [sys.executable, "-m", "vance_filters", "emulator", "--port", "0", "--credits", "42"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)]  # type: ignore[union-attr]
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in lines
            if "export " in line
        )
        assert set(exports) == {"VANCE_API_BASE", "VANCE_API_TOKEN"}
        assert exports["VANCE_API_BASE"].startswith("http://127.0.0.1:")
        with Client(exports["VANCE_API_TOKEN"], exports["VANCE_API_BASE"]) as client:
            assert client.credits().total == 42.0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
