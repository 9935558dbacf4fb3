"""The client's transport: requests spread over several connection pools, each closed at the end."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter

import httpx2
import pytest

from clue_checks.endpoint.client import EndpointClient
from clue_checks.endpoint.pools import SHARDS, ShardedTransport
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


def _verify_contexts(monkeypatch, url: str) -> list[ssl.SSLContext]:
    """The TLS contexts an EndpointClient for `url` hands its pools."""
    made: list[ssl.SSLContext] = []
    real = httpx2.AsyncHTTPTransport

    def recording(**kwargs):
        made.append(kwargs["verify"])
        return real(**kwargs)

    monkeypatch.setattr(httpx2, "AsyncHTTPTransport", recording)
    client = EndpointClient(url)
    asyncio.run(client.aclose())
    return made


def test_a_plain_http_client_loads_no_ca_bundle_and_its_pools_trust_nothing(monkeypatch):
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda *a, **k: pytest.fail("CA bundle loaded for http://"))
    contexts = _verify_contexts(monkeypatch, "http://127.0.0.1:9")
    assert len(contexts) == SHARDS and len({id(c) for c in contexts}) == 1  # one context, shared
    context = contexts[0]
    # Fails closed: were a TLS connection ever made through it, no certificate could be verified.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_an_https_client_loads_the_ca_bundle_once(monkeypatch):
    loaded = []
    real = httpx2.create_ssl_context
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda *a, **k: loaded.append(1) or real(*a, **k))
    contexts = _verify_contexts(monkeypatch, "https://model.example:8443")
    assert loaded == [1] and len({id(c) for c in contexts}) == 1
    assert contexts[0].verify_mode == ssl.CERT_REQUIRED and contexts[0].cert_store_stats()["x509_ca"] > 0
