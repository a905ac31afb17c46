"""The package type-checks, and the typed overloads give back the type that went in."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(300)


def test_the_package_type_checks() -> None:
    out, err, status = mypy_api.run([str(ROOT / "vance_filters"), "--no-incremental"])
    assert status == 0, out + err


def test_filters_return_the_type_they_were_given(tmp_path: Path) -> None:
    user = tmp_path / "user_code.py"
    user.write_text(
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
    out, err, _ = mypy_api.run([str(user), "--no-incremental", "--follow-imports=silent"])
    revealed = [line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed type" in line]
    assert len(revealed) == 6, out + err
    assert "PIL.Image.Image" in revealed[0]
    assert "numpy.ndarray" in revealed[1] and "numpy.ndarray" in revealed[4]
    assert "bytes" in revealed[2] and "Image" not in revealed[2]
    assert "PIL.Image.Image" in revealed[3]
    assert "Pipeline" in revealed[5]
