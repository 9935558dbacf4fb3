"""Turns a task's `Prompt` into the `Request` a server receives (the glue between tasks and HTTP).

The task says what to ask; its `RenderingSpec` (`rendering_specs.py`) says how CLUE's code sent it
(TGI `truncate`, model stop strings, the merged and base layouts); `Renderer.request` applies both.

Generate mode is CLUE's paper-era path: the conversation is rendered locally with the
model's own chat template (transformers), then the task's assistant prefix is appended as
plain text, exactly as CLUE's TGI code did (docs/clue-faithfulness.md#conversation-layout). CLUE's user chose the layout with two flags; here
`--clue-prompt-layout` does (PROMPT_LAYOUTS):
- `template`: the chat template with the system role (CLUE: `--model_is_instruct --model_has_system`);
- `template-no-system`: the system prompt merged into the first user turn, `SYS + "\\n\\n" + U1`
  (CLUE: `--model_is_instruct` alone);
- `base`: CLUE's plain transcript for a base model (no `--model_is_instruct`), even when the tokenizer
  has a chat template (many base models ship one);
- `auto` (default): inferred from the tokenizer: no chat template → base; a template that rejects the
  system role → merged; else the template.
`template` or `template-no-system` on a tokenizer without a chat template renders with transformers
4.39.3's default template (ChatML, `chatml`), as CLUE's code did for an instruct model without one.
Chat mode sends the messages (merged under `template-no-system` or `--clue-system-role merge`); a server
cannot be made to prefill there, so the prefix is dropped and an echoed prefix is removed from the
answer instead (README: deliberate differences). `Renderer.lost_in_chat_mode` names what the
`paper` profile loses that way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks import names
from clue_checks.endpoint.types import ApiMode, EndpointInfo, GenerationParams, Message, Request
from clue_checks.rendering_specs import RenderingSpec
from clue_checks.tasks.base import Prompt, Turn
from clue_checks.tasks.families import ModelFamily, family_of, has_quirk, require_family
from clue_checks.errors import TokenizerError

# CLUE's TGI code added these stop strings only for Llama-3 models (family "llama3", tasks.families).
LLAMA3_STOPS = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>")
PROMPT_LAYOUTS = names.PROMPT_LAYOUTS  # the values of --clue-prompt-layout


class TemplateUnavailable(TokenizerError):
    """Generate mode needs the model's chat template, and none could be loaded."""


def load_tokenizer(name_or_path: str) -> Any:
    # transformers is imported here, on first use: a chat-mode run never pays its start-up cost.
    try:
        if _names_the_generic_fast_tokenizer(name_or_path):
            from transformers import PreTrainedTokenizerFast as tokenizer_class
        else:
            from transformers import AutoTokenizer as tokenizer_class
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise TemplateUnavailable(f"transformers is not installed ({exc})") from None
    try:
        return tokenizer_class.from_pretrained(name_or_path)
    except Exception as exc:  # transformers and the hub raise OSError, ValueError and their own types alike
        raise TemplateUnavailable(
            f"could not load the tokenizer {name_or_path!r} ({exc.__class__.__name__}: {exc}). "
            "Give --clue-tokenizer a local folder with tokenizer files, or use --clue-api chat"
        ) from None


