"""The OpenAI routes of the baseline server: ``/v1/chat/completions`` (optionally SSE) and
``/v1/completions`` (non-stream).

Optional fields are sent as TGI sends them: chat choices carry ``"logprobs": null`` and stream chunks
``"usage": null`` (``text_generation.Client.chat()`` requires the key to be present). Each route
returns the number of tokens generated (for ``/metrics``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from clue_checks.server import heuristics
from clue_checks.server.http_base import HandlerBase
from clue_checks.server.tgi_requests import (
    RequestError,
    chat_messages,
    check_sampling,
    invalid,
    max_tokens,
    stop_sequences,
)


class OpenAIRoutes(HandlerBase):
    """OpenAI's chat and text completion routes."""

    def _chat(self, body: dict[str, Any]) -> int:
        messages = chat_messages(body)
        check_sampling(body, chat=True)
        max_new = max_tokens(body, "max_completion_tokens") or max_tokens(body, "max_tokens")
        gen = self.app.generate(messages, None, max_new, stop_sequences(body))
        prompt_tokens = self.app.count_tokens(heuristics.render_chat(messages))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(gen.token_ids),
                 "total_tokens": prompt_tokens + len(gen.token_ids)}
        finish = "length" if gen.finish_reason == "length" else "stop"
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        common = {"id": ident, "created": created, "model": self.app.model_id,
                  "system_fingerprint": self.app.system_fingerprint}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": gen.text}, "logprobs": None,
                      "finish_reason": finish}
            self._json(200, {**common, "object": "chat.completion", "choices": [choice], "usage": usage},
                       self._headers(gen))
            return len(gen.token_ids)
        stream_options = body.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: stream_options", None)
        include_usage = bool(stream_options.get("include_usage"))
        pieces = gen.pieces or [""]

        def events() -> Iterator[str]:
            for n, piece in enumerate(pieces, start=1):
                choice = {"index": 0, "delta": {"role": "assistant", "content": piece}, "logprobs": None,
                          "finish_reason": finish if n == len(pieces) else None}
                yield json.dumps({**common, "object": "chat.completion.chunk", "choices": [choice], "usage": None})
            if include_usage:
                yield json.dumps({**common, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            yield "[DONE]"

        self._sse(events())
        return len(gen.token_ids)

    def _completions(self, body: dict[str, Any]) -> int:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: prompt", None)
        if len(prompts) > 4:
            raise invalid(f"Number of prompts must be <= 4. Given: {len(prompts)}")
        if body.get("stream"):
            raise invalid("streaming is not supported on /v1/completions by the baseline")
        check_sampling(body, chat=True)
        max_new, stop = max_tokens(body, "max_tokens"), stop_sequences(body)
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for index, text in enumerate(prompts):
            gen = self.app.generate(None, text, max_new, stop)
            finish = "length" if gen.finish_reason == "length" else "stop"
            choices.append({"index": index, "text": gen.text, "finish_reason": finish, "logprobs": None})
            prompt_tokens += self.app.count_tokens(text)
            completion_tokens += len(gen.token_ids)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        self._json(200, {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion",
                         "created": int(time.time()), "model": self.app.model_id,
                         "system_fingerprint": self.app.system_fingerprint, "choices": choices, "usage": usage})
        return completion_tokens
