"""A cached result is served only to the service and account that paid for it (issue 13, point 1)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from vance_filters import cli, errors
from vance_filters._cache import cache_key, default_cache_dir
from vance_filters._cache_scope import (
    account_fingerprint,
    cache_folder,
    cache_scope,
    is_local_service,
    scoped_key,
    service_id,
)
from vance_filters.client import Client
from vance_filters.testing import Emulator

pytestmark = pytest.mark.timeout(90)

ENLARGE = {
    "name": "enlarge3",
    "config": {"module": "enlarge3", "module_params": {"model_name": "EnlargeStandard_2x_Stable", "scale": 2}},
}


def image_bytes(color: tuple[int, int, int] = (90, 80, 70)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, "PNG")
    return buf.getvalue()


def make_client(url: str, token: str | None, **kwargs: object) -> Client:
    return Client(token, url, timeout=5, max_retries=1, backoff_base=0.01, poll_interval=0.1,
                  max_wait=10, **kwargs)  # type: ignore[arg-type]


def disk_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------- the scope itself


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://API-Service.VanceAI.com/web_api/v1/", "https://api-service.vanceai.com/web_api/v1"),
        ("https://api-service.vanceai.com:443/web_api/v1", "https://api-service.vanceai.com/web_api/v1"),
        ("HTTP://127.0.0.1:8000/web_api/v1//", "http://127.0.0.1:8000/web_api/v1"),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_one_service_however_its_url_is_written(a: str, b: str) -> None:
    assert service_id(a) == service_id(b)


@pytest.mark.parametrize(
    "other",
    [
        "http://api-service.vanceai.com/web_api/v1",  # scheme
        "https://api-service.vanceai.com:8443/web_api/v1",  # port
        "https://api-service.vanceai.com/web_api/v2",  # path
        "https://api-service.vanceai.com/WEB_API/v1",  # paths are case-sensitive
        "https://other.vanceai.com/web_api/v1",  # host
    ],
)
def test_different_services_differ(other: str) -> None:
    assert service_id(other) != service_id("https://api-service.vanceai.com/web_api/v1")


def test_the_fingerprint_names_an_account_without_its_token() -> None:
    token = "9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f60"
    fingerprint = account_fingerprint(token)
    assert fingerprint == account_fingerprint(f" {token}\n") != account_fingerprint(token[:-1] + "1")
    assert token not in fingerprint and token[:8] not in fingerprint
    assert account_fingerprint(None) == account_fingerprint("") != fingerprint
    # the scope the layers see is one more hash away: neither token nor fingerprint in the key
    key = scoped_key(cache_scope("https://x.example/v1", token), cache_key(b"img", ENLARGE))
    assert len(key) == 64 and fingerprint not in key


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/web_api/v1", True),
        ("http://127.5.6.7/web_api/v1", True),
        ("http://localhost:8000/web_api/v1", True),
        ("http://LOCALHOST:8000/web_api/v1", True),
        ("http://emu.localhost/web_api/v1", True),
        ("http://[::1]:8000/web_api/v1", True),
        ("https://api-service.vanceai.com/web_api/v1", False),
        ("http://10.0.0.5:8000/web_api/v1", False),
    ],
)
def test_services_on_this_machine_stay_out_of_the_platform_folder(url: str, local: bool) -> None:
    assert is_local_service(url) is local
    assert cache_folder(True, url) == (None if local else default_cache_dir())
    assert cache_folder("/somewhere", url) == Path("/somewhere")  # asked for: honoured
    assert cache_folder(None, url) is None and cache_folder(False, url) is None


def test_a_real_service_uses_the_platform_folder_when_asked() -> None:
    with Client("t" * 32, "https://api-service.vanceai.com/web_api/v1", cache_dir=True) as client:
        assert client.cache.disk.directory == default_cache_dir()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- over HTTP


def test_the_emulator_never_lands_in_the_platform_folder(emu: Emulator, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with make_client(emu.url, emu.api_token, cache_dir=True) as client:
        assert client.cache.disk is None  # type: ignore[union-attr]
        client.run_job(image_bytes(), ENLARGE)
        count = emu.request_count()
        assert client.run_job(image_bytes(), ENLARGE).cached  # still free within the client
        assert emu.request_count() == count
    assert disk_files(tmp_path) == []


def test_another_service_is_charged_not_served(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu.url, emu.api_token, cache_dir=tmp_path) as client:
        paid = client.run_job(image_bytes(), ENLARGE)
    with Emulator() as real, make_client(real.url, real.api_token, cache_dir=tmp_path) as client:
        result = client.run_job(image_bytes(), ENLARGE)
        assert not result.cached and result.trans_id in real.jobs
        assert [r.endpoint for r in real.requests].count("upload") == 1
        assert real.request_count("download") == 1 and len(real.charges) == 1
        assert result.data != b"" and paid.data != b""
    assert len(emu.charges) == 1
    assert len([p for p in disk_files(tmp_path) if p.suffix == ".bin"]) == 2


def test_another_token_on_the_same_service_is_not_served(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu.url, emu.api_token, cache_dir=tmp_path) as client:
        client.run_job(image_bytes(), ENLARGE)
    before = emu.request_count("upload")
    # a wrong token is no longer hidden behind a cached result: the service says so
    with make_client(emu.url, "0" * 32, cache_dir=tmp_path) as client, \
            pytest.raises(errors.AuthenticationError):
        client.run_job(image_bytes(), ENLARGE)
    assert emu.request_count("upload") == before + 1
    assert len(emu.charges) == 1


def test_another_account_at_the_same_address_pays_for_its_own(tmp_path: Path) -> None:
    with Emulator(api_token="a" * 32) as first:
        url = first.url
        with make_client(url, "a" * 32, cache_dir=tmp_path) as client:
            client.run_job(image_bytes(), ENLARGE)
        port = int(url.split(":")[2].split("/")[0])
    with Emulator(port=port, api_token="b" * 32) as second:
        assert second.url == url
        with make_client(url, "b" * 32, cache_dir=tmp_path) as client:
            assert not client.run_job(image_bytes(), ENLARGE).cached
        assert len(second.charges) == 1
        with make_client(url, "b" * 32, cache_dir=tmp_path) as client:
            assert client.run_job(image_bytes(), ENLARGE).cached  # and then it is free
        assert len(second.charges) == 1


def test_the_token_is_read_when_needed(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    with make_client(emu.url, None) as client:
        monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)  # set after the client was built
        assert not client.run_job(image_bytes(), ENLARGE).cached
        assert client.run_job(image_bytes(), ENLARGE).cached
        monkeypatch.setenv("VANCE_API_TOKEN", "0" * 32)  # another account now
        with pytest.raises(errors.AuthenticationError):
            client.run_job(image_bytes(), ENLARGE)
        monkeypatch.delenv("VANCE_API_TOKEN")  # no account: nothing to serve either
        with pytest.raises(errors.AuthenticationError, match="VANCE_API_TOKEN"):
            client.run_job(image_bytes(), ENLARGE)
    assert len(emu.charges) == 1


def test_the_url_spelling_does_not_matter(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu.url, emu.api_token, cache_dir=tmp_path) as client:
        client.run_job(image_bytes(), ENLARGE)
    count = emu.request_count()
    spelt = emu.url.replace("http://", "HTTP://") + "//"  # same scheme, host, port and path
    with make_client(spelt, emu.api_token, cache_dir=tmp_path) as client:
        assert client.run_job(image_bytes(), ENLARGE).cached
    assert emu.request_count() == count


def test_neither_token_nor_fingerprint_is_written(emu: Emulator, tmp_path: Path) -> None:
    with make_client(emu.url, emu.api_token, cache_dir=tmp_path) as client:
        client.run_job(image_bytes(), ENLARGE)
    fingerprint = account_fingerprint(emu.api_token)
    (entry,) = disk_files(tmp_path)
    for secret in (emu.api_token, fingerprint):
        assert secret not in str(entry) and secret.encode() not in entry.read_bytes()


_SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    from PIL import Image
    from vance_filters.client import Client
    buf = io.BytesIO(); Image.new("RGB", (8, 6), (90, 80, 70)).save(buf, "PNG")
    with Client(base_url=sys.argv[1], cache_dir=sys.argv[2], max_retries=1) as client:
        result = client.run_job(buf.getvalue(), json.loads(sys.argv[3]))
    print(json.dumps({"cached": result.cached, "size": len(result.data)}))
    """
)


