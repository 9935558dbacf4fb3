"""The xdist worker's role (as pytest-xdist's `WorkerInteractor`): a sample session that sends its share.

It sends the share the controller's scheduler gives it (xdist_share.py; without that scheduler it fetches
each sample when its test asks), keeps its request counts on disk should it die, puts its latest counters
on each sample's report for the controller's live line, and hands the controller a `WorkerReport` when
its session finishes. A problem it cannot run past fails its first sample with the message (a worker that
exits is restarted by xdist and its message lost).
"""

from __future__ import annotations

from typing import Any

import pytest

from clue_checks.record import WorkerReport
from clue_checks.roles.items import FIXTURE
from clue_checks.roles.inputs import ProcessLinks, RunOptions, WorkerPlace
from clue_checks.roles.progress import REPORT_ATTRIBUTE as PROGRESS_ATTRIBUTE
from clue_checks.roles.progress import finishes_sample
from clue_checks.roles.session import SampleSession
from clue_checks.roles.worker_counts import CountsFile
from clue_checks.run_setup import ClueSetup
from clue_checks.runner import Run
from clue_checks.xdist_share import shares, worker_number


class WorkerSession(SampleSession):
    """A sample session in an xdist worker; its `workeroutput` is the dict xdist sends back when it finishes."""

    def __init__(self, setup: ClueSetup, place: WorkerPlace, workeroutput: dict[str, Any],
                 options: RunOptions = RunOptions(), links: ProcessLinks | None = None) -> None:
        super().__init__(setup, options, links)
        self.place = place
        self.workeroutput = workeroutput
        self.concurrency_share = 1.0 / place.worker_count
        self._data_error_shown = False  # a missing data folder: one collection error
        self._selected_total = 0  # the session's selected samples (all workers'), for the controller's line

    def _no_data_folder(self, metafunc: pytest.Metafunc, message: str) -> None:
        # A worker that stopped would be restarted: here it is one collection error, which stops the run.
        if not self._data_error_shown:
            self._data_error_shown = True
            pytest.fail(message, pytrace=False)
        metafunc.parametrize(FIXTURE, [], indirect=True)

    def _my_share(self, session: pytest.Session, indexed: list[tuple[int, str]]) -> list[tuple[int, str]] | None:
        self._selected_total = len(indexed)
        if not self.place.uses_share:  # e.g. --dist loadscope: which tests come here is not known ahead
            return None
        owner = shares([item.nodeid for item in session.items], self.place.worker_count)
        return [(i, p) for i, p in indexed if owner[i] == worker_number(self.place.worker_id)]

    def _cannot_connect(self, session: pytest.Session, problem: str) -> None:
        self.unavailable = problem  # the first sample test errors with it, and stops the session

    def _ready(self, run: Run, mine: list[tuple[int, str]] | None, selected_total: int) -> None:
        self._keep_counts_on_disk(run)
        super()._ready(run, mine, selected_total)

    def _keep_counts_on_disk(self, run: Run) -> None:
        """The request counts, kept where the controller reads them should this worker die."""
        scheduler = run.scheduler
        if self.place.counts_folder is None or scheduler is None:
            return
        counts = CountsFile(self.place.counts_folder, self.place.worker_id)
        self.links.add_cleanup(counts.close)
        scheduler.on_count = lambda: counts.write({**scheduler.counts(), "in_flight": scheduler.progress()["in_flight"]})

    def _annotate(self, report: pytest.TestReport) -> None:
        if self._run is not None and finishes_sample(report):
            # For the controller's live line: this worker's request counters now (a few ints, JSON).
            setattr(report, PROGRESS_ATTRIBUTE, {**self._run.progress(), "total": self._selected_total})
        if getattr(report, "clue_record", None) is not None:
            # The controller reads no test module: it learns the task files here (paths, a few per run).
            files = self.setup.catalog.task_files()
            if files:
                report.clue_task_files = {name: str(path) for name, path in files.items()}

    def worker_report(self) -> WorkerReport | None:
        """What the controller learns when this worker finishes (None: no CLUE sample ran here)."""
        if self._run is None:
            return None
        baseline = self.baseline_side.request_counts() if self.baseline_side is not None else None
        return WorkerReport(self._run.request_counts(), self._run.request_stats(), baseline, self.description)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report = self.worker_report()
        if report is not None:  # xdist sends the output after this hook
            report.put(self.workeroutput)
