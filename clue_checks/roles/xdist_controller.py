"""The xdist controller's role (as pytest-xdist's `DSession`): it runs no test and reads no test module.

It learns that the session will write a report when the first worker's description arrives (with which
samples were selected), checks what it can before any worker starts, adds up each worker's `WorkerReport`
(a worker that died: its counts as it last wrote them, worker_counts.py), and learns the users' task files
from the workers' reports (`TaskFilesFromWorkers`).

It sends no request, so it imports none of the sample side (the runner, the sessions, the client and the
scheduler, the server): its tasks and data are a `RunData` (run_data.py); only the endpoint check at start,
when an endpoint is given, imports the runner (tests/roles/test_startup_imports.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from clue_checks.errors import ClueError
from clue_checks.preflight import store_problem
from clue_checks.record import RunDescription, WorkerReport
from clue_checks.report.numbers.run_stats import merge_stats
from clue_checks.roles.controller import Controller
from clue_checks.roles.items import adopt_task_files
from clue_checks.roles.inputs import ProcessLinks, RunOptions
from clue_checks.roles.stops import EXIT_UNAVAILABLE
from clue_checks.run_setup import ClueSetup
from clue_checks.run_data import RunData

# a worker's id -> the request counts it last wrote to disk, or None (worker_counts.py)
LastCounts = Callable[[str], "dict[str, int] | None"]


def _none_written(worker_id: str) -> None:
    return None


class XdistController(Controller):
    """The controller of an xdist run: the workers' reports and outputs are all it sees."""

    def __init__(self, setup: ClueSetup, options: RunOptions = RunOptions(), links: ProcessLinks | None = None, *,
                 last_counts: LastCounts = _none_written, **kwargs: Any) -> None:
        super().__init__(setup, options, links, **kwargs)
        self._last_counts = last_counts
        self._run: RunData | None = None
        self.worker_requests: Counter[str] = Counter()
        self.worker_baseline_requests: Counter[str] = Counter()
        self.worker_stats: list[dict[str, Any]] = []  # each worker's Run.request_stats()

    @property
    def active(self) -> bool:
        """A worker connected for the selected samples (its description arrived)."""
        return self.description is not None

    @property
    def run(self) -> RunData:
        """The controller's own view of the tasks and data (it sends nothing: no client, no renderer)."""
        if self._run is None:
            self._run = RunData(self.setup.settings, catalog=self.setup.catalog)
        return self._run

    def _check_at_start(self, session: pytest.Session) -> None:
        if self.options.collect_only:
            super()._check_at_start(session)
            return
        self._hold_report_folder()  # before any worker starts sending
        super()._check_at_start(session)
        # An unusable cache: one line now, before any worker starts.
        problem = store_problem(self.run, create=False)
        self.run.close()
        if problem is not None:
            raise session.Interrupted(problem)  # exit 2, the message once
        if self.setup.settings.endpoints:
            self._check_endpoint(session)

    def _check_endpoint(self, session: pytest.Session) -> None:
        # The client, the scheduler and the renderer: only when an endpoint is given to check (the workers
        # connect again; the check here is what makes a wrong endpoint one line, once).
        from clue_checks.runner import Run

        run = Run(self.setup.settings, catalog=self.setup.catalog)
        problem = None
        try:
            run.connect(list(self.setup.settings.endpoints))
        except ClueError as exc:  # the server, the template, the store: one line, exit 2
            problem = f"clue-checks: {run.redact(str(exc))}"
        finally:
            run.close()
        if problem is not None:
            raise session.Interrupted(problem)  # exit 2, the message once

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = True  # which of them are samples, the first worker that connects says

    def _first_description(self, description: RunDescription) -> None:
        self.selected = Counter(description.selected)
        self._clear_old_report()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Each worker's request counts arrive with its output (a crashed worker's are lost)."""
        self.worker_finished(WorkerReport.taken_from(getattr(node, "workeroutput", None)),
                             str(node.workerinput.get("workerid", "")), error)

    def worker_finished(self, report: WorkerReport | None, worker_id: str, error: Any = None) -> None:
        if report is not None and report.requests:
            self.worker_requests.update(report.requests)
        elif error is not None:  # the worker died: its counts as it last wrote them (worker_counts)
            last = self._last_counts(worker_id)
            if last:  # (the requests it had on the wire when it died are not known to have been answered)
                self.worker_requests.update({k: v for k, v in last.items() if k != "in_flight"})
        if report is None:
            return
        if report.baseline_requests:
            self.worker_baseline_requests.update(report.baseline_requests)
        if report.request_stats:
            self.worker_stats.append(dict(report.request_stats))
        if report.description is not None:
            self._described(report.description)

    def _at_finish(self, session: pytest.Session) -> None:
        if self.collection_failed and not self.options.continue_on_collection_errors:
            session.exitstatus = EXIT_UNAVAILABLE  # as pytest itself does: interrupted by collection errors

    def baseline_request_counts(self) -> dict[str, int] | None:
        if not self.setup.settings.baseline_endpoints:
            return None
        return dict(self.worker_baseline_requests)

    def request_stats(self) -> dict[str, Any] | None:
        return merge_stats(self.worker_stats)

    def request_counts(self) -> dict[str, int]:
        zero = self._zero_counts()
        return {k: int(self.worker_requests.get(k, 0)) for k in zero}


class TaskFilesFromWorkers:
    """Beside the xdist controller: the task files a worker's report names join the session's catalog, so the
    report, the gates and the comparison know the users' tasks the workers ran."""

    def __init__(self, setup: ClueSetup) -> None:
        self.setup = setup

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        adopt_task_files(self.setup, report)
