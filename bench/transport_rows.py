"""What bench_transports.py compares: the requests, one coroutine per transport, and a recording server.

Every row sends the items it is given with `concurrency` worker coroutines pulling from one iterator
(as `ideal_client.py` does) and returns how many were answered 200.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx2

try:  # optional: without it its rows are left out
    import aiohttp
except ImportError:  # pragma: no cover
    aiohttp = None

from clue_checks.endpoint.client import EndpointClient
from clue_checks.endpoint.h11_transport import H11Transport
from clue_checks.endpoint.pools import ShardedTransport
from clue_checks.endpoint.types import EndpointInfo, Request
from clue_checks.endpoint.wire import chat_body, parse_chat
from clue_checks.runner import Run
from clue_checks.server.baseline import BaselineServer
from clue_checks.settings import Settings
from clue_checks.tasks import TASKS

PATH = "/v1/chat/completions"
JSON = {"Content-Type": "application/json"}
FIXTURES = Path(__file__).resolve().parents[1] / "clue_checks" / "fixtures"
TIMEOUTS = {"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}


def task_requests() -> tuple[list[Request], list[bytes]]:
    """The six tasks' chat requests ("paper" profile, fixture data) and their bodies as httpx2 encodes them."""
    with BaselineServer() as server:
        settings = Settings(endpoints=(server.url,), api="chat", model_name=None, tokenizer=None, data_dir=FIXTURES,
                            tasks=tuple(TASKS), limit=None, concurrency=None, cache_dir=None, refresh=False,
                            report_dir=Path("/nonexistent"), thresholds=None, profile="paper", exit_mode="pytest",
                            request_timeout=60.0, api_key=None)
        run = Run(settings)
        try:
            info = run.connect([server.url])
            requests = [run.request_for(sample)[1] for name in TASKS for sample in run.samples(name)]
        finally:
            run.close()
    # httpx2's own JSON encoding (encode_json), so every row sends the bytes the client sends.
    bodies = [json.dumps(chat_body(r, info), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
              for r in requests]
    return requests, bodies


async def _workers(items: Iterable[Any], concurrency: int, one: Callable[[Any], Awaitable[bool]]) -> int:
    queue = iter(items)
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for item in queue:
            ok = await one(item)  # awaited first: `answered += await ...` would read `answered` before the wait
            answered += bool(ok)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered


def _httpx_row(make: Callable[[], httpx2.AsyncBaseTransport]) -> Callable[..., Awaitable[int]]:
    async def row(url: str, bodies: Sequence[bytes], concurrency: int) -> int:
        async with httpx2.AsyncClient(base_url=url, transport=make(), timeout=600.0) as client:
            async def one(body: bytes) -> bool:
                return (await client.post(PATH, content=body, headers=JSON)).status_code == 200

            return await _workers(bodies, concurrency, one)

    return row


async def h11_raw(url: str, bodies: Sequence[bytes], concurrency: int) -> int:
    """asyncio streams + h11 with no httpx2 object at all: H11Transport.send of prepared bytes."""
    parsed = httpx2.URL(url)
    origin = (parsed.scheme, parsed.host, parsed.port or 80)
    host = [(b"Host", f"{parsed.host}:{parsed.port}".encode()), (b"Content-Type", b"application/json")]
    transport = H11Transport(tls=False)
    try:
        async def one(body: bytes) -> bool:
            headers = [*host, (b"Content-Length", str(len(body)).encode())]
            status, _, _, _ = await transport.send(origin, b"POST", PATH.encode(), headers, body, TIMEOUTS)
            return status == 200

        return await _workers(bodies, concurrency, one)
    finally:
        await transport.aclose()


async def aiohttp_row(url: str, bodies: Sequence[bytes], concurrency: int) -> int:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=600.0)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=timeout) as session:
        async def one(body: bytes) -> bool:
            async with session.post(PATH, data=body, headers=JSON) as response:
                await response.read()
                return response.status == 200

        return await _workers(bodies, concurrency, one)


LIBRARY_ROWS: dict[str, Callable[..., Awaitable[int]]] = {
    "httpx2 AsyncClient + ShardedTransport (httpcore2; the client's transport until now)":
        _httpx_row(lambda: ShardedTransport(tls=False)),
    "httpx2 AsyncClient + H11Transport": _httpx_row(lambda: H11Transport(tls=False)),
    "asyncio streams + h11, no httpx2 (H11Transport.send)": h11_raw,
}
if aiohttp is not None:
    LIBRARY_ROWS["aiohttp ClientSession"] = aiohttp_row

_INFOS: dict[str, EndpointInfo] = {}


def _client_row(http: str) -> Callable[..., Awaitable[int]]:
    async def row(url: str, requests: Sequence[Request], concurrency: int) -> int:
        async with EndpointClient(url, http=http, timeout=600.0) as client:
            if url not in _INFOS:
                _INFOS[url] = await client.discover()
            info = _INFOS[url]

            async def one(request: Request) -> bool:
                return bool(await client.complete(request, info))

            return await _workers(requests, concurrency, one)

    return row


def client_rows() -> dict[str, Callable[..., Awaitable[int]]]:
    return {f"EndpointClient.complete, http={name!r}": _client_row(name) for name in ("httpx2", "h11")}


# -- what goes on the wire --------------------------------------------------------------------------

_CHAT_ANSWER = json.dumps({"id": "", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


async def _record_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[Any]) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:-2]
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    length = int(next(v for k, v in headers if k.lower() == "content-length"))
    seen.append((headers, await reader.readexactly(length)))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(_CHAT_ANSWER), _CHAT_ANSWER))
    await writer.drain()
    writer.close()


async def _client_send(http: str, url: str, body: bytes) -> None:
    async with EndpointClient(url, http=http) as client:
        await client._send(PATH, json.loads(body), parse_chat)  # the client's own path: body encoded by it


WIRE_ROWS: dict[str, Callable[[str, bytes], Awaitable[Any]]] = {
    "EndpointClient, http='httpx2'": lambda url, body: _client_send("httpx2", url, body),
    "EndpointClient, http='h11'": lambda url, body: _client_send("h11", url, body),
    "asyncio streams + h11, no httpx2": lambda url, body: h11_raw(url, [body], 1),
}
if aiohttp is not None:
    WIRE_ROWS["aiohttp ClientSession"] = lambda url, body: aiohttp_row(url, [body], 1)


async def record_wire(rows: dict[str, Callable[[str, bytes], Awaitable[Any]]], body: bytes
                      ) -> dict[str, tuple[list[Any], bytes]]:
    """Each row's one request as the server read it: (headers in order, body bytes)."""
    seen: list[Any] = []
    server = await asyncio.start_server(lambda r, w: _record_one(r, w, seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    result = {}
    try:
        for name, send in rows.items():
            await send(f"http://127.0.0.1:{port}", body)
            headers, sent = seen.pop()
            result[name] = ([(k, "127.0.0.1:PORT" if k.lower() == "host" else v) for k, v in headers], sent)
    finally:
        server.close()
        await server.wait_closed()
    return result
