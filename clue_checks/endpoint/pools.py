"""Several connection pools behind one transport, so the cost of each request stays flat as concurrency grows.

httpcore's pool re-examines every connection it holds (and every request waiting on it) each time
a request starts or finishes. With hundreds of requests in flight that scan is the largest CPU
cost of the whole run: at 512 in flight, about 500 connection checks per request start and again
per finish. Requests are spread round-robin over `shards` independent pools, each holding about
1/shards of the connections, so every scan is that much shorter; nothing else changes (the
in-flight limit is enforced above the transport, and each pool keeps its own sockets alive).
"""

from __future__ import annotations

import itertools
import ssl

import httpx2

SHARDS = 32
KEEPALIVE = 1024  # sockets kept warm over all the pools together
KEEPALIVE_EXPIRY = 30.0


class ShardedTransport(httpx2.AsyncBaseTransport):
    """`shards` AsyncHTTPTransports without a connection limit (the in-flight limit lives above), taken in turn."""

    def __init__(self, shards: int = SHARDS, *, tls: bool = True) -> None:
        if shards < 1:
            raise ValueError("at least one pool is needed")
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=max(1, KEEPALIVE // shards),
                               keepalive_expiry=KEEPALIVE_EXPIRY)
        # One TLS context for all; it honours SSL_CERT_FILE / SSL_CERT_DIR as httpx's default does. Explicit
        # transports: HTTP(S)_PROXY is not used (see the client). Loading the CA bundle costs 35-55 ms, before
        # the first request, so a client of a plain-HTTP server (tls=False) skips it: its pools get a context
        # that trusts nothing, through which no TLS connection could succeed.
        context = httpx2.create_ssl_context() if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.pools = [httpx2.AsyncHTTPTransport(limits=limits, verify=context) for _ in range(shards)]
        self._turn = itertools.cycle(self.pools)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()
