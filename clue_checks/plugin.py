"""pytest hooks only: options, parametrization, sample outcome, aggregation and summary.

Process roles: without xdist one process does everything. With `-n N` the controller
starts the embedded baseline (when no endpoint is given), hands the URL to the workers,
aggregates the per-sample records that arrive with each test report and writes the report;
each worker connects, sends its share of the requests and runs its tests.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections import Counter
from typing import Any

import pytest

from . import settings as settings_mod
from .data.errors import DataError
from .metrics import BatchedValues
from .endpoint.types import REQUEST_COUNTS, EndpointError
from .report import aggregate, render
from .report.aggregate import SampleRecord
from .report.levels import level_scores
from .report.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .report.thresholds import Thresholds, ThresholdsError
from .report.thresholds import load as load_thresholds
from .rendering import TemplateUnavailable
from .runner import Run
from .tasks.tokens import TokenizerUnavailable
from .sample_check import SampleCheck, record_from
from .tasks.longhealth import LONGHEALTH_SEED
from .tasks.shots import SHOT_SEED

SETTINGS = pytest.StashKey["settings_mod.Settings"]()
RUN = pytest.StashKey[Run]()
THRESHOLDS = pytest.StashKey[Thresholds]()
RECORDS = pytest.StashKey[list[SampleRecord]]()
RECORD = pytest.StashKey[dict[str, Any]]()  # on an item: its sample record
STATE = pytest.StashKey[dict[str, Any]]()  # controller-side state (embedded server, run description)

MARKER = "clue_task"
FIXTURE = "clue_sample"
EXIT_UNAVAILABLE = pytest.ExitCode.INTERRUPTED  # the run could not be carried out


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    return not _is_worker(config) and bool(getattr(config.option, "numprocesses", None)) and \
        getattr(config.option, "dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(name): the CLUE task a sample-test module runs")
    # simple-icd-10-cm 1.5.0 loads its table with deprecated importlib.resources calls, sometimes
    # from the baseline server's thread where a local catch_warnings cannot reach.
    config.addinivalue_line("filterwarnings", "ignore:(read_text|open_text) is deprecated:DeprecationWarning")
    settings = settings_mod.resolve(config)
    try:
        thresholds = load_thresholds(settings.thresholds)
    except ThresholdsError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    config.stash[THRESHOLDS] = thresholds
    config.stash[RUN] = Run(settings)
    problems = _unknown_threshold_keys(thresholds, config.stash[RUN])
    if problems:
        raise pytest.UsageError(f"{thresholds.source}: " + "; ".join(problems))
    config.stash[RECORDS] = []
    config.stash[STATE] = {}
    config.pluginmanager.register(StopOnInterrupt(config.stash[RUN]), "clue-checks-interrupt")
    if not _is_worker(config):
        config.pluginmanager.register(RecordCollector(config.stash[RECORDS], config.stash[STATE]),
                                      "clue-checks-records")
    if _is_controller(config) and not settings.endpoints:
        _start_baseline(config)


def _unknown_threshold_keys(thresholds: Thresholds, run: Run) -> list[str]:
    """A misspelt key would be a floor or gate that silently never applies: refuse it."""
    problems = []
    keys = [("sample", task, metric) for task, floors in thresholds.floors.items() for metric in floors]
    keys += [("gate", g.task, g.metric) for g in thresholds.gates]
    for section, task_name, metric in keys:
        task = run.tasks.get(task_name)
        if task is None:
            problems.append(f"[{section}] {task_name}.{metric}: unknown task {task_name!r} "
                            f"(tasks: {', '.join(run.tasks)})")
        elif metric not in (*task.metric_names, *task.batched_metrics):
            problems.append(f"[{section}] {task_name}.{metric}: {task_name} has no metric {metric!r} "
                            f"(metrics: {', '.join((*task.metric_names, *task.batched_metrics))})")
        elif section == "sample" and metric not in task.floor_metrics:
            # A floor the sample check never reads would be a check that cannot fail.
            allowed = (f"floors: {', '.join(task.floor_metrics)}" if task.floor_metrics else
                       "its samples pass by answering correctly, with no floor")
            why = ("it is computed over the whole task at the end of the run, not per sample"
                   if metric in task.batched_metrics else "the sample check does not use it")
            problems.append(f"[sample] {task_name}.{metric}: no per-sample floor on {metric!r}: {why} ({allowed}); "
                            f"a [gate] can set a bar on the task's {metric}")
    return problems


def _start_baseline(config: pytest.Config) -> str:
    from .server import BaselineServer

    server = BaselineServer(host="127.0.0.1", port=0)
    url = server.start()
    config.stash[STATE]["baseline"] = server
    config.add_cleanup(server.stop)
    return url


def _endpoint_urls(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS]
    if settings.endpoints:
        return list(settings.endpoints)
    if _is_worker(config):
        return list(config.workerinput["clue_endpoints"])
    state = config.stash[STATE]
    if "baseline" not in state:
        _start_baseline(config)
    return [state["baseline"].url]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    state = node.config.stash[STATE]
    if "baseline" in state:
        node.workerinput["clue_endpoints"] = [state["baseline"].url]
    node.workerinput["clue_share"] = node.config.getoption("dist") == "load"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """The controller learns how many samples of each task were selected (to spot samples that never ran)."""
    state = node.config.stash[STATE]
    if "selected" not in state:
        tasks = (m.group(1) for m in map(_ID_TASK.search, ids) if m)
        state["selected"] = Counter(t for t in tasks if t in node.config.stash[RUN].tasks)


_ID_TASK = re.compile(r"::test_sample\[([a-z0-9-]+):")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "load":
        return None
    from .xdist_share import ShareScheduling

    return ShareScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The data folder exists; under xdist, the endpoint is checked once before any worker starts."""
    config = session.config
    settings = config.stash[SETTINGS]
    if not _is_worker(config):
        if not config.option.collectonly:
            # Whatever happens next, clue-report/ never shows an earlier run's results as this run's.
            render.remove_reports(settings.report_dir)
        if not settings.data_dir.is_dir():  # one message, not one per task module
            pytest.exit(f"clue-checks: data folder not found: {settings.data_dir} (--clue-data names a folder laid "
                        "out like CLUE's data/; see the README section 'Getting the CLUE data')",
                        returncode=EXIT_UNAVAILABLE)
    if _is_controller(config) and not config.option.collectonly:
        run = Run(settings)
        try:
            info = run.connect(_endpoint_urls(config))
            config.stash[STATE]["describe"] = run.describe()
            config.stash[STATE]["info"] = info
        except (EndpointError, TemplateUnavailable) as exc:
            pytest.exit(f"clue-checks: {exc}", returncode=EXIT_UNAVAILABLE)
        finally:
            run.close()


