"""Value types shared by the endpoint client, the scheduler and the response store.

Nothing here knows about CLUE tasks: a request is messages or a rendered prompt plus
generation parameters, a completion is text plus how it ended.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from clue_checks.errors import ClueError

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
    # An opaque tag of whoever built the request, never sent: requests of different scopes never share a
    # stored answer (a task file's identity, so editing the file asks again). Empty: the key is as it always was.
    scope: str = ""

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
    """Stable cache key: sha256 over endpoint identity plus the full request (and its scope, when it has one).

    `surrogatepass`: a lone surrogate (possible in text decoded from JSON escapes) still has a key;
    every valid text encodes exactly as plain UTF-8, so existing keys are unchanged.
    """
    keyed: dict[str, Any] = {"endpoint": identity.as_dict(), "request": request.canonical()}
    if request.scope:  # an unscoped request's payload is unchanged: existing stores stay valid
        keyed["scope"] = request.scope
    payload = json.dumps(
        keyed,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


def utf8_safe(text: str) -> str:
    """`text` with whatever UTF-8 cannot hold written as a visible escape; valid text is unchanged.

    A server may send a lone surrogate (JSON `"\\ud800"`), which Python keeps in a str but no UTF-8
    file can: it becomes the six characters `\\ud800`. Apply it to model text before writing a report,
    a prediction file or a terminal line. The response store keeps the exact text (as JSON escapes).
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text  # the same object, not an equal copy: a run keeps every prompt, once is enough


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


@dataclass(frozen=True, slots=True)  # one per sample, kept for the whole run: no per-instance dict
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


# What kind of failure an `EndpointError` is. The retry policy, the in-flight limit and the run's
# breaker act on the kind, never on the wording of a message:
#   connect      the server could not be reached (refused, unresolvable host, connect timeout)
#   tls          the TLS handshake failed (e.g. https:// to a plain-HTTP server): a setting, not a fault
#   transport    the connection broke mid-exchange (reset, closed, protocol error)
#   timeout      no answer within the request timeout (the server may still be working on it)
#   overloaded   429: the server refuses more work right now (TGI above max_concurrent_requests)
#   unavailable  502/503/504: the server or a proxy in front of it cannot serve right now
#   server       another 5xx, or TGI's 424: the server failed on this request
#   malformed    a 2xx whose body is not what the API promises
#   refused      a 4xx: the server will not take this request as sent
#   redirect     a 3xx: the endpoint lives somewhere else
#   stopped      not sent: the run stopped sending, or the replica was taken out of rotation
FailureKind = Literal["connect", "tls", "transport", "timeout", "overloaded", "unavailable", "server",
                      "malformed", "refused", "redirect", "stopped"]
# Kinds that say the server (not this request) is in trouble: they count towards stopping the run.
SERVER_TROUBLE: frozenset[str] = frozenset({"connect", "transport", "timeout", "overloaded", "unavailable", "server"})


class EndpointError(ClueError):
    """A request that failed, with the URL, the status, the server's own message and what to do.

    The whole hierarchy: `EndpointError` (one request failed) > `EndpointUnavailable` (the endpoint
    cannot be used at all: unreachable, unhealthy, not an LLM server, or the run stopped sending)
    and `ReplicaDown` (internal: a replica left the rotation; the scheduler sends the request elsewhere).
    The store's errors are `store.StoreError`.
    """

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
        kind: FailureKind | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.server_message = server_message
        self.retryable = retryable
        self.retry_after = retry_after
        self.hint = hint  # what the user should do about it, printed last
        self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def replace(self, **changes: Any) -> EndpointError:
        """A copy of the same class with some fields changed (exceptions cannot be copied otherwise)."""
        fields = {"url": self.url, "status": self.status, "server_message": self.server_message,
                  "retryable": self.retryable, "retry_after": self.retry_after, "hint": self.hint, "kind": self.kind}
        message = changes.pop("message", self.message)
        return type(self)(message, **{**fields, **changes})

    def __str__(self) -> str:
        parts = [self.message]
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
    """The endpoint cannot be used at all (unreachable, unhealthy, not an LLM server, run stopped)."""


class ReplicaDown(EndpointError):
    """This replica was taken out of rotation while the request waited: send it to another one."""
