"""The resolved CLUE configuration of a session: settings, thresholds, and what the data folder is."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from clue_checks import settings as settings_mod
from clue_checks.errors import ConfigError
from clue_checks.roles.kind_selection import WORKER_KEY, KindSelection, read_selection
from clue_checks.preflight import config_problems
from clue_checks.report.numbers.thresholds import Thresholds, ThresholdsError
from clue_checks.report.numbers.thresholds import load as load_thresholds
from clue_checks.report.run_facts import synthetic_notice, unknown_threshold_keys
from clue_checks.tasks.registry import TaskCatalog
from clue_checks.tasks.thresholds import as_toml, with_task_files

# A file in the bundled fixtures folder: scores on this data mean nothing clinically.
SYNTHETIC_MARKER = "CLUE_SYNTHETIC_FIXTURES"


def _builtin_catalog() -> TaskCatalog:
    return TaskCatalog.builtin()


@dataclass(frozen=True)
class ClueSetup:
    settings: settings_mod.Settings
    file_thresholds: Thresholds  # the thresholds file's own floors and gates
    file_thresholds_text: str  # the file's content, as read
    synthetic_data: bool  # the data folder is the bundled synthetic fixtures
    kind_selection: KindSelection | None = None  # --clue-kind: the samples to run (None: no such selection)
    # The tasks this session knows: CLUE's, installed packages', and task files named by test modules
    # (added during collection, or under xdist when a worker's report names them).
    catalog: TaskCatalog = field(default_factory=_builtin_catalog)
    _merged: dict[Any, Thresholds] = field(default_factory=dict, compare=False, repr=False)

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds file's floors and gates over those the task files set (the file wins per key)."""
        key = tuple(self.catalog.classes)
        if key not in self._merged:
            self._merged.clear()
            self._merged[key] = with_task_files(self.file_thresholds, self.catalog)
        return self._merged[key]

    @property
    def thresholds_text(self) -> str:
        """What the manifest records: the file as read, or, when task files add floors or gates, all the bars
        that decide the verdict written out as one thresholds file."""
        merged = self.thresholds
        if merged is self.file_thresholds:
            return self.file_thresholds_text
        return as_toml(merged, f"{self.file_thresholds.source} with the floors and gates of the task files "
                               f"{', '.join(str(p) for p in self.catalog.task_files().values())}")

    def warnings(self, server_kind: str | None = None) -> tuple[str, ...]:
        """A real model scored on the synthetic fixtures is said so in the header, the table and the report
        (`server_kind` None: not known yet, before connecting)."""
        return synthetic_notice(self.synthetic_data, bool(self.settings.endpoints), server_kind,
                                self.settings.allow_synthetic)[0]

    def pass_blockers(self, server_kind: str | None) -> tuple[str, ...]:
        """Why the verdict cannot be a pass, whatever the gates."""
        return synthetic_notice(self.synthetic_data, bool(self.settings.endpoints), server_kind,
                                self.settings.allow_synthetic)[1]


def is_synthetic(data_dir: object) -> bool:
    return (Path(str(data_dir)) / SYNTHETIC_MARKER).is_file()


def resolve(config: pytest.Config) -> ClueSetup:
    """Settings and thresholds from the command line and ini file; raises pytest.UsageError."""
    settings = settings_mod.resolve(config)
    try:
        thresholds = load_thresholds(settings.thresholds)
    except ThresholdsError as exc:
        raise pytest.UsageError(str(exc)) from None
    problems = config_problems(config, settings.report_dir)
    if problems:  # before any inference: a report that cannot be written would waste the whole run
        raise pytest.UsageError("; ".join(problems))
    try:
        catalog = TaskCatalog.discover()
    except ConfigError as exc:  # TaskDiscoveryError, TaskFileError: the message names the source and the fix
        raise pytest.UsageError(f"clue-checks: {exc}") from None
    problems = unknown_threshold_keys(thresholds, settings.profile, catalog, pending_ok=True)
    if problems:
        raise pytest.UsageError(f"{thresholds.source}: " + "; ".join(problems))
    if settings.thresholds is not None:
        text = settings.thresholds.read_text(encoding="utf-8")
    else:
        text = resources.files("clue_checks").joinpath("default_thresholds.toml").read_text(encoding="utf-8")
    return ClueSetup(settings, thresholds, text, is_synthetic(settings.data_dir), _kind_selection(config, settings),
                     catalog)


def _kind_selection(config: pytest.Config, settings: settings_mod.Settings) -> KindSelection | None:
    """--clue-kind: read once where the run starts; an xdist worker gets the ids from the controller."""
    if not settings.kinds:
        return None
    given = getattr(config, "workerinput", {}).get(WORKER_KEY)
    if given is not None:
        return KindSelection(settings.kinds, frozenset(given), "the xdist controller")
    return read_selection(settings.selected_from, settings.kinds)  # type: ignore[arg-type]


def unknown_tasks(setup: ClueSetup) -> list[str]:
    """After the collection: tasks named by --clue-tasks or the thresholds file that no source defined."""
    known = setup.catalog.classes
    named = [t for t in setup.settings.tasks if t not in known] if setup.settings.tasks_explicit else []
    problems = [f"--clue-tasks: unknown task(s) {', '.join(named)}; known: {', '.join(known)}"] if named else []
    problems += unknown_threshold_keys(setup.file_thresholds, setup.settings.profile, setup.catalog)
    return problems
