"""One error type for bad benchmark input, always naming where and what to do: `DataError`, a family of
the package's error tree (clue_checks/errors.py), imported from here by the readers and the tasks."""

from __future__ import annotations

from clue_checks.errors import DataError

__all__ = ["DataError"]
