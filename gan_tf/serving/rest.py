"""TF Serving's REST API (the subset `gan_tf.serving.client` uses) over `http.server`.

    GET  /v1/models/NAME[/versions/V]            model status
    GET  /v1/models/NAME[/versions/V]/metadata   signature definitions
    POST /v1/models/NAME[/versions/V]:predict    `instances` or `inputs` JSON

Errors are `{"error": "..."}` with a 4xx status for bad requests, as TF Serving answers.

Each connection holds a thread, so slow or idle clients are bounded:
- at most `max_connections` at once; one more is answered 503 and closed;
- a request must arrive whole within `request_timeout` of the connection being ready for it
  (an idle kept-alive connection is closed then; a started one is answered 408), and its
  response must be taken within `request_timeout`; a watchdog thread closes the socket of a
  connection past its deadline, whatever the client trickles in meanwhile;
- `stop(grace)` refuses new connections, closes idle ones and lets requests in flight finish.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format

from gan_tf.serving import json_codec
from gan_tf.serving.errors import InvalidArgument, NotFound, ServingError, TooLarge
from gan_tf.serving.models import ModelManager, parse_version, signature_def_map

log = logging.getLogger(__name__)

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+))?"
    r"(?:/labels/(?P<label>[^/:]+))?"
    r"(?P<action>/metadata|:predict|:classify|:regress)?$"
)


def status_json(manager: ModelManager, name: str, version: int | None) -> dict[str, Any]:
    """The body of `GET /v1/models/NAME[/versions/V]`."""
    return {
        "model_version_status": [
            {
                "version": str(state.version),
                "state": state.state,
                "status": {"error_code": state.error_code, "error_message": state.error_message},
            }
            for state in manager.status(name, version)
        ]
    }


def metadata_json(manager: ModelManager, name: str, version: int | None) -> dict[str, Any]:
    """The body of `GET /v1/models/NAME[/versions/V]/metadata`."""
    servable = manager.get(name, version)
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
        "metadata": {
            "signature_def": json_format.MessageToDict(
                signature_def_map(servable), preserving_proto_field_name=True
            )
        },
    }


def _malformed(method: str, path: str) -> ServingError:
    """TF Serving's answer to a request it has no route for: 400 under /v1/, else 404."""
    message = f"Malformed request: {method} {path}"
    return InvalidArgument(message) if path.lower().startswith("/v1/") else NotFound(message)


