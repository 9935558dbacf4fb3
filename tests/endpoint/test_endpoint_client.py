"""EndpointClient against real loopback HTTP servers shaped like TGI, vLLM and transformers serve."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.endpoint._http_errors import retry_after_seconds, server_message
from clue_checks.endpoint.client import EndpointClient, RetryPolicy
from clue_checks.endpoint.types import (
    Completion,
    EndpointError,
    EndpointInfo,
    EndpointUnavailable,
    GenerationParams,
    Message,
    Request,
)
from fakes import DROP, FakeServer, free_port_url

# -- helpers ----------------------------------------------------------------------------------------

TGI_INFO = {
    "model_id": "bigscience/blomm-560m",
    "model_sha": "e985a63cdc139290c5f700ff1929f0b5942cced2",
    "model_pipeline_tag": "text-generation",
    "max_concurrent_requests": 128,
    "max_best_of": 2,
    "max_stop_sequences": 4,
    "max_input_tokens": 1024,
    "max_total_tokens": 2048,
    "validation_workers": 2,
    "max_client_batch_size": 32,
    "router": "text-generation-router",
    "version": "3.3.6",
    "sha": None,
    "docker_label": None,
}
TGI_MODELS = {"object": "list", "data": [{"id": TGI_INFO["model_id"], "object": "model", "created": 0, "owned_by": TGI_INFO["model_id"]}]}
VLLM_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "served-llama",
            "object": "model",
            "created": 1,
            "owned_by": "vllm",
            "root": "meta-llama/Llama-3.1-8B-Instruct",
            "parent": None,
            "max_model_len": 8192,
            "permission": [],
        }
    ],
}
TS_MODELS = {"object": "list", "data": [{"id": "/models/tiny", "object": "model", "owned_by": "local", "created": 0, "status": {"value": "loaded"}}]}
GENERATE_OK = {"generated_text": " fine.", "details": {"finish_reason": "eos_token", "generated_tokens": 3, "seed": None, "prefill": [], "tokens": []}}
CHAT_OK = {
    "id": "",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {"role": "assistant", "content": "Yes."}}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}

Entry = Any  # a (status, headers, body) tuple, or a callable (body, nth_call_of_this_route) -> that


def routes(table: dict[tuple[str, str], Entry]) -> Callable[[str, str, Any, int], Any]:
    """A FakeServer handler from a route table; unknown routes get axum's empty 404."""
    calls: Counter[tuple[str, str]] = Counter()

    def handler(method: str, path: str, body: Any, count: int) -> Any:
        key = (method, path)
        if key not in table:
            return 404, {}, b""
        calls[key] += 1
        entry = table[key]
        return entry(body, calls[key]) if callable(entry) else entry

    return handler


def tgi_routes(**extra: Entry) -> dict[tuple[str, str], Entry]:
    table: dict[tuple[str, str], Entry] = {
        ("GET", "/health"): (200, {}, b""),
        ("GET", "/info"): (200, {}, TGI_INFO),
        ("GET", "/v1/models"): (200, {}, TGI_MODELS),
    }
    for key, value in extra.items():
        method, _, path = key.partition("_")
        table[(method.upper(), "/" + path.replace("__", "/"))] = value
    return table


