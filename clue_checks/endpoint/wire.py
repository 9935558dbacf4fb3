"""Wire formats: request bodies and response parsing per server kind, as pure functions of JSON.

No HTTP here: the client sends what these build and hands them the decoded JSON it got back.
TGI-native `/generate` and OpenAI `/v1/chat/completions` (TGI, vLLM, `transformers serve`, other
OpenAI-compatible servers). API references: https://huggingface.github.io/text-generation-inference/
and https://platform.openai.com/docs/api-reference/chat.
"""

from __future__ import annotations

import json
from typing import Any

from clue_checks.endpoint.types import Completion, EndpointInfo, Request


class Malformed(Exception):
    """A 2xx body that is not JSON or lacks the fields we need."""


def decode_json(content: bytes, content_type: str = "") -> Any:
    """The JSON of a body; a lone surrogate escape (`"\\ud800"`) is kept as is, never refused."""
    try:
        return json.loads(content)
    except ValueError:
        raise Malformed(unusable(content, content_type)) from None


def unusable(content: bytes, content_type: str = "") -> str:
    """What a 2xx body that is not JSON looks like, so the message points at the likely cause."""
    head = content[:512].lstrip().lower()
    if not head:
        return "an empty body"
    if "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page, not JSON (a login page or a proxy in front of the server?)"
    if "text/event-stream" in content_type.lower() or head.startswith((b"data:", b"event:", b": ")):
        return "an event stream (SSE), not one JSON answer"
    return "not JSON"


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- bodies -----------------------------------------------------------------------------------------


#: The decoding fields each body carries: greedy on every server (the manifest records them per task).
DECODING: dict[str, dict[str, Any]] = {"generate": {"do_sample": False}, "chat": {"temperature": 0.0}}


def decoding_fields(mode: str) -> dict[str, Any]:
    """The decoding settings a request of this mode is sent with (beyond its length, stops and truncation)."""
    return dict(DECODING[mode])


def generate_body(request: Request) -> dict[str, Any]:
    """TGI `/generate` body for greedy decoding.

    No temperature/top_p/top_k: any warper switches TGI to sampling, temperature 0 and top_p 1.0 are
    rejected (422), and a body without `parameters` samples by default.
    """
    p = request.params
    parameters: dict[str, Any] = {**DECODING["generate"], "max_new_tokens": p.max_new_tokens, "details": True}
    if p.stop:
        parameters["stop"] = list(p.stop)
    if p.truncate is not None:
        parameters["truncate"] = p.truncate
    return {"inputs": request.prompt, "parameters": parameters}


def chat_body(request: Request, info: EndpointInfo) -> dict[str, Any]:
    """OpenAI chat body: temperature 0 is greedy on TGI, vLLM and transformers serve; never top_p.

    Always the served model name (vLLM answers 404 and transformers serve 400 to a wrong one) and
    always a token limit (defaults range from 16 tokens to the whole context).
    """
    body: dict[str, Any] = {
        "model": info.served_model_name or info.model_id,
        "messages": [m.as_dict() for m in request.messages],
        "max_tokens": request.params.max_new_tokens,
        **DECODING["chat"],
        "stream": False,
    }
    if request.params.stop:
        body["stop"] = list(request.params.stop)
    return body


def tokenize_body(text: str, info: EndpointInfo, *, token_strs: bool = False) -> dict[str, Any]:
    """TGI `/tokenize` takes `{"inputs"}`; vLLM's takes `{"model", "prompt"}` (+ `return_token_strs`)."""
    if info.supports_generate:
        return {"inputs": text}
    body: dict[str, Any] = {"model": info.served_model_name or info.model_id, "prompt": text}
    if token_strs:
        body["return_token_strs"] = True
    return body


# -- responses --------------------------------------------------------------------------------------


def _usage(data: dict[str, Any], name: str) -> int | None:
    usage = data.get("usage")
    return as_int(usage.get(name)) if isinstance(usage, dict) else None


def parse_generate(data: Any) -> Completion:
    """TGI `/generate` → Completion. `prompt_tokens` only when the server says: the length of
    `details.prefill` (filled when the request asks for decoder input details) or a `usage` block."""
    if isinstance(data, list) and len(data) == 1:  # the compat `POST /` route answers [GenerateResponse]
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("generated_text"), str):
        raise Malformed("no generated_text")
    details = data.get("details")
    details = details if isinstance(details, dict) else {}
    prefill = details.get("prefill")
    prompt_tokens = len(prefill) if isinstance(prefill, list) and prefill else _usage(data, "prompt_tokens")
    generated = as_int(details.get("generated_tokens"))
    if generated is None:
        generated = _usage(data, "completion_tokens")
    return Completion(data["generated_text"], as_str(details.get("finish_reason")), generated, prompt_tokens)


def parse_chat(data: Any) -> Completion:
    """OpenAI chat completion → Completion; token counts from `usage` when present."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise Malformed("no choices[0].message") from None
    if content is None:  # e.g. a reply made only of tool calls, or nothing at all
        content = ""
    if not isinstance(content, str):
        raise Malformed("choices[0].message.content is not a string")
    return Completion(content, as_str(choice.get("finish_reason")), _usage(data, "completion_tokens"),
                      _usage(data, "prompt_tokens"))
