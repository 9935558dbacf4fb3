"""Value types shared by the endpoint client, the scheduler and the response store.

Nothing here knows about CLUE tasks: a request is messages or a rendered prompt plus
generation parameters, a completion is text plus how it ended.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

# What a run counts of its requests, each once whatever its retries: answered (`sent`), given up on
# (`failed`), answered from the response store, and duplicate submissions (`shared`).
REQUEST_COUNTS = ("sent", "failed", "from_store", "shared")

ApiMode = Literal["chat", "generate"]


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class GenerationParams:
    """Greedy decoding settings; the client turns them into each server's exact body."""

    max_new_tokens: int
    stop: tuple[str, ...] = ()
    # TGI `truncate`: keep only the last N input tokens (generate mode only).
    truncate: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "stop": list(self.stop), "truncate": self.truncate}


@dataclass(frozen=True)
class Request:
    """One model call. `messages` in chat mode, `prompt` (already rendered) in generate mode."""

    mode: ApiMode
    params: GenerationParams
    messages: tuple[Message, ...] = ()
    prompt: str | None = None

    def __post_init__(self) -> None:
        if self.mode == "chat" and not self.messages:
            raise ValueError("a chat request needs messages")
        if self.mode == "generate" and self.prompt is None:
            raise ValueError("a generate request needs a rendered prompt")

    def canonical(self) -> dict[str, Any]:
        """Everything that determines the answer of a deterministic server."""
        return {
            "mode": self.mode,
            "messages": [m.as_dict() for m in self.messages],
            "prompt": self.prompt,
            "params": self.params.as_dict(),
        }


@dataclass(frozen=True)
class EndpointIdentity:
    """What makes two endpoints interchangeable: replicas of one model share it."""

    server_kind: str
    model_id: str
    model_revision: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"server_kind": self.server_kind, "model_id": self.model_id, "model_revision": self.model_revision}


def request_key(identity: EndpointIdentity, request: Request) -> str:
    """Stable cache key: sha256 over endpoint identity plus the full request."""
    payload = json.dumps(
        {"endpoint": identity.as_dict(), "request": request.canonical()},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EndpointInfo:
    """What discovery learned about one server (TGI /info, else /v1/models)."""

    url: str
    server_kind: str  # "tgi", "vllm", "transformers-serve", "clue-baseline", "openai-compatible"
    model_id: str
    model_revision: str | None = None
    served_model_name: str | None = None  # the `model` field chat requests must carry
    max_concurrent_requests: int | None = None
    max_input_tokens: int | None = None
    max_total_tokens: int | None = None
    supports_generate: bool = False  # TGI-native /generate
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def identity(self) -> EndpointIdentity:
        return EndpointIdentity(self.server_kind, self.model_id, self.model_revision)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None = None
    generated_tokens: int | None = None
    prompt_tokens: int | None = None  # as the server counted them (usage / details), where it says
    latency_s: float | None = None  # wall time of the request that produced it (stored with it)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "finish_reason": self.finish_reason, "generated_tokens": self.generated_tokens,
                "prompt_tokens": self.prompt_tokens, "latency_s": self.latency_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Completion":
        return cls(data["text"], data.get("finish_reason"), data.get("generated_tokens"), data.get("prompt_tokens"),
                   data.get("latency_s"))


class EndpointError(Exception):
    """A request that failed, with the URL, the status and the server's own message."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        server_message: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.server_message = server_message
        self.retryable = retryable
        self.retry_after = retry_after
        self.hint = hint  # what the user should do about it, printed last

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        parts.append(f"from {self.url}")
        text = " ".join(parts)
        if self.server_message:
            text += f": {self.server_message}"
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text


class EndpointUnavailable(EndpointError):
    """The endpoint cannot be used at all (unreachable, unhealthy, not an LLM server)."""
