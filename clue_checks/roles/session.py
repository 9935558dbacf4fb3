"""The sample session: in the single process, or in each xdist worker.

It reads the task data (at collection), connects to the endpoint (or starts the embedded
baseline in this process), sends this process's share of the selected samples' requests,
builds each sample's check for the `clue_sample` fixture, and attaches the sample's record
(and, once, what it learned when connecting) to the test report, which carries them to the
controller. Nothing heavy is imported until the first CLUE test module is collected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from clue_checks.record import RunDescription
from clue_checks.roles.failure_traceback import from_test_function
from clue_checks.roles.progress import REPORT_ATTRIBUTE as PROGRESS_ATTRIBUTE
from clue_checks.roles.progress import finishes_sample
from clue_checks.roles.setup import ClueSetup

if TYPE_CHECKING:
    from clue_checks.record import SampleRecord  # noqa: F401  (named in the StashKey below)
    from clue_checks.runner import Run
    from clue_checks.sample_check import SampleCheck
    from clue_checks.server import BaselineServer
    from clue_checks.roles.baseline import BaselineSide
    from clue_checks.roles.progress import SessionProgress

MARKER = "clue_task"
FIXTURE = "clue_sample"
EXIT_UNAVAILABLE = pytest.ExitCode.INTERRUPTED  # the run could not be carried out

RECORD = pytest.StashKey["SampleRecord"]()  # on an item: its sample record
CHECK = pytest.StashKey["SampleCheck"]()  # on an item: its check (for the report's text)


def task_of(node: Any, catalog: Any = None) -> str | None:
    """The task a test module names: `clue_task("name")`, or `clue_task(path="tasks/x.toml")`, a task file
    read into `catalog` (raises TaskFileError or TaskClash). The path is relative to the module's folder,
    else to the rootdir."""
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None
    if marker.args:
        return marker.args[0]
    path = marker.kwargs.get("path")
    if path is None or catalog is None:
        return marker.kwargs.get("name")
    return catalog.add_file(task_file_path(node, str(path))).name


def task_file_path(node: Any, path: str) -> Any:
    from pathlib import Path

    given = Path(path)
    if given.is_absolute():
        return given
    beside = Path(node.path).parent / given
    return beside if beside.exists() or not (node.config.rootpath / given).exists() else node.config.rootpath / given


def sample_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(FIXTURE) if callspec else None
    return value if isinstance(value, str) else None  # an empty parameter set holds a placeholder


def _error_kinds(sample: Any, exc: BaseException) -> tuple[str, ...]:
    """A request that failed is `endpoint_error`; any other error (a bug, a template) has no failure kind."""
    from clue_checks.endpoint.types import EndpointError
    from clue_checks.triage import evidence_for_error, kinds_for

    if not isinstance(exc, EndpointError):
        return ()
    return kinds_for(evidence_for_error(sample.task, str(exc), sample.reference))


def data_folder_missing(data_dir: object) -> str:
    return (f"clue-checks: data folder not found: {data_dir} (--clue-data names a folder laid out like CLUE's "
            "data/; see docs/data.md)")


class SampleSession:
    """Connect, prefetch, and check samples in this process."""

    def __init__(self, config: pytest.Config, setup: ClueSetup, *, worker: bool) -> None:
        self.config = config
        self.setup = setup
        self.worker = worker
        self.description: RunDescription | None = None
        self.baseline: BaselineServer | None = None
        self._run: Run | None = None
        self._data_error_shown = False  # an xdist worker's missing data folder: one collection error
        self._description_sent = False
        self.unavailable: str | None = None  # a worker that could not connect: why
        self.baseline_side: BaselineSide | None = None  # --clue-baseline / --clue-baseline-endpoint (roles/baseline.py)
        if setup.settings.baseline_dir is not None or setup.settings.baseline_endpoints:
            from clue_checks.roles.baseline import BaselineSide

            self.baseline_side = BaselineSide(setup.settings)
        self.progress: SessionProgress | None = None  # the live line (single process only)
        self._selected_total = 0  # the session's selected samples (all workers'), for the controller's line

    @property
    def run(self) -> Run:
        """The run (tasks, data, connection), created with the first CLUE test module collected."""
        if self._run is None:
            from clue_checks.runner import Run

            self._run = Run(self.setup.settings, catalog=self.setup.catalog)
            self.config.add_cleanup(self.close)
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

    # -- collection -----------------------------------------------------------------------

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        """One test per selected sample of the module's task (this shard's, under --clue-shard)."""
        from clue_checks.data.errors import DataError

        settings = self.setup.settings
        if not settings.data_dir.is_dir():
            # Found at collection (the session asked for CLUE by its ini file or a marked test): the
            # session stops here, exit 2, with the message once (as when --clue-data names it). An xdist
            # worker that stopped would be restarted: there it is one collection error, which stops the run.
            if not self.worker:
                raise pytest.Session.Interrupted(data_folder_missing(settings.data_dir))
            if not self._data_error_shown:
                self._data_error_shown = True
                pytest.fail(data_folder_missing(settings.data_dir), pytrace=False)
            metafunc.parametrize(FIXTURE, [], indirect=True)
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
        from clue_checks.data.missing import missing_tasks

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
            from clue_checks.sharding import select_shard

            cluster_of = run.tasks[task].cluster_of
            samples = select_shard(samples, lambda s: cluster_of(s) or s.test_id, settings.shard)
        ids = [s.test_id for s in samples]
        metafunc.parametrize(FIXTURE, ids, ids=ids, indirect=True)

    def _task_of(self, metafunc: pytest.Metafunc) -> tuple[str | None, str | None]:
        """(the module's task, None) or (None, why its task file cannot be used)."""
        from clue_checks.tasks.registry import TaskDiscoveryError
        from clue_checks.tasks.taskfile import TaskFileError

        try:
            return task_of(metafunc.definition, self.setup.catalog), None
        except (TaskFileError, TaskDiscoveryError) as exc:
            return None, f"clue-checks: {exc}"

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Connect and start sending this process's share of the selected samples' requests."""
        config = self.config
        if config.option.collectonly or not self.started:
            return
        indexed = [(i, p) for i, p in ((i, sample_param(item)) for i, item in enumerate(session.items))
                   if p is not None]
        if session.testsfailed and not config.option.continue_on_collection_errors:
            return  # collection errors: pytest stops before running; send nothing
        if not indexed:
            return
        self._selected_total = len(indexed)
        run = self.run
        selected = Counter(run.sample(p).task for _, p in indexed)
        collected_tasks = sorted(selected)
        share: tuple[int, int] | None = None
        concurrency_share = 1.0
        if self.worker:
            workerinput = config.workerinput  # type: ignore[attr-defined]
            workers = int(workerinput["workercount"])
            concurrency_share = 1.0 / workers
            if workerinput.get("clue_share"):
                from clue_checks.xdist_share import shares, worker_number

                share = (worker_number(workerinput["workerid"]), workers)
                owner = shares([item.nodeid for item in session.items], workers)
                indexed = [(i, p) for i, p in indexed if owner[i] == share[0]]
        from clue_checks.endpoint.store import StoreError
        from clue_checks.endpoint.types import EndpointError
        from clue_checks.rendering import TemplateUnavailable
        from clue_checks.tasks.tokens import TokenizerUnavailable

        from clue_checks.roles.robust import store_problem

        problem = store_problem(run)  # before the baseline starts or any request: one line with the fixes
        try:
            if problem is None:
                run.connect(self._endpoint_urls(), concurrency_share=concurrency_share)
                run.check_token_counter(collected_tasks)
                if self.baseline_side is not None and self.setup.settings.baseline_endpoints:
                    self.baseline_side.connect(run, collected_tasks, concurrency_share=concurrency_share)
        except (EndpointError, TemplateUnavailable, TokenizerUnavailable, StoreError) as exc:
            problem = f"clue-checks: {run.redact(str(exc))}"
        except ValueError as exc:  # the baseline endpoint would be asked otherwise than the model
            problem = f"clue-checks: --clue-baseline-endpoint: {run.redact(str(exc))}"
        if problem is not None:
            if not self.worker:
                # pytest's own way to stop a session: exit 2 and the message once (pytest.exit prints it twice).
                raise session.Interrupted(problem)
            # A worker that exits is restarted by xdist and its message lost: its first sample test errors
            # with the message instead, and stops the session (xdist reports it as the reason).
            self.unavailable = problem
            return
        self._keep_counts_on_disk()
        self.description = self._describe(collected_tasks, selected)
        # Without our scheduler (e.g. --dist loadscope) a worker cannot know its share: fetch on demand.
        if not self.worker or share is not None:
            run.prefetch([run.sample(p) for _, p in indexed])
            if self.baseline_side is not None:  # the baseline's requests in flight beside the model's
                self.baseline_side.prefetch([run.sample(p) for _, p in indexed])
        if not self.worker:
            from clue_checks.roles.progress import SessionProgress

            self.progress = SessionProgress(config, len(indexed), run.progress,
                                            every=self.setup.settings.progress_every)

    def _keep_counts_on_disk(self) -> None:
        """An xdist worker's request counts, kept where the controller reads them should this worker die."""
        from pathlib import Path

        from clue_checks.roles.worker_counts import FOLDER_KEY, CountsFile

        folder = getattr(self.config, "workerinput", {}).get(FOLDER_KEY)
        scheduler = self.run.scheduler
        if not self.worker or not folder or scheduler is None:
            return
        counts = CountsFile(Path(folder), str(self.config.workerinput["workerid"]))  # type: ignore[attr-defined]
        self.config.add_cleanup(counts.close)
        scheduler.on_count = lambda: counts.write({**scheduler.counts(), "in_flight": scheduler.progress()["in_flight"]})

    def _endpoint_urls(self) -> list[str]:
        settings = self.setup.settings
        if settings.endpoints:
            return list(settings.endpoints)
        if self.baseline is None:
            # The embedded baseline runs in each process that sends requests (each xdist worker sends
            # its own share): it is deterministic, so every copy answers alike.
            from clue_checks.server import BaselineServer

            self.baseline = BaselineServer(host="127.0.0.1", port=0, variant=settings.baseline_variant)
            self.baseline.start()
        return [self.baseline.url]

    def _describe(self, tasks: Sequence[str], selected: Mapping[str, int]) -> RunDescription:
        from clue_checks.endpoint.wire import decoding_fields

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
        from clue_checks.endpoint.types import EndpointError
        from clue_checks.record import SampleRecord
        from clue_checks.sample_check import SampleCheck
        from clue_checks.tasks.tokens import TokenizerUnavailable

        if self.unavailable is not None:
            request.session.shouldstop = self.unavailable
            pytest.fail(self.unavailable, pytrace=False)
        run = self.run
        sample = run.sample(request.param)
        item = request.node
        index = run.index_of(sample)
        no_response = None
        from clue_checks.roles.robust import Cleaner

        clean = Cleaner(run.redact)
        try:
            with self.progress.waiting() if self.progress is not None else nullcontext() as on_poll:
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
        if sample_param(item) is not None:
            report.clue_sample = True  # a CLUE sample's report, with or without a record (the controller counts
            # failures of the session's other tests apart)
            if self.worker and self._run is not None and finishes_sample(report):
                # For the controller's live line: this worker's request counters now (a few ints, JSON).
                setattr(report, PROGRESS_ATTRIBUTE, {**self._run.progress(), "total": self._selected_total})
        record = item.stash.get(RECORD, None)
        if record is None:
            return report
        if report.when == "call" and not report.skipped:
            # A skipped (or xfailed) sample was not judged: it stays out of the scores and makes its task
            # partial, rather than counting as failed.
            self._attach(report, replace(record, outcome="passed" if report.passed else "failed").as_dict())
            # The check holds the sample's prompt twice more (the task's and the rendered request's):
            # dropped once its report is made, or a run keeps every prompt three times over.
            check = item.stash.get(CHECK, None)
            if check is not None:
                del item.stash[CHECK]
            if check is not None and report.passed:
                report.sections.append(("clue sample", check.passed_text()))  # shown by -rP
            elif check is not None and report.failed and call.excinfo is not None and \
                    getattr(call.excinfo.value, "msg", None) == check.explain():
                report.clue_headline = check.headline()  # the controller's one line for this failure (first_run.py)
                self._restyle(report, item, check, call.excinfo)
        elif report.when == "setup" and report.failed:
            self._attach(report, replace(record, outcome="error").as_dict())
        if getattr(report, "clue_record", None) is not None and not self._description_sent \
                and self.description is not None:
            report.clue_run = self.description.as_dict()  # once per process: the controller keeps the first
            self._description_sent = True
        if getattr(report, "clue_record", None) is not None and self.worker:
            # The controller reads no test module: it learns the task files here (paths, a few per run).
            files = self.setup.catalog.task_files()
            if files:
                report.clue_task_files = {name: str(path) for name, path in files.items()}
        return report

    def _attach(self, report: pytest.TestReport, record: dict[str, Any]) -> None:
        """The sample's record on its report for the controller; under --clue-redact the report carries it
        hashed and the text goes by a private channel (other plugins write reports whole)."""
        if not self.setup.settings.redact:
            report.clue_record = record
            return
        from clue_checks.report.write.redact import redact_row
        from clue_checks.roles.private_records import ATTRIBUTE, channel

        channel(self.config).put(report.nodeid, report.when, record)
        report.clue_record = redact_row(record)
        setattr(report, ATTRIBUTE, True)

    def _restyle(self, report: pytest.TestReport, item: pytest.Item, check: SampleCheck,
                 excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """--tb=line / short / no: one line per failing sample with its reason; long (the default): all of it."""
        if self.config.option.tbstyle not in ("line", "short", "no"):
            return
        # pytest formats the failure as if the sample had failed with its headline alone.
        headline = pytest.fail.Exception(check.headline(), pytrace=False)
        report.longrepr = item.repr_failure(pytest.ExceptionInfo.from_exc_info((type(headline), headline, excinfo.tb)))

    # -- end of the session ---------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        """Ctrl-C: send nothing more. What was answered is already stored; the report says what ran."""
        if self._run is not None:
            self._run.close()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.progress is not None and finishes_sample(report):
            self.progress.test_done()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.progress is not None:
            self.progress.finish()
        if self.worker and self._run is not None:
            # Sent back to the controller with the worker's output (xdist sends it after this hook).
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output["clue_requests"] = self._run.request_counts()
            if self.baseline_side is not None and self.baseline_side.request_counts() is not None:
                output["clue_baseline_requests"] = self.baseline_side.request_counts()
            output["clue_request_stats"] = self._run.request_stats()
            if self.description is not None:
                output["clue_run"] = self.description.as_dict()

    def request_counts(self) -> dict[str, int] | None:
        return self._run.request_counts() if self._run is not None else None
