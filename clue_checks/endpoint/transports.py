"""The HTTP transports the client can send with, by name, behind its one seam (an httpx2 transport).

`h11` (the default): HTTP/1.1 on asyncio streams and h11 (`h11_transport`; the client's POSTs go to it
`direct`ly), less than half the client's CPU per request of httpx2's own. `httpx2`: httpx2's transport (httpcore2 on anyio) in sharded pools
(`pools`), as before. Both send the same bytes; bench/bench_transports.py has the numbers.
"""

from __future__ import annotations

import httpx2

from clue_checks.endpoint.h11_transport import H11Transport
from clue_checks.endpoint.pools import ShardedTransport

TRANSPORTS = ("h11", "httpx2")
DEFAULT_TRANSPORT = "h11"


def make_transport(name: str, *, tls: bool) -> httpx2.AsyncBaseTransport:
    """A new transport of kind `name`; plain HTTP only (no CA bundle loaded) unless `tls`."""
    if name == "h11":
        return H11Transport(tls=tls)
    if name == "httpx2":
        return ShardedTransport(tls=tls)
    raise ValueError(f"unknown HTTP transport {name!r}; expected one of {', '.join(TRANSPORTS)}")