def _raw_response(status: HTTPStatus, message: str) -> bytes:
    """A complete `Connection: close` JSON error response, for sockets no handler serves."""
    data = json.dumps({"error": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


class _Disconnected(Exception):
    """The client went away or its connection was closed at its deadline: no reply."""


class Connection:
    """One client connection's deadline, enforced by the server's watchdog thread."""

    def __init__(self, sock: socket.socket, request_timeout: float):
        self.sock = sock
        self.request_timeout = request_timeout
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._reading = False  # the deadline is for the request (else for the response)
        self.started = False  # bytes of the current request have arrived
        self.expired = False

    def await_request(self) -> None:
        """The connection is ready for a request: it must arrive whole within the timeout."""
        with self._lock:
            self._deadline = time.monotonic() + self.request_timeout
            self._reading, self.started = True, False

    def start_request(self) -> bool:
        """The first bytes arrived; False if the deadline passed already."""
        with self._lock:
            self.started = True
            return not self.expired

    def handle(self) -> None:
        """The request is read: no client deadline while the server computes.

        Raises:
          _Disconnected: if the deadline passed before.
        """
        with self._lock:
            if self.expired:
                raise _Disconnected
            self._deadline = None

    def respond(self) -> None:
        """The response is being sent: the client must take it within the timeout.

        Raises:
          _Disconnected: if the deadline passed before.
        """
        with self._lock:
            if self.expired:
                raise _Disconnected
            self._deadline = time.monotonic() + self.request_timeout
            self._reading = False

    def expire_if_due(self, now: float) -> None:
        """Closes the connection if its deadline passed (answering 408 to a started request)."""
        with self._lock:
            if self._deadline is None or now < self._deadline:
                return
            self._deadline = None
            self.expired = True
            timed_out_request = self._reading and self.started
        if timed_out_request:
            message = f"the request did not arrive whole within {self.request_timeout:g} s"
            try:
                self.sock.send(
                    _raw_response(HTTPStatus.REQUEST_TIMEOUT, message), socket.MSG_DONTWAIT
                )
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        """Shuts the socket down, which wakes a handler blocked reading or writing it."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RestHandler(BaseHTTPRequestHandler):
    """Handles the requests of one connection; the server carries the manager and the caps."""

    server: RestServer
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "gan-tf-serve"
    # One buffered write per response with TCP_NODELAY: separate header and body packets
    # meet the client's delayed ACK and cost ~40 ms per request on a kept-alive connection.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.conn = self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.conn)

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection and self._await_request():
            self.handle_one_request()

    def _await_request(self) -> bool:
        """Waits for the first byte of the next request; False when the connection should
        close instead (client gone, deadline passed, or the server stopping while idle)."""
        self.conn.await_request()
        self.connection.setblocking(False)
        try:
            buffered = self.rfile.peek(1)  # a request already read ahead (never blocks)
        finally:
            self.connection.setblocking(True)
        if not buffered:
            poller = select.poll()
            poller.register(self.connection, select.POLLIN)
            poller.register(self.server.wake_fd, select.POLLIN)
            ready = {fd for fd, _ in poller.poll()}
            if self.connection.fileno() not in ready or not self.rfile.peek(1):
                return False
        return self.conn.start_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """Protocol errors (bad request line, headers, method) as TF Serving-style JSON 4xx."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method
            code = HTTPStatus.METHOD_NOT_ALLOWED
            message = f"method {self.command} is not supported; use GET or POST"
        elif code >= 500:  # e.g. 505 for an unsupported HTTP version: the client's fault
            code = HTTPStatus.BAD_REQUEST
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # unparsable request line: answer in HTTP/1.1
            self.request_version = "HTTP/1.1"
        status = HTTPStatus(code)
        self.log_error("code %d, message %s", code, message)
        try:
            self.conn.respond()
            self._send(status, {"error": message or status.phrase})
        except (_Disconnected, OSError):
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        if self.server.stopping.is_set():
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self, method: str) -> None:
        try:
            try:
                status, body = 200, self._dispatch(method)
            except ServingError as e:
                status, body = e.http_status, {"error": e.message}
            except _Disconnected:
                raise
            except Exception as e:  # a bug must not kill the server; report it as a 500
                log.exception("internal error on %s %s", method, self.path)
                status, body = 500, {"error": f"internal error: {type(e).__name__}: {e}"}
            self.conn.respond()
            self._send(status, body)
        except _Disconnected:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ServingError(
                "chunked requests are not supported; send Content-Length", "INVALID_ARGUMENT", 411
            )
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise ServingError(
                "a Content-Length header is required", "INVALID_ARGUMENT", 411
            ) from None
        if length < 0:
            self.close_connection = True
            raise InvalidArgument(f"invalid Content-Length {length}")
        if length > self.server.max_request_bytes:
            self.close_connection = True
            self._discard(length)
            raise TooLarge(
                f"request body of {length} bytes exceeds the limit of "
                f"{self.server.max_request_bytes} bytes"
            )
        body = self.rfile.read(length)
        if len(body) < length:  # the client stopped sending, or its deadline passed
            self.close_connection = True
            if self.conn.expired:
                raise _Disconnected
            raise InvalidArgument(f"the request body ended after {len(body)} of {length} bytes")
        return body

    def _discard(self, length: int, limit: int = 64 << 20) -> None:
        """Reads and drops a refused body (up to `limit`), so the client sees the reply
        rather than a connection reset."""
        left = min(length, limit)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)

    def _dispatch(self, method: str) -> dict[str, Any]:
        # Read any body first, so that a kept-alive connection stays in step after an error.
        body = self._read_body() if method == "POST" or "Content-Length" in self.headers else b""
        self.conn.handle()
        path = self.path.split("?", 1)[0]
        match = _PATH.match(path)
        if match is None:
            raise _malformed(method, path)
        name, action = match["name"], match["action"] or ""
        if match["label"] is not None:
            raise InvalidArgument("version labels are not supported by gan-tf serve; use a version")
        version = None
        if match["version"] is not None:
            version = parse_version(match["version"])
            if version is None:
                raise InvalidArgument(f"Failed to convert version: {match['version']} to numeric.")
        manager = self.server.manager
        if method == "GET" and action == "":
            return status_json(manager, name, version)
        if method == "GET" and action == "/metadata":
            return metadata_json(manager, name, version)
        if method == "POST" and action == ":predict":
            servable = manager.get(name, version)

            def specs_for(signature_name: str):
                return servable.inputs[servable.signature(signature_name)]

            signature, inputs, rows = json_codec.parse_request(body, specs_for, servable.limits)
            outputs = servable.predict(signature, inputs)
            return json_codec.format_response(outputs, rows)
        if action in (":classify", ":regress"):  # as TF Serving answers for predict signatures
            raise InvalidArgument(
                f"{action[1:]} is not supported by gan-tf serve: it serves Predict signatures only"
            )
        raise _malformed(method, path)


class RestServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to `(host, port)` serving one `ModelManager`.

    Args:
      address: `(host, port)`; port 0 picks a free one.
      manager: the models served.
      max_request_bytes: largest request body.
      max_connections: most connections served at once.
      request_timeout: seconds a client has to send a request, and to take its response.
    """

    daemon_threads = True
    request_queue_size = 128
    _WATCH_SECONDS = 0.1

    def __init__(
        self,
        address: tuple[str, int],
        manager: ModelManager,
        max_request_bytes: int,
        max_connections: int,
        request_timeout: float,
    ):
        self.manager = manager
        self.max_request_bytes = max_request_bytes
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.stopping = threading.Event()
        self._closed = threading.Event()
        self._connections: set[Connection] = set()
        self._active = 0  # connections being served (each by one thread)
        self._changed = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        self._serving = False
        super().__init__(address, RestHandler)
        self._watchdog = threading.Thread(target=self._watch, name="rest-watchdog", daemon=True)
        self._watchdog.start()

    @property
    def wake_fd(self) -> int:
        """Readable once the server stops: idle connections wait on it with their socket."""
        return self._wake_r

    def serve(self) -> None:
        """Serves until `stop`; run it in a thread."""
        self._serving = True
        self.serve_forever(poll_interval=0.2)

    def track(self, sock: socket.socket) -> Connection:
        """Puts a connection under the watchdog (until `untrack`)."""
        conn = Connection(sock, self.request_timeout)
        with self._changed:
            self._connections.add(conn)
        return conn

    def untrack(self, conn: Connection) -> None:
        with self._changed:
            self._connections.discard(conn)

    def process_request(self, request, client_address) -> None:
        with self._changed:
            busy = self._active >= self.max_connections
            if not busy and not self.stopping.is_set():
                self._active += 1
                admitted = True
            else:
                admitted = False
        if not admitted:
            self._refuse(request, busy)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start
            self._thread_done()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._thread_done()

    def _thread_done(self) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def _refuse(self, sock: socket.socket, busy: bool) -> None:
        """Answers 503 on a connection no thread will serve, then closes it gently."""
        message = (
            f"the server is at its limit of {self.max_connections} connections; retry later"
            if busy
            else "the server is shutting down"
        )
        try:
            sock.settimeout(0.05)
            sock.sendall(_raw_response(HTTPStatus.SERVICE_UNAVAILABLE, message))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(1 << 16):  # drain what the client sent, so close sends no reset
                pass
        except OSError:
            pass
        sock.close()

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # the client went away mid-exchange
            log.debug("connection from %s failed", client_address, exc_info=True)
        else:
            log.exception("internal error on the connection from %s", client_address)

    def _watch(self) -> None:
        while not self._closed.wait(self._WATCH_SECONDS):
            now = time.monotonic()
            with self._changed:
                connections = list(self._connections)
            for conn in connections:
                conn.expire_if_due(now)

    def stop(self, grace: float) -> None:
        """Stops accepting, closes idle connections, lets requests in flight finish (up to
        `grace` seconds), then closes what is left."""
        self.stopping.set()
        if self._serving:
            self.shutdown()
        self.server_close()
        os.write(self._wake_w, b"x")
        with self._changed:
            if not self._changed.wait_for(lambda: self._active == 0, timeout=grace):
                for conn in self._connections:
                    conn.close()
                self._changed.wait_for(lambda: self._active == 0, timeout=2.0)
        self._closed.set()
        self._watchdog.join(timeout=1.0)
        os.close(self._wake_r)
        os.close(self._wake_w)
