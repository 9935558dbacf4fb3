"""Turning failed HTTP exchanges into short human strings.

Servers disagree on error shapes: TGI answers `{"error": "...", "error_type": "..."}`, vLLM and
other OpenAI-compatible servers `{"error": {"message": "...", "code": ...}}`, FastAPI (transformers
serve) `{"detail": ...}`, and axum/uvicorn plain text. Users need the server's own words.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import socket
import time
from typing import Any

import httpx2

MAX_SERVER_MESSAGE = 500


def shorten(text: str, limit: int = MAX_SERVER_MESSAGE) -> str:
    """Collapse whitespace and cut to `limit` characters (proxies send whole HTML pages)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(text: str, limit: int = 200) -> str:
    """The first `limit` characters of an unexpected body, as received."""
    return text.strip()[:limit]


def _message_from_json(data: Any) -> str | None:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, str) and error:
            return error  # TGI flat shape (error_type is a category, the status says as much)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]  # vLLM / OpenAI nested shape
        detail = data.get("detail")
        if isinstance(detail, str):
            return detail  # FastAPI HTTPException
        if isinstance(detail, list):  # FastAPI request validation: [{"loc": [...], "msg": ...}]
            items = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", ()))
                    items.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg", item)))
                else:
                    items.append(str(item))
            return "; ".join(items)
        if isinstance(data.get("message"), str):
            return data["message"]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def server_message(response: httpx2.Response) -> str | None:
    """The best human string in an error response, at most ~500 characters, or None if empty."""
    text = response.text.strip()
    if not text:
        return response.reason_phrase or None  # e.g. TGI's 401 has an empty body
    try:
        data = json.loads(text)
    except ValueError:
        return shorten(text)
    message = _message_from_json(data)
    return shorten(message) if message else shorten(text)


def retry_after_seconds(response: httpx2.Response, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # asctime form and "-0000": an HTTP-date is always GMT, never local time
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def describe_transport_error(exc: httpx2.TransportError, timeout: float) -> str:
    """A short cause for a failed exchange: httpx2's own text is often just 'All connection attempts failed'."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "host name could not be resolved"
    if isinstance(exc, httpx2.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx2.ReadTimeout):
        return f"no response within {timeout:g} s (read timeout)"
    if isinstance(exc, httpx2.TimeoutException):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"server closed the connection ({exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
