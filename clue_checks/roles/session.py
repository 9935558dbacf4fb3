"""What every sample session does, in the single process or in an xdist worker (the two roles: single_process.py,
xdist_worker.py).

It reads the task data (at collection), connects to the endpoint (or starts the embedded baseline in this
process), sends this process's share of the selected samples' requests, builds each sample's check for the
`clue_sample` fixture, and attaches the sample's record (and, once, what it learned when connecting) to the
test report, which carries them to the controller. What differs by mode is left to the role: where a
problem goes, which share is sent, what goes back at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
import warnings
from typing import Any

import pytest

from clue_checks.cleaner import Cleaner
from clue_checks.data.errors import DataError
from clue_checks.data.missing import missing_tasks
from clue_checks.endpoint.types import EndpointError
from clue_checks.endpoint.wire import decoding_fields
from clue_checks.errors import ClueError, ConfigError
from clue_checks.preflight import store_problem
from clue_checks.record import RunDescription, SampleRecord
from clue_checks.report.write.redact import redact_row
from clue_checks.roles.baseline import BaselineSide
from clue_checks.roles.failure_traceback import from_test_function
from clue_checks.roles.first_run import shows_passes
from clue_checks.roles.heap_trim import HeapTrim
from clue_checks.roles.items import FIXTURE, MARKER, sample_param, task_of
from clue_checks.roles.inputs import ProcessLinks, RunOptions
from clue_checks.roles.private_records import ATTRIBUTE as PRIVATE_ATTRIBUTE
from clue_checks.roles.stops import data_folder_missing
from clue_checks.run_setup import ClueSetup
from clue_checks.runner import Run
from clue_checks.sample_verdict import SampleCheck
from clue_checks.server import BaselineServer
from clue_checks.sharding import select_shard
from clue_checks.text_spool import TEXT_KEYS, TextSpoolError
from clue_checks.tasks.tokens import TokenizerUnavailable
from clue_checks.triage import evidence_for_error, kinds_for

RECORD = pytest.StashKey[SampleRecord]()  # on an item: its sample record
CHECK = pytest.StashKey[SampleCheck]()  # on an item: its check (for the report's text)


def _error_kinds(sample: Any, exc: BaseException) -> tuple[str, ...]:
    """A request that failed is `endpoint_error`; any other error (a bug, a template) has no failure kind."""
    if not isinstance(exc, EndpointError):
        return ()
    return kinds_for(evidence_for_error(sample.task, str(exc), sample.reference))


class SampleSession:
    """Connect, prefetch, and check samples in this process (the single process's or a worker's role)."""

    concurrency_share = 1.0  # this process's part of --clue-concurrency

    def __init__(self, setup: ClueSetup, options: RunOptions = RunOptions(), links: ProcessLinks | None = None) -> None:
        self.setup = setup
        self.options = options
        self.links = links if links is not None else ProcessLinks()
        self.description: RunDescription | None = None
        self.baseline: BaselineServer | None = None
        self._run: Run | None = None
        self._description_sent = False
        self._spool_warned = False  # a spool that cannot be written: one warning
        self._passes_shown = shows_passes(options.reportchars)  # -rP / -rA: passing samples' text is printed
        self._heap_trim = HeapTrim()
        self.unavailable: str | None = None  # this process could not connect: why (its first sample fails with it)
        self.baseline_side: BaselineSide | None = None  # --clue-baseline / --clue-baseline-endpoint (roles/baseline.py)
        if setup.settings.baseline_dir is not None or setup.settings.baseline_endpoints:
            self.baseline_side = BaselineSide(setup.settings)

    @property
    def run(self) -> Run:
        """The run (tasks, data, connection), created with the first CLUE test module collected."""
        if self._run is None:
            self._run = Run(self.setup.settings, catalog=self.setup.catalog)
            self.links.add_cleanup(self.close)
        return self._run

    @property
    def started(self) -> bool:
        return self._run is not None

    def close(self) -> None:
        if self._run is not None:
            self._run.close()
        if self.baseline_side is not None:
            self.baseline_side.close()
        if self.baseline is not None:
            self.baseline.stop()
            self.baseline = None

    def request_counts(self) -> dict[str, int] | None:
        return self._run.request_counts() if self._run is not None else None

    # -- what the role decides ------------------------------------------------------------

    def _no_data_folder(self, metafunc: pytest.Metafunc, message: str) -> None:
        """The data folder is missing (found at collection)."""
        raise NotImplementedError

    def _my_share(self, session: pytest.Session, indexed: list[tuple[int, str]]) -> list[tuple[int, str]] | None:
        """The selected samples this process sends ahead of their tests; None: it cannot know, each is fetched
        when its test asks."""
        return indexed

    def _cannot_connect(self, session: pytest.Session, problem: str) -> None:
        raise NotImplementedError

    def _ready(self, run: Run, mine: list[tuple[int, str]] | None, selected_total: int) -> None:
        """Connected: start sending this process's share."""
        if mine is not None:
            run.prefetch([run.sample(p) for _, p in mine])
            if self.baseline_side is not None:  # the baseline's requests in flight beside the model's
                self.baseline_side.prefetch([run.sample(p) for _, p in mine])

    def _waiting(self) -> AbstractContextManager[Any]:
        """Around a sample's wait for its answer: yields the poll callback (or None)."""
        return nullcontext()

    def _annotate(self, report: pytest.TestReport) -> None:
        """A CLUE sample's report, before it leaves this process."""

    # -- collection -----------------------------------------------------------------------

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        """One test per selected sample of the module's task (this shard's, under --clue-shard)."""
        settings = self.setup.settings
        if not settings.data_dir.is_dir():
            self._no_data_folder(metafunc, data_folder_missing(settings.data_dir))
            return
        run = self.run
        task, bad_file = self._task_of(metafunc)
        if bad_file is not None:
            pytest.fail(bad_file, pytrace=False)
        if task not in run.tasks:
            pytest.fail(f"{metafunc.module.__file__}: mark the module with pytest.mark.{MARKER}(name) or "
                        f"pytest.mark.{MARKER}(path=\"task.toml\"), name one of {', '.join(run.tasks)}; "
                        f"got {task!r}", pytrace=False)
        if not settings.selects(task):
            metafunc.parametrize(FIXTURE, [], indirect=True)  # deselected by the plugin
            return
        missing = missing_tasks({task: run.tasks[task].data_path}, [task], settings.data_dir)
        if missing:  # one line: which file, and the step that gets it; the report says the task did not run
            pytest.skip(missing[task])
        problem = None
        try:
            samples: Sequence[Any] = run.samples(task)
        except DataError as exc:
            problem = f"clue-checks: bad {task} data: {exc}"
        if problem is not None:  # raised outside the except block: one message, no chained traceback
            pytest.fail(problem, pytrace=False)
        if settings.shard is not None:
            cluster_of = run.tasks[task].cluster_of
            samples = select_shard(samples, lambda s: cluster_of(s) or s.test_id, settings.shard)
        ids = [s.test_id for s in samples]
        metafunc.parametrize(FIXTURE, ids, ids=ids, indirect=True)

    def _task_of(self, metafunc: pytest.Metafunc) -> tuple[str | None, str | None]:
        """(the module's task, None) or (None, why its task file cannot be used)."""
        try:
            return task_of(metafunc.definition, self.setup.catalog), None
        except ConfigError as exc:  # a task file or task package that cannot be used: its message says why
            return None, f"clue-checks: {exc}"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Connect and start sending this process's share of the selected samples' requests."""
        if self.options.collect_only or not self.started:
            return
        indexed = [(i, p) for i, p in ((i, sample_param(item)) for i, item in enumerate(session.items))
                   if p is not None]
        if session.testsfailed and not self.options.continue_on_collection_errors:
            return  # collection errors: pytest stops before running; send nothing
        if not indexed:
            return
        run = self.run
        selected = Counter(run.sample(p).task for _, p in indexed)
        mine = self._my_share(session, indexed)
        problem = self._connect(run, sorted(selected))
        if problem is not None:
            self._cannot_connect(session, problem)
            return
        self.description = self._describe(sorted(selected), selected)
        self._ready(run, mine, len(indexed))

    def _connect(self, run: Run, tasks: Sequence[str]) -> str | None:
        """Open the store, connect (the model, and the baseline endpoint if any); why not, or None."""
        problem = store_problem(run)  # before the baseline starts or any request: one line with the fixes
        try:
            if problem is None:
                run.connect(self._endpoint_urls(), concurrency_share=self.concurrency_share)
                run.check_token_counter(tasks)
                if self.baseline_side is not None and self.setup.settings.baseline_endpoints:
                    self.baseline_side.connect(run, tasks, concurrency_share=self.concurrency_share)
        except ClueError as exc:  # the server, the template, the tokenizer, the store: one line, exit 2
            problem = f"clue-checks: {run.redact(str(exc))}"
        except ValueError as exc:  # the baseline endpoint would be asked otherwise than the model
            problem = f"clue-checks: --clue-baseline-endpoint: {run.redact(str(exc))}"
        return problem

    def _endpoint_urls(self) -> list[str]:
        settings = self.setup.settings
        if settings.endpoints:
            return list(settings.endpoints)
        if self.baseline is None:
            # The embedded baseline runs in each process that sends requests (each xdist worker sends
            # its own share): it is deterministic, so every copy answers alike.
            self.baseline = BaselineServer(host="127.0.0.1", port=0, variant=settings.baseline_variant)
            self.baseline.start()
        return [self.baseline.url]

    def _describe(self, tasks: Sequence[str], selected: Mapping[str, int]) -> RunDescription:
        run = self.run
        renderer = run.renderer
        template = None
        if renderer is None or renderer.mode == "chat":
            note = "chat mode: the server applies the model's own chat template"
        else:
            template = getattr(renderer.tokenizer, "chat_template", None)
            template = template if isinstance(template, str) else None
            note = ("the tokenizer has no chat template: prompts rendered with transformers 4.39.3's default "
                    "template (ChatML), as CLUE did for an instruct model" if renderer.default_template else
                    "the tokenizer has no chat template: prompts are a plain transcript (base model)")
        generation: dict[str, dict[str, Any]] = {}
        for task in tasks:
            samples = run.samples(task)
            if samples:
                try:
                    request = run.request_for(samples[0])[1]
                    # The decoding settings too (greedy: TGI do_sample false, chat temperature 0), for the manifest.
                    generation[task] = {**request.params.as_dict(), **decoding_fields(request.mode)}
                except Exception:  # the sample's own test reports it
                    continue
        return RunDescription(run.describe(), dict(run.info.raw), template, note, generation, dict(selected),
                              tuple(run.mode_warnings()))

    # -- the sample fixture and its report ------------------------------------------------

    def sample_check(self, request: pytest.FixtureRequest) -> SampleCheck:
        """The `clue_sample` fixture: the sample's response, scored; `.check()` asserts its verdict."""
        if self.unavailable is not None:
            request.session.shouldstop = self.unavailable
            pytest.fail(self.unavailable, pytrace=False)
        run = self.run
        sample = run.sample(request.param)
        item = request.node
        index = run.index_of(sample)
        no_response = None
        clean = Cleaner(run.redact)
        try:
            with self._waiting() as on_poll:
                evaluated = run.evaluate(sample, on_poll=on_poll)
            check = SampleCheck(run.tasks[sample.task], evaluated, self.setup.thresholds.floors_for(sample.task),
                                index, node_id=item.nodeid, redact=self.setup.settings.redact, clean=clean)
        except Exception as exc:
            # Whatever went wrong, the sample is counted as errored in the report: never silently dropped.
            item.stash[RECORD] = SampleRecord(sample.task, sample.id, index, "error", reason=clean(f"{exc}"),
                                              reference=sample.reference,
                                              cluster=run.tasks[sample.task].cluster_of(sample), node_id=item.nodeid,
                                              kinds=_error_kinds(sample, exc))
            if not isinstance(exc, (EndpointError, TokenizerUnavailable)):
                raise  # a bug or a template error: the traceback is the useful part
            broken = run.scheduler.broken if run.scheduler is not None else None
            if broken:
                request.session.shouldstop = f"clue-checks: {broken}"
            no_response = clean(f"no response for {sample.test_id}: {exc}")
        if no_response is not None:  # failed outside the except block: one message, not a chained second one
            pytest.fail(no_response, pytrace=False)
        if self.baseline_side is not None:  # comparison mode: the baseline's answer beside the model's
            floors = self.setup.thresholds.floors_for(sample.task)
            check.baseline = self.baseline_side.baseline_for(sample, index, floors)
            check.record = replace(check.record, baseline=check.baseline)
        item.stash[RECORD] = check.record
        item.stash[CHECK] = check
        return check

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        if call.excinfo is not None and call.when == "call" and sample_param(item) is not None:
            shorter = from_test_function(call.excinfo, item)  # the same report, without pytest's per-frame walk
            if shorter is not None:
                call.excinfo = shorter
        report = yield
        if sample_param(item) is None:
            return report
        report.clue_sample = True  # a CLUE sample's report, with or without a record (the controller counts
        # failures of the session's other tests apart)
        record = item.stash.get(RECORD, None)
        if record is not None:
            self._record_on(report, item, call, record)
            if report.when == "teardown":  # read by no later phase: a run's items keep no record each
                del item.stash[RECORD]
        if report.when == "teardown":
            self._heap_trim.tick()  # the prompts' freed pages back to the system (heap_trim.py)
        if getattr(report, "clue_record", None) is not None and not self._description_sent \
                and self.description is not None:
            report.clue_run = self.description.as_dict()  # once per process: the controller keeps the first
            self._description_sent = True
        self._annotate(report)
        return report

    def _record_on(self, report: pytest.TestReport, item: pytest.Item, call: pytest.CallInfo[None],
                   record: SampleRecord) -> None:
        record = item.stash[RECORD] = self._spooled(record)
        if report.when == "call" and not report.skipped:
            # A skipped (or xfailed) sample was not judged: it stays out of the scores and makes its task
            # partial, rather than counting as failed.
            row = record.as_dict()  # the record as reported: the outcome is pytest's (no copy of the record made)
            row["outcome"] = "passed" if report.passed else "failed"
            self._attach(report, row)
            # The check holds the sample's prompt twice more (the task's and the rendered request's):
            # dropped once its report is made, or a run keeps every prompt three times over.
            check = item.stash.get(CHECK, None)
            if check is not None:
                del item.stash[CHECK]
            if check is not None and report.passed and self._passes_shown:
                # Only -rP / -rA print it: otherwise the terminal would keep every passing sample's text.
                report.sections.append(("clue sample", check.passed_text()))  # shown by -rP
            elif check is not None and report.failed and call.excinfo is not None and \
                    getattr(call.excinfo.value, "msg", None) == check.explain():
                report.clue_headline = check.headline()  # the controller's one line for this failure (first_run.py)
                self._restyle(report, item, check, call.excinfo)
        elif report.when == "setup" and report.failed:
            self._attach(report, {**record.as_dict(), "outcome": "error"})

    def _spooled(self, record: SampleRecord) -> SampleRecord:
        """The record with its long texts on disk (text_spool.py): a run's memory stays flat in its samples.
        A spool that cannot be written: the record keeps them (nothing is lost) and a warning names the file."""
        if record.texts is not None:  # spooled at an earlier phase of the same test: nothing left to clean or write
            return record
        if self._run is not None:  # as the controller scrubs every record: no secret, no unwritable text
            clean = Cleaner(self._run.redact)
            changed = {k: c for k in TEXT_KEYS if isinstance(v := getattr(record, k), str) and (c := clean(v)) is not v}
            if changed:  # the cleaner hands back the very text when it has nothing to change: no copy then
                record = replace(record, **changed)
        try:
            return record.spooled(self.links.private_records().spool())
        except TextSpoolError as exc:
            if not self._spool_warned:
                self._spool_warned = True
                warnings.warn(pytest.PytestWarning(f"clue-checks: {exc}"), stacklevel=1)
            return record

    def _attach(self, report: pytest.TestReport, record: dict[str, Any]) -> None:
        """The sample's record on its report for the controller; under --clue-redact the report carries it
        hashed and the text goes by a private channel (other plugins write reports whole)."""
        if not self.setup.settings.redact:
            report.clue_record = record
            return
        self.links.private_records().put(report.nodeid, report.when, record)
        report.clue_record = redact_row(record)
        setattr(report, PRIVATE_ATTRIBUTE, True)

    def _restyle(self, report: pytest.TestReport, item: pytest.Item, check: SampleCheck,
                 excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """--tb=line / short / no: one line per failing sample with its reason; long (the default): all of it."""
        if self.options.tbstyle not in ("line", "short", "no"):
            return
        # pytest formats the failure as if the sample had failed with its headline alone.
        headline = pytest.fail.Exception(check.headline(), pytrace=False)
        report.longrepr = item.repr_failure(pytest.ExceptionInfo.from_exc_info((type(headline), headline, excinfo.tb)))

    # -- end of the session ---------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """Ctrl-C: send nothing more. What was answered is already stored; the report says what ran."""
        if self._run is not None:
            self._run.close()
