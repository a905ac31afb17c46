"""The server: keep-alive, concurrency, clean stops, lifecycle, secrecy of the token."""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import logging
import os
import socket
import threading
import time

import pytest
import requests

from vance_filters.testing import Emulator, sample_image

ENLARGE = {"name": "enlarge3", "config": {"module": "enlarge3", "module_params": {"scale": 2}}}


def ours() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vance-emulator")]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def connect(emu: Emulator) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)


def test_keep_alive_serves_many_requests_on_one_connection(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    conn = connect(emu)
    body = json.dumps({"api_token": emu.api_token})
    sockets = set()
    for _ in range(5):
        conn.request("GET", "/web_api/v1/point", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["code"] == 200
        assert resp.getheader("Connection") is None and not resp.will_close
        sockets.add(id(conn.sock))
    assert len(sockets) == 1
    # an unread request body is drained, the connection stays usable
    conn.request("GET", "/web_api/v1/nope", body=b"x" * 100_000)
    assert conn.getresponse().read() and conn.sock is not None
    conn.request("GET", f"/web_api/v1/point?api_token={emu.api_token}")
    assert conn.getresponse().status == 200
    conn.close()


def test_connection_close_and_http_1_0_are_honoured(vance_emulator: Emulator) -> None:
    conn = connect(vance_emulator)
    conn.request("GET", "/web_api/v1/point", headers={"Connection": "close"})
    resp = conn.getresponse()
    assert resp.getheader("Connection") == "close" and resp.will_close
    resp.read()
    conn.close()
    with socket.create_connection(("127.0.0.1", vance_emulator.port), timeout=5) as s:
        s.sendall(b"GET /web_api/v1/point HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b'"code": 30001' in data


def test_chunked_and_expect_100_continue_request_bodies(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    conn = connect(emu)
    payload = f"api_token={emu.api_token}&limit=4".encode()
    conn.request("POST", "/web_api/v1/points/record", body=iter([payload[:10], payload[10:]]),
                 headers={"Content-Type": "application/x-www-form-urlencoded"}, encode_chunked=True)
    resp = conn.getresponse()
    assert json.loads(resp.read())["data"]["per_page"] == 4
    conn.request("POST", "/web_api/v1/points/record", body=payload,
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Expect": "100-continue"})
    resp = conn.getresponse()
    assert json.loads(resp.read())["data"]["per_page"] == 4
    conn.close()


def test_32_parallel_clients_with_keep_alive(vance_emulator: Emulator) -> None:
    emu = vance_emulator
    emu.configure(workers=8)
    buf = io.BytesIO()
    sample_image(size=(24, 16)).save(buf, "PNG")
    data = buf.getvalue()

    def client(i: int) -> tuple[str, int]:
        with requests.Session() as s:
            uid = s.post(emu.url + "/upload", files={"file": (f"{i}.png", data)},
                         data={"api_token": emu.api_token}, timeout=20).json()["data"]["uid"]
            tid = s.post(emu.url + "/transform", timeout=20, data={
                "api_token": emu.api_token, "uid": uid, "jconfig": json.dumps(ENLARGE)}).json()["data"]["trans_id"]
            while s.get(emu.url + "/progress", params={"api_token": emu.api_token, "trans_id": tid},
                        timeout=20).json()["data"]["status"] != "finish":
                time.sleep(0.01)
            r = s.get(emu.url + "/download", params={"api_token": emu.api_token, "trans_id": tid}, timeout=20)
            assert s.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=20).status_code == 200
            return tid, len(r.content)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(client, range(32)))
    assert len({tid for tid, _ in results}) == 32 and all(size > 0 for _, size in results)
    assert len(emu.charges) == 32 and emu.balance == 500 - 32
    assert emu.request_count("upload") == 32 and emu.request_count("download") == 32
    assert all(r.status == 200 for r in emu.requests)


@pytest.mark.timeout(20)
def test_stop_leaves_no_threads_or_sockets() -> None:
    before_threads, before_fds = sorted(ours()), open_fds()
    emu = Emulator(job_duration=5, transform_wait=10)
    with emu:
        url, token = emu.url, emu.api_token
        idle = connect(emu)  # an idle keep-alive connection
        idle.request("GET", f"/web_api/v1/point?api_token={token}")
        idle.getresponse().read()
        buf = io.BytesIO()
        sample_image(size=(8, 8)).save(buf, "PNG")
        uid = requests.post(url + "/upload", files={"file": ("a.png", buf.getvalue())},
                            data={"api_token": token}, timeout=5).json()["data"]["uid"]
        outcome: list[object] = []

        def blocked_transform() -> None:  # blocks on a 5 s job when the emulator stops
            try:
                outcome.append(requests.post(url + "/transform", timeout=10, data={
                    "api_token": token, "uid": uid, "jconfig": json.dumps(ENLARGE)}).json())
            except requests.RequestException as exc:
                outcome.append(exc)

        waiter = threading.Thread(target=blocked_transform)
        waiter.start()
        emu.fail("point", delay=30)

        def sleeping_request() -> None:  # the stop cuts the 30 s delay short
            try:
                requests.get(url + "/point", timeout=10)
            except requests.RequestException:
                pass

        sleeper = threading.Thread(target=sleeping_request)
        sleeper.start()
        time.sleep(0.3)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 3
    waiter.join(5)
    sleeper.join(5)
    assert not sleeper.is_alive()
    idle.close()
    assert outcome and not waiter.is_alive()
    assert sorted(ours()) == before_threads
    assert open_fds() <= before_fds
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/point", timeout=2)
    emu.stop()  # idempotent


def test_lifecycle_errors() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError, match="not started"):
        emu.url  # noqa: B018
    assert "not running" in repr(emu)
    emu.start()
    with pytest.raises(RuntimeError, match="already started"):
        emu.start()
    emu.stop()
    with pytest.raises(RuntimeError):
        emu.start()
    never = Emulator()
    never.stop()
    with pytest.raises(RuntimeError):
        never.start()


def test_a_busy_port_is_an_os_error(vance_emulator_session: Emulator) -> None:
    with pytest.raises(OSError):
        Emulator(port=vance_emulator_session.port).start()


@pytest.mark.timeout(10)
def test_serve_forever_blocks_until_stopped() -> None:
    emu = Emulator()
    thread = threading.Thread(target=emu.serve_forever)
    thread.start()
    deadline = time.monotonic() + 5
    while emu._server is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=5).status_code == 200
    emu.stop()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.timeout(10)
def test_serve_forever_stops_on_ctrl_c() -> None:
    import signal

    assert threading.current_thread() is threading.main_thread()
    before = sorted(ours())
    emu = Emulator()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    emu.serve_forever()  # returns on KeyboardInterrupt
    timer.join()
    assert 0.25 < time.monotonic() - t0 < 3
    assert emu._stopped
    assert sorted(ours()) == before


def test_repr_and_logs_never_show_the_token(vance_emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    emu = vance_emulator
    caplog.set_level(logging.DEBUG, logger="vance_filters.testing")
    text = repr(emu) + str(emu)
    assert emu.api_token not in text and "api_token='***'" in text and emu.url in text
    requests.get(emu.url + "/point", params={"api_token": emu.api_token}, timeout=5)
    requests.get(emu.url + "/point", params={"api_token": "wrong" + emu.api_token}, timeout=5)
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as s:  # a malformed request line
        s.sendall(f"GARBAGE /?api_token={emu.api_token}\r\n\r\n".encode())
        s.recv(1000)
    # urllib3 DEBUG lines show this test's own raw query-string requests: not the emulator's.
    messages = [r.getMessage() for r in caplog.records if not r.name.startswith("urllib3")]
    assert any("GET /web_api/v1/point -> 200" in m for m in messages)
    assert not any(emu.api_token in m for m in messages)
    assert all(emu.api_token not in str(r.params) for r in emu.requests)


def test_application_bugs_answer_10010(vance_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from vance_filters.testing import _endpoints

    def boom(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(_endpoints.Api, "_point", boom)
    r = requests.get(vance_emulator.url + "/point", params={"api_token": vance_emulator.api_token}, timeout=5)
    assert r.json()["code"] == 10010
