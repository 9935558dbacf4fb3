"""The client's POSTs straight onto the h11 transport: the bytes httpx2's client would send, without its objects.

Building httpx2's Request and Response around each exchange is about a quarter of a millisecond of CPU per
request, as much again as the exchange itself (bench/bench_transports.py). For a POST with a JSON body the
client needs none of it on the way out: the headers are httpx2's client's own, taken once from a request it
builds, in its order, then Content-Length and Content-Type as it appends them; the body is encoded as it
encodes JSON. A 2xx answer without Content-Encoding is handed back as bytes. Anything else (an error status,
an encoded body, a cookie to keep) becomes the httpx2.Response httpx2's client would have made, so errors,
redirects, decoding and cookies go the way they always did; and while the client holds cookies, it sends
through httpx2's client (which adds them).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2

from clue_checks.endpoint.h11_transport import H11Transport

log = logging.getLogger("httpx2")  # httpx2's client logs each exchange there; so does this path
JSON_TYPE = (b"Content-Type", b"application/json")
Plain = tuple[int, bytes, str]


class DirectPost:
    """POST of a JSON body through `transport` on behalf of `client` (its base URL, headers, timeouts, cookies)."""

    def __init__(self, client: httpx2.AsyncClient, transport: H11Transport) -> None:
        self._client = client
        self._transport = transport
        template = client.build_request("POST", "/", content=b"")
        base = client.base_url
        self._origin = (base.scheme, base.host, base.port or (443 if base.scheme == "https" else 80))
        self._prefix = base.raw_path.rstrip(b"/")
        self._url = str(base).rstrip("/")
        self._headers = [(k, v) for k, v in template.headers.raw if k.lower() != b"content-length"]
        self._timeouts = template.extensions["timeout"]

    async def post(self, path: str, body: Any) -> Plain | httpx2.Response:
        """A plain 2xx answer as (status, body, content type), else the whole httpx2.Response (its body read)."""
        if self._client.cookies:  # httpx2's client adds them to the request: let it
            response = await self._client.post(path, json=body)
            return response
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers = [*self._headers, (b"Content-Length", str(len(content)).encode()), JSON_TYPE]
        target = self._prefix + path.encode()
        status, answer_headers, reason, answer = await self._transport.send(
            self._origin, b"POST", target, headers, content, self._timeouts)
        if log.isEnabledFor(logging.INFO):
            log.info('HTTP Request: %s %s "%s %d %s"', "POST", self._url + path, "HTTP/1.1", status,
                     reason.decode("ascii", "replace"))
        if 200 <= status < 300:
            names = {k.lower(): v for k, v in answer_headers}
            if b"content-encoding" not in names and b"set-cookie" not in names:
                return status, answer, names.get(b"content-type", b"").decode("latin-1")
        request = httpx2.Request("POST", self._url + path, headers=headers, content=content)
        response = httpx2.Response(status, headers=answer_headers, stream=httpx2.ByteStream(answer), request=request,
                                   extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})
        self._client.cookies.extract_cookies(response)
        await response.aread()  # may raise httpx2.DecodingError, as httpx2's client does
        return response