def _names_the_generic_fast_tokenizer(name_or_path: str) -> bool:
    """A local tokenizer folder whose config names transformers' generic fast tokenizer (Llama 3's does,
    and the embedded baseline's). It is loaded by that class directly: AutoTokenizer would resolve to the
    same class, but its model-config machinery imports torch first (about 2 s of every run's start)."""
    try:
        config = json.loads((Path(name_or_path) / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("tokenizer_class") == "PreTrainedTokenizerFast"


@dataclass
class Renderer:
    mode: ApiMode
    info: EndpointInfo
    tokenizer: Any = None
    use_prefix: bool = True
    # CLUE's TGI-era model quirks (Llama-3 stop strings): the `paper` profile only.
    model_quirks: bool = True
    # --clue-system-role merge: the system prompt always goes into the first user turn (chat mode cannot
    # discover that the server's template rejects the system role; generate mode falls back by itself).
    merge_system_role: bool = False
    # --clue-prompt-layout (PROMPT_LAYOUTS); `template-no-system` sets merge_system_role.
    layout: str = "auto"
    # --clue-model-family: the family whose quirks apply (Llama-3 stop strings); None: inferred from the model id.
    family: ModelFamily | None = None

    def __post_init__(self) -> None:
        if self.layout not in PROMPT_LAYOUTS:
            raise ValueError(f"unknown prompt layout {self.layout!r}; choose one of: {', '.join(PROMPT_LAYOUTS)}")
        self.family = family_of(self.info.model_id) if self.family is None else require_family(self.family)
        if self.layout == "template-no-system":
            self.merge_system_role = True
        if self.mode == "chat" and self.layout == "base":
            raise TemplateUnavailable(
                "--clue-prompt-layout base sends CLUE's plain base-model transcript to TGI's /generate; chat mode "
                "(/v1/chat/completions) always applies the server's chat template: use --clue-api generate")
        if self.mode == "generate" and self.layout != "base":
            if self.tokenizer is None:
                raise TemplateUnavailable("generate mode renders prompts locally and needs --clue-tokenizer "
                                          "(or --clue-prompt-layout base, which needs no chat template)")

    def _has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def default_template(self) -> bool:
        """An instruct layout asked for outright on a tokenizer without a chat template: rendered with
        transformers 4.39.3's default template (ChatML), as CLUE's `--model_is_instruct` did there."""
        return self.mode == "generate" and self.layout in ("template", "template-no-system") \
            and not self._has_template()

    @property
    def layout_used(self) -> str:
        """The layout a prompt with a system role gets (`auto` resolved; its per-prompt fallback aside)."""
        if self.mode == "generate" and (self.layout == "base" or (self.layout == "auto" and not self._has_template())):
            return "base"
        return "template-no-system" if self.merge_system_role else "template"

    def lost_in_chat_mode(self, truncates: bool) -> list[str]:
        """What CLUE's paper-era requests had that chat mode cannot send (empty in generate mode);
        `truncates`: the profile sends TGI `truncate` in generate mode."""
        if self.mode != "chat":
            return []
        lost = []
        if self.use_prefix:
            lost.append("the assistant prefix is not prefilled (the model writes its own; an echoed prefix is "
                        "removed before scoring)")
        if truncates:
            lost.append("no TGI `truncate` is sent (an over-long prompt is refused, not cut from the left)")
        if self.model_quirks and has_quirk(self.family or "other", "llama3"):
            lost.append("the Llama-3 stop strings are not sent")
        return lost

    def request(self, prompt: Prompt, spec: RenderingSpec = RenderingSpec(), *, scope: str = "") -> Request:
        """The request for `prompt`, sent as `spec` says (`rendering_specs.rendering_spec(task)`); `scope` is the
        task's opaque tag in the response store's key (never sent)."""
        params = GenerationParams(
            max_new_tokens=prompt.max_new_tokens,
            stop=tuple(dict.fromkeys((*prompt.stop_sequences, *self._model_stops(spec)))),
            truncate=self._truncate(spec) if self.mode == "generate" else None,
        )
        if self.mode == "chat":
            return Request("chat", params, messages=self._messages(prompt, spec), scope=scope)
        prefix = prompt.assistant_prefix if self.use_prefix else ""
        return Request("generate", params, prompt=self.render(prompt, spec) + prefix, scope=scope)

    def render(self, prompt: Prompt, spec: RenderingSpec = RenderingSpec()) -> str:
        if self.layout_used == "base":
            return base_transcript(prompt.messages, spec.base_separator, spec.base_trailer)
        messages = self._messages(prompt, spec)
        try:
            return self._apply(messages)
        except Exception as first:  # the model's chat template is its author's Jinja code: it raises anything
            if not messages or messages[0].role != "system":
                raise
            if self.layout == "template":  # asked for outright: no silent fallback
                raise TemplateUnavailable(
                    f"the chat template rejects this conversation ({first.__class__.__name__}: {first}); "
                    "--clue-prompt-layout template-no-system merges the system prompt into the first user turn, "
                    "as CLUE did for models without a system role") from None
            # Templates without a system role raise in many ways ("System role not supported",
            # "Conversation roles must alternate…"): CLUE's answer was to merge SYS into the first user turn.
            try:
                return self._apply(merge_system(messages, spec.system_merge_separator))
            except Exception:  # the same template code: the first failure is the one to show
                raise first from None

    def _messages(self, prompt: Prompt, spec: RenderingSpec) -> tuple[Message, ...]:
        """The conversation as sent: under --clue-system-role merge, the system prompt in the first user turn."""
        messages = tuple(Message(turn.role, turn.content) for turn in prompt.messages)
        if self.merge_system_role and len(messages) > 1 and messages[0].role == "system":
            return merge_system(messages, spec.system_merge_separator)
        return messages

    def _apply(self, messages: tuple[Message, ...]) -> str:
        if self.default_template:
            return chatml(messages)
        return self.tokenizer.apply_chat_template([m.as_dict() for m in messages], tokenize=False,
                                                  add_generation_prompt=True)

    def _model_stops(self, spec: RenderingSpec) -> tuple[str, ...]:
        if self.mode == "generate" and self.model_quirks and spec.model_stop_sequences \
                and has_quirk(self.family or "other", "llama3"):
            return LLAMA3_STOPS
        return ()

    def _truncate(self, spec: RenderingSpec) -> int | None:
        window = self.info.max_total_tokens
        if spec.truncate_reserve is None or window is None:
            return None
        value = window - spec.truncate_reserve
        if spec.truncate_cap is not None:
            value = min(value, spec.truncate_cap)
        if self.info.max_input_tokens is not None:
            value = min(value, self.info.max_input_tokens)  # TGI rejects truncate > max_input_tokens
        return value if value > 0 else None


def merge_system(messages: tuple[Message, ...], separator: str = "\n\n") -> tuple[Message, ...]:
    """System prompt merged into the first user turn: `SYS + "\\n\\n" + U1` (LongHealth: no separator)."""
    system, first, *rest = messages
    return (Message("user", system.content + separator + first.content), *rest)


def base_transcript(messages: tuple[Turn, ...] | tuple[Message, ...], separator: str = "\n\n",
                    trailer: str = "\n\n") -> str:
    """CLUE's base-model transcript: the turns joined by blank lines, ending with one
    (LongHealth: `SYS + "\\n\\n\\n" + prompt`)."""
    return separator.join(m.content for m in messages) + trailer


def chatml(messages: tuple[Message, ...]) -> str:
    """transformers 4.39.3's default chat template (`PreTrainedTokenizerBase.default_chat_template`, ChatML),
    with the generation prompt: what CLUE's `apply_chat_template` rendered for a tokenizer without a chat
    template of its own (4.39.3 fell back to it with a warning; transformers 4.43 removed the fallback).
    Tokenizer classes with their own class default in 4.39.3 (Llama, GPT-2, …) are not reproduced: give
    their template with --clue-tokenizer."""
    return "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"
