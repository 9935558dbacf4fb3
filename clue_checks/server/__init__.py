"""The embedded parameterless baseline model and its HTTP server (TGI + OpenAI APIs).

``BaselineServer`` answers CLUE prompts with the cheap deterministic rules of
:mod:`clue_checks.server.heuristics`, so the benchmark runs offline without a model.
"""

from clue_checks.server.baseline import BaselineServer

__all__ = ["BaselineServer"]
