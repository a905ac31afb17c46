"""The WSGI application (faults, recording, dispatch) and a threaded keep-alive HTTP server."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from .._features import MAX_UPLOAD_BYTES
from ._endpoints import METHODS, Api, Reply
from ._faults import Fault, FaultPlan
from ._records import RequestRecord
from ._wire import ApiError, WireOptions, check_file_type, error_body, read_input

_log = logging.getLogger("vance_filters.testing")
PREFIX = "/web_api/v1/"
#: Request bodies larger than this are refused (10012) without being parsed.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 1_000_000
#: Unread request bodies up to this size are drained to keep the connection alive.
_MAX_DRAIN = 64 * 1024 * 1024
#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_TIMEOUT = 30.0


def _html(status: int) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return (f"<html><head><title>{status} {phrase}</title></head><body><center><h1>"
            f"{status} {phrase}</h1></center></body></html>").encode()


class RequestLog:
    """The request log: a record is added on arrival and completed once answered."""

    def __init__(self, lock: threading.RLock | threading.Condition) -> None:
        self._lock = lock
        self.records: list[RequestRecord] = []

    def arrive(self, record: RequestRecord) -> tuple[list[RequestRecord], int]:
        with self._lock:
            self.records.append(record)
            return self.records, len(self.records) - 1

    def complete(self, entry: tuple[list[RequestRecord], int], record: RequestRecord) -> None:
        with self._lock:
            records, index = entry
            if records is self.records and index < len(records):
                records[index] = record

    def clear(self) -> None:
        with self._lock:
            self.records = []


class App:
    """The WSGI application of the emulator."""

    def __init__(self, api: Api, faults: FaultPlan, *, error_status: int,
                 log: RequestLog, stopping: threading.Event,
                 wire: WireOptions | None = None) -> None:
        self.api = api
        self.wire = wire if wire is not None else WireOptions()
        self.faults = faults
        self.error_status = error_status
        self.log = log
        self.stopping = stopping

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        arrived = time.monotonic()
        request = Request(environ)
        try:
            return self._handle(request, arrived, environ, start_response)
        finally:
            request.close()  # the multipart upload's spooled temporary file

    def _handle(
        self, request: Request, arrived: float, environ: dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        request.max_content_length = MAX_REQUEST_BYTES
        path = request.path
        endpoint = path[len(PREFIX):].strip("/") if path.startswith(PREFIX) else path.lstrip("/")
        try:
            params, files = read_input(request, drop_get_bodies=self.wire.drop_get_bodies)
            too_large = False
        except RequestEntityTooLarge:
            params, files, too_large = {}, {}, True
        except (ClientDisconnected, OSError):
            # The client went away mid-request (or stop() closed the connection): no one
            # is left to answer, and nothing to report.
            _log.debug("a client left during its request to %s", path)
            environ["vance.drop"] = True
            return []
        logged = {k: v for k, v in params.items() if k != "api_token"}
        logged.update({k: f.filename or "" for k, f in files.items()})

        entry = self.log.arrive(RequestRecord(arrived, request.method, endpoint, logged, None, None))
        fault = self.faults.take(endpoint)
        if fault is not None and fault.delay:
            self.stopping.wait(fault.delay)
        if fault is not None and fault.drop:
            environ["vance.drop"] = True
            return []
        if fault is not None and not fault.answers_normally:
            reply, code = self._fault_reply(fault)
        elif too_large:
            reply, code = self._error(ApiError(10012, "the request body is too large"))
        else:
            reply, code = self._answer(request, endpoint, params, files)
            self._dress(endpoint, reply, code)
        if fault is not None and fault.retry_after is not None:
            reply.headers["Retry-After"] = f"{fault.retry_after:g}"
        self.log.complete(entry, RequestRecord(arrived, request.method, endpoint, logged,
                                               reply.status, code))

        response = Response(reply.body, status=reply.status, content_type=reply.content_type)
        response.headers.update(reply.headers)
        if not reply.content_type:
            del response.headers["Content-Type"]  # a server that labels nothing
        if fault is not None and fault.truncate:
            # Announce every byte, send about half, then close the connection.
            response.set_data(reply.body[: len(reply.body) // 2])
            response.headers["Content-Length"] = str(len(reply.body))
            environ["vance.close"] = True
        return response(environ, start_response)

    def _dress(self, endpoint: str, reply: Reply, code: int | None) -> None:
        """Apply the wire options to a normal answer (not to scripted faults)."""
        if code is not None or reply.status != 200:
            return
        if reply.content_type == "application/json":
            reply.body = self.wire.dress(endpoint, reply.body)
        elif endpoint == "download" and self.wire.download_content_type != "auto":
            reply.content_type = self.wire.download_content_type

    def _error(self, exc: ApiError, status: int | None = None) -> tuple[Reply, int]:
        return Reply(error_body(exc.code, exc.msg), status=status or self.error_status), exc.code

    def _fault_reply(self, fault: Fault) -> tuple[Reply, int | None]:
        if fault.body is not None:
            ctype = fault.content_type or "application/octet-stream"
            return Reply(fault.body, content_type=ctype, status=fault.status or 200), None
        if fault.code is not None:
            exc = ApiError(fault.code)
            msg = fault.msg if fault.msg is not None else exc.msg
            status = fault.status or self.error_status
            return Reply(error_body(fault.code, msg), status=status), fault.code
        assert fault.status is not None
        return Reply(_html(fault.status), content_type="text/html", status=fault.status), None

    def _answer(self, request: Request, endpoint: str, params: dict[str, Any],
                files: dict[str, Any]) -> tuple[Reply, int | None]:
        methods = METHODS.get(endpoint)
        if methods is None:
            return Reply(_html(404), content_type="text/html", status=404), None
        if request.method not in methods:
            reply = Reply(_html(405), content_type="text/html", status=405)
            reply.headers["Allow"] = ", ".join(methods)
            return reply, None
        try:
            if endpoint == "upload" and self.wire.strict_file_type:
                check_file_type(files)
            return self.api.handle(endpoint, params, files, request.remote_addr or ""), None
        except ApiError as exc:
            return self._error(exc)
        except Exception:  # noqa: BLE001 - an emulator bug answers 10010, like the service
            _log.exception("the emulator failed on /%s", endpoint)
            return self._error(ApiError(10010))


class _CountingInput:
    """Wraps the socket's input to know how much of the request body was read."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - werkzeug uses read()
        data = self.raw.readline(size)
        self.count += len(data)
        return data

    def __iter__(self) -> Any:  # pragma: no cover - werkzeug reads with read()
        return iter(self.readline, b"")


