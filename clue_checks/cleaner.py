"""Text on its way to the terminal, JUnit and the report folder: whatever UTF-8 cannot hold is escaped
(`utf8_safe`) and every secret is masked (the run's `Redactor`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clue_checks.endpoint.types import utf8_safe


class Cleaner:
    """Text on its way out: UTF-8-safe, secrets masked. `scrub` does the same to every string of a JSON value."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._utf8_safe = utf8_safe

    def __call__(self, text: str) -> str:
        return self._redact(self._utf8_safe(text)) if text else text

    def scrub(self, value: Any) -> Any:
        """Called on every sample record the controller receives: concrete type checks, no ABCs (fast)."""
        kind = type(value)
        if kind is str:
            return self(value)
        if kind is dict or isinstance(value, Mapping):
            return {self(k) if type(k) is str else k: self.scrub(v) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [self.scrub(v) for v in value]
        return value

    def lines(self, lines: Sequence[str]) -> list[str]:
        return [self(line) for line in lines]
