"""What the baseline server accepts: TGI's limits and validation of request bodies, and its error answers.

The checks and messages follow TGI's router (``validation.rs``), so a client that handles TGI's
answers handles the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_STOP_SEQUENCES = 4
MAX_BEST_OF = 2
MAX_INPUT_TOKENS = 1_000_000
MAX_TOTAL_TOKENS = 1_000_200


class RequestError(Exception):
    """An error answer: JSON ``{"error", "error_type"}``, or plain text if ``error_type`` is None."""

    def __init__(self, status: int, message: str, error_type: str | None = "validation") -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def invalid(message: str) -> RequestError:
    return RequestError(422, f"Input validation error: {message}")


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str  # TGI vocabulary: "length" | "eos_token" | "stop_sequence"
    token_ids: list[int]
    pieces: list[str]  # the text of each token; "".join(pieces) == text


def reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259); serde_json, hence TGI, rejects them."""
    raise ValueError(f"{name} is not valid JSON")


def opt_number(params: dict[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(422, f"Failed to deserialize the JSON body into the target type: {key}: invalid type", None)
    return float(value)


def check_sampling(params: dict[str, Any], *, chat: bool) -> None:
    """TGI's validation of the sampling parameters (router ``validation.rs``)."""
    temperature = opt_number(params, "temperature")
    if temperature is not None and (temperature < 0 if chat else temperature <= 0):
        raise invalid("`temperature` must be strictly positive")
    top_p = opt_number(params, "top_p")
    if top_p is not None and not 0.0 < top_p < 1.0:
        raise invalid("`top_p` must be > 0.0 and < 1.0")
    top_k = opt_number(params, "top_k")
    if top_k is not None and top_k <= 0:
        raise invalid("`top_k` must be strictly positive")
    typical_p = opt_number(params, "typical_p")
    if typical_p is not None and not 0.0 < typical_p < 1.0:
        raise invalid("`typical_p` must be > 0.0 and < 1.0")
    repetition_penalty = opt_number(params, "repetition_penalty")
    if repetition_penalty is not None and repetition_penalty <= 0:
        raise invalid("`repetition_penalty` must be strictly positive")


def max_tokens(params: dict[str, Any], key: str) -> int | None:
    value = opt_number(params, key)
    if value is None:
        return None
    if value <= 0:
        raise invalid("`max_new_tokens` must be strictly positive")
    if value > MAX_TOTAL_TOKENS:
        raise invalid(f"`max_new_tokens` must be <= {MAX_TOTAL_TOKENS}. Given: {int(value)}")
    return int(value)


def stop_sequences(params: dict[str, Any]) -> list[str]:
    stop = params.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError(422, "Failed to deserialize the JSON body into the target type: stop: invalid type", None)
    if len(stop) > MAX_STOP_SEQUENCES:
        raise invalid(f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(stop)}")
    return stop


def chat_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise RequestError(422, "Failed to deserialize the JSON body into the target type: messages", None)
    if not messages:
        raise invalid("`messages` cannot be empty")
    return messages


def token_dicts(gen: Generation) -> list[dict[str, Any]]:
    """TGI ``Token`` objects; logprob 0.0 because a deterministic model is certain of each token."""
    return [
        {"id": i, "text": t, "logprob": 0.0, "special": False}
        for i, t in zip(gen.token_ids, gen.pieces, strict=True)
    ]
