"""What a collected test says about CLUE: its task (the module's marker) and its sample (the fixture's parameter).

Cheap to import (pytest only): plugin.py reads items with these before it knows whether a session asks for CLUE.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from clue_checks.run_setup import ClueSetup

MARKER = "clue_task"
FIXTURE = "clue_sample"


def task_of(node: Any, catalog: Any = None) -> str | None:
    """The task a test module names: `clue_task("name")`, or `clue_task(path="tasks/x.toml")`, a task file
    read into `catalog` (raises TaskFileError or TaskClash). The path is relative to the module's folder,
    else to the rootdir."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None
    if marker.args:
        return marker.args[0]
    path = marker.kwargs.get("path")
    if path is None or catalog is None:
        return marker.kwargs.get("name")
    return catalog.add_file(task_file_path(node, str(path))).name


def task_file_path(node: Any, path: str) -> Path:
    given = Path(path)
    if given.is_absolute():
        return given
    beside = Path(node.path).parent / given
    return beside if beside.exists() or not (node.config.rootpath / given).exists() else node.config.rootpath / given


def is_sample(item: Any) -> bool:
    """The test asks for the `clue_sample` fixture (parametrized or not)."""
    return FIXTURE in getattr(item, "fixturenames", ())


def sample_param(item: pytest.Item) -> str | None:
    """The sample a test checks ("task:sample_id"), or None."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(FIXTURE) if callspec else None
    return value if isinstance(value, str) else None  # an empty parameter set holds a placeholder


def sample_param_of(item: pytest.Item) -> str | None:
    return sample_param(item) if is_sample(item) else None


def adopt_task_files(setup: ClueSetup, report: pytest.TestReport) -> None:
    """The task files a worker's report names join the session's catalog (the xdist controller reads no test
    module)."""
    for name, path in (getattr(report, "clue_task_files", None) or {}).items():
        if name not in setup.catalog.classes:
            setup.catalog.add_file(Path(path))
