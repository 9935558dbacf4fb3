"""Async HTTP client for one served LLM: TGI, vLLM, `transformers serve`, any OpenAI-compatible server.

It only turns a `Request` into each server's exact body (`wire`) and a response into a `Completion`;
it knows nothing of benchmark tasks. Built on httpx2, not huggingface_hub: the latter refuses even
localhost when HF_HUB_OFFLINE=1 (which hospitals run with) and never retries.

The path of one request, one concern per layer (as httpx's own `send` → `_send_handling_auth` → …):

    complete / tokenize / tokenize_offsets   the body for this server kind, the parser for its answer
      → _send                                secrets out of any error (the redaction boundary)
        → _send_with_retries                 a slot from the gate, tries, backoff (`retry.Attempts`)
          → _send_once                       one POST; every failure classified (`_http_errors`)
            → the transport                  h11 on asyncio streams (`h11_transport`, its POSTs `direct`),
                                             or httpx2's own (`http="httpx2"`): the same bytes (`transports`)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx2

from clue_checks.endpoint._http_errors import (CHECK_ENDPOINT, RETRYABLE_STATUS, RETRYABLE_TRANSPORT, describe_transport_error, excerpt,
                           status_failure, transport_failure)
from clue_checks.endpoint.direct import DirectPost
from clue_checks.endpoint.discovery import Discovery
from clue_checks.endpoint.h11_transport import H11Transport
from clue_checks.endpoint.redact import Redactor, install_log_filters, without_userinfo
from clue_checks.endpoint.retry import Attempts, RetryPolicy
from clue_checks.endpoint.transports import DEFAULT_TRANSPORT, make_transport
from clue_checks.endpoint.token_spans import Spans, parse_tgi_spans, parse_vllm_spans
from clue_checks.endpoint.types import Completion, EndpointError, EndpointInfo, Request
from clue_checks.endpoint.wire import Malformed, chat_body, decode_json, generate_body, parse_chat, parse_generate, tokenize_body

log = logging.getLogger(__name__)

__all__ = ["EndpointClient", "Gate", "RetryPolicy", "RETRYABLE_STATUS", "RETRYABLE_TRANSPORT"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]
NO_TOKENIZER_STATUS = frozenset({404, 405, 501})


class Gate(Protocol):
    """Admission of each try onto the wire (the scheduler's in-flight limit and replica health).

    `enter` waits for a slot and may raise an `EndpointError` (the run stopped, the replica left the
    rotation); `leave` hands the slot back with how the try went: None for an answer, the failure,
    or `ABANDONED` when the try was cancelled."""

    async def enter(self) -> Any: ...

    def leave(self, ticket: Any, failure: EndpointError | None | object) -> None: ...


ABANDONED = object()


class _OpenGate:
    """No limit: a client on its own (tests, tools) sends every try at once."""

    async def enter(self) -> None:
        return None

    def leave(self, ticket: Any, failure: Any) -> None:
        return None


def _normalise_url(url: str, redactor: Redactor) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):  # OpenAI SDK habit: base_url=".../v1"; our paths already carry /v1
        url = url[: -len("/v1")]
    try:
        scheme = httpx2.URL(url).scheme
    except httpx2.InvalidURL:  # all that parsing a str raises
        scheme = ""
    if scheme not in ("http", "https"):
        raise ValueError(f"Model endpoint {redactor(url)!r} is not an http(s) URL; expected e.g. "
                         f"http://127.0.0.1:8080. {CHECK_ENDPOINT}")
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
        headers: Mapping[str, str] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        http: str = DEFAULT_TRANSPORT,
        sleep: Sleep = asyncio.sleep,
        rng_seed: int | None = None,
        startup_wait: float = 10.0,
        gate: Gate | None = None,
        hash_server_text: bool = False,
    ) -> None:
        # hash_server_text (--clue-redact): the server's words, which may quote the prompt, are hashed in the log.
        self.redact = Redactor.for_endpoint(api_key=api_key, headers=headers, urls=[url],
                                            hash_server_text=hash_server_text)
        self.url = _normalise_url(url, self.redact)
        install_log_filters()  # the HTTP library logs request URLs: no userinfo in them
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._rng = random.Random(rng_seed)
        self._gate: Gate = gate or _OpenGate()
        # Only the bearer token and the user's own headers are added; no identifying headers, no telemetry.
        sent_headers = dict(headers or {})
        if api_key:
            sent_headers["Authorization"] = f"Bearer {api_key}"
        if transport is None:
            # An explicit transport: HTTP(S)_PROXY / ALL_PROXY are not used, so clinical text goes only to
            # the endpoint the user named, never through a proxy (which would also break loopback servers).
            # TLS settings from the environment (SSL_CERT_FILE, SSL_CERT_DIR) still apply.
            # The in-flight limit bounds concurrency, not the pools; sockets are kept warm. `http` names the
            # transport (`transports`): h11 on asyncio streams by default, or httpx2's own.
            transport = make_transport(http, tls=httpx2.URL(self.url).scheme == "https")
        # Redirects are not followed: a POST with the API key would go wherever the server says.
        self._http = httpx2.AsyncClient(base_url=self.url, headers=sent_headers, transport=transport,
                                        timeout=httpx2.Timeout(timeout, connect=connect_timeout),
                                        follow_redirects=False)
        # The h11 transport takes the POSTs directly (`direct`): the same bytes, less CPU.
        self._post = (DirectPost(self._http, transport).post if isinstance(transport, H11Transport)
                      else self._post_through_client)
        self._discovery = Discovery(self._http, self.url, request_timeout=timeout, connect_timeout=connect_timeout,
                                    startup_wait=startup_wait, retry=retry, sleep=sleep, rng=self._rng)

    async def __aenter__(self) -> EndpointClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- discovery -------------------------------------------------------------------------------

    async def discover(self) -> EndpointInfo:
        """Wait for /health, then learn the server kind and limits (`discovery`). Raises EndpointUnavailable."""
        return await self._redacting(self._discovery.run())

    async def healthy(self) -> bool:
        """One GET /health: True when the server answers 200 (used to bring a replica back)."""
        return await self._discovery.healthy()

    # -- requests --------------------------------------------------------------------------------

    async def complete(self, request: Request, info: EndpointInfo) -> Completion:
        """One greedy completion, with the wall time of the try that answered as `latency_s`.

        Transient failures are retried; validation errors are raised at once."""
        if request.mode == "generate":
            if not info.supports_generate:
                raise EndpointError(
                    f"Generate mode needs TGI's POST /generate, which a {info.server_kind} server lacks",
                    url=self.url + "/generate", hint="Use chat mode for this server.", kind="refused")
            path, body, parse = "/generate", generate_body(request), parse_generate
        else:
            path, body, parse = "/v1/chat/completions", chat_body(request, info), parse_chat
        completion, seconds = await self._send(path, body, parse)
        return Completion(completion.text, completion.finish_reason, completion.generated_tokens,
                          completion.prompt_tokens, latency_s=seconds)

    async def tokenize_offsets(self, text: str, info: EndpointInfo) -> Spans | None:
        """(start, stop) character offsets of each token of `text`, special tokens included (zero width).

        None if the server cannot give them: no /tokenize, a TGI without a fast tokenizer, or a vLLM
        whose `token_strs` (vocabulary strings, not text spans) do not spell `text` exactly.
        """
        parse = parse_tgi_spans if info.supports_generate else parse_vllm_spans
        return await self._tokenize(tokenize_body(text, info, token_strs=True), functools.partial(parse, text))

    async def _tokenize(self, body: dict[str, Any], parse: Callable[[Any], T]) -> T | None:
        try:
            result, _ = await self._send("/tokenize", body, parse)
        except EndpointError as exc:
            if exc.status in NO_TOKENIZER_STATUS:
                return None
            raise
        return result

    # -- the path of one request ---------------------------------------------------------------

    async def _send(self, path: str, body: dict[str, Any], parse: Callable[[Any], T]) -> tuple[T, float]:
        return await self._redacting(self._send_with_retries(path, body, parse))

    async def _redacting(self, work: Awaitable[T]) -> T:
        """Whatever the server echoed, no secret leaves in an error; the chain (httpx internals) is dropped."""
        try:
            return await work
        except EndpointError as exc:
            raise self.redact.error(exc) from None

    async def _send_with_retries(self, path: str, body: dict[str, Any], parse: Callable[[Any], T]) -> tuple[T, float]:
        """Tries until an answer or a final failure; each try holds a gate slot only while on the wire."""
        attempts = Attempts(self._retry, self._rng)
        while True:
            ticket = await self._gate.enter()
            started = time.monotonic()
            try:
                result = await self._send_once(path, body, parse)
            except EndpointError as failure:
                self._gate.leave(ticket, failure)
                delay = attempts.after(failure)
                if delay is None:
                    if attempts.made > 1 or failure.retryable:
                        log.warning("%s%s: giving up after %d tries: %s", without_userinfo(self.url), path, attempts.made,
                                    without_userinfo(str(self.redact.error(failure))))
                    raise failure if attempts.made == 1 and not failure.retryable else attempts.gave_up(path, failure)
                log.info("%s%s: try %d failed (%s); retrying in %.1f s", without_userinfo(self.url), path, attempts.made,
                         without_userinfo(str(self.redact.error(failure))), delay)
            except BaseException:
                self._gate.leave(ticket, ABANDONED)
                raise
            else:
                seconds = time.monotonic() - started
                self._gate.leave(ticket, None)
                return result, seconds
            await self._sleep(delay)

    async def _send_once(self, path: str, body: dict[str, Any], parse: Callable[[Any], T]) -> T:
        """One POST and its answer parsed; any failure is an EndpointError with its kind."""
        url = self.url + path
        try:
            answer = await self._post(path, body)
        except httpx2.TransportError as exc:
            raise transport_failure(exc, url, self._timeout) from exc
        except httpx2.DecodingError as exc:  # a body that its Content-Encoding cannot decode
            raise EndpointError(f"malformed response (body could not be decoded: {exc})", url=url,
                                retryable=True, kind="malformed") from exc
        except httpx2.HTTPError as exc:  # unsupported protocol, too many redirects, …: a setting
            raise EndpointError(f"POST {path} failed ({self._describe(exc)})", url=url, hint=CHECK_ENDPOINT,
                                kind="refused") from exc
        if isinstance(answer, httpx2.Response):
            if not answer.is_success:
                raise status_failure(answer, "POST", path, url)
            answer = (answer.status_code, answer.content, answer.headers.get("content-type", ""))
        status, content, content_type = answer
        try:
            return parse(decode_json(content, content_type))
        except Malformed as exc:
            text = httpx2.Response(status, headers={"content-type": content_type}, content=content).text
            raise EndpointError(f"malformed response ({exc})", url=url, status=status,
                                server_message=excerpt(text) or "(empty body)", retryable=True,
                                kind="malformed") from None

    async def _post_through_client(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        return await self._http.post(path, json=body)

    def _describe(self, exc: httpx2.HTTPError) -> str:
        if isinstance(exc, httpx2.TransportError):
            return describe_transport_error(exc, self._timeout)
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
