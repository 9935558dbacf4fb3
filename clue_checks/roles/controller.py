"""What every controller does, in the single process or on the xdist controller (the two roles:
single_process.py, xdist_controller.py). One per run.

It keeps the records that arrive with each test report, and at the end hands them with the run's plain
facts (run_facts.py) to the report builder (report/build.py), writes the `Report` it returns (the folder,
the JUnit additions), sets the exit code from its verdict and prints it. The previous report is removed only
once this run will write one (the role says when); otherwise it is left as it was. What differs by mode —
which samples were selected, where the run and the request counts come from — is left to the role.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clue_checks.cleaner import Cleaner
from clue_checks.endpoint.redact import without_userinfo
from clue_checks.endpoint.types import REQUEST_COUNTS
from clue_checks.record import RunDescription, SampleRecord
from clue_checks.report.build import build_report
from clue_checks.report.document import Report
from clue_checks.report.files import remove_reports
from clue_checks.report.numbers.aggregate import exit_status
from clue_checks.report.write import job_summary, junit
from clue_checks.report.write.junit import JunitAdditions
from clue_checks.report.write.markdown import markdown
from clue_checks.report.write.outcome import note_lines, where_lines, write_safely
from clue_checks.report.write.terminal import summary_lines
from clue_checks.roles.baseline_check import baseline_facts, check_before_inference
from clue_checks.roles.first_run import HEADLINE_ATTRIBUTE, FailureLines, exit_code_line, wants_compact
from clue_checks.roles.record_sharing import SharedValues
from clue_checks.roles.inputs import ProcessLinks, RunOptions
from clue_checks.roles.controller_facts import run_facts
from clue_checks.roles.stops import EXIT_UNAVAILABLE, data_folder_missing
from clue_checks.run_setup import ClueSetup
from clue_checks.run_data import RunData


def _no_lock() -> None:
    return None


_NUMBERS = (int, float, bool)


def scrubbed_row(clean: Cleaner, row: dict[str, Any]) -> dict[str, Any]:
    """`clean.scrub(row)` for a sample record's row: its field names are the record's own (read by name), and a
    number or None is left as it is, so only the values that can hold text are walked."""
    return {key: value if value is None or type(value) in _NUMBERS else clean.scrub(value) for key, value in row.items()}


class Controller:
    """Records, report, exit code (the single process's or the xdist controller's role)."""

    def __init__(self, setup: ClueSetup, options: RunOptions = RunOptions(), links: ProcessLinks | None = None, *,
                 junit_additions: JunitAdditions | None = None, hold_report_folder: Callable[[], None] = _no_lock) -> None:
        self.setup = setup
        self.options = options
        self.links = links if links is not None else ProcessLinks()
        self.selected: Counter[str] = Counter()  # samples selected per task
        self.collected = False  # the collection (or the first worker's) has been seen
        self.records: list[SampleRecord] = []
        self.description: RunDescription | None = None
        self.collection_failed = False
        self.other_failures = 0  # failed tests of the session that are not CLUE samples
        self.started = time.time()
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        self.report: Report | None = None  # built once at the end (report/build.py)
        self.paths: list[Path] = []
        self.page_problem: str | None = None  # why index.html could not be written
        self.report_error: str | None = None  # the report could not be written: why
        self._cleaner: Cleaner | None = None
        self.summary_problem: str | None = None  # why the GitHub Actions job summary was not appended
        self._junit_additions = junit_additions  # None without --junitxml
        self._hold_report_folder = hold_report_folder  # a second run on the folder stops, in one line (folder_lock.py)
        self.failure_lines = FailureLines()  # failing samples, one line each (first_run.py)
        self._shared = SharedValues()
        self.compact = wants_compact(options.tbstyle, options.verbosity, options.reportchars)
        self.exit_status: int | None = None  # the session's exit code, as this plugin left it

    # -- what the role decides ------------------------------------------------------------

    @property
    def active(self) -> bool:
        """This session writes a report."""
        raise NotImplementedError

    @property
    def run(self) -> RunData:
        """The run whose data the report describes."""
        raise NotImplementedError

    def _check_at_start(self, session: pytest.Session) -> None:
        """Options given on the command line ask for CLUE outright: what can be checked before any sample."""
        if not self.setup.settings.data_dir.is_dir():  # one message, not one per task module
            raise session.Interrupted(data_folder_missing(self.setup.settings.data_dir))

    def _first_description(self, description: RunDescription) -> None:
        """The first sample session's description has arrived."""

    def _at_finish(self, session: pytest.Session) -> None:
        """The session ends: before the report is built."""

    def baseline_request_counts(self) -> dict[str, int] | None:
        """What the baseline endpoint was sent (--clue-baseline-endpoint), counted like the model's requests."""
        raise NotImplementedError

    def request_stats(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def request_counts(self) -> dict[str, int]:
        raise NotImplementedError

    # -- start ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Options given on the command line ask for CLUE outright: the data folder (and, under xdist,
        the endpoint) are checked once, before any worker starts."""
        self.started = time.time()
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        settings = self.setup.settings
        if settings.baseline_dir is not None and not self.options.collect_only:
            # Data, profile, prompts, seeds and floors agree with the baseline's, before any request.
            problem = check_before_inference(settings, self.run, self.setup.thresholds_text)
            if problem is not None:
                raise session.Interrupted(problem)  # exit 2, the message once
        if settings.on_command_line:
            self._check_at_start(session)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # xdist runs tests despite collection errors; our scheduler reads this and sends none.
        if report.failed:
            self.collection_failed = True

    def _clear_old_report(self) -> None:
        self._hold_report_folder()
        # Whatever happens next, the report folder never shows an earlier run's results as this run's.
        remove_reports(self.setup.settings.report_dir)

    # -- reports --------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "clue_record", None)
        if data is not None and getattr(report, "clue_private", False):  # --clue-redact: the text came apart
            data = self.links.private_records().take(report.nodeid, report.when) or data
        if data is not None:
            # No secret, no unwritable text in any artefact; what many records repeat, kept once (record_sharing.py).
            record = SampleRecord.from_dict(self._shared(scrubbed_row(self.clean, data)))
            self.records.append(record)
            if self._junit_additions is not None:
                junit.add_sample_output(self._junit_additions, report,
                                        junit.sample_output(record.filled(), redact=self.setup.settings.redact))
        elif report.failed and not getattr(report, "clue_sample", False):
            self.other_failures += 1
        if report.failed and getattr(report, "clue_sample", False):
            task, index = (data.get("task", ""), int(data.get("index") or 0)) if data is not None else ("", 0)
            self.failure_lines.add(task, getattr(report, HEADLINE_ATTRIBUTE, None) if report.when == "call" else None,
                                   index)
        described = getattr(report, "clue_run", None)
        if described is not None:
            self._described(RunDescription.from_dict(described))
        if data is not None:  # read: the terminal keeps every report to the end, not its copy of the record too
            del report.clue_record
        if hasattr(report, HEADLINE_ATTRIBUTE):  # read, and kept by failure_lines only while among the first
            delattr(report, HEADLINE_ATTRIBUTE)

    def _described(self, description: RunDescription) -> None:
        if self.description is None:
            self.description = description
            self._first_description(description)
        else:
            self.description = self.description.merged(description)

    # -- the end --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before pytest's junitxml writes its file in its own sessionfinish
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._at_finish(session)
        if not self.active and not self.records:
            return  # nothing selected: no report to write (the terminal summary says so)
        if self.description is None:
            return  # no endpoint connection (the run stopped at an error shown above): no report
        settings = self.setup.settings
        facts = run_facts(self)
        baseline = baseline_facts(settings, self.records, requests=self.baseline_request_counts(), clean=self.clean)
        report = build_report(self.records, facts, baseline=baseline, batch_score=self._batch_score)
        self.report = report
        self.paths, self.report_error, self.page_problem = write_safely(settings.report_dir, report)
        # GitHub Actions: the table and the verdict on the run's page (a warning if it cannot be written).
        self.summary_problem = job_summary.append(self.clean(markdown(report)), report.verdict.word)
        if self._junit_additions is not None:
            junit.add_suite_properties(self._junit_additions, junit.suite_properties_of(report))
            junit.add_gate_testcases(self._junit_additions, report)
        if self.report_error is not None:
            session.exitstatus = EXIT_UNAVAILABLE
        else:
            # Gate mode: the verdict, and any other test of the session; failing samples stay failed in the output.
            # Otherwise plain pytest semantics: the samples decide; the verdict is printed and written.
            session.exitstatus = exit_status(report.verdict, mode=settings.exit_mode, pytest_status=session.exitstatus,
                                             other_failures=self.other_failures)
        if report.comparison.error is not None:  # asked to compare, and the runs could not be compared
            session.exitstatus = EXIT_UNAVAILABLE
        self.exit_status = int(session.exitstatus)

    def _batch_score(self, task: str, pairs: Any) -> Any:
        return self.run.tasks[task].batch_score(pairs)

    @property
    def clean(self) -> Cleaner:
        """Text on its way to the terminal or a file: UTF-8-safe, secrets masked (cleaner.py)."""
        if self._cleaner is None:
            self._cleaner = Cleaner(self.run.redact)
        return self._cleaner

    def _zero_counts(self) -> dict[str, int]:
        return dict.fromkeys(REQUEST_COUNTS, 0)

    # -- terminal -------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Any:
        # The outermost wrapper: the task table comes after pytest's failure details and its list of
        # failed samples, just above the final counts, where a reader looks for the verdict.
        if self.compact and self.report is not None and self.failure_lines.total and not self.failure_lines.other \
                and not self.other_failures:
            # Only samples failing their checks: one line each in our section instead of pytest's (first_run.py).
            config.option.tbstyle = "no"
            terminalreporter.reportchars = terminalreporter.reportchars.replace("f", "")
        else:
            self.compact = False
        result = yield
        self.write_summary(terminalreporter, width=config.get_terminal_writer().fullwidth)
        return result

    def write_summary(self, terminalreporter: Any, *, width: int) -> None:
        settings = self.setup.settings
        report = self.report
        if report is None:
            if self.collected and not self.active and not self.records:
                terminalreporter.write_line(f"clue-checks: no CLUE sample ran; "
                                            f"{settings.report_dir} was left as it was")
            return
        terminalreporter.write_sep("=", "CLUE report")
        if self.compact:  # failing samples one line each (full detail: --tb=long or -v)
            for line in self.failure_lines.lines(report.titles(), width=width):
                terminalreporter.write_line(line)
        thresholds = self.setup.thresholds
        floorless = [t.task for t in report.tasks
                     if self.run.tasks[t.task].floor_is_the_check and not thresholds.floors_for(t.task)]
        # Notes first: the table, the verdict, the page and the exit code's meaning end the output.
        lines = note_lines(report, floorless=floorless) + summary_lines(report) + where_lines(
            paths=self.paths, report_error=self.report_error, problems=(self.page_problem, self.summary_problem))
        for line, markup in lines:
            terminalreporter.write_line(self.clean(line), **markup)
        if self.exit_status is not None:
            terminalreporter.write_line(exit_code_line(self.exit_status, mode=settings.exit_mode,
                                                       failed_samples=sum(t.n_failed for t in report.tasks),
                                                       verdict=report.verdict.word))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.setup.settings
        # A password in the URL is never printed.
        target = without_userinfo(", ".join(s.endpoints)) if s.endpoints else "embedded parameterless baseline"
        lines = [f"clue-checks: endpoint {target}; data {s.data_dir}; profile {s.profile}; api {s.api}; "
                 f"cache {s.cache_dir or 'off'}{' (refresh)' if s.refresh else ''}"
                 + (f"; shard {s.shard[0]}/{s.shard[1]}" if s.shard else "")
                 + (f"; API key from {s.api_key_source}" if s.api_key else "")]  # the variable, never the key
        lines += [f"clue-checks: WARNING {w}" for w in self.setup.warnings()]
        chosen = self.setup.kind_selection
        if chosen is not None:
            lines.append(f"clue-checks: --clue-kind {','.join(chosen.kinds)}: {len(chosen.ids)} sample(s) of the last "
                         f"run in {chosen.source}, answered from the store")
        return lines
