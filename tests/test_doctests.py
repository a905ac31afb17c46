"""The Examples sections of the public docstrings run (against the emulator where they need a server)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import vance_filters

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(vance_filters.__path__, prefix="vance_filters.")
    if info.name != "vance_filters.__main__"
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    if name == "vance_filters.dask":
        pytest.importorskip("dask", reason="the dask extra is not installed")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
