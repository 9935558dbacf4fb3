"""The baseline server: TGI/OpenAI wire shapes (checked against TGI's OpenAPI spec), real
clients (huggingface_hub, openai), validation, overload, counting, tokenizer and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from openapi_schema_validator import OAS30Validator

from clue_checks.server import BaselineServer, heuristics
from clue_checks.server import baseline as baseline_mod
from clue_checks.server.baseline import MODEL_ID, TOKENIZER_DIR

def _nullable_refs(node: Any) -> Any:
    """TGI's spec marks optional objects as ``{"allOf": [$ref], "nullable": true}``, which OpenAPI 3.0
    validators read as not nullable (``nullable`` only widens a ``type`` beside it), while TGI itself sends
    null there (``"logprobs": null``). Spell those as "the object or null"."""
    if isinstance(node, list):
        return [_nullable_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_refs(value) for key, value in node.items()}
    if "allOf" in node and node.get("nullable") is True and "type" not in node:
        rest = {k: v for k, v in node.items() if k not in ("allOf", "nullable", "default")}
        return {"anyOf": [{"allOf": node["allOf"]}, {"enum": [None]}], **rest}
    return node


SPEC = json.loads((Path(__file__).parents[1] / "data" / "tgi-openapi.json").read_text(encoding="utf-8"))
COMPONENTS = _nullable_refs(SPEC["components"])
REPO = Path(__file__).resolve().parents[2]


def validate(instance: Any, schema_name: str) -> None:
    """Validate against ``#/components/schemas/<name>`` (OpenAPI 3.0: nullable etc.)."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": COMPONENTS}
    OAS30Validator(schema).validate(instance)


def test_the_validator_accepts_null_where_tgi_sends_it_and_nothing_else() -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}
    validate(choice | {"logprobs": None}, "ChatCompletionComplete")
    with pytest.raises(Exception, match="logprobs|valid"):
        validate(choice | {"logprobs": 3}, "ChatCompletionComplete")


def sse_events(text: str) -> list[str]:
    return [line[len("data:"):].strip() for line in text.splitlines() if line.startswith("data:")]


