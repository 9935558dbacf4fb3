"""The tools that check a task file (`taskfile.py`): its error, which names the file, the line and the fix; the
line a key is written on; and a reader of its tables against a schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clue_checks.errors import ConfigError


class TaskFileError(ConfigError):
    """A task file that cannot be used: the message names the file, the line and the fix."""

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None, fix: str | None = None) -> None:
        self.path, self.line, self.problem, self.fix = Path(path), line, problem, fix
        where = f"{path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}" + (f"; {fix}" if fix else ""))


def line_of(text: str, section: str | None, key: str | None = None) -> int | None:
    """The line of `key` in `[section]` (or of the section's header; section None: a top-level key); None when
    not written as such. tomllib keeps no positions; a task file is a few flat tables, so a scan finds the
    line a user wrote."""
    if section is None:
        return _top_level_line(text, key) if key else None
    current: str | None = None
    header_line = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?", line)
        if header:
            current = header.group(1).split(".")[0].strip("\"' ")
            if current == section and header_line is None:
                header_line = number
            continue
        if current == section and key is not None and re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*=", line):
            return number
    return header_line


def _top_level_line(text: str, key: str) -> int | None:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("["):
            return None
        if re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", raw):
            return number
    return None


class Reader:
    """One file's checks, each raising TaskFileError at the line concerned."""

    def __init__(self, path: Path, text: str, schema: Mapping[str, Mapping[str, tuple[tuple[type, ...], bool]]]) -> None:
        self.path, self.text, self.schema = path, text, schema

    def fail(self, problem: str, fix: str, section: str | None = None, key: str | None = None) -> TaskFileError:
        return TaskFileError(self.path, problem, line=line_of(self.text, section, key), fix=fix)

    def table(self, data: Mapping[str, Any], section: str) -> dict[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            raise self.fail(f"{section} must be a table", f"write it as [{section}]", None, section)
        schema = self.schema[section]
        if schema:
            for key in value:
                if key not in schema:
                    raise self.fail(f"unknown key {key!r} in [{section}]",
                                    f"use one of {', '.join(schema)} (docs/own-tasks.md#the-task-file)",
                                    section, key)
            for key, (types, required) in schema.items():
                if required and key not in value:
                    raise self.fail(f"[{section}] has no {key!r}", f"add {key} = ... to [{section}]", section)
                if key in value and (not isinstance(value[key], types) or
                                     (bool not in types and isinstance(value[key], bool))):
                    names = " or ".join(_type_word(t) for t in types)
                    raise self.fail(f"[{section}] {key} must be {names}, got {value[key]!r}",
                                    f"write {key} as {names}", section, key)
        return value

    def strings(self, table: Mapping[str, Any], section: str, key: str) -> tuple[str, ...]:
        values = table.get(key, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(f"[{section}] {key} must be a list of text", f'write e.g. {key} = ["a", "b"]', section,
                            key)
        return tuple(values)


def _type_word(t: type) -> str:
    return {str: "text (a quoted string)", int: "a whole number", bool: "true or false", list: "a list [...]",
            float: "a number"}.get(t, t.__name__)
