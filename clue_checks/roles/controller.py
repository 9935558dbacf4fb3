"""The controller: in the single process, or the xdist controller. One per run.

It learns which samples were selected (from the collection, or under xdist from what the first
worker that connected reports), keeps the records that arrive with each test report, and at the
end hands them with the run's plain facts to the report builder (report/build.py), writes the
`Report` it returns (the folder, the JUnit additions), sets the exit code from its verdict and
prints it. The previous report is removed only once this run will write one (a
sample was collected; under xdist, a worker connected); otherwise it is left as it was.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clue_checks.record import RunDescription
from clue_checks.roles.session import EXIT_UNAVAILABLE, SampleSession, data_folder_missing, sample_param
from clue_checks.roles.setup import ClueSetup

if TYPE_CHECKING:
    from clue_checks.record import SampleRecord
    from clue_checks.report.numbers.aggregate import TaskSpec
    from clue_checks.report.build import RunFacts
    from clue_checks.report.document import Report
    from clue_checks.runner import Run


class Controller:
    """Collection accounting, records, report, exit code."""

    def __init__(self, config: pytest.Config, setup: ClueSetup, *, session: SampleSession | None,
                 xdist: bool) -> None:
        self.config = config
        self.setup = setup
        self.session = session  # the same process's sample session (single-process runs)
        self.xdist = xdist
        self.selected: Counter[str] = Counter()  # samples selected per task
        self.collected = False  # the collection (or the first worker's) has been seen
        self.records: list[SampleRecord] = []
        self.description: RunDescription | None = None
        self.worker_requests: Counter[str] = Counter()
        self.collection_failed = False
        self.other_failures = 0  # failed tests of the session that are not CLUE samples
        self.started = time.time()
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        self.report: Report | None = None  # built once at the end (report/build.py)
        self.paths: list[Path] = []
        self.page_problem: str | None = None  # why index.html could not be written
        self._run: Run | None = None
        self.worker_baseline_requests: Counter[str] = Counter()
        self.worker_stats: list[dict[str, Any]] = []  # each xdist worker's Run.request_stats()
        self.report_error: str | None = None  # the report could not be written: why
        self._cleaner: Any = None
        self.summary_problem: str | None = None  # why the GitHub Actions job summary was not appended
        from clue_checks.roles.first_run import FailureLines, wants_compact
        from clue_checks.roles.junit_file import register as register_junit

        self._junit_additions = register_junit(config)  # None without --junitxml
        self.failure_lines = FailureLines()  # failing samples, one line each (first_run.py)
        self.compact = wants_compact(config.option.tbstyle, config.get_verbosity(), config.option.reportchars)
        self.exit_status: int | None = None  # the session's exit code, as this plugin left it

    @property
    def active(self) -> bool:
        """This session writes a report: a sample was selected (under xdist: a worker connected for them)."""
        if self.xdist:
            return self.description is not None
        return sum(self.selected.values()) > 0

    @property
    def run(self) -> Run:
        """The run whose data the report describes (the session's own in a single process)."""
        if self.session is not None:
            return self.session.run
        if self._run is None:
            from clue_checks.runner import Run

            self._run = Run(self.setup.settings, catalog=self.setup.catalog)
        return self._run

    # -- start ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Options given on the command line ask for CLUE outright: the data folder (and, under xdist,
        the endpoint) are checked once, before any worker starts."""
        self.started = time.time()
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        settings = self.setup.settings
        if settings.baseline_dir is not None and not self.config.option.collectonly:
            from clue_checks.roles.baseline import check_before_inference

            # Data, profile, prompts, seeds and floors agree with the baseline's, before any request.
            problem = check_before_inference(settings, self.run, self.setup.thresholds_text)
            if problem is not None:
                raise session.Interrupted(problem)  # exit 2, the message once
        if not settings.on_command_line:
            return
        if self.xdist and not self.config.option.collectonly:
            self._hold_report_folder()  # before any worker starts sending
        if not settings.data_dir.is_dir():  # one message, not one per task module
            raise session.Interrupted(data_folder_missing(settings.data_dir))
        if self.xdist and not self.config.option.collectonly:
            # An unusable cache: one line now, before any worker starts (a single process checks it
            # when it connects, once a sample is collected).
            from clue_checks.roles.robust import store_problem

            problem = store_problem(self.run, create=False)
            self.run.close()
            if problem is not None:
                raise session.Interrupted(problem)  # exit 2, the message once
        if self.xdist and settings.endpoints and not self.config.option.collectonly:
            self._check_endpoint(session)

    def _check_endpoint(self, session: pytest.Session) -> None:
        from clue_checks.endpoint.store import StoreError
        from clue_checks.endpoint.types import EndpointError
        from clue_checks.rendering import TemplateUnavailable
        from clue_checks.runner import Run

        run = Run(self.setup.settings, catalog=self.setup.catalog)
        problem = None
        try:
            run.connect(list(self.setup.settings.endpoints))
        except (EndpointError, TemplateUnavailable, StoreError) as exc:
            problem = f"clue-checks: {run.redact(str(exc))}"
        finally:
            run.close()
        if problem is not None:
            raise session.Interrupted(problem)  # exit 2, the message once

    # -- collection -----------------------------------------------------------------------

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # xdist runs tests despite collection errors; our scheduler reads this and sends none.
        if report.failed:
            self.collection_failed = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.xdist or self.config.option.collectonly:
            return
        params = [p for p in map(sample_param, session.items) if p is not None]
        if params:
            run = self.run
            self._selected(Counter(run.sample(p).task for p in params))
        else:
            self._selected(Counter())

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected = True  # which of them are samples, the first worker that connects says

    def _selected(self, selected: Counter[str]) -> None:
        self.collected = True
        self.selected = selected
        if self.collection_failed and not self.config.option.continue_on_collection_errors:
            return  # pytest stops at collection errors: no report will be written, the old one stays
        if self.active:
            self._clear_old_report()

    def _hold_report_folder(self) -> None:
        """This run writes the report folder: a second run on it stops here, in one line, having cleared nothing."""
        from clue_checks.report.folder_lock import hold

        hold(self.config, self.setup.settings.report_dir, EXIT_UNAVAILABLE)

    def _clear_old_report(self) -> None:
        from clue_checks.report.files import remove_reports

        self._hold_report_folder()
        # Whatever happens next, the report folder never shows an earlier run's results as this run's.
        remove_reports(self.setup.settings.report_dir)

    # -- reports --------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "clue_record", None)
        if data is not None and getattr(report, "clue_private", False):  # --clue-redact: the text came apart
            from clue_checks.roles.private_records import channel

            data = channel(self.config).take(report.nodeid, report.when) or data
        if data is not None:
            from clue_checks.record import SampleRecord

            record = SampleRecord.from_dict(self._clean.scrub(data))  # no secret, no unwritable text in any artefact
            self.records.append(record)
            xml = self._junit()
            if xml is not None:
                from clue_checks.report.write.junit import add_sample_output, sample_output

                add_sample_output(xml, report, sample_output(record, redact=self.setup.settings.redact))
        elif report.failed and not getattr(report, "clue_sample", False):
            self.other_failures += 1
        if report.failed and getattr(report, "clue_sample", False):
            from clue_checks.roles.first_run import HEADLINE_ATTRIBUTE

            task, index = (data.get("task", ""), int(data.get("index") or 0)) if data is not None else ("", 0)
            self.failure_lines.add(task, getattr(report, HEADLINE_ATTRIBUTE, None) if report.when == "call" else None,
                                   index)
        described = getattr(report, "clue_run", None)
        if described is not None:
            self._described(RunDescription.from_dict(described))

    def _described(self, description: RunDescription) -> None:
        first = self.description is None
        self.description = description if first else self.description.merged(description)  # type: ignore[union-attr]
        if first and self.xdist:
            self.selected = Counter(description.selected)
            self._clear_old_report()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Under xdist: each worker's request counts arrive with its output (a crashed worker's are lost)."""
        output = getattr(node, "workeroutput", {}) or {}
        if output.get("clue_requests"):
            self.worker_requests.update(output["clue_requests"])
        elif error is not None:  # the worker died: its counts as it last wrote them (worker_counts)
            from clue_checks.roles.worker_counts import read_counts

            last = read_counts(self.config, str(node.workerinput.get("workerid", "")))
            if last:  # (the requests it had on the wire when it died are not known to have been answered)
                self.worker_requests.update({k: v for k, v in last.items() if k != "in_flight"})
        if output.get("clue_baseline_requests"):
            self.worker_baseline_requests.update(output["clue_baseline_requests"])
        if output.get("clue_request_stats"):
            self.worker_stats.append(output["clue_request_stats"])
        if output.get("clue_run"):
            self._described(RunDescription.from_dict(output["clue_run"]))

    def _junit(self) -> Any:
        return self._junit_additions

    # -- the end --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before pytest's junitxml writes its file in its own sessionfinish
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.collection_failed and self.xdist and not self.config.option.continue_on_collection_errors:
            session.exitstatus = EXIT_UNAVAILABLE  # as pytest itself does: interrupted by collection errors
        if not self.active and not self.records:
            return  # nothing selected: no report to write (the terminal summary says so)
        if self.description is None and self.session is not None and self.session.description is not None:
            self.description = self.session.description
        if self.description is None:
            return  # no endpoint connection (the run stopped at an error shown above): no report
        from clue_checks.report.build import build_report
        from clue_checks.roles.baseline import baseline_facts
        from clue_checks.roles.run_report import write_safely

        settings = self.setup.settings
        facts = self._facts()
        baseline = baseline_facts(settings, self.records, requests=self._baseline_request_counts(), clean=self._clean)
        report = build_report(self.records, facts, baseline=baseline, batch_score=self._batch_score)
        self.report = report
        self.paths, self.report_error, self.page_problem = write_safely(settings.report_dir, report)
        from clue_checks.report.write import job_summary
        from clue_checks.report.write.markdown import markdown

        # GitHub Actions: the table and the verdict on the run's page (a warning if it cannot be written).
        self.summary_problem = job_summary.append(self._clean(markdown(report)), report.verdict.word)
        xml = self._junit()
        if xml is not None:
            from clue_checks.report.write import junit

            junit.add_suite_properties(xml, junit.suite_properties_of(report))
            junit.add_gate_testcases(xml, report)
        if self.report_error is not None:
            session.exitstatus = EXIT_UNAVAILABLE
        else:
            # Gate mode: the verdict, and any other test of the session; failing samples stay failed in the output.
            # Otherwise plain pytest semantics: the samples decide; the verdict is printed and written.
            from clue_checks.report.numbers.aggregate import exit_status

            session.exitstatus = exit_status(report.verdict, mode=settings.exit_mode, pytest_status=session.exitstatus,
                                             other_failures=self.other_failures)
        if report.comparison.error is not None:  # asked to compare, and the runs could not be compared
            session.exitstatus = EXIT_UNAVAILABLE
        self.exit_status = int(session.exitstatus)

    def _facts(self) -> RunFacts:
        """The run's plain facts for the report builder, secrets masked (records are masked as they arrive)."""
        from clue_checks.report.build import RunFacts

        assert self.description is not None
        server_kind = self.description.describe.get("server_kind")
        specs = tuple(self._task_specs())
        clean = self._clean
        return RunFacts(
            run=clean.scrub(self._run_section()), manifest=clean.scrub(self._manifest(specs)), specs=specs,
            gates=self.setup.thresholds.gates, compare_gates=self.setup.thresholds.compare,
            not_selected=self._not_selected(), deferred=self._deferred(),
            pass_blockers=self.setup.pass_blockers(server_kind),
            warnings=tuple(clean.lines(self.setup.warnings(server_kind) + tuple(self.description.warnings))),
            requests=self._request_counts(), request_stats=clean.scrub(self._request_stats()),
            duration_s=time.time() - self.started, not_run=self.not_run())

    def _task_specs(self) -> list[TaskSpec]:
        from clue_checks.report.numbers.aggregate import TaskSpec

        run = self.run
        specs = []
        for name, task in run.tasks.items():
            specs.append(TaskSpec(name, task.title, task.level, tuple(task.metric_names),
                                  tuple(task.batched_metrics), n_selected=self.selected.get(name) or None,
                                  n_total=self._task_size(name)))
        return specs

    def _task_size(self, name: str) -> int | None:
        """How many scored samples the task has (the controller under xdist reads the data just for this)."""
        if not self.selected.get(name) and not any(r.task == name for r in self.records):
            return None
        try:
            return len(self.run.load(name).samples)
        except Exception:
            return None

    def _batch_score(self, task: str, pairs: Any) -> Any:
        return self.run.tasks[task].batch_score(pairs)

    def _not_selected(self) -> tuple[str, ...]:
        settings = self.setup.settings
        return tuple(t for t in self.run.tasks if t not in settings.tasks) if settings.tasks_explicit else ()

    def not_run(self) -> dict[str, str]:
        """Selected tasks whose data file is absent under --clue-data: task -> one line (file, fix)."""
        from clue_checks.data.missing import missing_tasks

        settings = self.setup.settings
        paths = {name: task.data_path for name, task in self.run.tasks.items()}
        return missing_tasks(paths, settings.tasks, settings.data_dir)

    def _deferred(self) -> str | None:
        shard = self.setup.settings.shard
        if shard is None:
            return None
        return (f"shard {shard[0]}/{shard[1]}: gates are decided over all shards by "
                "`clue report merge OUT SHARD_DIR...`")

    def _run_section(self) -> dict[str, Any]:
        from clue_checks.report.numbers.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
        from clue_checks.tasks.longhealth import LONGHEALTH_SEED
        from clue_checks.tasks.shots import SHOT_SEED

        settings = self.setup.settings
        assert self.description is not None
        section = dict(self.description.describe)
        section.update({
            "data_dir": str(settings.data_dir),
            "synthetic_data": self.setup.synthetic_data,
            "allow_synthetic": settings.allow_synthetic,
            "tasks": list(settings.tasks) if settings.tasks_explicit else None,
            "shard": f"{settings.shard[0]}/{settings.shard[1]}" if settings.shard else None,
            "thresholds": self.setup.thresholds.source,
            "limit": settings.limit,
            "bertscore_override": ({"model": settings.bertscore_model, "layers": settings.bertscore_layers}
                                   if settings.bertscore_model else None),
            "seeds": {"shots": SHOT_SEED, "longhealth": LONGHEALTH_SEED, "bootstrap": BOOTSTRAP_SEED,
                      "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "redacted": settings.redact,
            "kinds_selected": list(settings.kinds) or None,
        })
        return section

    def _manifest(self, specs: tuple[TaskSpec, ...]) -> dict[str, Any]:
        from clue_checks.report.manifest import build_manifest, strip_option

        run = self.run
        settings = self.setup.settings
        ran = self._ran(specs)
        files = []
        for task in ran:
            try:
                files.extend(run.load(task).sources)
            except Exception:
                continue
        assert self.description is not None
        command = ["pytest", *strip_option(list(self.config.invocation_params.args), "--clue-shard")]
        return build_manifest(
            data_dir=settings.data_dir, data_files=files, chat_template=self.description.chat_template,
            chat_template_note=self.description.chat_template_note,
            generation={t: p for t, p in sorted(self.description.generation.items()) if t in ran},
            thresholds_source=self.setup.thresholds.source, thresholds_text=self.setup.thresholds_text,
            endpoint_info=self.description.endpoint_info,
            started=self.started_at.isoformat(timespec="seconds"), duration_s=time.time() - self.started,
            command=command, egress=run.egress_manifest())

    def _ran(self, specs: tuple[TaskSpec, ...]) -> list[str]:
        """The tasks the report has (aggregate's rule: records, or samples selected), in report order."""
        reported = {r.task for r in self.records}
        return [s.name for s in specs if s.name in reported or s.n_selected]

    def _baseline_request_counts(self) -> dict[str, int] | None:
        """What the baseline endpoint was sent (--clue-baseline-endpoint), counted like the model's requests."""
        if not self.setup.settings.baseline_endpoints:
            return None
        if self.xdist:
            return dict(self.worker_baseline_requests)
        side = self.session.baseline_side if self.session is not None else None
        return side.request_counts() if side is not None else None
    @property
    def _clean(self) -> Any:
        """Text on its way to the terminal or a file: UTF-8-safe, secrets masked (roles/robust.py)."""
        if self._cleaner is None:
            from clue_checks.roles.robust import Cleaner

            self._cleaner = Cleaner(self.run.redact)
        return self._cleaner

    def _request_stats(self) -> dict[str, Any] | None:
        from clue_checks.report.numbers.run_stats import merge_stats

        if self.xdist:
            return merge_stats(self.worker_stats)
        return self.session.run.request_stats() if self.session is not None and self.session.started else None

    def _request_counts(self) -> dict[str, int]:
        from clue_checks.endpoint.types import REQUEST_COUNTS

        if self.xdist:
            return {k: int(self.worker_requests.get(k, 0)) for k in REQUEST_COUNTS}
        counts = self.session.request_counts() if self.session is not None else None
        return counts if counts is not None else dict.fromkeys(REQUEST_COUNTS, 0)

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
        self._write_summary(terminalreporter)
        return result

    def _write_summary(self, terminalreporter: Any) -> None:
        settings = self.setup.settings
        report = self.report
        if report is None:
            if self.collected and not self.active and not self.records:
                terminalreporter.write_line(f"clue-checks: no CLUE sample ran; "
                                            f"{settings.report_dir} was left as it was")
            return
        from clue_checks.report.write.terminal import summary_lines
        from clue_checks.roles.run_report import note_lines, where_lines

        terminalreporter.write_sep("=", "CLUE report")
        if self.compact:  # failing samples one line each (full detail: --tb=long or -v)
            width = self.config.get_terminal_writer().fullwidth
            for line in self.failure_lines.lines(report.titles(), width=width):
                terminalreporter.write_line(line)
        thresholds = self.setup.thresholds
        floorless = [t.task for t in report.tasks
                     if self.run.tasks[t.task].floor_is_the_check and not thresholds.floors_for(t.task)]
        # Notes first: the table, the verdict, the page and the exit code's meaning end the output.
        lines = note_lines(report, floorless=floorless) + summary_lines(report) + where_lines(
            paths=self.paths, report_error=self.report_error, problems=(self.page_problem, self.summary_problem))
        for line, markup in lines:
            terminalreporter.write_line(self._clean(line), **markup)
        if self.exit_status is not None:
            from clue_checks.roles.first_run import exit_code_line

            terminalreporter.write_line(exit_code_line(self.exit_status, mode=settings.exit_mode,
                                                       failed_samples=sum(t.n_failed for t in report.tasks),
                                                       verdict=report.verdict.word))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.setup.settings
        from clue_checks.endpoint.redact import without_userinfo  # a password in the URL is never printed

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