class Sleeps(list):
    """Injected sleep: records the delays instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client_for(url: str, sleeps: Sleeps | None = None, **kwargs: Any) -> EndpointClient:
    return EndpointClient(url, sleep=sleeps if sleeps is not None else Sleeps(), rng_seed=0, **kwargs)


async def discover(url: str, **kwargs: Any) -> EndpointInfo:
    async with client_for(url, **kwargs) as client:
        return await client.discover()


def tgi_info(url: str) -> EndpointInfo:
    return EndpointInfo(url=url, server_kind="tgi", model_id="m", served_model_name="m", supports_generate=True)


def vllm_info(url: str) -> EndpointInfo:
    return EndpointInfo(url=url, server_kind="vllm", model_id="served-llama", served_model_name="served-llama")


def gen_request(stop: tuple[str, ...] = (), truncate: int | None = None, max_new_tokens: int = 16) -> Request:
    return Request("generate", GenerationParams(max_new_tokens, stop, truncate), prompt="<s>[INST] Hi [/INST]")


def chat_request(stop: tuple[str, ...] = ()) -> Request:
    messages = (Message("system", "You are a clinician."), Message("user", "Is this normal?"))
    return Request("chat", GenerationParams(32, stop), messages=messages)


async def complete(url: str, request: Request, info: EndpointInfo, **kwargs: Any) -> Completion:
    async with client_for(url, **kwargs) as client:
        return await client.complete(request, info)


def without_latency(completion: Completion) -> Completion:
    return dataclasses.replace(completion, latency_s=None)


@pytest.fixture
def serve():
    """serve(handler_or_route_table) -> a started FakeServer, stopped after the test."""
    servers: list[FakeServer] = []

    def start(handler: Any) -> FakeServer:
        server = FakeServer(routes(handler) if isinstance(handler, dict) else handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# -- discovery ----------------------------------------------------------------------------------------


def test_discover_tgi(serve):
    server = serve(tgi_routes())
    info = run(discover(server.url))
    assert info == EndpointInfo(
        url=server.url,
        server_kind="tgi",
        model_id="bigscience/blomm-560m",
        model_revision="e985a63cdc139290c5f700ff1929f0b5942cced2",
        served_model_name="bigscience/blomm-560m",
        max_concurrent_requests=128,
        max_input_tokens=1024,
        max_total_tokens=2048,
        supports_generate=True,
    )
    assert info.raw["info"] == TGI_INFO
    assert server.paths() == ["/health", "/info", "/v1/models"]


@pytest.mark.parametrize(
    ("router", "kind"),
    [("clue-checks-baseline", "clue-baseline"), ("some-other-router", "tgi-compatible"), (None, "tgi-compatible")],
)
def test_discover_tgi_like_servers_and_old_tgi_fields(serve, router, kind):
    old = {k: v for k, v in TGI_INFO.items() if k not in ("max_input_tokens", "model_sha", "router")}
    old.update(max_input_length=1000, router=router)
    # TGI < 2 has no /v1/models: the served name falls back to model_id.
    server = serve({("GET", "/health"): (200, {}, b""), ("GET", "/info"): (200, {}, old)})
    info = run(discover(server.url))
    assert (info.server_kind, info.max_input_tokens, info.model_revision) == (kind, 1000, None)
    assert info.served_model_name == info.model_id == "bigscience/blomm-560m"
    assert info.supports_generate


def test_discover_vllm(serve):
    server = serve(
        {
            ("GET", "/health"): (200, {}, b""),
            ("GET", "/info"): (404, {}, {"detail": "Not Found"}),
            ("GET", "/v1/models"): (200, {}, VLLM_MODELS),
        }
    )
    info = run(discover(server.url))
    assert info == EndpointInfo(
        url=server.url,
        server_kind="vllm",
        model_id="served-llama",
        served_model_name="served-llama",
        max_total_tokens=8192,
        supports_generate=False,
    )
    assert server.paths() == ["/health", "/info", "/v1/models"]


def test_discover_transformers_serve(serve):
    server = serve(
        {
            ("GET", "/health"): (200, {}, {"status": "ok"}),
            ("GET", "/info"): (404, {}, {"detail": "Not Found"}),
            ("GET", "/v1/models"): (200, {}, TS_MODELS),
        }
    )
    info = run(discover(server.url + "/v1/"))  # an OpenAI-SDK style base URL works too
    assert (info.server_kind, info.served_model_name, info.supports_generate) == ("transformers-serve", "/models/tiny", False)
    assert info.url == server.url


def test_discover_openai_compatible_without_health_route(serve):
    models = {"object": "list", "data": [{"id": "gpt-x", "object": "model", "owned_by": "someone"}]}
    server = serve({("GET", "/v1/models"): (200, {}, models)})  # /health and /info are 404
    info = run(discover(server.url))
    assert (info.server_kind, info.model_id, info.max_total_tokens) == ("openai-compatible", "gpt-x", None)


def test_discover_health_503_then_healthy(serve):
    health = lambda body, n: (503, {}, {"error": "unhealthy", "error_type": "healthcheck"}) if n < 3 else (200, {}, b"")
    server = serve(tgi_routes(get_health=health))
    sleeps = Sleeps()
    assert run(discover(server.url, sleeps=sleeps)).server_kind == "tgi"
    assert server.count("/health") == 3 and len(sleeps) == 2


def test_discover_health_503_forever_gives_up_within_startup_wait(serve):
    server = serve(tgi_routes(get_health=(503, {}, {"error": "unhealthy", "error_type": "healthcheck"})))
    sleeps = Sleeps()
    with pytest.raises(EndpointUnavailable) as caught:
        run(discover(server.url, sleeps=sleeps))
    err = caught.value
    assert err.status == 503 and err.server_message == "unhealthy"
    assert server.url + "/health" in str(err) and "loading the model" in str(err)
    assert 1 < server.count("/health") <= 10
    assert sum(sleeps) <= 10.0
    assert server.count("/info") == 0


def test_discover_unreachable_fails_fast_and_names_the_url():
    url = free_port_url()
    sleeps = Sleeps()
    with pytest.raises(EndpointUnavailable) as caught:
        run(discover(url, sleeps=sleeps, connect_timeout=2.0))
    assert sum(sleeps) < 1.0  # no backoff budget spent on a port nobody listens on
    message = str(caught.value)
    assert url in message and "connection refused" in message and "--model-endpoint" in message
    assert "3 attempts" in message


def test_discover_html_info_is_unavailable_with_body_excerpt(serve):
    page = "<html><body>" + "Welcome to the hospital intranet. " * 20 + "</body></html>"
    server = serve(tgi_routes(get_info=(200, {"Content-Type": "text/html"}, page)))
    with pytest.raises(EndpointUnavailable) as caught:
        run(discover(server.url))
    err = caught.value
    assert err.url == server.url + "/info" and "not JSON" in str(err)
    assert err.server_message == page[:200]


def test_discover_undecodable_info_names_the_url(serve):
    # A body that does not match its Content-Encoding: httpx2.DecodingError escaped unwrapped.
    server = serve(tgi_routes(get_info=(200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, b"{}")))
    with pytest.raises(EndpointUnavailable) as caught:
        run(discover(server.url))
    assert caught.value.url == server.url + "/info" and "could not be decoded" in str(caught.value)


def test_discover_silent_health_counts_read_timeouts_against_the_startup_wait(serve, monkeypatch):
    # A server that accepts connections but never answers: each /health check waits its read timeout;
    # those seconds count towards startup_wait, and the message gives the discovery timeout, not --clue-request-timeout.
    from clue_checks.endpoint import discovery

    monkeypatch.setattr(discovery, "DISCOVERY_READ_TIMEOUT", 1.0)
    release = threading.Event()
    server = serve(tgi_routes(get_health=lambda body, n: (release.wait(30), DROP)[1]))
    try:
        with pytest.raises(EndpointUnavailable) as caught:
            run(discover(server.url, startup_wait=2.0))  # timeout stays 600 s
    finally:
        release.set()
    assert 1 <= server.count("/health") <= 2  # was 3: only the sleeps between checks were counted
    assert "no response within 1 s (read timeout)" in str(caught.value)


def test_discover_neither_info_nor_models(serve):
    server = serve({("GET", "/health"): (200, {}, b"")})
    with pytest.raises(EndpointUnavailable) as caught:
        run(discover(server.url))
    assert "Neither GET /info nor GET /v1/models" in str(caught.value)
    assert server.url in str(caught.value)


def test_hf_hub_offline_does_not_block_loopback(serve, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    server = serve(tgi_routes(post_generate=(200, {}, GENERATE_OK)))
    info = run(discover(server.url))
    assert run(complete(server.url, gen_request(), info)).text == " fine."


def test_invalid_url_is_rejected_with_advice():
    with pytest.raises(ValueError, match="--model-endpoint"):
        EndpointClient("localhost:8080")


# -- request bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "truncate", "extra"),
    [((), None, {}), (("\n\n", "</s>"), None, {"stop": ["\n\n", "</s>"]}), ((), 900, {"truncate": 900})],
)
def test_generate_body_is_exactly_greedy(serve, stop, truncate, extra):
    server = serve(tgi_routes(post_generate=(200, {}, GENERATE_OK)))
    completion = run(complete(server.url, gen_request(stop, truncate), tgi_info(server.url)))
    assert without_latency(completion) == Completion(" fine.", "eos_token", 3)
    assert completion.latency_s is not None and completion.latency_s >= 0
    (sent,) = server.requests
    assert (sent.method, sent.path) == ("POST", "/generate")
    parameters = {"do_sample": False, "max_new_tokens": 16, "details": True, **extra}
    assert sent.body == {"inputs": "<s>[INST] Hi [/INST]", "parameters": parameters}
    assert "authorization" not in sent.headers


def test_generate_accepts_compat_array_shape(serve):
    server = serve(tgi_routes(post_generate=(200, {}, [GENERATE_OK])))
    assert run(complete(server.url, gen_request(), tgi_info(server.url))).text == " fine."


@pytest.mark.parametrize(("stop", "extra"), [((), {}), (("###",), {"stop": ["###"]})])
def test_chat_body_is_exact(serve, stop, extra):
    server = serve({("POST", "/v1/chat/completions"): (200, {}, CHAT_OK)})
    completion = run(complete(server.url, chat_request(stop), vllm_info(server.url)))
    # usage.prompt_tokens is the server's own count of the prompt
    assert without_latency(completion) == Completion("Yes.", "stop", 2, prompt_tokens=10)
    (sent,) = server.requests
    assert sent.body == {
        "model": "served-llama",
        "messages": [{"role": "system", "content": "You are a clinician."}, {"role": "user", "content": "Is this normal?"}],
        "max_tokens": 32,
        "temperature": 0,
        "stream": False,
        **extra,
    }
    assert "top_p" not in sent.body


def test_chat_null_content_is_empty_text_and_usage_optional(serve):
    reply = {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": None}}]}
    server = serve({("POST", "/v1/chat/completions"): (200, {}, reply)})
    completion = run(complete(server.url, chat_request(), vllm_info(server.url)))
    assert without_latency(completion) == Completion("", "length", None, None)


def test_api_key_is_sent_as_bearer(serve):
    server = serve(tgi_routes(post_generate=(200, {}, GENERATE_OK)))
    run(complete(server.url, gen_request(), tgi_info(server.url), api_key="s3cret"))
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


def test_generate_mode_on_a_chat_only_server_is_refused_without_sending(serve):
    server = serve({})
    with pytest.raises(EndpointError, match="chat mode"):
        run(complete(server.url, gen_request(), vllm_info(server.url)))
    assert server.requests == []


# -- retries and errors -----------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(serve):
    overloaded = (429, {"Retry-After": "7"}, {"error": "Model is overloaded", "error_type": "overloaded"})
    server = serve(tgi_routes(post_generate=lambda body, n: overloaded if n == 1 else (200, {}, GENERATE_OK)))
    sleeps = Sleeps()
    assert run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps)).text == " fine."
    assert sleeps == [pytest.approx(7.0)]
    assert server.count("/generate") == 2


def test_503_then_200(serve):
    unavailable = (503, {}, {"error": {"message": "busy", "type": "ServiceUnavailableError", "code": 503}})
    server = serve({("POST", "/v1/chat/completions"): lambda body, n: unavailable if n == 1 else (200, {}, CHAT_OK)})
    sleeps = Sleeps()
    assert run(complete(server.url, chat_request(), vllm_info(server.url), sleeps=sleeps)).text == "Yes."
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # base 0.5 with 50% jitter


def test_dropped_connection_is_retried(serve):
    server = serve(tgi_routes(post_generate=lambda body, n: DROP if n == 1 else (200, {}, GENERATE_OK)))
    sleeps = Sleeps()
    assert run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps)).text == " fine."
    assert server.count("/generate") == 2 and len(sleeps) == 1


def test_read_timeout_is_retried_once_then_final(serve):
    # The server has the request and is busy: resending it six times would cost six --request-timeouts.
    def slow(body: Any, n: int) -> Any:
        time.sleep(1.0)
        return 200, {}, GENERATE_OK

    server = serve(tgi_routes(post_generate=slow))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps, timeout=0.2))
    err = caught.value
    assert "after 2 attempts" in str(err) and "read timeout" in str(err) and "--clue-request-timeout" in str(err)
    assert not err.retryable and len(sleeps) == 1  # final: a slow server is not a dead one


def test_connection_refused_during_complete_is_retried_then_reported():
    url = free_port_url()
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(url, gen_request(), tgi_info(url), sleeps=sleeps, retry=RetryPolicy(max_attempts=3)))
    assert "after 3 attempts" in str(caught.value) and "connection refused" in str(caught.value)
    assert caught.value.retryable and len(sleeps) == 2


def test_retries_exhausted_says_how_many_attempts(serve):
    server = serve(tgi_routes(post_generate=(503, {}, {"error": "Model is loading", "error_type": "unavailable"})))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps))
    err = caught.value
    assert server.count("/generate") == 6 and len(sleeps) == 5
    assert "after 6 attempts" in str(err) and err.status == 503 and err.server_message == "Model is loading"


def test_a_429_gets_more_tries_and_says_to_lower_concurrency(serve):
    # 429 is "not now", no work done: under an adaptive in-flight limit a request may meet several.
    server = serve(tgi_routes(post_generate=(429, {}, {"error": "Model is overloaded", "error_type": "overloaded"})))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps, retry=RetryPolicy(max_attempts=3)))
    err = caught.value
    assert server.count("/generate") == 12 and "after 12 attempts" in str(err)
    assert err.status == 429 and err.kind == "overloaded" and "--clue-concurrency" in str(err)


def test_422_is_not_retried_and_carries_the_server_message(serve):
    message = "Input validation error: `top_p` must be > 0.0 and < 1.0"
    server = serve(tgi_routes(post_generate=(422, {}, {"error": message, "error_type": "validation"})))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps))
    err = caught.value
    assert (err.status, err.server_message, err.retryable) == (422, message, False)
    assert server.count("/generate") == 1 and sleeps == []
    assert server.url + "/generate" in str(err)


def test_vllm_nested_error_is_parsed(serve):
    body = {"error": {"message": "The model `dummy` does not exist.", "type": "NotFoundError", "param": None, "code": 404}}
    server = serve({("POST", "/v1/chat/completions"): (404, {}, body)})
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, chat_request(), vllm_info(server.url)))
    assert (caught.value.status, caught.value.server_message) == (404, "The model `dummy` does not exist.")
    assert "served model name" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"detail": "Server is pinned to '/m'; requested 'x'."}, "Server is pinned to '/m'; requested 'x'."),
        (422, "Failed to deserialize the JSON body into the target type: missing field `inputs`", "Failed to deserialize the JSON body into the target type: missing field `inputs`"),
        (401, b"", "Unauthorized"),
    ],
)
def test_fastapi_plain_text_and_empty_errors(serve, status, body, expected):
    server = serve({("POST", "/v1/chat/completions"): (status, {}, body)})
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, chat_request(), vllm_info(server.url)))
    assert (caught.value.status, caught.value.server_message) == (status, expected)
    assert server.count("/v1/chat/completions") == 1


@pytest.mark.parametrize("status", [424, 500])
def test_generation_failures_are_not_retried(serve, status):
    body = {"error": "Request failed during generation: CUDA OOM", "error_type": "generation"}
    server = serve(tgi_routes(post_generate=(status, {}, body)))
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url)))
    assert (caught.value.status, caught.value.retryable) == (status, False)
    assert caught.value.server_message == body["error"]
    assert server.count("/generate") == 1


@pytest.mark.parametrize("payload", [b"<html>proxy hiccup</html>", {"unexpected": True}])
def test_malformed_200_is_retried_once_then_raised(serve, payload):
    server = serve(tgi_routes(post_generate=(200, {}, payload)))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps))
    err = caught.value
    assert "malformed" in str(err) and "after 2 attempts" in str(err)
    assert server.count("/generate") == 2 and len(sleeps) == 1
    assert err.server_message and len(err.server_message) <= 200


def test_undecodable_body_is_malformed_retried_once_then_raised(serve):
    gzip_lie = (200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, b'{"generated_text": "x"}')
    server = serve(tgi_routes(post_generate=gzip_lie))
    sleeps = Sleeps()
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), sleeps=sleeps))
    err = caught.value
    assert "malformed" in str(err) and "after 2 attempts" in str(err) and server.url + "/generate" in str(err)
    assert server.count("/generate") == 2 and len(sleeps) == 1


def test_malformed_then_good_succeeds(serve):
    server = serve(tgi_routes(post_generate=lambda body, n: (200, {}, b"{trunc") if n == 1 else (200, {}, GENERATE_OK)))
    assert run(complete(server.url, gen_request(), tgi_info(server.url))).text == " fine."


# -- tokenize_offsets -------------------------------------------------------------------------------


async def tokenize_offsets(url: str, info: EndpointInfo, text: str = "chest pain") -> list[tuple[int, int]] | None:
    async with client_for(url) as client:
        return await client.tokenize_offsets(text, info)


def tgi_tokens(*spans: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"id": i, "text": "", "start": start, "stop": stop} for i, (start, stop) in enumerate(spans)]


def test_tokenize_offsets_tgi_shape(serve):
    server = serve({("POST", "/tokenize"): (200, {}, tgi_tokens((0, 0), (0, 5), (5, 10)))})
    assert run(tokenize_offsets(server.url, tgi_info(server.url))) == [(0, 0), (0, 5), (5, 10)]
    assert server.requests[0].body == {"inputs": "chest pain"}


def test_tokenize_offsets_tgi_byte_offsets_become_character_offsets(serve):
    # "Größe ok": ö and ß are two UTF-8 bytes each; TGI (Rust `encode`) answers byte offsets.
    server = serve({("POST", "/tokenize"): (200, {}, tgi_tokens((0, 4), (4, 7), (7, 10)))})
    assert run(tokenize_offsets(server.url, tgi_info(server.url), "Größe ok")) == [(0, 3), (3, 5), (5, 8)]


@pytest.mark.parametrize("spans", [((0, 0), (0, 0), (0, 0)), ((0, 5), (5, 99))])
def test_tokenize_offsets_tgi_without_usable_offsets_is_none(serve, spans):
    # All zero: TGI on a Python (slow) tokenizer. Past the end: not offsets into this text.
    server = serve({("POST", "/tokenize"): (200, {}, tgi_tokens(*spans))})
    assert run(tokenize_offsets(server.url, tgi_info(server.url))) is None


def test_tokenize_offsets_tgi_malformed_raises(serve):
    server = serve({("POST", "/tokenize"): (200, {}, [{"id": 1, "text": "chest"}])})
    with pytest.raises(EndpointError, match="malformed"):
        run(tokenize_offsets(server.url, tgi_info(server.url)))


@pytest.mark.parametrize("text, strs, expected", [
    # Byte-level BPE (Llama 3, GPT-2): "Ġ" is a space, "Ã©" the two bytes of "é".
    ("chest pain é", ["<|begin_of_text|>", "chest", "Ġpain", "ĠÃ©"], [(0, 0), (0, 5), (5, 10), (10, 12)]),
    # SentencePiece (Llama 2, Mistral): "▁" is a space, added before the first word; bytes as <0xNN>.
    ("chest pain\n", ["<s>", "▁chest", "▁pain", "<0x0A>"], [(0, 0), (0, 5), (5, 10), (10, 11)]),
])
def test_tokenize_offsets_vllm_rebuilt_from_token_strs(serve, text, strs, expected):
    reply = {"count": len(strs), "max_model_len": 8192, "tokens": list(range(len(strs))), "token_strs": strs}
    server = serve({("POST", "/tokenize"): (200, {}, reply)})
    assert run(tokenize_offsets(server.url, vllm_info(server.url), text)) == expected
    assert server.requests[0].body == {"model": "served-llama", "prompt": text, "return_token_strs": True}


@pytest.mark.parametrize("strs", [None, ["<s>", "▁chest"], ["<s>", "▁chest", "▁pains"], ["<s>", "chest", "##pain"]])
def test_tokenize_offsets_vllm_without_spelling_token_strs_is_none(serve, strs):
    tokens = list(range(len(strs))) if strs else [1, 2, 3]
    server = serve({("POST", "/tokenize"): (200, {}, {"count": len(tokens), "tokens": tokens, "token_strs": strs})})
    assert run(tokenize_offsets(server.url, vllm_info(server.url))) is None


def test_tokenize_offsets_other_errors_raise(serve):
    server = serve({("POST", "/tokenize"): (400, {}, {"error": {"message": "bad prompt", "code": 400}})})
    with pytest.raises(EndpointError, match="bad prompt"):
        run(tokenize_offsets(server.url, vllm_info(server.url)))


def test_tokenize_offsets_without_tokenizer_is_none(serve):
    server = serve({("POST", "/tokenize"): (404, {}, {"error": "No fast tokenizer available", "error_type": "no_tokenizer"})})
    assert run(tokenize_offsets(server.url, tgi_info(server.url))) is None
    served_nothing = serve({})
    assert run(tokenize_offsets(served_nothing.url, vllm_info(served_nothing.url))) is None


def test_scheduler_tokenize_offsets(serve):
    from clue_checks.endpoint.scheduler import Scheduler
    from clue_checks.endpoint.store import NullStore

    server = serve(tgi_routes(post_tokenize=(200, {}, tgi_tokens((0, 5), (5, 10)))))
    scheduler = Scheduler([server.url], NullStore())
    try:
        scheduler.start()
        assert scheduler.tokenize_offsets("chest pain") == [(0, 5), (5, 10)]
    finally:
        scheduler.close()


# -- error-body and header helpers ------------------------------------------------------------------


def test_server_message_truncates_long_bodies():
    response = httpx2.Response(502, text="<html>" + "x" * 2000 + "</html>")
    message = server_message(response)
    assert message is not None and len(message) <= 500 and message.startswith("<html>xxx")


def test_retry_after_http_date_and_garbage():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds(httpx2.Response(503, headers={"Retry-After": date}), now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds(httpx2.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx2.Response(503, headers={"Retry-After": "-5"})) == 0.0
    assert retry_after_seconds(httpx2.Response(503)) is None


@pytest.mark.parametrize("form", ["asctime", "minus-zero"])
def test_retry_after_http_date_without_zone_is_gmt_not_local_time(monkeypatch, form):
    # RFC 9110 §5.6.7: every HTTP-date is GMT, the asctime form included; it was read as local time.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = time.time()
        when = time.gmtime(now + 30)
        value = (time.strftime("%a %b %d %H:%M:%S %Y", when) if form == "asctime"
                 else time.strftime("%a, %d %b %Y %H:%M:%S -0000", when))
        seconds = retry_after_seconds(httpx2.Response(503, headers={"Retry-After": value}), now=now)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert seconds == pytest.approx(30, abs=1)


# -- RetryPolicy properties -------------------------------------------------------------------------

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 10),
    base_delay=st.floats(0, 10, allow_nan=False),
    max_delay=st.floats(0, 120, allow_nan=False),
    jitter=st.floats(0, 1, allow_nan=False),
)
retry_afters = st.none() | st.floats(-10, 10_000, allow_nan=False)


@given(policy=policies, attempt=st.integers(1, 2000), retry_after=retry_afters, seed=st.integers(0, 2**32))
def test_retry_delay_bounds(policy, attempt, retry_after, seed):
    delay = policy.delay(attempt, retry_after, random.Random(seed))
    assert delay >= 0
    if retry_after is None:
        backoff = policy.backoff(attempt)
        assert backoff * (1 - policy.jitter) - 1e-9 <= delay <= backoff <= policy.max_delay
    else:
        honoured = min(max(retry_after, 0.0), policy.max_delay * 4)
        assert delay >= honoured
        assert delay <= max(policy.max_delay, honoured) <= policy.max_delay * 4


@given(policy=policies, attempt=st.integers(1, 50))
def test_retry_backoff_grows_until_the_cap(policy, attempt):
    assert policy.backoff(attempt + 1) >= policy.backoff(attempt)
    assert policy.backoff(attempt + 1) == pytest.approx(min(policy.max_delay, 2 * policy.backoff(attempt)))


def test_retry_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


# -- rendering (generate mode: CLUE's TGI-era prompt, docs/clue-faithfulness.md#conversation-layout) -------------------------

GEMMA_LIKE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
MISTRAL_LIKE = (
    "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% else %}{{ m['content'] + eos_token }}"
    "{% endif %}{% endfor %}"
)


@pytest.fixture
def local_tokenizer():
    from clue_checks.rendering import load_tokenizer
    from clue_checks.server.baseline import TOKENIZER_DIR

    return load_tokenizer(str(TOKENIZER_DIR))  # a local folder: no hub access either way


def clue_prompt() -> Any:
    from clue_checks.tasks.base import Prompt, Turn

    messages = (Turn("system", "SYS"), Turn("user", "U1"), Turn("assistant", "A1"), Turn("user", "U2"))
    return Prompt(messages, 200, assistant_prefix="Question: ")


def clue_spec(**kwargs: Any) -> Any:
    from clue_checks.rendering_specs import RenderingSpec

    return RenderingSpec(truncate_reserve=200, **kwargs)


def llama3_info(model_id: str = "meta-llama/Meta-Llama-3-8B-Instruct") -> EndpointInfo:
    return EndpointInfo(url="http://127.0.0.1:1", server_kind="tgi", model_id=model_id, max_input_tokens=8191,
                        max_total_tokens=8192, supports_generate=True)


@pytest.mark.parametrize(("template", "expected"), [
    (GEMMA_LIKE, "<s><start_of_turn>user\nSYS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
                 "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\nQuestion: "),
    (MISTRAL_LIKE, "<s>[INST] SYS\n\nU1 [/INST]A1</s>[INST] U2 [/INST]Question: "),
    (None, "SYS\n\nU1\n\nA1\n\nU2\n\nQuestion: "),  # base model: CLUE's plain transcript
])
def test_render_system_rejecting_templates_and_base_transcript(local_tokenizer, template, expected):
    from clue_checks.rendering import LLAMA3_STOPS, Renderer

    local_tokenizer.chat_template = template
    request = Renderer("generate", llama3_info(), local_tokenizer).request(clue_prompt(), clue_spec())
    assert request.prompt == expected
    assert request.params == GenerationParams(200, LLAMA3_STOPS, 8192 - 200)


def test_render_llama3_stops_only_for_llama3_ids_and_generate_mode(local_tokenizer):
    from clue_checks.rendering import LLAMA3_STOPS, Renderer

    assert LLAMA3_STOPS == ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>")
    for model_id, stops in [("meta-llama/Meta-Llama-3.1-8B-Instruct", LLAMA3_STOPS), ("x/LLAMA3-med", LLAMA3_STOPS),
                            ("mistralai/Mistral-7B-Instruct-v0.2", ())]:
        assert Renderer("generate", llama3_info(model_id), local_tokenizer).request(
            clue_prompt(), clue_spec()).params.stop == stops
    no_stops = clue_spec(model_stop_sequences=False)  # LongHealth tasks 2/3
    assert Renderer("generate", llama3_info(), local_tokenizer).request(clue_prompt(), no_stops).params.stop == ()
    chat = Renderer("chat", llama3_info()).request(clue_prompt(), clue_spec())
    assert chat.params == GenerationParams(200, (), None)
    assert chat.messages == tuple(Message(t.role, t.content) for t in clue_prompt().messages)


def test_system_role_merge_puts_the_system_prompt_into_the_first_user_turn(local_tokenizer):
    from clue_checks.rendering import Renderer

    chat = Renderer("chat", llama3_info(), merge_system_role=True).request(clue_prompt())
    assert chat.messages == (Message("user", "SYS\n\nU1"), Message("assistant", "A1"), Message("user", "U2"))
    lh = Renderer("chat", llama3_info(), merge_system_role=True).request(clue_prompt(),
                                                                        clue_spec(system_merge_separator=""))
    assert lh.messages[0] == Message("user", "SYSU1")  # LongHealth glues them without a separator, as CLUE did
    # Generate mode merges on request even where the template would take the system role.
    local_tokenizer.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    kept = Renderer("generate", llama3_info(), local_tokenizer).request(clue_prompt())
    assert kept.prompt.startswith("[system] SYS\n[user] U1\n")
    merged = Renderer("generate", llama3_info(), local_tokenizer, merge_system_role=True).request(clue_prompt())
    assert merged.prompt.startswith("[user] SYS\n\nU1\n[assistant] A1\n")


@pytest.mark.parametrize("message", ["System role not supported",
                                     "Conversation roles must alternate user/assistant/user/assistant/..."])
def test_a_chat_template_refusing_the_system_role_says_to_merge_it(serve, message):
    server = serve(tgi_routes(post_v1__chat__completions=(400, {}, {"object": "error", "message": message,
                                                                      "type": "BadRequestError", "code": 400})))
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, chat_request(), vllm_info(server.url)))
    assert "--clue-system-role=merge" in str(caught.value) and message[:30] in str(caught.value)
    assert server.count("/v1/chat/completions") == 1  # a validation error is not retried


def test_proxy_environment_is_not_used_for_the_model_endpoint(serve, monkeypatch):
    # Clinical text goes only to the endpoint the user named; a proxy from the environment (here a dead
    # one) would also send loopback traffic away.
    dead_proxy = free_port_url()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server = serve(tgi_routes(post_generate=(200, {}, GENERATE_OK)))
    info = run(discover(server.url))
    assert run(complete(server.url, gen_request(), info)).text == " fine."


# -- redaction -------------------------------------------------------------------------------------------


def test_redactor_masks_every_form_a_server_may_echo():
    from clue_checks.endpoint.redact import Redactor, redact

    key = 'sk-"quoted"/key+1'
    redactor = Redactor.for_endpoint(api_key=key, headers={"X-Tenant": "ward7", "X-Flag": "on"},
                                     urls=["http://user:p4ssw0rd@host:8080"])
    echoed = (f"Bearer {key} | {json.dumps(key)} | {urllib.parse.quote(key, safe='')} | ward7 | "
              "http://user:p4ssw0rd@host | flag on")
    masked = redactor(echoed)
    assert key not in masked and json.dumps(key)[1:-1] not in masked and "ward7" not in masked
    assert "p4ssw0rd" not in masked and "flag on" in masked  # a two-letter value is not a secret
    assert redact("key abcd", ["abcd"]) == "key [REDACTED]" and Redactor()("abcd") == "abcd"


def test_client_errors_carry_no_secret_whatever_the_server_echoes(serve):
    key = "sk-live-abcdef123456"
    echo = {"error": f"Unauthorized: Bearer {key}"}
    server = serve(tgi_routes(post_generate=(401, {}, echo)))
    with pytest.raises(EndpointError) as caught:
        run(complete(server.url, gen_request(), tgi_info(server.url), api_key=key))
    err = caught.value
    assert key not in str(err) and key not in (err.server_message or "") and "[REDACTED]" in str(err)
    assert err.__cause__ is None and err.__suppress_context__
    assert "API key" in str(err)  # the advice stays


@pytest.mark.parametrize(("details", "usage", "expected"), [
    ({"prefill": []}, None, None),  # TGI without decoder_input_details: it does not say
    ({"prefill": [{"id": 1}, {"id": 2}, {"id": 3}]}, None, 3),
    ({}, {"prompt_tokens": 12, "completion_tokens": 4}, 12),
])
def test_generate_prompt_tokens_only_when_the_server_says(serve, details, usage, expected):
    reply = {"generated_text": "x", "details": {"finish_reason": "length", "generated_tokens": 1, **details}}
    if usage:
        reply["usage"] = usage
    server = serve(tgi_routes(post_generate=(200, {}, reply)))
    assert run(complete(server.url, gen_request(), tgi_info(server.url))).prompt_tokens == expected