@pytest.fixture(scope="module")
def server() -> Iterator[BaselineServer]:
    srv = BaselineServer(host="127.0.0.1", port=0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture()
def client(server: BaselineServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _meqsum_messages() -> list[dict[str, str]]:
    p = heuristics.PROMPTS["meqsum"]
    chq = "SUBJECT: cetirizine\nMESSAGE: I take cetirizine for hay fever. Can I take it with ibuprofen?"
    return [{"role": "system", "content": p["system"]}, {"role": "user", "content": p["user"].format(CHQ=chq)}]


# ---------------------------------------------------------------- TGI routes


def test_health_info_models(server: BaselineServer, client: httpx.Client) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    for path in ("/health", "/", "/ping"):
        r = client.get(path)
        assert r.status_code == 200 and r.content == b""
    info = client.get("/info").json()
    validate(info, "Info")
    assert info["model_id"] == MODEL_ID and info["router"] == "clue-checks-baseline"
    assert info["model_sha"] == baseline_mod.model_sha() and len(info["model_sha"]) == 16
    assert info["max_concurrent_requests"] == 64 and info["max_input_tokens"] == 1_000_000
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and len(models["data"]) == 1
    validate(models["data"][0], "ModelInfo")
    assert models["data"][0] == {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": MODEL_ID}


def test_generate_details_and_finish_reasons(client: httpx.Client) -> None:
    body = {"inputs": "hello", "parameters": {"max_new_tokens": 100, "details": True, "do_sample": False}}
    out = client.post("/generate", json=body).json()
    validate(out, "GenerateResponse")
    assert out["generated_text"] == heuristics.UNKNOWN_ANSWER
    details = out["details"]
    assert details["finish_reason"] == "eos_token" and details["seed"] is None and details["prefill"] == []
    assert details["generated_tokens"] == len(details["tokens"])
    assert "".join(t["text"] for t in details["tokens"]) == out["generated_text"]

    body["parameters"]["max_new_tokens"] = 2
    out = client.post("/generate", json=body).json()
    assert out["details"]["finish_reason"] == "length" and out["details"]["generated_tokens"] == 2
    assert heuristics.UNKNOWN_ANSWER.startswith(out["generated_text"]) and out["generated_text"]

    body["parameters"] = {"max_new_tokens": 50, "details": True, "stop": ["know"]}
    out = client.post("/generate", json=body).json()
    assert out["details"]["finish_reason"] == "stop_sequence"
    assert out["generated_text"].endswith("know")  # like TGI, the stop sequence is included

    plain = client.post("/generate", json={"inputs": "hello", "parameters": {"max_new_tokens": 20}}).json()
    assert "details" not in plain
    full = client.post("/generate", json={"inputs": "hi ", "parameters": {"return_full_text": True}}).json()
    assert full["generated_text"] == "hi " + heuristics.UNKNOWN_ANSWER


def test_compat_route_returns_array(client: httpx.Client) -> None:
    out = client.post("/", json={"inputs": "hello", "parameters": {"details": True}}).json()
    assert isinstance(out, list) and len(out) == 1
    OAS30Validator(SPEC["paths"]["/"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
                   | {"components": COMPONENTS}).validate(out)


@pytest.mark.parametrize("path", ["/generate_stream", "/"])
def test_generate_stream(client: httpx.Client, path: str) -> None:
    body = {"inputs": "hello", "parameters": {"details": True, "max_new_tokens": 50}, "stream": True}
    r = client.post(path, json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(e) for e in sse_events(r.text)]
    for event in events:
        validate(event, "StreamResponse")
    assert "".join(e["token"]["text"] for e in events) == heuristics.UNKNOWN_ANSWER
    assert events[-1]["generated_text"] == heuristics.UNKNOWN_ANSWER
    validate(events[-1]["details"], "StreamDetails")
    assert all(e["generated_text"] is None for e in events[:-1])


def test_generate_mode_prefix_is_not_repeated(client: httpx.Client) -> None:
    prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
    out = client.post("/generate", json={"inputs": prompt, "parameters": {"max_new_tokens": 200}}).json()
    assert out["generated_text"] == "Can I take it with ibuprofen?"


def test_generate_truncate_keeps_last_tokens(client: httpx.Client, server: BaselineServer) -> None:
    prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
    user_part = prompt[prompt.index("<|user|>"):]
    keep = server.count_tokens(user_part) + 3
    assert keep < server.count_tokens(prompt) - 20
    # The system prompt falls outside the kept window; the user-template markers still identify MeQSum.
    out = client.post("/generate", json={"inputs": prompt, "parameters": {"truncate": keep}}).json()
    assert out["generated_text"] == "Can I take it with ibuprofen?"
    # Keeping only the last few tokens loses the inquiry: the baseline no longer knows the task.
    out = client.post("/generate", json={"inputs": prompt, "parameters": {"truncate": 5}}).json()
    assert out["generated_text"] == heuristics.UNKNOWN_ANSWER


def test_tokenize_and_chat_tokenize(client: httpx.Client, server: BaselineServer) -> None:
    text = "Type 2 diabetes mellitus, naïve patient"
    tokens = client.post("/tokenize", json={"inputs": text}).json()
    validate(tokens, "TokenizeResponse")
    assert [t["id"] for t in tokens] == server.tokenizer.encode(text, add_special_tokens=False).ids
    raw = text.encode()
    assert raw[tokens[0]["start"]:tokens[-1]["stop"]] == raw  # byte offsets, like TGI
    assert all(raw[t["start"]:t["stop"]].decode(errors="replace") == t["text"] for t in tokens if t["text"].isascii())

    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    out = client.post("/chat_tokenize", json={"messages": msgs}).json()
    validate(out, "ChatTokenizeResponse")
    assert out["templated_text"] == "<s><|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n"
    assert out["tokenize_response"][0]["text"] == "<s>"


# ---------------------------------------------------------------- OpenAI routes


def test_chat_completion(client: httpx.Client) -> None:
    body = {"model": MODEL_ID, "messages": _meqsum_messages(), "max_tokens": 200, "temperature": 0}
    out = client.post("/v1/chat/completions", json=body).json()
    validate(out, "ChatCompletion")
    assert out["object"] == "chat.completion" and out["model"] == MODEL_ID
    choice = out["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Can I take it with ibuprofen?"}
    assert choice["finish_reason"] == "stop"
    assert "logprobs" in choice and choice["logprobs"] is None  # as TGI: clients that require the key parse it
    usage = out["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 50

    body["max_tokens"] = 3
    out = client.post("/v1/chat/completions", json=body).json()
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["completion_tokens"] == 3


def test_chat_stream(client: httpx.Client) -> None:
    body = {"messages": _meqsum_messages(), "max_tokens": 200, "stream": True,
            "stream_options": {"include_usage": True}}
    r = client.post("/v1/chat/completions", json=body)
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        validate(chunk, "ChatCompletionChunk")
        assert chunk["object"] == "chat.completion.chunk"
    assert all(c["choices"][0]["logprobs"] is None and c["usage"] is None for c in chunks[:-1])
    content = "".join(c["choices"][0]["delta"]["content"] for c in chunks if c["choices"])
    assert content == "Can I take it with ibuprofen?"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_completions(client: httpx.Client) -> None:
    out = client.post("/v1/completions", json={"prompt": ["hello", "x"], "max_tokens": 2}).json()
    validate(out, "CompletionFinal")
    assert [c["finish_reason"] for c in out["choices"]] == ["length", "length"]


# ---------------------------------------------------------------- errors and limits


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/generate", "POST"),
        ("GET", "/generate", "POST"),
        ("DELETE", "/v1/chat/completions", "POST"),
        ("POST", "/info", "GET, HEAD"),
        ("PATCH", "/metrics", "GET, HEAD"),
        ("OPTIONS", "/", "GET, HEAD, POST"),
        ("BREW", "/tokenize", "POST"),  # a method http.server has never heard of
    ],
)
def test_a_known_route_with_the_wrong_method_is_json_405_with_allow(client: httpx.Client, method: str, path: str,
                                                                    allow: str) -> None:
    r = client.request(method, path, json={"inputs": "x"})
    assert r.status_code == 405 and r.headers["allow"] == allow
    err = r.json()
    validate(err, "ErrorResponse")
    assert err["error_type"] == "method_not_allowed" and method in err["error"] and path in err["error"]
    # The request body was consumed: the same keep-alive connection answers the next request.
    assert client.post("/generate", json={"inputs": "x"}).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_an_unknown_route_is_404_whatever_the_method(client: httpx.Client, method: str) -> None:
    assert client.request(method, "/nope", json={}).status_code == 404


def test_metrics_are_prometheus_text_with_tgi_names() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def scrape(c: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
        # TGI's counters carry no `_total` suffix on the wire; the parser adds one to the sample names.
        assert "\ntgi_request_count " in r.text and "tgi_request_count_total" not in r.text
        return {(sample.name.removesuffix("_total"), tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(r.text) for sample in family.samples}

    with BaselineServer() as srv, httpx.Client(base_url=srv.url) as c:
        before = scrape(c)
        assert before[("tgi_request_count", ())] == 0 and before[("tgi_request_success", ())] == 0
        assert before[("tgi_queue_size", ())] == 0 and before[("tgi_batch_current_size", ())] == 0
        ok = c.post("/generate", json={"inputs": "x", "parameters": {"max_new_tokens": 3, "details": True}}).json()
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 2})
        c.post("/generate", json={"inputs": ""})  # validation error
        c.post("/generate", content=b"{not json")  # not even JSON
        c.post("/tokenize", json={"inputs": "x"})  # not a generation request
        after = scrape(c)
        assert after[("tgi_request_count", ())] == 4 == srv.request_counts["total"]
        assert after[("tgi_request_success", ())] == 2
        assert after[("tgi_request_failure", (("err", "validation"),))] == 1
        assert after[("tgi_request_failure", (("err", "deserialize"),))] == 1
        assert after[("tgi_request_generated_tokens_sum", ())] == ok["details"]["generated_tokens"] + 2
        assert after[("tgi_request_generated_tokens_count", ())] == 2


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/generate", {"inputs": ""}, "`inputs` cannot be empty"),
        ("/", {"inputs": ""}, "`inputs` cannot be empty"),
        ("/generate", {"inputs": "x", "parameters": {"max_new_tokens": 0}}, "`max_new_tokens` must be strictly"),
        ("/generate", {"inputs": "x", "parameters": {"top_p": 1.0}}, "`top_p` must be > 0.0 and < 1.0"),
        ("/generate", {"inputs": "x", "parameters": {"temperature": 0}}, "`temperature` must be strictly positive"),
        ("/generate", {"inputs": "x", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}, "up to 4 stop sequences"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "top_p": 1.0}, "`top_p`"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_new_tokens"),
        ("/v1/chat/completions", {"messages": []}, "`messages` cannot be empty"),
    ],
)
def test_validation_errors(client: httpx.Client, path: str, body: dict[str, Any], fragment: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422
    err = r.json()
    validate(err, "ErrorResponse")
    assert err["error_type"] == "validation" and fragment in err["error"]


def test_chat_temperature_zero_is_greedy_not_an_error(client: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0.0}
    assert client.post("/v1/chat/completions", json=body).status_code == 200


def test_malformed_json_is_plain_400(client: httpx.Client) -> None:
    r = client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")
    r = client.post("/generate", json={"inputs": 3})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/plain")
    assert client.post("/nope", json={}).status_code == 404


def test_nan_and_infinity_are_not_json(client: httpx.Client) -> None:
    # Python's json accepts them (serde_json, hence TGI, does not); NaN max_new_tokens dropped the connection.
    for raw in (b'{"inputs": "x", "parameters": {"max_new_tokens": NaN}}', b'{"inputs": "x", "parameters": {"truncate": Infinity}}'):
        r = client.post("/generate", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/plain")


def test_bad_stream_options_is_422_not_a_dropped_connection(client: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True, "stream_options": "yes"}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 422 and "stream_options" in r.text


def test_internal_error_answers_500_json(server: BaselineServer, client: httpx.Client,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> int:
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(server, "count_tokens", broken)
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 500
    err = r.json()
    validate(err, "ErrorResponse")
    assert "tokenizer exploded" in err["error"]


def test_head_on_get_routes(client: httpx.Client) -> None:
    # axum, hence TGI, answers HEAD on GET routes; health probes use it.
    for path in ("/health", "/info", "/v1/models"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""


def test_overload_429_and_latency() -> None:
    srv = BaselineServer(port=0, latency_s=0.5, max_concurrent_requests=1)
    srv.start()
    try:
        statuses: list[int] = []
        bodies: list[Any] = []

        def call() -> None:
            r = httpx.post(srv.url + "/generate", json={"inputs": "x", "parameters": {"max_new_tokens": 5}}, timeout=10)
            statuses.append(r.status_code)
            bodies.append(r.json())

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.1)  # the first request is in flight (sleeping) when the second arrives
        for t in threads:
            t.join()
        assert sorted(statuses) == [200, 429]
        assert {"error": "Model is overloaded", "error_type": "overloaded"} in bodies
        # The slot is free again once the first answer went out.
        assert httpx.post(srv.url + "/generate", json={"inputs": "x"}, timeout=10).status_code == 200
    finally:
        srv.stop()


def test_request_counts() -> None:
    with BaselineServer() as srv, httpx.Client(base_url=srv.url) as c:
        c.get("/info")
        c.post("/tokenize", json={"inputs": "x"})
        assert srv.request_counts["total"] == 0
        c.post("/generate", json={"inputs": "x"})
        c.post("/generate", json={"inputs": ""})  # rejected requests count too: they were sent
        c.post("/", json={"inputs": "x"})
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
        counts = srv.request_counts
        assert counts["/generate"] == 2 and counts["/"] == 1 and counts["/v1/chat/completions"] == 1
        assert counts["total"] == 4
        srv.reset_counts()
        assert srv.request_counts["total"] == 0


def test_keep_alive_and_stop(server: BaselineServer) -> None:
    srv = BaselineServer()
    url = srv.start()
    try:
        with httpx.Client(base_url=url) as c:
            for _ in range(5):  # one pooled connection, several requests
                assert c.post("/generate", json={"inputs": "x"}).status_code == 200
            srv.stop()
            with pytest.raises(httpx.HTTPError):
                c.get("/health")
    finally:
        srv.stop()  # idempotent


# ---------------------------------------------------------------- real clients


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub refuses every URL, localhost included, in offline mode.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub reads the variable once, at import: an earlier import under HF_HUB_OFFLINE=1 sticks.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_huggingface_hub_text_generation(server: BaselineServer, online: None) -> None:
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import ValidationError

    hf = InferenceClient(model=server.url)
    prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
    assert hf.text_generation(prompt, max_new_tokens=200) == "Can I take it with ibuprofen?"
    out = hf.text_generation(prompt, max_new_tokens=3, details=True)
    assert out.details.finish_reason == "length" and out.details.generated_tokens == 3
    assert "".join(hf.text_generation(prompt, max_new_tokens=200, stream=True)) == "Can I take it with ibuprofen?"
    with pytest.raises(ValidationError):
        hf.text_generation("x", max_new_tokens=5, top_p=1.0)


def test_huggingface_hub_chat_completion(server: BaselineServer, online: None) -> None:
    from huggingface_hub import InferenceClient

    hf = InferenceClient(base_url=server.url)
    out = hf.chat_completion(_meqsum_messages(), model=MODEL_ID, max_tokens=200, temperature=0)
    assert out.choices[0].message.content == "Can I take it with ibuprofen?"
    assert out.choices[0].finish_reason == "stop" and out.usage.completion_tokens > 0
    pieces = [c.choices[0].delta.content for c in hf.chat_completion(_meqsum_messages(), model=MODEL_ID, stream=True)]
    assert "".join(p for p in pieces if p) == "Can I take it with ibuprofen?"


def test_huggingface_hub_chat_parses_logprobs_and_the_generate_route(server: BaselineServer, online: None) -> None:
    from huggingface_hub import InferenceClient

    out = InferenceClient(base_url=server.url).chat_completion(_meqsum_messages(), model=MODEL_ID, max_tokens=200)
    assert out.choices[0].logprobs is None
    generate = InferenceClient(model=server.url + "/generate")  # the URL is used as given: TGI's own route
    prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
    assert generate.text_generation(prompt, max_new_tokens=200) == "Can I take it with ibuprofen?"


# `text-generation` (TGI's own Python client) pins huggingface_hub < 1.0, which transformers 5 refuses, so it
# cannot be a declared test dependency; the README shows `pip install --no-deps text-generation aiohttp`.
@pytest.fixture()
def text_generation() -> Any:
    return pytest.importorskip("text_generation", reason="text-generation is not installed "
                               "(pip install --no-deps text-generation==0.7.0 aiohttp)")


# The client calls pydantic 1's `.dict()`, deprecated in pydantic 2: not ours to fix.
tgi_client_warnings = pytest.mark.filterwarnings("ignore:The `dict` method is deprecated")


@tgi_client_warnings
def test_text_generation_client_generate_and_stream(server: BaselineServer, text_generation: Any) -> None:
    client = text_generation.Client(server.url, timeout=30)
    prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
    out = client.generate(prompt, max_new_tokens=200)
    assert out.generated_text == "Can I take it with ibuprofen?"
    assert out.details.finish_reason == "eos_token" and out.details.generated_tokens == len(out.details.tokens)
    short = client.generate(prompt, max_new_tokens=3)
    assert short.details.finish_reason == "length" and short.details.generated_tokens == 3
    pieces = [r.token.text for r in client.generate_stream(prompt, max_new_tokens=200) if not r.token.special]
    assert "".join(pieces) == "Can I take it with ibuprofen?"
    with pytest.raises(text_generation.errors.ValidationError, match="top_p"):
        client.generate("x", max_new_tokens=5, top_p=1.0)


@tgi_client_warnings
def test_text_generation_client_chat(server: BaselineServer, text_generation: Any) -> None:
    from text_generation.types import Message

    client = text_generation.Client(server.url, timeout=30)
    out = client.chat([Message(**m) for m in _meqsum_messages()], max_tokens=200, temperature=0)
    assert out.choices[0].message.content == "Can I take it with ibuprofen?"
    assert out.choices[0].logprobs is None and out.choices[0].finish_reason == "stop"


@tgi_client_warnings
def test_text_generation_async_client(server: BaselineServer, text_generation: Any) -> None:
    import asyncio

    async def ask() -> str:
        client = text_generation.AsyncClient(server.url, timeout=30)
        prompt = heuristics.render_chat(_meqsum_messages()) + "Question: "
        return (await client.generate(prompt, max_new_tokens=200)).generated_text

    assert asyncio.run(ask()) == "Can I take it with ibuprofen?"


def test_openai_sdk(server: BaselineServer) -> None:
    from openai import OpenAI

    oa = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    try:
        out = oa.chat.completions.create(model=MODEL_ID, messages=_meqsum_messages(), max_tokens=200, temperature=0)
        assert out.choices[0].message.content == "Can I take it with ibuprofen?"
        assert out.choices[0].finish_reason == "stop" and out.usage is not None
        stream = oa.chat.completions.create(model=MODEL_ID, messages=_meqsum_messages(), max_tokens=200, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "Can I take it with ibuprofen?"
        assert oa.models.list().data[0].id == MODEL_ID
    finally:
        oa.close()


# ---------------------------------------------------------------- tokenizer


def test_auto_tokenizer_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>"
    with_system = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]
    for msgs in (with_system, with_system[1:]):
        rendered = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        assert rendered == heuristics.render_chat(msgs)
        assert rendered.endswith("<|assistant|>\n")
        assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False) == \
            heuristics.render_chat(msgs, add_generation_prompt=False)
    ids = tok.apply_chat_template(with_system, tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    for special in ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"):
        assert len(tok.encode(special, add_special_tokens=False)) == 1


def test_tokenizer_files_small_and_realistic(server: BaselineServer) -> None:
    files = sorted(p.name for p in TOKENIZER_DIR.iterdir())
    assert files == ["tokenizer.json", "tokenizer_config.json"]
    assert sum(p.stat().st_size for p in TOKENIZER_DIR.iterdir()) < 1_000_000
    config = json.loads((TOKENIZER_DIR / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and "chat_template" in config
    assert 3000 <= server.tokenizer.get_vocab_size() <= 5000
    # Held-out text (in neither the corpus nor the prompts).
    text = ("Mrs. Jones is an 81 year old woman who was brought in by her daughter after a fall at home. "
            "She reported dizziness when standing up and was found to have orthostatic hypotension. "
            "Her antihypertensive regimen was simplified and physical therapy recommended a walker. "
            "Do you know whether my grandmother should keep taking her water pills after this?")
    ratio = server.count_tokens(text) / len(text.split())
    assert 1.1 <= ratio <= 1.7, ratio


def test_builder_regenerates_committed_tokenizer(tmp_path: Path) -> None:
    from tools import build_baseline_tokenizer

    out = build_baseline_tokenizer.build(tmp_path / "tok")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (out / name).read_bytes() == (TOKENIZER_DIR / name).read_bytes(), name


# ---------------------------------------------------------------- CLI


def test_cli_parser() -> None:
    from clue_checks.cli import build_parser

    args = build_parser().parse_args(["serve-baseline", "--port", "0", "--latency-ms", "25"])
    assert (args.host, args.port, args.latency_ms, args.command) == ("127.0.0.1", 0, 25.0, "serve-baseline")
    assert args.variant == "default"
    args = build_parser().parse_args(["serve-baseline", "--variant", "finetune-degraded"])
    assert args.variant == "finetune-degraded"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve-baseline", "--variant", "worse"])


@pytest.mark.slow
def test_cli_serve_baseline_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "clue_checks.cli", "serve-baseline", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/health", timeout=10).status_code == 200
        assert httpx.post(url + "/generate", json={"inputs": "x"}, timeout=10).json()["generated_text"]
    finally:
        proc.terminate()  # SIGTERM: the CLI stops the server and exits 0
        assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""  # no per-request logging
