"""filters, batch and aio import in a line, not a circle (batch and aio sit on filters)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vance_filters"
MODULES = ("filters", "batch", "aio")


def imported(module: str) -> set[str]:
    """The package modules ``module`` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("vance_filters."))
    return found


def test_filters_imports_neither_batch_nor_aio() -> None:
    assert not imported("filters") & {"batch", "aio"}
    assert "filters" in imported("batch") and "filters" in imported("aio")
    assert "aio" not in imported("batch")


@pytest.mark.parametrize("order", list(itertools.permutations(MODULES)))
def test_each_order_imports_in_a_fresh_interpreter(order: tuple[str, ...]) -> None:
    code = "; ".join(f"import vance_filters.{name}" for name in order)
    code += "; import vance_filters as vf; assert vf.Filter.apply_async and vf.amap and vf.map"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
