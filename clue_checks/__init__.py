"""clue-checks: the CLUE clinical benchmark as a pytest suite against a model endpoint.

The public task API (docs/own-tasks.md), importable from here::

    from clue_checks import Task, Sample, Prompt, Turn, SampleResult, LoadedTask, load_task_file

Names are imported on first use, so loading the pytest plugin stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_PUBLIC = {"Task": "base", "Sample": "base", "Prompt": "base", "Turn": "base", "SampleResult": "base", "LoadedTask": "base",
           "FileTask": "file_task", "load_task_file": "file_task", "TaskDefinition": "taskfile",
           "TaskFileError": "taskfile", "read_task_file": "taskfile", "TaskCatalog": "registry",
           "ENTRY_POINT_GROUP": "registry"}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'clue_checks' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"clue_checks.tasks.{module}"), name)
