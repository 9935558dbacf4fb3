"""Turns a task's `Prompt` into the `Request` a server receives (the glue between tasks and HTTP).

Generate mode is CLUE's paper-era path: the conversation is rendered locally with the
model's own chat template (transformers), then the task's assistant prefix is appended as
plain text, exactly as CLUE's TGI code did (docs/clue-faithfulness.md#conversation-layout):
- a template that rejects the system role gets it merged into the first user turn
  (`SYS + "\\n\\n" + U1`, CLUE's `--model_is_instruct` without `--model_has_system`);
- a tokenizer without a chat template is a base model: a plain transcript.
Chat mode sends the messages (with the system prompt merged into the first user turn under
--system-role merge); a server cannot be made to prefill there, so the prefix is dropped and an
echoed prefix is removed from the answer instead (README: deliberate differences).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .endpoint.types import ApiMode, EndpointInfo, GenerationParams, Message, Request
from .tasks.base import Prompt

# CLUE's TGI code added these stop strings only for Llama-3 models (detected by model id).
LLAMA3_STOPS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>")
_LLAMA3 = re.compile(r"llama-?3", re.IGNORECASE)


class TemplateUnavailable(Exception):
    """Generate mode needs the model's chat template, and none could be loaded."""


def load_tokenizer(name_or_path: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise TemplateUnavailable(f"transformers is not installed ({exc})") from None
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except Exception as exc:
        raise TemplateUnavailable(
            f"could not load the tokenizer {name_or_path!r} ({exc.__class__.__name__}: {exc}). "
            "Give --tokenizer a local folder with tokenizer files, or use --api chat"
        ) from None


@dataclass
class Renderer:
    mode: ApiMode
    info: EndpointInfo
    tokenizer: Any = None
    use_prefix: bool = True
    # CLUE's TGI-era model quirks (Llama-3 stop strings): the `paper` profile only.
    model_quirks: bool = True
    # --system-role merge: the system prompt always goes into the first user turn (chat mode cannot
    # discover that the server's template rejects the system role; generate mode falls back by itself).
    merge_system_role: bool = False

    def __post_init__(self) -> None:
        if self.mode == "generate" and self.tokenizer is None:
            raise TemplateUnavailable("generate mode renders prompts locally and needs --tokenizer")

    def request(self, prompt: Prompt) -> Request:
        params = GenerationParams(
            max_new_tokens=prompt.max_new_tokens,
            stop=self._model_stops(prompt),
            truncate=self._truncate(prompt) if self.mode == "generate" else None,
        )
        if self.mode == "chat":
            return Request("chat", params, messages=self._messages(prompt))
        prefix = prompt.assistant_prefix if self.use_prefix else ""
        return Request("generate", params, prompt=self.render(prompt) + prefix)

    def render(self, prompt: Prompt) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            return base_transcript(prompt.messages, prompt.base_separator, prompt.base_trailer)
        messages = self._messages(prompt)
        try:
            return self._apply(messages)
        except Exception as first:
            if not messages or messages[0].role != "system":
                raise
            # Templates without a system role raise in many ways ("System role not supported",
            # "Conversation roles must alternate…"): CLUE's answer was to merge SYS into the first user turn.
            try:
                return self._apply(merge_system(messages, prompt.system_merge_separator))
            except Exception:
                raise first from None

    def _messages(self, prompt: Prompt) -> tuple[Message, ...]:
        """The conversation as sent: under --system-role merge, the system prompt in the first user turn."""
        messages = prompt.messages
        if self.merge_system_role and len(messages) > 1 and messages[0].role == "system":
            return merge_system(messages, prompt.system_merge_separator)
        return messages

    def _apply(self, messages: tuple[Message, ...]) -> str:
        return self.tokenizer.apply_chat_template([m.as_dict() for m in messages], tokenize=False,
                                                  add_generation_prompt=True)

    def _model_stops(self, prompt: Prompt) -> tuple[str, ...]:
        if self.mode == "generate" and self.model_quirks and prompt.model_stop_sequences \
                and _LLAMA3.search(self.info.model_id):
            return LLAMA3_STOPS
        return ()

    def _truncate(self, prompt: Prompt) -> int | None:
        window = self.info.max_total_tokens
        if prompt.truncate_reserve is None or window is None:
            return None
        value = window - prompt.truncate_reserve
        if prompt.truncate_cap is not None:
            value = min(value, prompt.truncate_cap)
        if self.info.max_input_tokens is not None:
            value = min(value, self.info.max_input_tokens)  # TGI rejects truncate > max_input_tokens
        return value if value > 0 else None


def merge_system(messages: tuple[Message, ...], separator: str = "\n\n") -> tuple[Message, ...]:
    """System prompt merged into the first user turn: `SYS + "\\n\\n" + U1` (LongHealth: no separator)."""
    system, first, *rest = messages
    return (Message("user", system.content + separator + first.content), *rest)


def base_transcript(messages: tuple[Message, ...], separator: str = "\n\n", trailer: str = "\n\n") -> str:
    """CLUE's base-model transcript: the turns joined by blank lines, ending with one
    (LongHealth: `SYS + "\\n\\n\\n" + prompt`)."""
    return separator.join(m.content for m in messages) + trailer
