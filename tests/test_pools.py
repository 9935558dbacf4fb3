"""The client's transport: requests spread over several connection pools, each closed at the end."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx2
import pytest

from clue_checks.endpoint.pools import ShardedTransport
from fakes import FakeServer


class _Counting(httpx2.AsyncBaseTransport):
    def __init__(self, name: int, seen: Counter) -> None:
        self.name, self.seen, self.closed = name, seen, False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen[self.name] += 1
        return httpx2.Response(200, json={"pool": self.name})

    async def aclose(self) -> None:
        self.closed = True


def test_requests_go_round_robin_and_every_pool_is_closed():
    seen: Counter = Counter()
    transport = ShardedTransport(shards=4)
    transport.pools = [_Counting(i, seen) for i in range(4)]
    transport._turn = iter(transport.pools * 6)

    async def go() -> list[int]:
        async with httpx2.AsyncClient(base_url="http://model", transport=transport) as client:
            return [(await client.get("/")).json()["pool"] for _ in range(24)]

    answered = asyncio.run(go())
    assert answered == [0, 1, 2, 3] * 6 and seen == Counter({0: 6, 1: 6, 2: 6, 3: 6})
    assert all(pool.closed for pool in transport.pools)


def test_no_pool_is_no_transport():
    with pytest.raises(ValueError):
        ShardedTransport(shards=0)


def test_many_concurrent_requests_against_a_real_server_all_answered():
    server = FakeServer(lambda method, path, body, count: (200, {}, {"echo": body["i"]})).start()
    try:
        async def go() -> list[int]:
            async with httpx2.AsyncClient(base_url=server.url, transport=ShardedTransport()) as client:
                replies = await asyncio.gather(*(client.post("/", json={"i": i}) for i in range(64)))
                return [r.json()["echo"] for r in replies]

        assert asyncio.run(go()) == list(range(64))
    finally:
        server.stop()
