"""Which tasks a run knows, and where each came from: CLUE's six, installed packages' and task files'.

    catalog = TaskCatalog.discover()                  # built-ins + the `clue_checks.tasks` entry points
    catalog.add_file(Path("tasks/discharge.toml"))    # a test module's pytest.mark.clue_task(path=...)
    catalog.classes["discharge-qa"]                   # a Task subclass, built like CLUE's

A package contributes tasks with an entry point in the group ``clue_checks.tasks``; the object it names is a
`Task` subclass, or the path of a task file (a `str` or `Path`, e.g. ``Path(__file__).parent / "x.toml"``).
Two sources giving one name is an error naming both; the same task file added twice is the same task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from clue_checks.tasks import TASKS
from clue_checks.tasks.base import Task
from clue_checks.errors import ConfigError
from clue_checks.tasks.file_task import load_task_file

ENTRY_POINT_GROUP = "clue_checks.tasks"
BUILT_IN = "clue-checks (built-in CLUE task)"


class TaskDiscoveryError(ConfigError):
    """A task source that cannot be used (an entry point naming something else); the message says which."""


class TaskClash(TaskDiscoveryError):
    """Two sources define a task of one name; the message names both."""


@dataclass
class TaskCatalog:
    """Task classes by name in report order (CLUE's first), each with the source it came from."""

    classes: dict[str, type[Task]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    _files: dict[Path, type[Task]] = field(default_factory=dict, repr=False)  # read once per path

    @classmethod
    def builtin(cls) -> TaskCatalog:
        return cls(dict(TASKS), dict.fromkeys(TASKS, BUILT_IN))

    @classmethod
    def discover(cls, entry_points: Iterable[Any] | None = None) -> TaskCatalog:
        """CLUE's tasks and every installed package's (`entry_points`: for tests; default: the environment's)."""
        catalog = cls.builtin()
        found = metadata.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        for entry in sorted(found, key=lambda e: e.name):
            catalog.add(_from_entry_point(entry), f"entry point {entry.name!r} = {entry.value!r}"
                        + (f" of {entry.dist.name}" if getattr(entry, "dist", None) is not None else ""))
        return catalog

    def add(self, task: type[Task], source: str) -> type[Task]:
        """Register a task class; the same definition again is a no-op, another one of that name a TaskClash."""
        name = getattr(task, "name", None)
        if not isinstance(name, str) or not name:
            raise TaskClash(f"{source}: the task has no name (set the class attribute `name`)")
        known = self.classes.get(name)
        if known is not None:
            if _same(known, task):
                return known
            raise TaskClash(f"two tasks are named {name!r}: {self.sources[name]} and {source}; rename one "
                            "(a task file's [task] name, a class's `name`)")
        self.classes[name] = task
        self.sources[name] = source
        return task

    def add_file(self, path: Path) -> type[Task]:
        """Register the task of a task file; raises TaskFileError (a bad file) or TaskClash."""
        resolved = Path(path).resolve()
        if resolved not in self._files:
            self._files[resolved] = self.add(load_task_file(path), f"task file {path}")
        return self._files[resolved]

    def names(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def task_files(self) -> Mapping[str, Path]:
        """The task files of the tasks read from one, by task name (what a worker tells its controller)."""
        return {name: cls.task_file for name, cls in self.classes.items() if cls.task_file is not None}


def _same(a: type[Task], b: type[Task]) -> bool:
    if a is b:
        return True
    return a.task_file is not None and a.identity == b.identity and \
        Path(a.task_file).resolve() == Path(str(b.task_file)).resolve()


def _from_entry_point(entry: Any) -> type[Task]:
    loaded = entry.load()
    if isinstance(loaded, (str, Path)) or hasattr(loaded, "joinpath"):
        return load_task_file(Path(str(loaded)))
    if isinstance(loaded, type) and issubclass(loaded, Task):
        return loaded
    raise TaskDiscoveryError(f"entry point {entry.name!r} = {entry.value!r} in group {ENTRY_POINT_GROUP!r} names "
                    f"{type(loaded).__name__}, not a Task subclass or a task file's path")


class TaskInstances(Mapping[str, Task]):
    """The catalog's tasks, each made once on first use with the run's profile and options; tasks added to
    the catalog later (a test module's task file) appear here too."""

    def __init__(self, catalog: TaskCatalog, make: Any) -> None:
        self._catalog, self._make, self._made = catalog, make, {}  # type: ignore[var-annotated]

    def __getitem__(self, name: str) -> Task:
        task = self._made.get(name)
        if task is None:
            task = self._made[name] = self._make(self._catalog.classes[name])
        return task

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._catalog.classes))

    def __len__(self) -> int:
        return len(self._catalog.classes)

    def __contains__(self, name: object) -> bool:
        return name in self._catalog.classes
