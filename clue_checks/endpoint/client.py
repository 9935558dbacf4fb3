"""Async HTTP client for a served LLM: TGI, vLLM, `transformers serve`, any OpenAI-compatible server.

It only turns a `Request` into each server's exact body and a response into a `Completion`; it knows
nothing of benchmark tasks. Built on httpx2, not huggingface_hub: the latter refuses even localhost when
HF_HUB_OFFLINE=1 (which hospitals run with) and never retries (README: "Why not huggingface_hub's InferenceClient for requests").
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import json
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2

from ._http_errors import describe_transport_error, excerpt, retry_after_seconds, server_message
from .types import Completion, EndpointError, EndpointInfo, EndpointUnavailable, Request

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]

# 429 = TGI over max_concurrent_requests; 503 = starting/overloaded; 502/504 = a proxy in front of it.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# Transient transport failures: refused/reset connections, timeouts, a keep-alive socket closed under us.
RETRYABLE_TRANSPORT: tuple[type[Exception], ...] = (
    httpx2.TimeoutException,
    httpx2.NetworkError,
    httpx2.RemoteProtocolError,
)
NO_TOKENIZER_STATUS = frozenset({404, 405, 501})
TGI_ROUTERS = {"text-generation-router": "tgi", "clue-checks-baseline": "clue-baseline"}

CHECK_ENDPOINT = "Check --model-endpoint."
NOT_AN_LLM_SERVER = "Is --model-endpoint the base URL of a TGI, vLLM or OpenAI-compatible server?"
_CONNECT_ATTEMPTS = 3  # an unreachable server fails fast: a typo'd URL should not cost minutes
_CONNECT_RETRY_DELAY = 0.25
_DISCOVERY_READ_TIMEOUT = 10.0  # /health, /info and /v1/models answer at once or not at all
_MALFORMED_RETRIES = 1  # a garbled 200 is usually a proxy glitch; twice is a broken server
# A read timeout means the server took the request and is still busy with it: resending it adds to
# the load that caused the timeout, and each try costs the whole --request-timeout. Once more, then final.
_READ_TIMEOUT_RETRIES = 1


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures (429, 502-504, connection errors, timeouts)."""

    max_attempts: int = 6  # total tries per request
    base_delay: float = 0.5  # seconds before the second try, doubled each time
    max_delay: float = 30.0
    jitter: float = 0.5  # the delay is drawn from [backoff * (1 - jitter), backoff]

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must be non-negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """Delay before jitter after `attempt` (1-based) failed tries: base * 2**(attempt-1), capped."""
        exponent = min(max(attempt - 1, 0), 60)  # no float overflow however many attempts
        return min(self.max_delay, self.base_delay * 2.0**exponent)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after `attempt` failed tries; a server's Retry-After is a floor (capped)."""
        wait = self.backoff(attempt) * (1.0 - self.jitter * rng.random())
        if retry_after is not None:
            wait = max(wait, min(max(retry_after, 0.0), self.max_delay * 4))
        return wait


class _Malformed(Exception):
    """A 2xx body that is not JSON or lacks the fields we need."""


def generate_body(request: Request) -> dict[str, Any]:
    """TGI `/generate` body for greedy decoding.

    No temperature/top_p/top_k: any warper switches TGI to sampling, temperature 0 and top_p 1.0 are
    422s, and a body without `parameters` defaults to sampling (TGI's router/src/validation.rs and lib.rs: https://github.com/huggingface/text-generation-inference).
    """
    p = request.params
    parameters: dict[str, Any] = {"do_sample": False, "max_new_tokens": p.max_new_tokens, "details": True}
    if p.stop:
        parameters["stop"] = list(p.stop)
    if p.truncate is not None:
        parameters["truncate"] = p.truncate
    return {"inputs": request.prompt, "parameters": parameters}


def chat_body(request: Request, info: EndpointInfo) -> dict[str, Any]:
    """OpenAI chat body: temperature 0 is greedy on TGI, vLLM and transformers serve; never top_p.

    Always the served model name (vLLM 404s and transformers serve 400s on a wrong one) and always a
    token limit (defaults range from 16 to the whole context).
    """
    body: dict[str, Any] = {
        "model": info.served_model_name or info.model_id,
        "messages": [m.as_dict() for m in request.messages],
        "max_tokens": request.params.max_new_tokens,
        "temperature": 0.0,
        "stream": False,
    }
    if request.params.stop:
        body["stop"] = list(request.params.stop)
    return body


