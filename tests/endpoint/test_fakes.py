"""The test server itself: a client hanging up mid-body must not print into a later test's captured stderr."""

from __future__ import annotations

import socket
import struct
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.fakes import FakeServer


def _handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def test_a_client_hanging_up_mid_body_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    body = b"x" * (16 << 20)  # far more than the socket buffers hold, so the server is still writing
    with FakeServer(lambda method, path, payload, count: (200, {}, body)) as server:
        address = urlsplit(server.url)
        with socket.create_connection((address.hostname, address.port)) as client:
            client.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(64).startswith(b"HTTP/1.1 200")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # hang up with RST
        deadline = time.monotonic() + 10
        while _handler_threads() and time.monotonic() < deadline:  # the handler sees the reset, then ends
            time.sleep(0.01)
    assert not _handler_threads()
    assert capsys.readouterr().err == ""
