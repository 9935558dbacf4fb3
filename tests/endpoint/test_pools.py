"""The client's transports: httpx2's in several connection pools, each closed at the end; h11 on asyncio streams,
keep-alive, the same bytes on the wire, TLS only with a CA bundle loaded."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clue_checks.endpoint import h11_transport
from clue_checks.endpoint.client import EndpointClient
from clue_checks.endpoint.h11_transport import H11Transport
from clue_checks.endpoint.pools import SHARDS, ShardedTransport
from clue_checks.endpoint.transports import make_transport
from clue_checks.endpoint.types import EndpointUnavailable
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
    client = EndpointClient(url, http="httpx2")
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


def test_the_h11_transport_of_a_plain_http_client_loads_no_ca_bundle_and_trusts_nothing(monkeypatch):
    monkeypatch.setattr(httpx2, "create_ssl_context", lambda *a, **k: pytest.fail("CA bundle loaded for http://"))
    context = H11Transport(tls=False).ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_the_h11_transport_of_an_https_client_trusts_the_ca_bundle():
    context = H11Transport(tls=True).ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.cert_store_stats()["x509_ca"] > 0


def test_the_client_sends_with_h11_unless_told_otherwise():
    for http, kind in ((None, H11Transport), ("httpx2", ShardedTransport)):
        client = EndpointClient("http://127.0.0.1:9", **({"http": http} if http else {}))
        assert isinstance(client._http._transport, kind)
        asyncio.run(client.aclose())
    with pytest.raises(ValueError, match="unknown HTTP transport 'curl'"):
        make_transport("curl", tls=False)


@pytest.mark.parametrize("http", ["h11", "httpx2"])
def test_many_concurrent_requests_then_more_on_kept_alive_sockets(http):
    server = FakeServer(lambda method, path, body, count: (200, {}, {"echo": body["i"]})).start()
    try:
        async def go() -> list[int]:
            async with httpx2.AsyncClient(base_url=server.url, transport=make_transport(http, tls=False)) as client:
                replies = list(await asyncio.gather(*(client.post("/", json={"i": i}) for i in range(64))))
                replies += [await client.post("/", json={"i": i}) for i in range(64, 80)]  # one socket, reused
                return [r.json()["echo"] for r in replies]

        assert asyncio.run(go()) == list(range(80))
    finally:
        server.stop()


def test_a_server_closing_after_each_answer_costs_no_request():
    server = FakeServer(lambda method, path, body, count: (200, {"Connection": "close"}, {"n": count})).start()
    try:
        async def go() -> list[int]:
            async with httpx2.AsyncClient(base_url=server.url, transport=H11Transport(tls=False)) as client:
                return [(await client.get("/")).json()["n"] for _ in range(5)]

        assert asyncio.run(go()) == [1, 2, 3, 4, 5]
    finally:
        server.stop()


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's")
def test_each_request_asks_its_socket_for_quick_acks(monkeypatch):
    """A server writing headers and body apart without TCP_NODELAY sends the body only once the headers are
    ACKed: 40 ms a request while the client's kernel delays that ACK (bench/bench_unbuffered_server.py)."""
    asked: list[int] = []
    ack_promptly = h11_transport._Connection.ack_promptly

    def spy(conn: Any) -> None:
        ack_promptly(conn)
        asked.append(conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK))

    monkeypatch.setattr(h11_transport._Connection, "ack_promptly", spy)
    server = FakeServer(lambda method, path, body, count: (200, {}, {"n": count})).start()
    try:
        async def go() -> list[int]:
            async with httpx2.AsyncClient(base_url=server.url, transport=H11Transport(tls=False)) as client:
                return [(await client.get("/")).json()["n"] for _ in range(3)]

        assert asyncio.run(go()) == [1, 2, 3]
    finally:
        server.stop()
    assert asked == [1, 1, 1]


async def _wire_of(http: str, body: dict, prefix: str = "") -> bytes:
    """The bytes one client request puts on the wire (up to the end of its body), with `http` as transport."""
    received = bytearray()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received.extend(head + await reader.readexactly(length))
        answer = b'{"generated_text": "ok", "details": {"finish_reason": "length", "generated_tokens": 1}}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(answer), answer))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with EndpointClient(url + prefix, http=http, api_key="sk-test", headers={"X-Tenant": "ward 7"}) as client:
            await client._send("/generate", body, lambda data: data)
    finally:
        server.close()
        await server.wait_closed()
    return bytes(received).replace(url.split("//")[1].encode(), b"HOST")


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_both_transports_put_the_same_bytes_on_the_wire(prefix):
    body = {"inputs": "Ärztin: fever \u2014 38.5\u00b0C", "parameters": {"max_new_tokens": 5, "do_sample": False}}
    h11_bytes, httpx_bytes = (asyncio.run(_wire_of(http, body, prefix)) for http in ("h11", "httpx2"))
    assert h11_bytes == httpx_bytes
    assert h11_bytes.startswith(f"POST {prefix}/generate HTTP/1.1\r\nHost: HOST\r\n".encode())
    assert b"X-Tenant: ward 7\r\n" in h11_bytes
    assert b"Authorization: Bearer sk-test\r\n" in h11_bytes and "°C".encode() in h11_bytes



@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                           "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                           "-out", str(cert)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")
    return cert, key


async def _over_tls(cert: Path, key: Path, http: str) -> str:
    """/health of a TLS server on 127.0.0.1 through an EndpointClient using `http`: 'ok', or discovery's error."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):  # the client refused the certificate
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        async with EndpointClient(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", http=http,
                                  startup_wait=0.5) as client:
            if await client.healthy():
                return "ok"
            try:
                await client.discover()
            except EndpointUnavailable as exc:
                return str(exc)
            return "discovered"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.slow  # openssl makes the certificate
@pytest.mark.parametrize("http", ["h11", "httpx2"])
def test_tls_with_a_trusted_certificate_and_only_then(certificate, http, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # how a user trusts their own CA
    assert asyncio.run(_over_tls(cert, key, http)) == "ok"
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(cert.parent / "none"))
    message = asyncio.run(_over_tls(cert, key, http))
    assert "TLS handshake failed" in message and "certificate is not trusted" in message, message


async def _chunked_gzip_answer(http: str, payload: bytes) -> bytes:
    """What the client reads from an answer sent gzip-compressed, in chunked transfer encoding, three chunks."""
    packed = gzip.compress(payload)
    parts = [packed[:10], packed[10:20], packed[20:]]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in parts:
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with httpx2.AsyncClient(base_url=url, transport=make_transport(http, tls=False)) as client:
            return (await client.get("/")).content
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("http", ["h11", "httpx2"])
def test_a_chunked_gzip_answer_is_read_whole_and_decoded(http):
    payload = json.dumps({"generated_text": "fever " * 200}).encode()
    assert asyncio.run(_chunked_gzip_answer(http, payload)) == payload
