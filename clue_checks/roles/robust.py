"""Checks made before any inference, and what every printed line and written file passes through.

- `config_problems`: configuration mistakes that would otherwise surface after all inference (a
  report folder that cannot be written) or as a baffling pytest error (`--clue-data DIR` written
  with a space): each is one usage error at start.
- `store_problem`: the response store opened before any request; an unusable one is one line naming
  the file and the fixes (exit 2), never an INTERNALERROR traceback.
- `Cleaner`: model text and server words on their way to the terminal, JUnit and the report folder:
  whatever UTF-8 cannot hold is escaped (`utf8_safe`) and every secret is masked (`Redactor`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..runner import Run


def report_dir_problem(path: Path, label: str = "--clue-report-dir") -> str | None:
    """Why the report folder cannot be written, or None. Checked without creating it: a session that
    collects no sample leaves the file system as it was."""
    if path.exists() and not path.is_dir():
        return f"{label} {path} is a file, not a folder: name a folder (it is created when missing)"
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:
        return None
    if not existing.is_dir():
        return f"{label} {path} cannot be created: {existing} is a file where a folder should be"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "cannot be written" if existing == path else f"cannot be created: {existing} is not writable"
        return f"{label} {path} {what}; name a writable folder"
    return None


def clue_data_space_problem(config: pytest.Config) -> str | None:
    """`--clue-data DIR` (a space, not `=`): pytest chooses its rootdir and ini file before it knows our
    options, so it takes DIR for a test path; the run then finds another ini file (other testpaths,
    another report folder) and can fail with "import file mismatch". Refused when DIR changed that choice."""
    args = list(config.invocation_params.args)
    if "--clue-data" not in args[:-1]:
        return None
    value = args[args.index("--clue-data") + 1]
    from _pytest.config.findpaths import determine_setup

    without = [a for i, a in enumerate(args) if not (a == value and i > 0 and args[i - 1] == "--clue-data")]
    try:
        rootpath, inipath, _, _ = determine_setup(
            inifile=config.option.inifilename, override_ini=config.option.override_ini, args=without,
            rootdir_cmd_arg=config.option.rootdir or None, invocation_dir=config.invocation_params.dir)
    except Exception:  # pytest's own error, if any, is reported by pytest
        return None
    if rootpath == config.rootpath and inipath == config.inipath:
        return None
    return (f"--clue-data {value} (with a space) makes pytest take {value} for a test path when it chooses its "
            f"rootdir and ini file (it chose {config.rootpath} and {config.inipath or 'no ini file'} instead of "
            f"{rootpath} and {inipath or 'no ini file'}): write --clue-data={value}")


def config_problems(config: pytest.Config, report_dir: Path) -> list[str]:
    problems = []
    space = clue_data_space_problem(config)
    if space:
        problems.append(space)
    report = report_dir_problem(report_dir)
    if report:
        problems.append(report)
    return problems


def store_problem(run: Run, *, create: bool = True) -> str | None:
    """Open the run's response store now; an unusable one is one line with the fixes.

    `create=False` (the xdist controller, before it knows whether any sample will be collected): a store
    that does not exist yet is not created, only its folder checked, so a session without CLUE samples
    leaves the file system as it was."""
    from ..endpoint.store import NO_CACHE, StoreError

    cache = run.settings.cache_dir
    if not create and cache is not None and not (cache / STORE_FILE).exists():
        blocker = next((p for p in (cache, *cache.parents) if p.exists() and not p.is_dir()), None)
        if blocker is None:
            return None
        return (f"clue-checks: The response store {cache / STORE_FILE} cannot be used: {blocker} is a file where its "
                f"folder should be. Give --clue-cache a folder, move that file away, or {NO_CACHE}.")
    try:
        run.open_store()
    except StoreError as exc:
        return f"clue-checks: {run.redact(str(exc))}"
    return None


STORE_FILE = "responses.sqlite3"  # Run.open_store's file in the --clue-cache folder


class Cleaner:
    """Text on its way out: UTF-8-safe, secrets masked. `scrub` does the same to every string of a JSON value."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        from ..endpoint.types import utf8_safe

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
