"""The TGI routes of the baseline server: ``/generate``, ``/generate_stream``, ``/`` (TGI compat),
``/tokenize`` and ``/chat_tokenize``.

Optional fields are sent as TGI sends them: ``details`` is left out of a ``/generate`` answer that
did not ask for it. Generation routes return the number of tokens generated (for ``/metrics``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from clue_checks.server import heuristics
from clue_checks.server.http_base import HandlerBase
from clue_checks.server.tgi_requests import (
    MAX_BEST_OF,
    MAX_INPUT_TOKENS,
    Generation,
    RequestError,
    chat_messages,
    check_sampling,
    invalid,
    max_tokens,
    opt_number,
    stop_sequences,
    token_dicts,
)


class TGIRoutes(HandlerBase):
    """TGI's generation and tokenization routes."""

    def _parse_generate(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], int | None, list[str]]:
        inputs = body.get("inputs")
        params = body.get("parameters") or {}
        if not isinstance(inputs, str) or not isinstance(params, dict):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: inputs", None)
        if not inputs:
            raise invalid("`inputs` cannot be empty")
        check_sampling(params, chat=False)
        max_new = max_tokens(params, "max_new_tokens")
        stop = stop_sequences(params)
        best_of = opt_number(params, "best_of")
        if best_of is not None and not 0 < best_of <= MAX_BEST_OF:
            raise invalid(f"`best_of` must be > 0 and <= {MAX_BEST_OF}. Given: {int(best_of)}")
        truncate = opt_number(params, "truncate")
        if truncate is not None:
            if not 0 < truncate <= MAX_INPUT_TOKENS:
                raise invalid(
                    f"`truncate` must be strictly positive and less than {MAX_INPUT_TOKENS}. Given: {int(truncate)}"
                )
            inputs = self._keep_last_tokens(inputs, int(truncate))
        return inputs, params, max_new, stop

    def _keep_last_tokens(self, text: str, n: int) -> str:
        """TGI ``truncate``: the model sees only the last ``n`` input tokens."""
        offsets = self.app.tokenizer.encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= n else text[offsets[-n][0] :]

    def _generate_response(self, body: dict[str, Any]) -> tuple[dict[str, Any], Generation]:
        inputs, params, max_new, stop = self._parse_generate(body)
        gen = self.app.generate(None, inputs, max_new, stop)
        text = (body["inputs"] + gen.text) if params.get("return_full_text") else gen.text
        out: dict[str, Any] = {"generated_text": text}
        if params.get("details"):
            sampling = bool(params.get("do_sample"))
            out["details"] = {
                "finish_reason": gen.finish_reason,
                "generated_tokens": len(gen.token_ids),
                "seed": params.get("seed") if sampling else None,
                "prefill": [],
                "tokens": token_dicts(gen),
            }
        return out, gen

    def _generate(self, body: dict[str, Any]) -> int:
        out, gen = self._generate_response(body)
        self._json(200, out, self._headers(gen))
        return len(gen.token_ids)

    def _compat(self, body: dict[str, Any]) -> int:
        if body.get("stream"):
            return self._generate_stream(body)
        out, gen = self._generate_response(body)
        self._json(200, [out], self._headers(gen))
        return len(gen.token_ids)

    def _generate_stream(self, body: dict[str, Any]) -> int:
        inputs, params, max_new, stop = self._parse_generate(body)
        gen = self.app.generate(None, inputs, max_new, stop)
        input_length = self.app.count_tokens(inputs)
        full = (body["inputs"] + gen.text) if params.get("return_full_text") else gen.text
        tokens = token_dicts(gen)
        if not tokens:  # nothing but EOS
            tokens = [{"id": self.app.eos_id, "text": "", "logprob": 0.0, "special": True}]

        def events() -> Iterator[str]:
            for index, token in enumerate(tokens, start=1):
                last = index == len(tokens)
                details = None
                if last and params.get("details"):
                    details = {
                        "finish_reason": gen.finish_reason,
                        "generated_tokens": len(gen.token_ids),
                        "seed": None,
                        "input_length": input_length,
                    }
                event: dict[str, Any] = {"index": index, "token": token, "generated_text": full if last else None}
                if details is not None:
                    event["details"] = details
                yield json.dumps(event)

        self._sse(events())
        return len(gen.token_ids)

    def _tokenize(self, body: dict[str, Any]) -> None:
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: inputs", None)
        self.app._count_tokenize(inputs)
        self._json(200, self._simple_tokens(inputs))

    def _simple_tokens(self, text: str) -> list[dict[str, Any]]:
        """TGI ``SimpleToken`` list; like TGI (Rust), ``start``/``stop`` are UTF-8 byte offsets."""
        enc = self.app.tokenizer.encode(text, add_special_tokens=False)
        ascii_only = text.isascii()
        byte_at = (lambda i: i) if ascii_only else (lambda i: len(text[:i].encode()))
        return [
            {"id": tid, "text": text[s:e], "start": byte_at(s), "stop": byte_at(e)}
            for tid, (s, e) in zip(enc.ids, enc.offsets, strict=True)
        ]

    def _chat_tokenize(self, body: dict[str, Any]) -> None:
        templated = heuristics.render_chat(chat_messages(body))
        self._json(200, {"tokenize_response": self._simple_tokens(templated), "templated_text": templated})
