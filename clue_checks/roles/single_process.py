"""The single process's roles (no xdist): its sample session sends every selected sample's request and draws
its own live line; its controller counts the samples it collected and reads the session's run.

A problem found at collection or when connecting stops the session (exit 2, the message once): there is no
worker to restart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from clue_checks.roles.controller import Controller
from clue_checks.roles.items import sample_param
from clue_checks.roles.inputs import ProcessLinks, RunOptions
from clue_checks.roles.progress import SessionProgress, finishes_sample
from clue_checks.roles.session import SampleSession
from clue_checks.run_setup import ClueSetup
from clue_checks.runner import Run

# total samples, the run's counters -> the live line (roles/progress.py), or None to draw none
LiveLine = Callable[[int, Callable[[], dict[str, Any]]], SessionProgress | None]


def _no_live_line(total: int, counters: Callable[[], dict[str, Any]]) -> None:
    return None


class LocalSession(SampleSession):
    """The sample session of a single-process run."""

    def __init__(self, setup: ClueSetup, options: RunOptions = RunOptions(), links: ProcessLinks | None = None, *,
                 live_line: LiveLine = _no_live_line) -> None:
        super().__init__(setup, options, links)
        self._live_line = live_line
        self.progress: SessionProgress | None = None  # the live line, once the samples are known

    def _no_data_folder(self, metafunc: pytest.Metafunc, message: str) -> None:
        # Found at collection (the session asked for CLUE by its ini file or a marked test): the session
        # stops here, exit 2, with the message once (as when --clue-data names it).
        raise pytest.Session.Interrupted(message)

    def _cannot_connect(self, session: pytest.Session, problem: str) -> None:
        # pytest's own way to stop a session: exit 2 and the message once (pytest.exit prints it twice).
        raise session.Interrupted(problem)

    def _ready(self, run: Run, mine: list[tuple[int, str]] | None, selected_total: int) -> None:
        super()._ready(run, mine, selected_total)
        self.progress = self._live_line(selected_total, run.progress)

    def _waiting(self) -> AbstractContextManager[Any]:
        return self.progress.waiting() if self.progress is not None else nullcontext()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.progress is not None and finishes_sample(report):
            self.progress.test_done()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            self.progress.finish()


class SingleProcessController(Controller):
    """The controller of a single-process run: the samples it collected are the run's."""

    def __init__(self, setup: ClueSetup, session: LocalSession, options: RunOptions = RunOptions(),
                 links: ProcessLinks | None = None, **kwargs: Any) -> None:
        super().__init__(setup, options, links, **kwargs)
        self.session = session  # the same process's sample session

    @property
    def active(self) -> bool:
        """A sample was selected."""
        return sum(self.selected.values()) > 0

    @property
    def run(self) -> Run:
        return self.session.run

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.options.collect_only:
            return
        params = [p for p in map(sample_param, session.items) if p is not None]
        self.selected_samples(Counter(self.run.sample(p).task for p in params) if params else Counter())

    def selected_samples(self, selected: Counter[str]) -> None:
        """The collection is finished: `selected` samples per task."""
        self.collected = True
        self.selected = selected
        if self.collection_failed and not self.options.continue_on_collection_errors:
            return  # pytest stops at collection errors: no report will be written, the old one stays
        if self.active:
            self._clear_old_report()

    def _at_finish(self, session: pytest.Session) -> None:
        if self.description is None and self.session.description is not None:
            self.description = self.session.description

    def baseline_request_counts(self) -> dict[str, int] | None:
        if not self.setup.settings.baseline_endpoints:
            return None
        side = self.session.baseline_side
        return side.request_counts() if side is not None else None

    def request_stats(self) -> dict[str, Any] | None:
        return self.session.run.request_stats() if self.session.started else None

    def request_counts(self) -> dict[str, int]:
        counts = self.session.request_counts()
        return counts if counts is not None else self._zero_counts()
