"""Discovery: wait until the server is healthy, then learn its kind and limits.

TGI answers `GET /info` (model id, revision, `max_concurrent_requests`, token limits); vLLM,
`transformers serve` and other OpenAI-compatible servers answer only `GET /v1/models`. The
`info_from_*` functions are pure (JSON in, `EndpointInfo` out); `Discovery` does the GETs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from clue_checks.endpoint._http_errors import (CHECK_ENDPOINT, RETRYABLE_STATUS, RETRYABLE_TRANSPORT, describe_transport_error, excerpt,
                           redirect_hint, server_message, status_hint, timeout_hint, tls_error, tls_hint)
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.types import EndpointInfo, EndpointUnavailable
from clue_checks.endpoint.wire import Malformed, as_int, as_str, decode_json

Sleep = Callable[[float], Awaitable[Any]]

TGI_ROUTERS = {"text-generation-router": "tgi", "clue-checks-baseline": "clue-baseline"}
NOT_AN_LLM_SERVER = "Is --model-endpoint the base URL of a TGI, vLLM or OpenAI-compatible server?"
SERVER_RUNNING = f"Is the model server running? {CHECK_ENDPOINT}"
CONNECT_ATTEMPTS = 3  # an unreachable server fails fast: a typo'd URL should not cost minutes
CONNECT_RETRY_DELAY = 0.25
DISCOVERY_READ_TIMEOUT = 10.0  # /health, /info and /v1/models answer at once or not at all


def info_from_tgi(url: str, info: Any, models: Any) -> EndpointInfo | None:
    """TGI's /info (and /v1/models, absent before TGI 2, for the served name); None without a model_id."""
    if not isinstance(info, dict) or not as_str(info.get("model_id")):
        return None
    try:
        served = as_str(models["data"][0]["id"])
    except (KeyError, IndexError, TypeError):
        served = None
    max_input = as_int(info.get("max_input_tokens"))
    return EndpointInfo(
        url=url,
        server_kind=TGI_ROUTERS.get(info.get("router"), "tgi-compatible"),
        model_id=info["model_id"],
        model_revision=as_str(info.get("model_sha")),
        served_model_name=served or info["model_id"],
        max_concurrent_requests=as_int(info.get("max_concurrent_requests")),
        # TGI 2.0 called it max_input_length
        max_input_tokens=max_input if max_input is not None else as_int(info.get("max_input_length")),
        max_total_tokens=as_int(info.get("max_total_tokens")),
        supports_generate=True,
        raw={"info": info, "models": models},
    )


def info_from_models(url: str, models: Any) -> EndpointInfo | None:
    """An OpenAI-compatible server's /v1/models; None without data[0].id."""
    entries = models.get("data") if isinstance(models, dict) else None
    first = entries[0] if isinstance(entries, list) and entries else None
    if not isinstance(first, dict) or not as_str(first.get("id")):
        return None
    owned_by = first.get("owned_by")
    if owned_by == "vllm":
        kind = "vllm"
    elif owned_by == "local" or "status" in first:
        kind = "transformers-serve"
    else:
        kind = "openai-compatible"
    return EndpointInfo(
        url=url,
        server_kind=kind,
        model_id=first["id"],
        served_model_name=first["id"],
        max_total_tokens=as_int(first.get("max_model_len")),  # vLLM only
        supports_generate=False,
        raw={"models": models},
    )


