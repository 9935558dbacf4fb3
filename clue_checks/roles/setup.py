"""The resolved CLUE configuration of a session: settings, thresholds, and what the data folder is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from .. import settings as settings_mod
from ..report.run_facts import synthetic_notice, unknown_threshold_keys
from ..report.thresholds import Thresholds, ThresholdsError
from ..report.thresholds import load as load_thresholds

if TYPE_CHECKING:
    from .kind_selection import KindSelection

# A file in the bundled fixtures folder: scores on this data mean nothing clinically.
SYNTHETIC_MARKER = "CLUE_SYNTHETIC_FIXTURES"


@dataclass(frozen=True)
class ClueSetup:
    settings: settings_mod.Settings
    thresholds: Thresholds
    thresholds_text: str  # the file's content, as read (for the manifest)
    synthetic_data: bool  # the data folder is the bundled synthetic fixtures
    kind_selection: KindSelection | None = None  # --clue-kind: the samples to run (None: no such selection)

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
    from pathlib import Path

    return (Path(str(data_dir)) / SYNTHETIC_MARKER).is_file()


def resolve(config: pytest.Config) -> ClueSetup:
    """Settings and thresholds from the command line and ini file; raises pytest.UsageError."""
    settings = settings_mod.resolve(config)
    try:
        thresholds = load_thresholds(settings.thresholds)
    except ThresholdsError as exc:
        raise pytest.UsageError(str(exc)) from None
    from .robust import config_problems

    problems = config_problems(config, settings.report_dir)
    if problems:  # before any inference: a report that cannot be written would waste the whole run
        raise pytest.UsageError("; ".join(problems))
    problems = unknown_threshold_keys(thresholds, settings.profile)
    if problems:
        raise pytest.UsageError(f"{thresholds.source}: " + "; ".join(problems))
    if settings.thresholds is not None:
        text = settings.thresholds.read_text(encoding="utf-8")
    else:
        from importlib import resources

        text = resources.files("clue_checks").joinpath("default_thresholds.toml").read_text(encoding="utf-8")
    return ClueSetup(settings, thresholds, text, is_synthetic(settings.data_dir), _kind_selection(config, settings))


def _kind_selection(config: pytest.Config, settings: settings_mod.Settings) -> KindSelection | None:
    """--clue-kind: read once where the run starts; an xdist worker gets the ids from the controller."""
    if not settings.kinds:
        return None
    from .kind_selection import WORKER_KEY, KindSelection, read_selection

    given = getattr(config, "workerinput", {}).get(WORKER_KEY)
    if given is not None:
        return KindSelection(settings.kinds, frozenset(given), "the xdist controller")
    return read_selection(settings.selected_from, settings.kinds)  # type: ignore[arg-type]
