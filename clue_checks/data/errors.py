"""One error type for bad benchmark input, always naming where and what to do."""

from __future__ import annotations

from pathlib import Path


class DataError(Exception):
    """Bad or missing benchmark data. The message names the file, the record and the field."""

    def __init__(self, path: Path | str, problem: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.where = where
        self.hint = hint
        location = f"{self.path}" + (f", {where}" if where else "")
        text = f"{location}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