class Discovery:
    """The GETs of discovery against one server, each failure one message naming the URL and the fix."""

    def __init__(self, http: httpx2.AsyncClient, url: str, *, request_timeout: float, connect_timeout: float,
                 startup_wait: float, retry: RetryPolicy, sleep: Sleep, rng: random.Random) -> None:
        self._http = http
        self.url = url
        self._request_timeout = request_timeout
        self._read = min(request_timeout, DISCOVERY_READ_TIMEOUT)
        self._timeout = httpx2.Timeout(self._read, connect=connect_timeout)
        self._startup_wait = startup_wait  # how long a 503 from /health may last before we give up
        self._retry = retry
        self._sleep = sleep
        self._rng = rng

    async def run(self) -> EndpointInfo:
        """Wait for /health, then learn the server kind and limits from /info, else /v1/models."""
        await self.wait_healthy()
        response = await self._get("/info")
        if response.status_code in (404, 405):  # vLLM, transformers serve, other OpenAI servers
            return await self._openai()
        data = self._json(response, "/info")
        models = await self._optional_json("/v1/models")
        info = info_from_tgi(self.url, data, models)
        if info is None:
            raise self._unexpected(response, "/info", "no model_id")
        return info

    async def healthy(self) -> bool:
        """One GET /health: True on 200 (or a server without the route). For a replica's health checks."""
        try:
            response = await self._http.get("/health", timeout=self._timeout)
        except httpx2.HTTPError:
            return False
        return response.is_success or response.status_code in (404, 405)

    async def wait_healthy(self) -> None:
        """GET /health until 200. Unreachable → fail fast; 503 (TGI loading) → wait up to startup_wait."""
        url = self.url + "/health"
        waited, attempt, connect_failures = 0.0, 0, 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = await self._http.get("/health", timeout=self._timeout)
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                tls = tls_error(exc)
                if tls is not None:  # a setting, not a fault: retrying will not help
                    raise EndpointUnavailable(f"GET /health failed ({describe_transport_error(exc, self._read)})",
                                              url=url, hint=tls_hint(tls, self.url), kind="tls") from exc
                connect_failures += 1
                if connect_failures >= CONNECT_ATTEMPTS:
                    cause = describe_transport_error(exc, self._read)
                    raise EndpointUnavailable(f"Could not connect ({cause}; {connect_failures} attempts)",
                                              url=url, hint=SERVER_RUNNING, kind="connect") from exc
                await self._sleep(CONNECT_RETRY_DELAY * connect_failures)
                continue
            except RETRYABLE_TRANSPORT as exc:
                status, message = None, describe_transport_error(exc, self._read)
                timed_out = isinstance(exc, httpx2.TimeoutException)
            except httpx2.HTTPError as exc:  # a proxy refusing us, an undecodable body: waiting will not help
                raise EndpointUnavailable(f"GET /health failed ({self._describe(exc)})", url=url,
                                          hint=CHECK_ENDPOINT) from exc
            else:
                if response.is_success or response.status_code in (404, 405):
                    return  # healthy, or a server without a health route: discovery will tell
                if response.status_code not in RETRYABLE_STATUS:
                    raise self._failed(response, "/health", hint=CHECK_ENDPOINT)
                status, message, timed_out = response.status_code, server_message(response), False
            # A server that accepts connections but never answers spends the budget in read timeouts.
            waited += time.monotonic() - started
            delay = min(2.0, 0.5 * 2 ** (attempt - 1))
            if waited + delay > self._startup_wait:
                hint = ("It may still be loading the model: wait until GET /health answers 200 and rerun, "
                        "or check the server's logs.")
                if timed_out and self._request_timeout < DISCOVERY_READ_TIMEOUT:
                    hint = timeout_hint(self._request_timeout)
                raise EndpointUnavailable(f"Server not healthy after {attempt} checks over {waited:.0f} s",
                                          url=url, status=status, server_message=message, hint=hint,
                                          kind="timeout" if timed_out else "unavailable")
            await self._sleep(delay)
            waited += delay

    async def _get(self, path: str, attempts: int = 3) -> httpx2.Response:
        """One GET of a discovery route, with a couple of quick retries on transient failures."""
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.get(path, timeout=self._timeout)
            except RETRYABLE_TRANSPORT as exc:
                if attempt == attempts:
                    hint = timeout_hint(self._request_timeout) if isinstance(exc, httpx2.TimeoutException) \
                        and self._request_timeout < DISCOVERY_READ_TIMEOUT else SERVER_RUNNING
                    raise EndpointUnavailable(
                        f"GET {path} failed ({describe_transport_error(exc, self._read)}; {attempt} attempts)",
                        url=self.url + path, hint=hint) from exc
            except httpx2.HTTPError as exc:  # e.g. a body that does not match its Content-Encoding
                raise EndpointUnavailable(f"GET {path} failed ({self._describe(exc)})", url=self.url + path,
                                          hint=NOT_AN_LLM_SERVER) from exc
            else:
                if response.status_code not in RETRYABLE_STATUS or attempt == attempts:
                    return response
            await self._sleep(self._retry.delay(attempt, None, self._rng))
        raise AssertionError("unreachable")

    def _json(self, response: httpx2.Response, path: str) -> Any:
        if not response.is_success:
            raise self._failed(response, path, hint=NOT_AN_LLM_SERVER)
        try:
            return decode_json(response.content)
        except Malformed:
            raise self._unexpected(response, path, "not JSON") from None

    async def _optional_json(self, path: str) -> Any:
        try:
            response = await self._http.get(path, timeout=self._timeout)
            return decode_json(response.content) if response.is_success else None
        except (httpx2.HTTPError, Malformed):
            return None

    async def _openai(self) -> EndpointInfo:
        response = await self._get("/v1/models")
        if response.status_code in (404, 405):
            raise EndpointUnavailable("Neither GET /info nor GET /v1/models exists:", url=self.url + "/v1/models",
                                      status=response.status_code, hint=NOT_AN_LLM_SERVER)
        info = info_from_models(self.url, self._json(response, "/v1/models"))
        if info is None:
            raise self._unexpected(response, "/v1/models", "no data[0].id")
        return info

    def _failed(self, response: httpx2.Response, path: str, *, hint: str) -> EndpointUnavailable:
        status = response.status_code
        if 300 <= status < 400:
            hint = redirect_hint(response, path)
        else:
            hint = status_hint(status, path) or hint
        return EndpointUnavailable(f"GET {path} failed", url=self.url + path, status=status,
                                   server_message=server_message(response), hint=hint)

    def _unexpected(self, response: httpx2.Response, path: str, what: str) -> EndpointUnavailable:
        return EndpointUnavailable(f"Unexpected answer to GET {path} ({what})", url=self.url + path,
                                   status=response.status_code,
                                   server_message=excerpt(response.text) or "(empty body)", hint=NOT_AN_LLM_SERVER)

    def _describe(self, exc: httpx2.HTTPError) -> str:
        if isinstance(exc, httpx2.TransportError):
            return describe_transport_error(exc, self._read)
        if isinstance(exc, httpx2.DecodingError):
            return f"body could not be decoded: {exc}"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