def _in_a_process(url: str, token: str, folder: Path) -> dict[str, object]:
    env = {**os.environ, "VANCE_API_TOKEN": token}
    run = subprocess.run([sys.executable, "-c", _SCRIPT, url, str(folder), json.dumps(ENLARGE)],
                         capture_output=True, text=True, timeout=60, env=env, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_repeat_in_another_process_is_free_for_the_same_account_only(emu: Emulator, tmp_path: Path) -> None:
    first = _in_a_process(emu.url, emu.api_token, tmp_path)
    count = emu.request_count()
    second = _in_a_process(emu.url, emu.api_token, tmp_path)
    assert (first["cached"], second["cached"]) == (False, True) and first["size"] == second["size"]
    assert emu.request_count() == count and len(emu.charges) == 1  # zero requests the second time
    with Emulator() as other:
        third = _in_a_process(other.url, other.api_token, tmp_path)
        assert third["cached"] is False and len(other.charges) == 1


# --------------------------------------------------------------------------- the command line


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), (200, 120, 40)).save(path)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *argv: object) -> int:
    code = cli.main([os.fspath(a) if isinstance(a, Path) else str(a) for a in argv])
    capsys.readouterr()
    return code


def test_cli_emulator_then_real_service_serves_nothing_from_the_cache(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(platform))
    photo = _png(tmp_path / "in" / "photo.png")
    out = tmp_path / "out"
    # 1. --emulator, and an emulator named by VANCE_API_BASE: the platform folder stays empty
    assert _cli(capsys, "--emulator", "enlarge", photo, "-o", out, "--scale", "2") == 0
    monkeypatch.setenv("VANCE_API_BASE", emu.url)
    monkeypatch.setenv("VANCE_API_TOKEN", emu.api_token)
    assert _cli(capsys, "enlarge", photo, "-o", out, "--scale", "2", "--overwrite") == 0
    assert len(emu.charges) == 1
    assert disk_files(platform) == []
    # ...even with a folder asked for by name, the emulator's results serve no other service
    shared = tmp_path / "shared-cache"
    assert _cli(capsys, "--cache-dir", shared, "enlarge", photo, "-o", out, "--scale", "2", "--overwrite") == 0
    assert len(emu.charges) == 2 and len(disk_files(shared)) == 1
    # 2. later, the "real" service (another address, another token) gets the job and is charged
    with Emulator() as real:
        monkeypatch.setenv("VANCE_API_BASE", real.url)
        monkeypatch.setenv("VANCE_API_TOKEN", real.api_token)
        assert _cli(capsys, "--cache-dir", shared, "enlarge", photo, "-o", out, "--scale", "2", "--overwrite") == 0
        assert [real.request_count(e) for e in ("upload", "transform", "download")] == [1, 1, 1]
        assert len(real.charges) == 1
        # 3. a repeat on the same service and account stays free
        count = real.request_count()
        assert _cli(capsys, "--cache-dir", shared, "enlarge", photo, "-o", out, "--scale", "2", "--overwrite") == 0
        assert real.request_count() == count and len(real.charges) == 1
    assert len(disk_files(shared)) == 2
    assert (out / "photo.png").exists()
