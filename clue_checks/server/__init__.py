"""The embedded parameterless baseline model and its HTTP server (TGI + OpenAI APIs).

``BaselineServer`` answers CLUE prompts with the cheap deterministic rules of
:mod:`clue_checks.server.heuristics` (or a variant of them, :mod:`clue_checks.server.variants`), so the
benchmark runs offline without a model. It is imported on first use: reading the option list (the
variant names) must not load the tokenizer library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BaselineServer"]


def __getattr__(name: str) -> Any:
    if name == "BaselineServer":
        from clue_checks.server.baseline import BaselineServer

        return BaselineServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
