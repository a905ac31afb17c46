"""The notebooks run from top to bottom on the emulator, and are committed with their pictures.

Each notebook is executed by a real IPython kernel (nbclient + ipykernel) running
this very interpreter, in an empty temporary working directory, with a timeout on
every cell; any cell error fails the test. The committed files carry their outputs, so
a reader browsing the repository sees the pictures: each picture once (one image type
per display, no repeats), within a size budget.
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
NAMES = ["quickstart", "batch", "frames"]
CELL_TIMEOUT = 60  # seconds per cell; a whole notebook runs in a few seconds
#: The most a committed notebook may weigh, pictures included.
MAX_NOTEBOOK_BYTES = 400_000
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")


def read(name: str):  # type: ignore[no-untyped-def]
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def text_of(cell) -> str:  # type: ignore[no-untyped-def]
    """Everything a cell printed (stdout and stderr)."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def image_outputs(nb) -> list[dict]:  # type: ignore[no-untyped-def]
    """The data of every output that shows a picture."""
    return [
        o.get("data", {})
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.output_type in ("display_data", "execute_result")
        and any(t in o.get("data", {}) for t in _IMAGE_TYPES)
    ]


def images_shown(nb) -> int:  # type: ignore[no-untyped-def]
    return len(image_outputs(nb))


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
    assert images_shown(nb) == images_shown(read("quickstart")), "the committed outputs are current"
    assert all(len([t for t in _IMAGE_TYPES if t in d]) == 1 for d in image_outputs(nb))
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
    assert "credits after:  30.0 used, 470.0 left" in printed  # 2 steps of 1 credit per image
    assert "images uploaded: 1\ncredits spent: 2.0\n16 results in out/" in printed
    assert "HTTP requests for a third run: 0\ncredits spent: 0.0" in printed
    assert "CreditLimitError" in printed
    assert images_shown(nb) >= 2
    assert images_shown(nb) == images_shown(read("batch")), "the committed outputs are current"
    assert list(kernel_env.iterdir()) == [], "the notebook leaves nothing in the working folder"


@pytest.mark.timeout(240)
def test_frames_shows_an_animation_before_and_after(kernel_env: Path) -> None:
    nb, _ = execute("frames", kernel_env)
    printed = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    timing = "6 frames, durations [200, 120, 120, 300, 200, 120] ms, loop 0"
    assert f"before: GIF, 48x36, {timing}" in printed
    assert f"after:  GIF, 96x72, {timing}" in printed
    assert "uploads: 4 | credits used: 4.0" in printed  # 6 frames, 4 distinct
    assert "CreditLimitError: this call of 6 frames (4 distinct) costs up to 8 credits" in printed
    assert "frames='first': 1 frame" in printed
    gifs = [d for d in image_outputs(nb) if "image/gif" in d]
    assert len(gifs) == 2, "the animation is shown before and after, as GIFs"
    assert images_shown(nb) == images_shown(read("frames")), "the committed outputs are current"
    assert list(kernel_env.iterdir()) == [], "the notebook leaves nothing in the working folder"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_with_its_pictures_each_once(name: str) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has code"
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"{name}.ipynb is committed run top to bottom"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    pictures = image_outputs(nb)
    assert len(pictures) >= 2, f"{name}.ipynb is committed with its pictures"
    for data in pictures:
        kinds = [t for t in _IMAGE_TYPES if t in data]
        assert len(kinds) == 1, f"a picture of {name}.ipynb is stored as {kinds}: once is enough"
    blobs = [data[t] for data in pictures for t in _IMAGE_TYPES if t in data]
    assert len(set(blobs)) == len(blobs), f"{name}.ipynb stores the same picture twice"
    size = path.stat().st_size
    assert size <= MAX_NOTEBOOK_BYTES, f"{name}.ipynb weighs {size} bytes, over {MAX_NOTEBOOK_BYTES}"
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
