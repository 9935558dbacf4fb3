"""The task catalog: CLUE's tasks, installed packages' and task files', and what it refuses."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import clue_checks
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.base import Task
from clue_checks.tasks.registry import BUILT_IN, TaskCatalog, TaskClash, TaskDiscoveryError, TaskInstances

EXAMPLE = Path(clue_checks.__file__).parent / "examples" / "followup"


@dataclass
class FakeEntryPoint:
    name: str
    value: str
    obj: Any
    dist: Any = None

    def load(self) -> Any:
        return self.obj


class Ward(Task):
    name, title = "ward", "Ward"

    def load(self, data_dir):  # pragma: no cover - never loaded here
        raise NotImplementedError

    def prompt(self, sample, shots):  # pragma: no cover
        raise NotImplementedError

    def score(self, sample, response, floors):  # pragma: no cover
        raise NotImplementedError


def test_the_public_api_is_exported_from_the_package():
    assert clue_checks.Task is Task and clue_checks.load_task_file is not None
    assert all(issubclass(cls, clue_checks.Task) for cls in TASKS.values())
    assert {n for n, c in TASKS.items() if c.credentialed} == {"mednli", "problemsummary", "medisumqa", "medisumcode"}


def test_entry_points_add_task_classes_and_task_files_after_clues():
    catalog = TaskCatalog.discover([FakeEntryPoint("ward", "pkg:Ward", Ward),
                                    FakeEntryPoint("followup", "pkg:FILE", EXAMPLE / "followup.toml")])
    assert catalog.names() == (*TASKS, "followup", "ward")
    assert catalog.sources["mednli"] == BUILT_IN and "entry point 'ward'" in catalog.sources["ward"]
    assert catalog.task_files() == {"followup": EXAMPLE / "followup.toml"}


def test_a_name_clash_is_an_error_naming_both_sources(tmp_path):
    clash = type("Clash", (Ward,), {"name": "meqsum"})
    with pytest.raises(TaskClash, match=r"two tasks are named 'meqsum': clue-checks \(built-in CLUE task\) and "
                                         r"entry point 'x' = 'pkg:Clash'"):
        TaskCatalog.discover([FakeEntryPoint("x", "pkg:Clash", clash)])
    catalog = TaskCatalog.discover([FakeEntryPoint("f", "pkg:F", EXAMPLE / "followup.toml")])
    copy = tmp_path / "followup.toml"
    shutil.copy(EXAMPLE / "followup.toml", copy)
    (copy.parent / "followup.csv").write_text("id,letter_id,instructions,question,answer\n", encoding="utf-8")
    copy.write_text(copy.read_text() + "\n# edited\n", encoding="utf-8")
    with pytest.raises(TaskClash, match=rf"entry point 'f' = 'pkg:F' and task file {copy}"):
        catalog.add_file(copy)


def test_the_same_task_file_twice_is_one_task():
    catalog = TaskCatalog.builtin()
    first = catalog.add_file(EXAMPLE / "followup.toml")
    assert catalog.add_file(EXAMPLE / ".." / "followup" / "followup.toml") is first
    assert TaskCatalog.builtin().add_file(EXAMPLE / "followup.toml") is not first  # read again: same definition
    other = TaskCatalog.builtin()
    other.add(first, "a")
    assert other.add_file(EXAMPLE / "followup.toml") is first


def test_an_entry_point_naming_something_else_is_refused():
    with pytest.raises(TaskDiscoveryError, match="names int, not a Task subclass or a task file's path"):
        TaskCatalog.discover([FakeEntryPoint("n", "pkg:N", 3)])


def test_a_runs_tasks_follow_the_catalog_as_it_grows():
    catalog = TaskCatalog.builtin()
    made = []
    tasks = TaskInstances(catalog, lambda cls: made.append(cls.name) or cls(get_profile("paper")))
    assert "followup" not in tasks and len(tasks) == len(TASKS)
    catalog.add_file(EXAMPLE / "followup.toml")
    assert list(tasks)[-1] == "followup" and tasks["followup"] is tasks["followup"] and made == ["followup"]
