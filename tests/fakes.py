"""A tiny real HTTP server for tests: stdlib ThreadingHTTPServer on a free loopback port.

    def handler(method, path, body, count):
        return 200, {}, {"generated_text": "hi"}

    with FakeServer(handler) as server:
        ... server.url ... server.requests ...

`body` is the parsed JSON request body, else its text, else None. `count` is the 1-based number of
requests this server has received, this one included. A handler returns (status, headers, body) where
body is bytes, str, or anything JSON-serialisable (sent as application/json), or returns `DROP` to
close the connection without answering. A handler that raises answers 500 with the traceback.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DROP = object()  # handler result: close the socket without a response (a connection error)

Response = tuple[int, dict[str, str], Any]
Handler = Callable[[str, str, Any, int], "Response | object"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any
    headers: dict[str, str]  # lower-cased names


def _encode(body: Any, headers: dict[str, str]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body.encode("utf-8")
    if body is None:
        return b""
    headers.setdefault("Content-Type", "application/json")
    return json.dumps(body).encode("utf-8")


class FakeServer:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()  # open keep-alive sockets, closed by stop() as a dying server would

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def start(self) -> FakeServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real model servers
            # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for the client's
            # delayed ACK of the headers (~40 ms a request). Real model servers set TCP_NODELAY too.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                super().finish()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                text = raw.decode("utf-8", errors="replace")
                try:
                    body: Any = json.loads(text) if text else None
                except ValueError:
                    body = text
                record = RecordedRequest(self.command, self.path, body, {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(record)
                    count = len(server.requests)
                try:
                    result = server.handler(self.command, self.path, body, count)
                except Exception:
                    result = (500, {}, traceback.format_exc())
                if result is DROP:
                    self.close_connection = True
                    return
                status, headers, payload = result  # type: ignore[misc]
                headers = dict(headers)
                data = _encode(payload, headers)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        class _Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops bursts of connections for a second

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up mid-body (an aborted download, a cancelled request) is what many
                # tests do on purpose. The default prints a traceback from a handler thread that can outlive
                # its test, into whichever test's captured stderr is current then.
                if isinstance(sys.exc_info()[1], ConnectionError):
                    return
                super().handle_error(request, client_address)

        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice, from any thread."""
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:  # a stopped server answers nothing more, kept-alive or not
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def tgi_handler(generate: Callable[[Any, int], Any], *, model: str = "org/m", sha: str | None = "r1",
                max_concurrent: int | None = 128, health: Callable[[], Any] | None = None) -> Handler:
    """A TGI-shaped handler: discovery routes answered, `POST /generate` by `generate(body, count)`.

    `max_concurrent=None`: /info reports no slot limit (as a vLLM-like server would not)."""

    def handler(method: str, path: str, body: Any, count: int) -> Any:
        if path == "/health":
            return health() if health is not None else (200, {}, b"")
        if path == "/info":
            info = {"model_id": model, "model_sha": sha, "max_input_tokens": 4000, "max_total_tokens": 4096,
                    "router": "text-generation-router"}
            if max_concurrent is not None:
                info["max_concurrent_requests"] = max_concurrent
            return 200, {}, info
        if path == "/v1/models":
            return 200, {}, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": model}]}
        if path == "/generate" and method == "POST":
            return generate(body, count)
        return 404, {}, {"error": "no route"}

    return handler


def generated(text: str) -> Response:
    return 200, {}, {"generated_text": text, "details": {"finish_reason": "length", "generated_tokens": 1}}


def copy_suite(dest: Path) -> None:
    """This repository's benchmark suite and its configuration (task modules, pytest.ini, thresholds) in `dest`,
    for end-to-end runs in a scratch folder."""
    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "tests_clinical", dest / "tests_clinical")
    shutil.copy(repo / "pytest.ini", dest / "pytest.ini")
    shutil.copy(repo / "thresholds.toml", dest / "thresholds.toml")