class _Handler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive: werkzeug's own handler closes every connection."""

    protocol_version = "HTTP/1.1"
    timeout = KEEPALIVE_TIMEOUT
    # Headers and body go out as two writes: without TCP_NODELAY the body waits
    # for the client's delayed ACK (~40 ms per answer on Linux loopback).
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        chunked = "wsgi.input_terminated" in environ
        counting = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = counting
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # pragma: no cover - the app returns its body

        try:
            body = b"".join(self.server.app(environ, start_response))
        except Exception:  # noqa: BLE001 - never leave the client without an answer
            stopping = getattr(self.server.app, "stopping", None)
            if stopping is not None and stopping.is_set():
                # stop() closed the connection under a request: an orderly end, not a bug.
                _log.debug("a request ended by stop()", exc_info=True)
                self.close_connection = True
                return
            _log.exception("the emulator's application failed")
            started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            body = b"internal error"
            self.close_connection = True
        if environ.get("vance.drop"):
            self._drop()
            return
        self._drain(chunked, counting.count)
        if environ.get("vance.close"):
            self.close_connection = True
        status, headers = started
        code, _, phrase = status.partition(" ")
        try:
            self.send_response(int(code), phrase)
            names = set()
            for key, value in headers:
                names.add(key.lower())
                if key.lower() != "connection":
                    self.send_header(key, value)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _drain(self, chunked: bool, consumed: int) -> None:
        """Read what the application left of the request body, or give up the connection."""
        if chunked:
            stream = self.environ["wsgi.input"].raw
            if not getattr(stream, "_done", False):
                self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return
        left = length - consumed
        if left > _MAX_DRAIN:
            self.close_connection = True
            return
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            self.close_connection = True
        if left > 0:
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without a word."""
        self.close_connection = True
        sock = self.environ["werkzeug.socket"]
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # pragma: no cover - already gone
            pass
        sock.close()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: /point may carry the token in its query string.
        # send_error() may log before the request line was parsed: no path yet.
        path = getattr(self, "path", "") or ""
        _log.debug("emulator: %s %s -> %s", getattr(self, "command", "-"), path.split("?")[0], code)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("emulator: %s", (format % args).split("?")[0])

    def log_error(self, format: str, *args: Any) -> None:
        # werkzeug's own log_error quotes the raw request line, query string included.
        _log.debug("emulator: %s", (format % args).split("?")[0])


class _BindError(Exception):
    """Carries an OSError past werkzeug's bind handler (which would print and sys.exit)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class Server(BaseWSGIServer):
    """A threaded WSGI server that tracks its connections so that stop() leaves nothing behind."""

    multithread = True
    daemon_threads = True

    def __init__(self, host: str, port: int, app: App) -> None:
        try:
            super().__init__(host, port, app, handler=_Handler)
        except _BindError as exc:
            raise exc.error from None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as exc:
            raise _BindError(exc) from None

    def server_activate(self) -> None:
        try:
            super().server_activate()
        except OSError as exc:  # pragma: no cover - listen() after a good bind
            raise _BindError(exc) from None

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address),
            name="vance-emulator-conn", daemon=True,
        )
        with self._conns_lock:
            self._conns[request] = thread
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken connection is not the server's problem
            _log.debug("connection from %s failed", client_address, exc_info=True)
        finally:
            self.shutdown_request(request)
            with self._conns_lock:
                self._conns.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:  # pragma: no cover
        _log.debug("error on a connection from %s", client_address, exc_info=True)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and wait for its thread."""
        with self._conns_lock:
            conns = dict(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in conns.values():
            thread.join(max(0.0, deadline - time.monotonic()))
