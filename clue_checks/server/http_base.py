"""The HTTP plumbing of the baseline server: a threaded loopback server that can drop its idle
connections, and the request handler's responses (JSON, plain-text errors, server-sent events).

Stdlib only (``http.server``). The routes are in :mod:`clue_checks.server.tgi_routes`,
:mod:`clue_checks.server.openai_routes` and :mod:`clue_checks.server.handler`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from clue_checks.server.tgi_requests import Generation, RequestError


class BaselineHTTPServer(ThreadingHTTPServer):
    """One thread per connection; ``app`` is the ``BaselineServer`` its handlers answer for."""

    daemon_threads = True
    request_queue_size = 128  # bursts of parallel clients must not be refused at accept()

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request (Ctrl-C on a run, a cancelled request) is not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class HandlerBase(BaseHTTPRequestHandler):
    """What every route answers with; ``app`` is the server's ``BaselineServer``."""

    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    # Headers and body leave in two writes: with Nagle's algorithm on, the body would wait for the client's
    # (delayed, up to 40 ms) ACK of the headers. Model servers set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server: BaselineHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # silent: the plugin's output must not be interleaved with access logs

    @property
    def app(self) -> Any:  # a baseline.BaselineServer (not imported: it imports this module)
        return self.server.app

    # ------------------------------------------------------------ responses

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _error(self, err: RequestError) -> None:
        if err.error_type is None:
            self._send(err.status, err.message.encode(), "text/plain; charset=utf-8")
        else:
            self._json(err.status, {"error": err.message, "error_type": err.error_type})

    _sse_started = False

    def _sse(self, events: Iterator[str]) -> None:
        """Server-sent events; the connection closes at the end (no chunked encoding needed)."""
        self._sse_started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            self.wfile.write(f"data: {event}\n\n".encode())
            self.wfile.flush()

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _headers(self, gen: Generation) -> dict[str, str]:
        return {"x-compute-type": "cpu+baseline", "x-generated-tokens": str(len(gen.token_ids))}
