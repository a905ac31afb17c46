"""The notebooks run from top to bottom on the emulator, and are committed clean.

Each notebook is executed by a real IPython kernel (nbclient + ipykernel) running
this very interpreter, in an empty temporary working directory, with a timeout on
every cell; any cell error fails the test.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["quickstart", "batch"]
CELL_TIMEOUT = 60  # seconds per cell; a whole notebook runs in a few seconds


def read(name: str):  # type: ignore[no-untyped-def]
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def text_of(cell) -> str:  # type: ignore[no-untyped-def]
    """Everything a cell printed (stdout and stderr)."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def images_shown(nb) -> int:  # type: ignore[no-untyped-def]
    return sum(
        1
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})
    )


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A "python3" kernelspec that runs this interpreter, ahead of any other on the machine.

    A fresh ``pip install -e '.[test]'`` provides one through ipykernel, but a user-level
    spec (``~/.local/share/jupyter/kernels/python3``) may point at another Python without
    vance_filters; JUPYTER_PATH comes first in Jupyter's search path. Jupyter's and
    IPython's runtime files go to the temporary folder too.
    """
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (vance_filters tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


def execute(name: str, workdir: Path):  # type: ignore[no-untyped-def]
    nb = read(name)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb, time.perf_counter() - start


@pytest.mark.timeout(240)
def test_quickstart_runs_every_feature(kernel_env: Path) -> None:
    nb, _ = execute("quickstart", kernel_env)
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for function in ("enlarge", "denoise", "sharpen", "remove_background", "upscale_anime", "repair",
                     "restore", "cartoonize", "to_anime", "animegan", "recolor", "colorize",
                     "enhance_faces"):
        assert f"vf.{function}(" in source, f"the quickstart does not show vf.{function}"
    assert images_shown(nb) >= 10, "before / after pictures are displayed"
    printed = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    assert "uploads for the whole pipeline: 1" in printed
    assert "requests: 0 | credits used: 0.0" in printed  # the cache makes a repeat free
    assert list(kernel_env.iterdir()) == [], "the notebook leaves nothing in the working folder"


@pytest.mark.timeout(240)
def test_batch_survives_a_failure_and_reruns_for_free(kernel_env: Path) -> None:
    nb, _ = execute("batch", kernel_env)
    printed = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    assert "15 written to out/, 1 failed:" in printed
    assert "JobFailedError" in printed
    assert "16/16" in printed, "the progress bar ran to the end"
    assert "credits after:  15.0 used, 485.0 left" in printed
    assert "images uploaded: 1\ncredits spent: 1.0\n16 results in out/" in printed
    assert "HTTP requests for a third run: 0\ncredits spent: 0.0" in printed
    assert "CreditLimitError" in printed
    assert images_shown(nb) >= 2
    assert list(kernel_env.iterdir()) == [], "the notebook leaves nothing in the working folder"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name: str) -> None:
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has code"
    for i, cell in enumerate(code):
        assert cell.outputs == [], f"code cell {i} of {name}.ipynb is committed with outputs"
        assert cell.execution_count is None, f"code cell {i} of {name}.ipynb has an execution count"
        assert "execution" not in cell.metadata, f"code cell {i} of {name}.ipynb keeps timing metadata"
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_the_emulator_and_says_how_to_use_the_real_service(name: str) -> None:
    nb = read(name)
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    assert "Emulator(" in first_code and "emu.api_token" in first_code and "emu.url" in first_code
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "VANCE_API_TOKEN" in markdown
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "sample_image(" in source
    for fetcher in ("urlopen", "requests.get", "urlretrieve", "http://", "https://"):
        assert fetcher not in source, f"{name}.ipynb must not download anything ({fetcher})"