def _json(response: httpx2.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise _Malformed("not JSON") from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_generate(response: httpx2.Response) -> Completion:
    data = _json(response)
    if isinstance(data, list) and len(data) == 1:  # the compat `POST /` route answers [GenerateResponse]
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("generated_text"), str):
        raise _Malformed("no generated_text")
    details = data.get("details")
    details = details if isinstance(details, dict) else {}
    return Completion(data["generated_text"], _str(details.get("finish_reason")), _int(details.get("generated_tokens")))


def parse_chat(response: httpx2.Response) -> Completion:
    data = _json(response)
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _Malformed("no choices[0].message") from None
    if content is None:  # e.g. a reply made only of tool calls, or nothing at all
        content = ""
    if not isinstance(content, str):
        raise _Malformed("choices[0].message.content is not a string")
    usage = data.get("usage")
    tokens = _int(usage.get("completion_tokens")) if isinstance(usage, dict) else None
    return Completion(content, _str(choice.get("finish_reason")), tokens)


def parse_tokens(response: httpx2.Response) -> list[int]:
    data = _json(response)
    if isinstance(data, list) and all(isinstance(t, dict) and _int(t.get("id")) is not None for t in data):
        return [t["id"] for t in data]  # TGI: [{"id", "text", "start", "stop"}]
    if isinstance(data, dict) and isinstance(data.get("tokens"), list):
        tokens = data["tokens"]  # vLLM: {"count", "max_model_len", "tokens"}
        if all(_int(t) is not None for t in tokens):
            return list(tokens)
    raise _Malformed("neither a TGI token list nor a vLLM {'tokens': [...]}")


Spans = list[tuple[int, int]]


def _byte_to_char_spans(text: str, spans: list[tuple[int, int]]) -> Spans | None:
    """UTF-8 byte spans → character spans (floored to a character start); None if any is out of range."""
    size = len(text.encode("utf-8"))
    if any(not 0 <= start <= stop <= size for start, stop in spans):
        return None
    if text.isascii():
        return spans
    # starts[i] = byte offset of character i; a byte offset inside a character floors to it.
    starts = list(itertools.accumulate((len(c.encode("utf-8")) for c in text), initial=0))
    to_char = lambda b: bisect.bisect_right(starts, b) - 1  # noqa: E731
    return [(to_char(start), to_char(stop)) for start, stop in spans]


def parse_token_spans(text: str, response: httpx2.Response) -> Spans | None:
    """TGI `[{"id","text","start","stop"}]`: start/stop are UTF-8 byte offsets (Rust `encode`).

    None when the server has no offsets: a TGI on a Python (slow) tokenizer answers start=stop=0.
    """
    data = _json(response)
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and _int(t.get("start")) is not None and _int(t.get("stop")) is not None for t in data
    ):
        raise _Malformed("not a TGI token list with start/stop")
    spans = [(t["start"], t["stop"]) for t in data]
    if text and not any(stop for _, stop in spans):
        return None
    return _byte_to_char_spans(text, spans)


# GPT-2 byte-level BPE writes each byte as a printable character (the `bytes_to_unicode` table).
_PRINTABLE = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
_BYTE_OF = {chr(b): b for b in _PRINTABLE} | {
    chr(256 + i): b for i, b in enumerate(sorted(set(range(256)) - set(_PRINTABLE)))
}
_SP_BYTE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPECIAL = re.compile(r"<[^<>\s]+>|<\|[^<>]+\|>|\[[A-Z_]+\]")  # <s>, <|begin_of_text|>, [INST]


def _byte_level_piece(token: str) -> bytes | None:
    try:
        return bytes(_BYTE_OF[c] for c in token)
    except KeyError:
        return None


def _sentencepiece_piece(token: str) -> bytes | None:
    return b"".join(
        bytes([int(part, 16)]) if i % 2 else part.replace("\u2581", " ").encode("utf-8")
        for i, part in enumerate(_SP_BYTE.split(token))
    )


