"""HTTP/1.1 on asyncio streams and h11, behind httpx2's transport seam: the lighter request path.

httpx2's own transport (httpcore2 on anyio) spends most of the client's CPU per request on its
bookkeeping: which async library runs it, the pool's scan of its connections, anyio's stream
wrappers (bench/bench_transports.py measures it). This transport keeps httpx2's client on top
(Request and Response, headers, content decoding, timeouts, redirects off, its exception classes,
so the client's classification of failures is unchanged) and replaces only the connection layer:

- one stack of idle keep-alive connections per origin, taken and returned in O(1); no connection
  limit (the in-flight limit lives above the transport);
- the request goes out as h11 frames it, the same bytes httpcore2 writes (it uses h11 too);
- every failure is raised as the httpx2 exception httpcore2 raises for it, its cause chained
  (a refused connection, a TLS error), so messages name the true cause;
- proxies from the environment are never used; TLS trusts what httpx2's default context trusts
  (SSL_CERT_FILE / SSL_CERT_DIR apply).

`send()` is the transport without httpx2's objects (method, target, headers, body, timeouts in;
status, headers, reason, body out): the client's POSTs take it (`direct`), and so does the benchmark.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import h11
import httpx2

from clue_checks.endpoint.pools import KEEPALIVE, KEEPALIVE_EXPIRY

Origin = tuple[str, str, int]  # scheme, host, port
Headers = Sequence[tuple[bytes, bytes]]
READ_SIZE = 65536
DEFAULT_PORTS = {"http": 80, "https": 443}
# Linux delays the ACK of what arrives (up to 40 ms), hoping to send it with our next write. A server that
# writes an answer's headers and body apart, without TCP_NODELAY (Python's http.server, say), holds the body
# until that ACK: 40 ms a request with one in flight. Quick ACKs are asked for once each request is out (the
# kernel leaves quick-ACK mode again by itself, so it is asked for every time). Elsewhere: no such option.
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)

if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10: asyncio.timeout is new in 3.11; there the read timeout bounds the
    # whole answer, not each read (no deadline to re-arm)
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _deadline(seconds: float | None):  # type: ignore[no-redef]
        task = asyncio.current_task()
        handle = None if seconds is None else asyncio.get_running_loop().call_later(seconds, task.cancel)
        try:
            yield
        except asyncio.CancelledError:
            if handle is not None and handle.when() <= asyncio.get_running_loop().time():
                raise TimeoutError from None
            raise
        finally:
            if handle is not None:
                handle.cancel()


class _Connection:
    """One socket and its h11 state; `idle_since` is when it was last handed back."""

    __slots__ = ("reader", "writer", "state", "idle_since", "sock")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.state = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.sock = writer.get_extra_info("socket")

    def ack_promptly(self) -> None:
        """Acknowledge the answer's first segments at once (see `_QUICKACK`)."""
        if _QUICKACK is not None and self.sock is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:  # a socket closing under us: the read that follows says so
                pass

    def reusable(self, now: float) -> bool:
        """Still open, nothing unasked-for waiting on it, and not idle past the keep-alive expiry."""
        return (now - self.idle_since < KEEPALIVE_EXPIRY and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class H11Transport(httpx2.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections per origin, no connection limit; plain HTTP unless `tls`."""

    def __init__(self, *, tls: bool = True) -> None:
        # As ShardedTransport: loading the CA bundle costs tens of ms, so a client of a plain-HTTP server
        # skips it and holds a context that trusts nothing (no TLS connection through it could succeed).
        self.ssl_context = httpx2.create_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._open: set[_Connection] = set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme, 80))
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        status, headers, reason, content = await self.send(origin, request.method, url.raw_path,
                                                           request.headers.raw, body,
                                                           request.extensions.get("timeout", {}))
        return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(content),
                               extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def send(self, origin: Origin, method: str | bytes, target: bytes, headers: Headers, body: bytes,
                   timeouts: dict[str, float | None]) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
        """One exchange on a kept-alive connection to `origin` (or a new one); the whole answer read."""
        conn = self._checkout(origin) or await self._connect(origin, timeouts.get("connect"))
        try:
            answer = await _exchange(conn, method, target, headers, body, timeouts)
        except BaseException:  # failed or cancelled half-way: the connection's state is unknown
            self._discard(conn)
            raise
        self._checkin(origin, conn)
        return answer

    async def aclose(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        self._idle_count = 0

    # -- the pool --------------------------------------------------------------------------------

    def _checkout(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the likeliest to be alive
            self._idle_count -= 1
            if conn.reusable(now):
                return conn
            self._discard(conn)
        return None

    def _checkin(self, origin: Origin, conn: _Connection) -> None:
        state = conn.state
        if state.our_state is h11.DONE and state.their_state is h11.DONE and self._idle_count < KEEPALIVE:
            state.start_next_cycle()
            conn.idle_since = time.monotonic()
            self._idle.setdefault(origin, deque()).append(conn)
            self._idle_count += 1
        else:  # the server said Connection: close, or the pool is full
            self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    async def _connect(self, origin: Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        context = self.ssl_context if scheme == "https" else None
        try:
            async with _deadline(timeout):
                reader, writer = await _open(host, port, context)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"no connection to {host}:{port} within {timeout:g} s") from exc
        except OSError as exc:  # refused, unresolvable, unreachable; ssl.SSLError is one too
            raise httpx2.ConnectError(str(exc) or type(exc).__name__) from exc
        conn = _Connection(reader, writer)
        self._open.add(conn)
        return conn


async def _open(host: str, port: int, context: ssl.SSLContext | None) -> tuple[asyncio.StreamReader,
                                                                                asyncio.StreamWriter]:
    """Each address of `host` in turn; the last failure raised as it is (asyncio on 3.11 would merge
    several into one bare OSError, losing that the connection was refused)."""
    loop = asyncio.get_running_loop()
    addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    failure: OSError | None = None
    for family, _, proto, _, address in addresses:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
        except OSError as exc:
            failure = exc
            continue
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
            return await asyncio.open_connection(sock=sock, ssl=context,
                                                 server_hostname=host if context is not None else None)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            failure = exc
    assert failure is not None  # getaddrinfo returns at least one address or raises
    raise failure


async def _exchange(conn: _Connection, method: str | bytes, target: bytes, headers: Headers, body: bytes,
                    timeouts: dict[str, float | None]) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
    """Write the request, read the answer to its end; failures as httpx2's exceptions."""
    state = conn.state
    try:
        data = state.send(h11.Request(method=method, target=target, headers=list(headers)))
        if body:
            data += state.send(h11.Data(data=body))
        data += state.send(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        raise httpx2.LocalProtocolError(str(exc)) from exc
    await _write(conn, data or b"", timeouts.get("write"))
    conn.ack_promptly()
    read_timeout = timeouts.get("read")
    try:
        async with _deadline(read_timeout) as deadline:
            return await _read_answer(conn, deadline, read_timeout)
    except TimeoutError as exc:
        raise httpx2.ReadTimeout(f"no data within {read_timeout:g} s") from exc


async def _write(conn: _Connection, data: bytes, timeout: float | None) -> None:
    try:
        async with _deadline(timeout):
            conn.writer.write(data)
            await conn.writer.drain()
    except TimeoutError as exc:
        raise httpx2.WriteTimeout(f"could not send within {timeout:g} s") from exc
    except OSError as exc:
        raise httpx2.WriteError(str(exc) or type(exc).__name__) from exc


async def _read_answer(conn: _Connection, deadline: Any, timeout: float | None
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
    """The status line, headers and body; each read re-arms the read timeout (httpx2's meaning: per read)."""
    event = await _next_event(conn, deadline, timeout)
    while isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
        event = await _next_event(conn, deadline, timeout)
    if not isinstance(event, h11.Response):
        raise httpx2.RemoteProtocolError(f"unexpected {type(event).__name__} before the response")
    chunks = []
    while True:
        part = await _next_event(conn, deadline, timeout)
        if isinstance(part, h11.Data):
            chunks.append(bytes(part.data))
        elif isinstance(part, h11.EndOfMessage):
            return event.status_code, list(event.headers.raw_items()), bytes(event.reason), b"".join(chunks)
        else:
            raise httpx2.RemoteProtocolError(f"unexpected {type(part).__name__} in the response body")


async def _next_event(conn: _Connection, deadline: Any, timeout: float | None) -> Any:
    state = conn.state
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from exc
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await conn.reader.read(READ_SIZE)
        except OSError as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__) from exc
        if not data and state.their_state is h11.SEND_RESPONSE:
            raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
        if timeout is not None and deadline is not None:
            deadline.reschedule(asyncio.get_running_loop().time() + timeout)
        try:
            state.receive_data(data)
        except h11.RemoteProtocolError as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from exc
