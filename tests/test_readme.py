"""README.md stays true: its commands run, its quickstart runs, its feature table matches the code."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import vance_filters as vf
from vance_filters.filters import FeatureFilter

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OUTPUT_OPTIONS = {"format", "quality", "dpi", "background"}


def table_rows() -> list[list[str]]:
    section = README.split("## Features", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_feature_table_lists_every_filter_once() -> None:
    classes = {row[2].strip("`") for row in table_rows()}
    public = {name for name in vf.__all__ if isinstance(getattr(vf, name), type)
              and issubclass(getattr(vf, name), FeatureFilter)}
    assert classes == public


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: r[1])
def test_each_row_matches_its_filter(row: list[str]) -> None:
    _, function, cls_name, params, cost, tiling = row
    cls = getattr(vf, cls_name.strip("`"))
    assert callable(getattr(vf, function.strip("`")))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert str(cls().cost) == cost
        policy = vf.tiles.policy(cls())
    assert tiling.split()[0] == policy
    for field in dataclasses.fields(cls):
        if field.name in OUTPUT_OPTIONS:
            continue
        assert f"`{field.name}`" in params, f"{field.name} missing from the README row"
        if field.default is not None and not isinstance(field.default, str):
            assert f"({field.default})" in params or f"{field.default})" in params, (
                f"{field.name}'s default {field.default!r} is not the README's"
            )
        elif isinstance(field.default, str):
            assert f'("{field.default}")' in params


def commands() -> list[str]:
    return re.findall(r"```bash\n(python3 -m venv .*?)\n```", README)


def test_the_readme_gives_exactly_two_set_up_commands() -> None:
    assert len(commands()) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci


@pytest.mark.timeout(120)
def test_the_main_command_writes_the_enlarged_image(tmp_path: Path) -> None:
    main = commands()[0]
    cli = main.split(".venv/bin/vance-filters ", 1)[1]
    args = cli.split()
    args[args.index("-o") + 1] = str(tmp_path / "out")
    result = subprocess.run(
        [sys.executable, "-m", "vance_filters", *args], cwd=ROOT, capture_output=True, text=True, timeout=100
    )
    assert result.returncode == 0, result.stderr
    source = Image.open(ROOT / "examples" / "portrait.png")
    with Image.open(tmp_path / "out" / "portrait.png") as out:
        assert out.size == (source.width * 4, source.height * 4)


@pytest.mark.timeout(120)
def test_the_quickstart_runs(vance_emulator, tmp_path: Path) -> None:
    code = README.split("## Quickstart", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    env = dict(os.environ, VANCE_API_TOKEN=vance_emulator.api_token, VANCE_API_BASE=vance_emulator.url)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=100
    )
    assert result.returncode == 0, result.stderr
    assert "Credits(" in result.stdout
    assert vance_emulator.api_token not in result.stdout + result.stderr


def cli_lines() -> list[str]:
    """The command-line examples that need no account (``--emulator``), in the README's order."""
    section = README.split("## The command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if "--emulator" in line.split()]


@pytest.mark.timeout(300)
def test_the_readme_command_sequence_replays_on_a_fresh_clone(tmp_path: Path) -> None:
    """The set-up command, then each account-free CLI example, in order: each writes what it says."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    setup = commands()[0].split(".venv/bin/vance-filters ", 1)[1]
    sequence = [setup, *(line.split("vance-filters ", 1)[1] for line in cli_lines())]
    assert len(sequence) >= 3  # the set-up command and at least two examples
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANCE_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    for line in sequence:
        args = line.split()
        result = subprocess.run(
            [sys.executable, "-m", "vance_filters", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100,
        )
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        inputs = [a for a in args if a.startswith("examples/")]
        output_dir = tmp_path / args[args.index("-o") + 1]
        for source in inputs:
            written = output_dir / Path(source).name
            assert written.exists(), f"{line} did not write {written}"
        assert f"{len(inputs)} written, 0 skipped, 0 failed" in result.stderr, f"{line}\n{result.stderr}"
