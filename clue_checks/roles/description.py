"""What a sample session learned when it connected, sent to the controller (plain JSON: it crosses xdist's wire)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class RunDescription:
    describe: Mapping[str, Any]  # Run.describe(): endpoints, server kind, model id and revision, api, profile
    endpoint_info: Mapping[str, Any] | None  # the server's own /info or /v1/models answer
    chat_template: str | None  # the template that rendered the prompts (generate mode), if any
    chat_template_note: str  # why there is none, when there is none
    generation: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # task -> generation parameters
    selected: Mapping[str, int] = field(default_factory=dict)  # samples collected per task (all workers alike)
    warnings: tuple[str, ...] = ()  # Run.mode_warnings(): what this run's requests cannot do that CLUE's did

    def as_dict(self) -> dict[str, Any]:
        return {"describe": dict(self.describe), "endpoint_info": self.endpoint_info,
                "chat_template": self.chat_template, "chat_template_note": self.chat_template_note,
                "generation": {k: dict(v) for k, v in self.generation.items()}, "selected": dict(self.selected),
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunDescription":
        return cls(MappingProxyType(dict(data["describe"])), data.get("endpoint_info"), data.get("chat_template"),
                   data.get("chat_template_note", ""), MappingProxyType(dict(data.get("generation") or {})),
                   MappingProxyType(dict(data.get("selected") or {})), tuple(data.get("warnings") or ()))

    def merged(self, other: "RunDescription") -> "RunDescription":
        """Another process's description: the generation parameters of tasks this one did not render."""
        return RunDescription(self.describe, self.endpoint_info, self.chat_template, self.chat_template_note,
                              MappingProxyType({**other.generation, **self.generation}), self.selected, self.warnings)