def _align(data: bytes, tokens: list[str], piece: Callable[[str], bytes | None]) -> Spans | None:
    """Byte spans if the decoded pieces tile `data` exactly, in order; special tokens take no bytes."""
    spans: Spans = []
    at, dummy_prefix = 0, True
    for token in tokens:
        raw = piece(token)
        if raw and at == 0 and dummy_prefix and raw.startswith(b" ") and not data.startswith(b" "):
            raw, dummy_prefix = raw[1:], False  # SentencePiece's added prefix space
        if raw is not None and data.startswith(raw, at) and (raw or not _SPECIAL.fullmatch(token)):
            spans.append((at, at + len(raw)))
            at += len(raw)
        elif _SPECIAL.fullmatch(token):
            spans.append((at, at))
        else:
            return None
    return spans if at == len(data) else None


def parse_vllm_token_spans(text: str, response: httpx2.Response) -> Spans | None:
    """vLLM has no offsets; rebuilt from `token_strs` only when the pieces spell the text exactly."""
    data = _json(response)
    tokens = data.get("tokens") if isinstance(data, dict) else None
    strs = data.get("token_strs") if isinstance(data, dict) else None
    if not isinstance(tokens, list):
        raise _Malformed("no vLLM {'tokens': [...]}")
    if not isinstance(strs, list) or len(strs) != len(tokens) or not all(isinstance(s, str) for s in strs):
        return None  # a vLLM without return_token_strs
    raw = text.encode("utf-8")
    for piece in (_byte_level_piece, _sentencepiece_piece):
        spans = _align(raw, strs, piece)
        if spans is not None:
            return _byte_to_char_spans(text, spans)
    return None


# How chat templates without a system role refuse one (Gemma: "System role not supported"; Mistral:
# "Conversation roles must alternate user/assistant/…").
_SYSTEM_ROLE_REFUSED = re.compile(r"system role|roles must alternate|system message", re.IGNORECASE)
SYSTEM_ROLE_HINT = ("The model's chat template rejects the system role: rerun with --system-role=merge "
                    "(the system prompt goes into the first user turn, as CLUE did for such models).")


def _status_hint(status: int, path: str, message: str | None = None) -> str | None:
    if status in (400, 422) and path == "/v1/chat/completions" and message and _SYSTEM_ROLE_REFUSED.search(message):
        return SYSTEM_ROLE_HINT
    if status in (401, 403):
        return "The server wants a valid API key: check the API key given for this endpoint."
    if status == 404 and path.startswith("/v1/"):
        return "Check the served model name (GET /v1/models) and --model-endpoint."
    if status == 413:
        return "The request is larger than the server accepts."
    if status in (424, 500):
        return "The server failed while generating this request; see its logs."
    return None


def _normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):  # OpenAI SDK habit: base_url=".../v1"; our paths already carry /v1
        url = url[: -len("/v1")]
    try:
        scheme = httpx2.URL(url).scheme
    except Exception:  # httpx2.InvalidURL and friends
        scheme = ""
    if scheme not in ("http", "https"):
        raise ValueError(f"Model endpoint {url!r} is not an http(s) URL; expected e.g. http://127.0.0.1:8080. {CHECK_ENDPOINT}")
    return url