# -- collection ------------------------------------------------------------------------------


def _task_of(node: Any) -> str | None:
    marker = node.get_closest_marker(MARKER)
    return marker.args[0] if marker and marker.args else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    config = metafunc.config
    task = _task_of(metafunc.definition)
    run = config.stash[RUN]
    if task not in run.tasks:
        pytest.fail(f"{metafunc.module.__file__}: mark the module with pytest.mark.{MARKER}(name), "
                    f"name one of {', '.join(run.tasks)}; got {task!r}", pytrace=False)
    if task not in config.stash[SETTINGS].tasks:
        metafunc.parametrize(FIXTURE, [], indirect=True)  # deselected below
        return
    problem = None
    try:
        samples = run.samples(task)
    except DataError as exc:
        problem = f"clue-checks: bad {task} data: {exc}"
    if problem is not None:  # raised outside the except block: one message, no chained traceback
        pytest.fail(problem, pytrace=False)
    ids = [s.test_id for s in samples]
    metafunc.parametrize(FIXTURE, ids, ids=ids, indirect=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = set(config.stash[SETTINGS].tasks)
    keep, drop = [], []
    for item in items:
        task = _task_of(item)
        (drop if FIXTURE in getattr(item, "fixturenames", ()) and task not in chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _sample_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(FIXTURE) if callspec else None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Connect and start sending this process's share of the selected samples' requests."""
    config = session.config
    if _is_controller(config) or config.option.collectonly:
        return
    indexed = [(i, _sample_param(item)) for i, item in enumerate(session.items)]
    indexed = [(i, p) for i, p in indexed if p is not None]
    run = config.stash[RUN]
    if not _is_worker(config):
        config.stash[STATE]["selected"] = Counter(run.sample(p).task for _, p in indexed)
    if session.testsfailed and not config.option.continue_on_collection_errors:
        return  # collection errors: pytest stops before running; send nothing
    if not indexed:
        return
    share: tuple[int, int] | None = None
    concurrency_share = 1.0
    if _is_worker(config):
        workers = int(config.workerinput["workercount"])
        concurrency_share = 1.0 / workers
        if config.workerinput.get("clue_share"):
            from .xdist_share import shares, worker_number

            share = (worker_number(config.workerinput["workerid"]), workers)
            owner = shares([item.nodeid for item in session.items], workers)
            indexed = [(i, p) for i, p in indexed if owner[i] == share[0]]
    try:
        run.connect(_endpoint_urls(config), concurrency_share=concurrency_share)
        run.check_token_counter(sorted({run.sample(p).task for _, p in indexed}))
    except (EndpointError, TemplateUnavailable, TokenizerUnavailable) as exc:
        pytest.exit(f"clue-checks: {exc}", returncode=EXIT_UNAVAILABLE)
    config.add_cleanup(run.close)
    if not _is_worker(config):
        config.stash[STATE]["describe"] = run.describe()
    # Without our scheduler (e.g. --dist loadscope) a worker cannot know its share: fetch on demand.
    if not _is_worker(config) or share is not None:
        run.prefetch([run.sample(p) for _, p in indexed])


# -- the sample fixture and its report -------------------------------------------------------


@pytest.fixture
def clue_sample(request: pytest.FixtureRequest) -> SampleCheck:
    """The sample's response, already cleaned; `.check()` scores it and asserts the verdict."""
    config = request.config
    run = config.stash[RUN]
    sample = run.sample(request.param)
    item = request.node
    index = run.index_of(sample)
    no_response = None
    try:
        evaluated = run.evaluate(sample)
        check = SampleCheck(run.tasks[sample.task], evaluated, config.stash[THRESHOLDS].floors_for(sample.task), index)
    except Exception as exc:
        # Whatever went wrong, the sample is counted as errored in the report: never silently dropped.
        item.stash[RECORD] = SampleRecord(sample.task, sample.id, index, "error", reason=f"{exc}",
                                          reference=sample.reference).as_dict()
        if not isinstance(exc, (EndpointError, TokenizerUnavailable)):
            raise  # a bug or a template error: the traceback is the useful part
        broken = run.scheduler.broken if run.scheduler is not None else None
        if broken:
            request.session.shouldstop = f"clue-checks: {broken}"
        no_response = f"no response for {sample.test_id}: {exc}"
    if no_response is not None:  # failed outside the except block: one message, not a chained second one
        pytest.fail(no_response, pytrace=False)
    item.stash[RECORD] = check.record.as_dict()
    # Metric values as JUnit <property> elements (junitxml reads them from the item's properties).
    for name, value in check.result.metrics.items():
        if value is not None:
            item.user_properties.append((f"clue.{name}", round(float(value), 6)))
    return check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    record = item.stash.get(RECORD, None)
    if record is not None:
        record = dict(record)
        if report.when == "call" and not report.skipped:
            # A skipped (or xfailed) sample was not judged: it stays out of the scores and makes its task
            # partial, rather than counting as failed.
            record["outcome"] = "passed" if report.passed else "failed"
            report.clue_record = record
        elif report.when == "setup" and report.failed:
            record["outcome"] = "error"
            report.clue_record = record
    return report


class RecordCollector:
    """Receives every test report (on the controller under xdist) and keeps the sample records."""

    def __init__(self, records: list[SampleRecord], state: dict[str, Any]) -> None:
        self.records = records
        self.state = state

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # xdist runs tests despite collection errors; our scheduler reads this and sends none.
        if report.failed:
            self.state["collection_failed"] = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "clue_record", None)
        if record is not None:
            self.records.append(record_from(record))


# -- aggregation, report and exit code -------------------------------------------------------


class StopOnInterrupt:
    """Ctrl-C: send nothing more. What was answered is already stored; the report says what ran."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.run.close()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Under xdist: each worker's request counts arrive with its output (a crashed worker's are lost)."""
    counts = getattr(node, "workeroutput", {}).get("clue_requests")
    if counts:
        total = node.config.stash[STATE].setdefault("requests", Counter())
        total.update(counts)


def _request_counts(config: pytest.Config) -> dict[str, int]:
    if _is_controller(config):
        total = config.stash[STATE].get("requests") or Counter()
        return {k: int(total.get(k, 0)) for k in REQUEST_COUNTS}
    return config.stash[RUN].request_counts()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        # Sent back to the controller with the worker's output (xdist sends it after this hook).
        if RUN in config.stash:
            config.workeroutput["clue_requests"] = config.stash[RUN].request_counts()  # type: ignore[attr-defined]
        return
    if RECORDS not in config.stash:
        return
    if config.stash[STATE].get("collection_failed") and _is_controller(config) and \
            not config.option.continue_on_collection_errors:
        session.exitstatus = EXIT_UNAVAILABLE  # as pytest itself does: interrupted by collection errors
    records = config.stash[RECORDS]
    selected: Counter[str] = config.stash[STATE].get("selected") or Counter()
    if not records and not selected or not config.stash[STATE].get("describe"):
        return  # nothing ran (collection errors, or no endpoint connection): no report to write
    run = config.stash[RUN]
    settings = config.stash[SETTINGS]
    grouped = aggregate.group_by_task(records)
    summaries = []
    for name, task in run.tasks.items():
        if name in grouped or selected.get(name):
            rows = grouped.get(name, [])
            batched = _batched_metrics(task, rows)
            summaries.append(aggregate.summarize_task(name, task.title, task.level, task.metric_names, rows, batched,
                                                      n_selected=selected.get(name, len(rows)),
                                                      n_total=_task_size(run, name)))
    levels = level_scores(_level_inputs(grouped), incomplete=[t.task for t in summaries if not t.complete])
    gates = aggregate.evaluate_gates(config.stash[THRESHOLDS].gates, {s.task: s for s in summaries})
    describe = dict(config.stash[STATE].get("describe") or {})
    describe.update({
        "data_dir": str(settings.data_dir),
        "thresholds": config.stash[THRESHOLDS].source,
        "limit": settings.limit,
        "bertscore_override": ({"model": settings.bertscore_model, "layers": settings.bertscore_layers}
                               if settings.bertscore_model else None),
        "seeds": {"shots": SHOT_SEED, "longhealth": LONGHEALTH_SEED, "bootstrap": BOOTSTRAP_SEED,
                  "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    report = render.report_dict(describe, summaries, gates, levels, requests=_request_counts(config))
    paths = render.write_reports(settings.report_dir, report, render.markdown(report, summaries, gates, levels),
                                 grouped)
    config.stash[STATE]["summary"] = (summaries, gates, report["requests"], paths, levels)
    if settings.exit_mode == "gates" and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        # Gate mode: the exit code is the verdict alone; failing samples stay failed in the output.
        # No gates, or a gate that did not pass (failed, incomplete, not run), is not a PASS.
        passed = render.verdict(gates) == "pass" and all(s.complete for s in summaries)
        session.exitstatus = pytest.ExitCode.OK if passed else pytest.ExitCode.TESTS_FAILED
    # Otherwise plain pytest semantics: the samples decide; the verdict is printed and written.


def _task_size(run: Run, task: str) -> int | None:
    """How many scored samples the task has (the controller under xdist reads the data just for this)."""
    try:
        return len(run.load(task).samples)
    except Exception:
        return None


def _level_inputs(grouped: dict[str, list[SampleRecord]]) -> dict[tuple[str, str], list[float]]:
    """Exactly the per-sample values each task's table row averaged."""
    out: dict[tuple[str, str], list[float]] = {}
    for task, records in grouped.items():
        for r in sorted(records, key=lambda r: r.index):
            if r.outcome == "error":
                continue
            for metric, value in r.metrics.items():
                if value is not None:
                    out.setdefault((task, metric), []).append(float(value))
    return out


def _batched_metrics(task: Any, records: list[SampleRecord]) -> dict[str, tuple[list[float | None], str | None]]:
    """Batched metrics (e.g. BERTScore) once over the task's scored samples; values also go on each record."""
    if not task.batched_metrics:
        return {}
    scored = sorted((r for r in records if r.outcome != "error"), key=lambda r: r.index)
    try:
        results = task.batch_score([(r.response or "", r.reference or "") for r in scored])
    except Exception as exc:  # a metric's failure must not cost the report: it is reported, not hidden
        reason = f"failed: {exc.__class__.__name__}: {exc}"
        results = {name: BatchedValues(not_computed=reason) for name in task.batched_metrics}
    out: dict[str, tuple[list[float | None], str | None]] = {}
    for name in task.batched_metrics:
        result = results.get(name)
        if result is None or result.not_computed is not None:
            out[name] = ([], result.not_computed if result else "the task returned no values")
            continue
        out[name] = (list(result.values), None)
        for record, value in zip(scored, result.values):
            record.metrics[name] = value  # type: ignore[index]  # a plain dict, built by record_from
    return out


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Any:
    # The outermost wrapper: the task table comes after pytest's failure details and its list of
    # failed samples, just above the final counts, where a reader looks for the verdict.
    result = yield
    _write_summary(terminalreporter, config)
    return result


def _write_summary(terminalreporter: Any, config: pytest.Config) -> None:
    summary = config.stash.get(STATE, {}).get("summary")
    if not summary:
        return
    summaries, gates, requests, paths, levels = summary
    terminalreporter.write_sep("=", "CLUE report")
    for line in render.terminal_lines(summaries, gates, requests, levels):
        terminalreporter.write_line(line)
    terminalreporter.write_line("report: " + ", ".join(str(p) for p in paths[:2]))
    describe = config.stash[STATE].get("describe") or {}
    if requests.get("from_store") and describe and not describe.get("model_revision"):
        terminalreporter.write_line(
            f"warning: {describe.get('model_id')} reports no revision, so stored answers are keyed by its name "
            "alone: if the weights changed, pass --model-revision=<release> (or --refresh)", yellow=True)
    thresholds = config.stash[THRESHOLDS]
    floorless = [t.task for t in summaries
                 if config.stash[RUN].tasks[t.task].floor_is_the_check and not thresholds.floors_for(t.task)]
    if floorless:
        terminalreporter.write_line(
            f"note: no [sample] floor for {', '.join(floorless)} in {thresholds.source}: their samples pass whatever "
            "their scores", yellow=True)
    partial = [t.title for t in summaries if t.partial]
    if partial:
        terminalreporter.write_line(f"partial run ({', '.join(partial)}): scores cover only the samples that ran; "
                                    "gates cannot pass", yellow=True)
    if config.stash[SETTINGS].exit_mode == "gates":
        terminalreporter.write_line("exit code: gate mode (--clue-exit=gates): it reflects the gates alone")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if _is_worker(config) or SETTINGS not in config.stash:
        return None
    s = config.stash[SETTINGS]
    target = ", ".join(s.endpoints) if s.endpoints else "embedded parameterless baseline"
    return [f"clue-checks: endpoint {target}; data {s.data_dir}; profile {s.profile}; api {s.api}; "
            f"cache {s.cache_dir or 'off'}{' (refresh)' if s.refresh else ''}"]


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers' fork warning under xdist
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # nothing phones home, whatever a library defaults to
