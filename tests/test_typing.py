"""The package type-checks, and the typed overloads give back the type that went in."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(300)


_USER_CODE = (
    "from pathlib import Path\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "import vance_filters as vf\n"
    "reveal_type(vf.enlarge(Image.new('RGB', (4, 4)), scale=2))\n"
    "reveal_type(vf.denoise(np.zeros((4, 4, 3), np.uint8)))\n"
    "reveal_type(vf.remove_background(b'png bytes'))\n"
    "reveal_type(vf.sharpen(Path('photo.png')))\n"
    "reveal_type(vf.Denoise().apply(np.zeros((4, 4), np.uint16)))\n"
    "reveal_type(vf.Denoise() | vf.Enlarge(scale=2))\n"
)


@pytest.fixture(scope="module")
def mypy_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """One mypy run over the package and a user's code calling it (the slow part, done once)."""
    user = tmp_path_factory.mktemp("typing") / "user_code.py"
    user.write_text(_USER_CODE)
    out, err, status = mypy_api.run([str(ROOT / "vance_filters"), str(user), "--no-incremental"])
    return out + err, status


def test_the_package_type_checks(mypy_run: tuple[str, int]) -> None:
    out, status = mypy_run
    assert status == 0, out
    assert not [line for line in out.splitlines() if ": error:" in line], out


def test_filters_return_the_type_they_were_given(mypy_run: tuple[str, int]) -> None:
    out, _ = mypy_run
    revealed = [line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed type" in line]
    assert len(revealed) == 6, out
    assert "PIL.Image.Image" in revealed[0]
    assert "numpy.ndarray" in revealed[1] and "numpy.ndarray" in revealed[4]
    assert "bytes" in revealed[2] and "Image" not in revealed[2]
    assert "PIL.Image.Image" in revealed[3]
    assert "Pipeline" in revealed[5]