class EndpointClient:
    """One server. Safe for hundreds of concurrent `complete()` calls on one event loop."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 600.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy = RetryPolicy(),
        api_key: str | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng_seed: int | None = None,
        startup_wait: float = 10.0,
    ) -> None:
        self.url = _normalise_url(url)
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._rng = random.Random(rng_seed)
        self._startup_wait = startup_wait  # how long a 503 from /health may last before we give up
        self._discovery_read = min(timeout, _DISCOVERY_READ_TIMEOUT)
        self._discovery_timeout = httpx2.Timeout(self._discovery_read, connect=connect_timeout)
        # Only the bearer token is added; no identifying headers, no telemetry.
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if transport is None:
            # An explicit transport: HTTP(S)_PROXY / ALL_PROXY are not used, so clinical text goes only to
            # the endpoint the user named, never through a proxy (which would also break loopback servers).
            # TLS settings from the environment (SSL_CERT_FILE, SSL_CERT_DIR) still apply.
            transport = httpx2.AsyncHTTPTransport(
                # The server's max_concurrent_requests bounds concurrency, not the pool; keep sockets warm.
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=1024, keepalive_expiry=30.0),
            )
        self._http = httpx2.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx2.Timeout(timeout, connect=connect_timeout),
            transport=transport,
        )

    def _abs(self, path: str) -> str:
        return self.url + path

    async def __aenter__(self) -> EndpointClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- discovery -------------------------------------------------------------------------------

    async def discover(self) -> EndpointInfo:
        """Wait for /health, then learn the server kind and limits from /info, else /v1/models."""
        await self._wait_healthy()
        response = await self._discovery_get("/info")
        if response.status_code in (404, 405):  # vLLM, transformers serve, other OpenAI servers
            return await self._discover_openai()
        data = self._discovery_json(response, "/info")
        if not isinstance(data, dict) or not _str(data.get("model_id")):
            raise self._unexpected(response, "/info", "no model_id")
        served, models = await self._served_model_name()
        max_input = _int(data.get("max_input_tokens"))
        return EndpointInfo(
            url=self.url,
            server_kind=TGI_ROUTERS.get(data.get("router"), "tgi-compatible"),
            model_id=data["model_id"],
            model_revision=_str(data.get("model_sha")),
            served_model_name=served or data["model_id"],
            max_concurrent_requests=_int(data.get("max_concurrent_requests")),
            # TGI 2.0 called it max_input_length
            max_input_tokens=max_input if max_input is not None else _int(data.get("max_input_length")),
            max_total_tokens=_int(data.get("max_total_tokens")),
            supports_generate=True,
            raw={"info": data, "models": models},
        )

    async def _wait_healthy(self) -> None:
        """GET /health until 200. Unreachable → fail fast; 503 (TGI loading) → wait up to startup_wait."""
        url = self._abs("/health")
        waited, attempt, connect_failures = 0.0, 0, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = await self._http.get("/health", timeout=self._discovery_timeout)
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                connect_failures += 1
                if connect_failures >= _CONNECT_ATTEMPTS:
                    cause = describe_transport_error(exc, self._timeout)
                    raise EndpointUnavailable(
                        f"Could not connect ({cause}; {connect_failures} attempts)",
                        url=url,
                        hint=f"Is the model server running? {CHECK_ENDPOINT}",
                    ) from exc
                await self._sleep(_CONNECT_RETRY_DELAY * connect_failures)
                continue
            except RETRYABLE_TRANSPORT as exc:
                status, message = None, describe_transport_error(exc, self._discovery_read)
            except httpx2.HTTPError as exc:  # a proxy refusing us, an undecodable body: waiting will not help
                raise EndpointUnavailable(
                    f"GET /health failed ({self._describe(exc)})", url=url, hint=CHECK_ENDPOINT
                ) from exc
            else:
                if response.is_success or response.status_code in (404, 405):
                    return  # healthy, or a server without a health route: discovery will tell
                if response.status_code not in RETRYABLE_STATUS:
                    raise EndpointUnavailable(
                        "GET /health failed",
                        url=url,
                        status=response.status_code,
                        server_message=server_message(response),
                        hint=_status_hint(response.status_code, "/health") or CHECK_ENDPOINT,
                    )
                status, message = response.status_code, server_message(response)
            # A server that accepts connections but never answers spends the budget in read timeouts.
            waited += time.monotonic() - started
            delay = min(2.0, 0.5 * 2 ** (attempt - 1))
            if waited + delay > self._startup_wait:
                raise EndpointUnavailable(
                    f"Server not healthy after {attempt} checks over {waited:.0f} s",
                    url=url,
                    status=status,
                    server_message=message,
                    hint="It may still be loading the model: wait until GET /health answers 200 and rerun, "
                    "or check the server's logs.",
                )
            await self._sleep(delay)
            waited += delay

    async def _discovery_get(self, path: str, attempts: int = 3) -> httpx2.Response:
        """One GET of a discovery route, with a couple of quick retries on transient failures."""
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.get(path, timeout=self._discovery_timeout)
            except RETRYABLE_TRANSPORT as exc:
                if attempt == attempts:
                    raise EndpointUnavailable(
                        f"GET {path} failed ({describe_transport_error(exc, self._discovery_read)}; {attempt} attempts)",
                        url=self._abs(path),
                        hint=f"Is the model server running? {CHECK_ENDPOINT}",
                    ) from exc
            except httpx2.HTTPError as exc:  # e.g. a body that does not match its Content-Encoding
                raise EndpointUnavailable(
                    f"GET {path} failed ({self._describe(exc)})", url=self._abs(path), hint=NOT_AN_LLM_SERVER
                ) from exc
            else:
                if response.status_code not in RETRYABLE_STATUS or attempt == attempts:
                    return response
            await self._sleep(self._retry.delay(attempt, None, self._rng))
        raise AssertionError("unreachable")

    def _discovery_json(self, response: httpx2.Response, path: str) -> Any:
        if not response.is_success:
            raise EndpointUnavailable(
                f"GET {path} failed",
                url=self._abs(path),
                status=response.status_code,
                server_message=server_message(response),
                hint=_status_hint(response.status_code, path) or NOT_AN_LLM_SERVER,
            )
        try:
            return _json(response)
        except _Malformed:
            raise self._unexpected(response, path, "not JSON") from None

    def _unexpected(self, response: httpx2.Response, path: str, what: str) -> EndpointUnavailable:
        return EndpointUnavailable(
            f"Unexpected answer to GET {path} ({what})",
            url=self._abs(path),
            status=response.status_code,
            server_message=excerpt(response.text) or "(empty body)",
            hint=NOT_AN_LLM_SERVER,
        )

    async def _served_model_name(self) -> tuple[str | None, Any]:
        """TGI's /v1/models (absent before TGI 2) names the model chat requests should carry."""
        try:
            response = await self._http.get("/v1/models", timeout=self._discovery_timeout)
            data = _json(response) if response.is_success else None
            return _str(data["data"][0]["id"]), data
        except (httpx2.HTTPError, _Malformed, KeyError, IndexError, TypeError):
            return None, None

    async def _discover_openai(self) -> EndpointInfo:
        response = await self._discovery_get("/v1/models")
        if response.status_code in (404, 405):
            raise EndpointUnavailable(
                "Neither GET /info nor GET /v1/models exists:",
                url=self._abs("/v1/models"),
                status=response.status_code,
                hint=NOT_AN_LLM_SERVER,
            )
        data = self._discovery_json(response, "/v1/models")
        entries = data.get("data") if isinstance(data, dict) else None
        first = entries[0] if isinstance(entries, list) and entries else None
        if not isinstance(first, dict) or not _str(first.get("id")):
            raise self._unexpected(response, "/v1/models", "no data[0].id")
        owned_by = first.get("owned_by")
        if owned_by == "vllm":
            kind = "vllm"
        elif owned_by == "local" or "status" in first:
            kind = "transformers-serve"
        else:
            kind = "openai-compatible"
        return EndpointInfo(
            url=self.url,
            server_kind=kind,
            model_id=first["id"],
            served_model_name=first["id"],
            max_total_tokens=_int(first.get("max_model_len")),  # vLLM only
            supports_generate=False,
            raw={"models": data},
        )

    # -- generation ------------------------------------------------------------------------------

    async def complete(self, request: Request, info: EndpointInfo) -> Completion:
        """One greedy completion; transient failures are retried, validation errors raised at once."""
        if request.mode == "generate":
            if not info.supports_generate:
                raise EndpointError(
                    f"Generate mode needs TGI's POST /generate, which a {info.server_kind} server lacks",
                    url=self._abs("/generate"),
                    hint="Use chat mode for this server.",
                )
            return await self._post("/generate", generate_body(request), parse_generate)
        return await self._post("/v1/chat/completions", chat_body(request, info), parse_chat)

    async def tokenize(self, text: str, info: EndpointInfo) -> list[int] | None:
        """Token ids from the server's own tokenizer, or None if it has no /tokenize."""
        if info.supports_generate:  # TGI shape
            body: dict[str, Any] = {"inputs": text}
        else:  # vLLM shape
            body = {"model": info.served_model_name or info.model_id, "prompt": text}
        try:
            return await self._post("/tokenize", body, parse_tokens)
        except EndpointError as exc:
            if exc.status in NO_TOKENIZER_STATUS:
                return None
            raise

    async def tokenize_offsets(self, text: str, info: EndpointInfo) -> list[tuple[int, int]] | None:
        """(start, stop) character offsets of each token of `text`, special tokens included (zero width).

        None if the server cannot give them: no /tokenize, a TGI without a fast tokenizer, or a vLLM
        whose `token_strs` (vocabulary strings, not text spans) do not spell `text` exactly.
        """
        parse: Callable[[httpx2.Response], Spans | None]
        if info.supports_generate:  # TGI shape
            body: dict[str, Any] = {"inputs": text}
            parse = functools.partial(parse_token_spans, text)
        else:  # vLLM shape
            body = {"model": info.served_model_name or info.model_id, "prompt": text, "return_token_strs": True}
            parse = functools.partial(parse_vllm_token_spans, text)
        try:
            return await self._post("/tokenize", body, parse)
        except EndpointError as exc:
            if exc.status in NO_TOKENIZER_STATUS:
                return None
            raise

    async def _post(self, path: str, body: dict[str, Any], parse: Callable[[httpx2.Response], T]) -> T:
        url = self._abs(path)
        attempt, malformed, read_timeouts = 0, 0, 0
        while True:
            attempt += 1
            try:
                response = await self._http.post(path, json=body)
            except httpx2.ReadTimeout as exc:
                read_timeouts += 1
                failure = EndpointError(describe_transport_error(exc, self._timeout), url=url,
                                        retryable=read_timeouts <= _READ_TIMEOUT_RETRIES,
                                        hint="The model may need longer: raise --request-timeout.")
            except RETRYABLE_TRANSPORT as exc:
                failure = EndpointError(describe_transport_error(exc, self._timeout), url=url, retryable=True)
            except httpx2.DecodingError as exc:  # a 2xx or error body that its Content-Encoding cannot decode
                malformed += 1
                failure = EndpointError(
                    f"malformed response ({self._describe(exc)})", url=url, retryable=malformed <= _MALFORMED_RETRIES
                )
            except httpx2.HTTPError as exc:  # proxy misconfiguration, unsupported protocol, redirects...
                raise EndpointError(f"POST {path} failed ({self._describe(exc)})", url=url, hint=CHECK_ENDPOINT) from exc
            else:
                if response.is_success:
                    try:
                        return parse(response)
                    except _Malformed as exc:
                        malformed += 1
                        failure = EndpointError(
                            f"malformed response ({exc})",
                            url=url,
                            status=response.status_code,
                            server_message=excerpt(response.text) or "(empty body)",
                            retryable=malformed <= _MALFORMED_RETRIES,
                        )
                else:
                    status = response.status_code
                    failure = EndpointError(
                        f"POST {path} failed",
                        url=url,
                        status=status,
                        server_message=server_message(response),
                        # 424/500 are per-request generation failures on TGI: record, don't hammer.
                        retryable=status in RETRYABLE_STATUS,
                        retry_after=retry_after_seconds(response),
                        hint=_status_hint(status, path, server_message(response)),
                    )
                    if not failure.retryable:
                        raise failure
            if not failure.retryable or attempt >= self._retry.max_attempts:
                raise self._gave_up(path, attempt, failure)
            await self._sleep(self._retry.delay(attempt, failure.retry_after, self._rng))

    def _describe(self, exc: httpx2.HTTPError) -> str:
        if isinstance(exc, httpx2.TransportError):
            return describe_transport_error(exc, self._timeout)
        if isinstance(exc, httpx2.DecodingError):
            return f"body could not be decoded: {exc}"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    @staticmethod
    def _gave_up(path: str, attempts: int, last: EndpointError) -> EndpointError:
        cause = str(last.args[0]) if last.args else "unknown error"
        if last.status is not None and not cause.startswith("malformed"):
            cause = "the server answered"  # __str__ appends "HTTP <status> from <url>: <message>"
        plural = "attempt" if attempts == 1 else "attempts"
        return EndpointError(
            f"POST {path} failed after {attempts} {plural}; last cause: {cause}",
            url=last.url,
            status=last.status,
            server_message=last.server_message,
            retryable=last.retryable,
            retry_after=last.retry_after,
            hint=last.hint,
        )
