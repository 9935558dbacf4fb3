"""Checks made before any inference: each configuration mistake is one line at start, never a baffling error later.

- `config_problems`: configuration mistakes that would otherwise surface after all inference (a
  report folder that cannot be written) or as a baffling pytest error (`--clue-data DIR` written
  with a space): each is one usage error at start.
- `store_problem`: the response store opened before any request; an unusable one is one line naming
  the file and the fixes (exit 2), never an INTERNALERROR traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from clue_checks.endpoint.store_types import NO_CACHE
from clue_checks.errors import StoreError

if TYPE_CHECKING:
    from clue_checks.run_data import RunData


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


# The files pytest reads its configuration from, nearest first, and what makes each one count (None: always).
_CONFIG_FILES = (("pytest.ini", None), (".pytest.ini", None), ("pyproject.toml", "[tool.pytest"),
                 ("tox.ini", "[pytest]"), ("setup.cfg", "[tool:pytest]"))


def _search_start(args: list[str], invocation_dir: Path) -> Path:
    """Where pytest starts looking for its ini file: the common folder of the arguments that are existing
    paths (a node id counts by its file), else the invocation folder."""
    paths = []
    for arg in args:
        if arg.startswith("-"):
            continue
        path = invocation_dir / arg.split("::")[0]
        if path.exists():
            paths.append(Path(os.path.abspath(path)))
    if not paths:
        return invocation_dir
    shared = Path(os.path.commonpath(paths))
    return shared.parent if shared.is_file() else shared


def _nearest_config(start: Path) -> Path | None:
    """The configuration file pytest would find searching upwards from `start`."""
    for folder in (start, *start.parents):
        for name, marker in _CONFIG_FILES:
            path = folder / name
            try:
                if path.is_file() and (marker is None or marker in path.read_text(encoding="utf-8", errors="replace")):
                    return path
            except OSError:
                continue
    return None


def clue_data_space_problem(config: pytest.Config) -> str | None:
    """`--clue-data DIR` (a space, not `=`): pytest chooses its rootdir and ini file before it knows our
    options, so it takes DIR for a test path; the run then finds another ini file (other testpaths,
    another report folder) and can fail with "import file mismatch". Refused when DIR can have changed
    that choice: searched from where DIR moved the start, pytest finds another configuration file (or
    none, when the rootdir is the start itself)."""
    args = [str(a) for a in config.invocation_params.args]
    if "--clue-data" not in args[:-1] or (config.option.inifilename and config.option.rootdir):
        return None
    value = args[args.index("--clue-data") + 1]
    without = [a for i, a in enumerate(args) if not (a == value and i > 0 and args[i - 1] == "--clue-data")]
    invocation_dir = Path(config.invocation_params.dir)
    with_dir, start = _search_start(args, invocation_dir), _search_start(without, invocation_dir)
    found = _nearest_config(start)
    if with_dir == start or (found is not None and found == _nearest_config(with_dir)):
        return None
    return (f"--clue-data {value} (with a space) makes pytest take {value} for a test path when it chooses its "
            f"rootdir and ini file (it chose {config.rootpath} and {config.inipath or 'no ini file'}, searching "
            f"from {with_dir} instead of {start}): write --clue-data={value}")


def config_problems(config: pytest.Config, report_dir: Path) -> list[str]:
    problems = []
    space = clue_data_space_problem(config)
    if space:
        problems.append(space)
    report = report_dir_problem(report_dir)
    if report:
        problems.append(report)
    return problems


def store_problem(run: RunData, *, create: bool = True) -> str | None:
    """Open the run's response store now; an unusable one is one line with the fixes.

    `create=False` (the xdist controller, before it knows whether any sample will be collected): a store
    that does not exist yet is not created, only its folder checked, so a session without CLUE samples
    leaves the file system as it was."""
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
