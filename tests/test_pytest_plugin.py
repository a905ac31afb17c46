"""The pytest plugin as a user's test suite sees it: fixtures, routing, the network guard."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import os
import socket

import numpy as np
import pytest
import requests

import vance_filters as vf
from vance_filters import _defaults
from vance_filters.testing import sample_image

ORIGINAL_CONNECT = socket.socket.connect


def test_the_default_client_is_routed_to_the_emulator(vance_default_client, vance_emulator):
    image = sample_image("photo", size=(32, 24))
    big = vf.enlarge(image, scale=2)                       # no client=
    assert big.size == (64, 48)
    assert vance_emulator.credits_used == 1 and vance_emulator.request_count("upload") == 1
    assert vf.default_client() is vance_default_client
    assert os.environ["VANCE_API_BASE"] == vance_emulator.url
    assert os.environ["VANCE_API_TOKEN"] == vance_emulator.api_token
    with vf.Client() as from_env:                          # built from the environment
        assert from_env.credits().used == 1.0


def test_the_real_service_cannot_be_reached(vance_default_client):
    with pytest.raises(requests.ConnectionError, match="vance_default_client"):
        requests.get("http://203.0.113.7/web_api/v1/point", timeout=5)
    client = vf.Client("a-real-token", "https://203.0.113.7/web_api/v1", max_retries=0)
    with client, pytest.raises(vf.VanceError):
        client.credits()
    with socket.create_connection(("127.0.0.1", vance_default_client_port(vance_default_client))):
        pass                                               # loopback stays reachable


def vance_default_client_port(client):
    from urllib.parse import urlsplit
    return urlsplit(os.environ["VANCE_API_BASE"]).port


def test_everything_is_restored_afterwards():
    assert "VANCE_API_BASE" not in os.environ and "VANCE_API_TOKEN" not in os.environ
    assert socket.socket.connect is ORIGINAL_CONNECT
    assert _defaults._client is None  # what it was before the routed tests


def test_a_default_client_set_before_is_given_back(request):
    sentinel = vf.Client("t", "http://127.0.0.1:9/web_api/v1")
    vf.set_default_client(sentinel)
    inner = request.getfixturevalue("vance_default_client")
    assert vf.default_client() is inner and inner is not sentinel


def test_then_it_is_back():
    assert vf.default_client().base_url == "http://127.0.0.1:9/web_api/v1"
    vf.set_default_client(None)


def test_the_plain_emulator_fixture(vance_emulator):
    r = requests.get(vance_emulator.url + "/point", params={"api_token": vance_emulator.api_token})
    assert r.json()["data"]["max_num"] == "500.000"
'''


def test_the_plugin_fixtures_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    for name in ("VANCE_API_TOKEN", "VANCE_API_BASE"):
        pytester._monkeypatch.delenv(name, raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6)


def test_the_emulator_modules_do_not_import_the_client() -> None:
    """The emulator is a server: only the fixture imports the client, inside its body."""
    import ast
    from pathlib import Path

    from vance_filters import testing

    forbidden = {"client", "jobs", "filters", "functions", "_defaults", "batch", "aio", "cli"}
    for path in Path(testing.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks import nothing
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                names = {node.module or ""} | {a.name for a in node.names if not node.module}
                assert not names & forbidden, f"{path.name} imports {names & forbidden} at import time"
