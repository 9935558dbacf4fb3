"""Turning failed HTTP exchanges into classified errors with short human messages.

Servers disagree on error shapes: TGI answers `{"error": "...", "error_type": "..."}`, vLLM and
other OpenAI-compatible servers `{"error": {"message": "...", "code": ...}}`, FastAPI (transformers
serve) `{"detail": ...}`, and axum/uvicorn plain text. Users need the server's own words, and a
cause that is true: a TLS failure is not a stopped server, a redirect says where to, a timeout of a
microsecond is the setting's fault, not the server's.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import re
import socket
import ssl
import time
from typing import Any

import httpx2

from clue_checks.endpoint.keys import KEY_HINT
from clue_checks.endpoint.types import EndpointError, FailureKind

MAX_SERVER_MESSAGE = 500
CHECK_ENDPOINT = "Check --model-endpoint."
# Below this, a timeout is the setting's fault: no server answers over HTTP in under a second reliably.
TINY_TIMEOUT = 1.0

# 429 = TGI over max_concurrent_requests; 503 = starting/overloaded; 502/504 = a proxy in front of it.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# Transient transport failures: refused/reset connections, timeouts, a keep-alive socket closed under us.
RETRYABLE_TRANSPORT: tuple[type[Exception], ...] = (
    httpx2.TimeoutException,
    httpx2.NetworkError,
    httpx2.RemoteProtocolError,
)


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


# How chat templates without a system role refuse one (Gemma: "System role not supported"; Mistral:
# "Conversation roles must alternate user/assistant/…").
_SYSTEM_ROLE_REFUSED = re.compile(r"system role|roles must alternate|system message", re.IGNORECASE)
SYSTEM_ROLE_HINT = ("The model's chat template rejects the system role: rerun with --clue-system-role=merge "
                    "(the system prompt goes into the first user turn, as CLUE did for such models).")


def status_hint(status: int, path: str, message: str | None = None) -> str | None:
    """What to do about an error status on `path`, where we know."""
    if status in (400, 422) and path == "/v1/chat/completions" and message and _SYSTEM_ROLE_REFUSED.search(message):
        return SYSTEM_ROLE_HINT
    if status in (401, 403):
        return KEY_HINT
    if status == 404 and path.startswith("/v1/"):
        return "Check the served model name (GET /v1/models) and --model-endpoint."
    if status == 413:
        return "The request is larger than the server accepts."
    if status == 429:
        return "The server is overloaded: lower --clue-concurrency (or raise the server's max_concurrent_requests)."
    if status in (424, 500):
        return "The server failed while generating this request; see its logs."
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a failed connection, if that is what it was."""
    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)


def tls_hint(exc: ssl.SSLError, url: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ("The server's certificate is not trusted: point SSL_CERT_FILE at your CA bundle, "
                "or check the host name in --model-endpoint.")
    if url.startswith("https://"):
        return "The server may speak plain HTTP: try http:// instead of https:// in --model-endpoint."
    return CHECK_ENDPOINT


def timeout_hint(timeout: float) -> str:
    if timeout < TINY_TIMEOUT:
        return (f"--clue-request-timeout={timeout:g} s is shorter than a model server can be expected to answer "
                "in: raise it (default 600).")
    return "The model may need longer: raise --clue-request-timeout."


def redirect_target(response: httpx2.Response) -> str | None:
    """Where a 3xx points, as an absolute URL, or None without a Location header."""
    location = response.headers.get("location")
    if not location:
        return None
    try:
        return str(response.url.join(location))
    except httpx2.InvalidURL:  # an unparsable Location: show it as sent
        return location


def redirect_hint(response: httpx2.Response, path: str) -> str:
    target = redirect_target(response)
    if target is None:
        return f"The server redirects without saying where (no Location header). {CHECK_ENDPOINT}"
    base = re.sub(re.escape(path) + r"(\?.*)?$", "", target) if path else target
    return (f"The server redirects to {target}: if the model lives there now, give --model-endpoint={base} "
            f"(redirects are not followed, so requests and the API key go nowhere else unasked).")


def describe_transport_error(exc: httpx2.TransportError, timeout: float) -> str:
    """A short cause for a failed exchange: httpx2's own text is often just 'All connection attempts failed'."""
    chain = _chain(exc)
    tls = tls_error(exc)
    if tls is not None:
        reason = getattr(tls, "reason", None) or type(tls).__name__
        return f"TLS handshake failed ({reason})"
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


def _transport_kind(exc: httpx2.TransportError) -> FailureKind:
    if tls_error(exc) is not None:
        return "tls"
    if not isinstance(exc, RETRYABLE_TRANSPORT):  # an unsupported scheme, a proxy error: a setting
        return "refused"
    if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)):
        return "connect"
    if isinstance(exc, httpx2.TimeoutException):
        return "timeout"
    return "transport"


def transport_failure(exc: httpx2.TransportError, url: str, timeout: float) -> EndpointError:
    """A request that got no HTTP answer: classified, with a cause that is true and what to do."""
    kind = _transport_kind(exc)
    hint = None
    if kind == "tls":
        tls = tls_error(exc)
        assert tls is not None
        hint = tls_hint(tls, url)
    elif kind == "timeout":
        hint = timeout_hint(timeout)
    elif kind == "refused":
        hint = CHECK_ENDPOINT
    retryable = kind != "tls" and isinstance(exc, RETRYABLE_TRANSPORT)
    return EndpointError(describe_transport_error(exc, timeout), url=url, retryable=retryable, hint=hint,
                         kind=kind)


def status_kind(status: int) -> FailureKind:
    if 300 <= status < 400:
        return "redirect"
    if status == 429:
        return "overloaded"
    if status in (502, 503, 504):
        return "unavailable"
    if status >= 500 or status == 424:  # TGI's 424: generation failed on this request
        return "server"
    return "refused"


def status_failure(response: httpx2.Response, method: str, path: str, url: str,
                   hint: str | None = None) -> EndpointError:
    """A non-2xx answer: the server's own words, retryable for 429/502-504, where a redirect points."""
    status = response.status_code
    kind = status_kind(status)
    message = server_message(response)
    if kind == "redirect":
        hint = redirect_hint(response, path)
    elif hint is None:
        hint = status_hint(status, path, message)
    return EndpointError(
        f"{method} {path} failed",
        url=url,
        status=status,
        server_message=message,
        # 424/500 are per-request generation failures on TGI: record, don't hammer.
        retryable=status in RETRYABLE_STATUS,
        retry_after=retry_after_seconds(response),
        hint=hint,
        kind=kind,
    )
