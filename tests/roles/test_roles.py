"""The plugin's roles built from plain values (no pytest session, no pytester): each mode's behaviour, and the
typed worker -> controller contract."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from clue_checks.record import RunDescription, SampleRecord, WorkerReport
from clue_checks.report.numbers.thresholds import load as load_thresholds
from clue_checks.roles.items import FIXTURE
from clue_checks.roles.inputs import ProcessLinks, RunOptions, WorkerPlace
from clue_checks.roles.private_records import PrivateRecords
from clue_checks.roles.single_process import LocalSession, SingleProcessController
from clue_checks.roles.xdist_controller import XdistController
from clue_checks.roles.xdist_worker import WorkerSession
from clue_checks.run_setup import ClueSetup
from clue_checks.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"


def make_setup(tmp_path: Path, **changes: object) -> ClueSetup:
    fields: dict[str, object] = dict(
        endpoints=(), api="chat", model_name=None, tokenizer=None, data_dir=FIXTURES, tasks=("mednli",), limit=None,
        concurrency=None, cache_dir=None, refresh=False, report_dir=tmp_path / "report", thresholds=None,
        profile="paper", exit_mode="pytest", request_timeout=30.0, api_key=None)
    settings = Settings(**{**fields, **changes})  # type: ignore[arg-type]
    return ClueSetup(settings, load_thresholds(None), "", synthetic_data=True)


def description(selected: dict[str, int], generation: dict[str, dict[str, object]] | None = None) -> RunDescription:
    return RunDescription({"server_kind": "baseline", "model_id": "m"}, {"model": "m"}, None, "chat mode",
                          generation or {}, selected)


def record(sample_id: str, outcome: str = "passed", text: str = "yes") -> dict[str, object]:
    return SampleRecord("mednli", sample_id, int(sample_id), outcome, metrics={"accuracy": 1.0},
                        response=text).as_dict()


def sample_report(data: dict[str, object] | None, *, failed: bool = False, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(nodeid=f"test_mednli.py::test_sample[mednli:{(data or {}).get('sample_id')}]",
                           when="call", failed=failed, clue_record=data, clue_sample=True, **extra)


# -- the worker -> controller contract ------------------------------------------------------------


def test_a_worker_report_round_trips_through_json_and_its_workeroutput():
    report = WorkerReport({"sent": 3, "failed": 0, "from_store": 1, "shared": 0}, {"latency_s": [0.1, 0.2]},
                          {"sent": 3}, description({"mednli": 4}, {"mednli": {"temperature": 0}}))
    output: dict[str, object] = {}
    report.put(output)
    assert list(output) == [WorkerReport.KEY]
    wired = json.loads(json.dumps(output))  # what execnet carries: plain JSON values
    assert WorkerReport.taken_from(wired) == report
    assert WorkerReport.taken_from({}) is None and WorkerReport.taken_from(None) is None


def test_a_worker_report_of_another_version_is_refused_not_misread():
    data = WorkerReport({"sent": 1}, None).as_dict()
    with pytest.raises(ValueError, match="version"):
        WorkerReport.from_dict({**data, "version": WorkerReport.VERSION + 1})


# -- the xdist controller -------------------------------------------------------------------------


def test_the_xdist_controller_adds_up_its_workers_and_counts_a_dead_workers_last_written_requests(tmp_path):
    written = {"gw2": {"sent": 5, "failed": 1, "from_store": 0, "shared": 0, "in_flight": 2}}
    controller = XdistController(make_setup(tmp_path), last_counts=written.get)
    controller.worker_finished(WorkerReport({"sent": 3, "from_store": 1}, {"n": 1}), "gw0")
    controller.worker_finished(WorkerReport({"sent": 2, "failed": 1}, {"n": 2}), "gw1")
    controller.worker_finished(None, "gw2", error="killed")  # its output never came
    controller.worker_finished(None, "gw3", error="killed")  # it wrote nothing: nothing is invented
    assert controller.request_counts() == {"sent": 10, "failed": 2, "from_store": 1, "shared": 0}
    assert controller.baseline_request_counts() is None  # no baseline endpoint asked for


def test_the_xdist_controller_writes_a_report_once_the_first_worker_describes_the_run(tmp_path):
    setup = make_setup(tmp_path)
    old = setup.settings.report_dir / "clue-report.json"
    old.parent.mkdir()
    old.write_text("{}", encoding="utf-8")
    held: list[bool] = []
    controller = XdistController(setup, hold_report_folder=lambda: held.append(True))
    controller.worker_finished(WorkerReport({"sent": 0}, None), "gw0")
    assert not controller.active and old.exists() and not held  # no worker connected for samples: left as it was
    controller.worker_finished(WorkerReport({"sent": 1}, None, description=description({"mednli": 2})), "gw1")
    controller.worker_finished(WorkerReport({"sent": 1}, None,
                                            description=description({"mednli": 2}, {"mednli": {"seed": 1}})), "gw2")
    assert controller.active and controller.selected == Counter({"mednli": 2})
    assert held == [True] and not old.exists()  # held, then cleared, once
    assert controller.description is not None and dict(controller.description.generation) == {"mednli": {"seed": 1}}


def test_the_controller_takes_records_from_reports_and_counts_other_failures_apart(tmp_path):
    channel = PrivateRecords()
    channel.put("test_mednli.py::test_sample[mednli:1]", "call", record("1", text="the private text"))
    controller = XdistController(make_setup(tmp_path), links=ProcessLinks(private_records=lambda: channel))
    controller.pytest_runtest_logreport(sample_report(record("0")))  # type: ignore[arg-type]
    controller.pytest_runtest_logreport(sample_report(record("1", text="#hashed"), clue_private=True))  # type: ignore[arg-type]
    controller.pytest_runtest_logreport(SimpleNamespace(nodeid="test_other.py::t", when="call", failed=True))  # type: ignore[arg-type]
    assert [(r.sample_id, r.response) for r in controller.records] == [("0", "yes"), ("1", "the private text")]
    assert controller.other_failures == 1


# -- the single process ---------------------------------------------------------------------------


def test_the_single_process_controller_clears_the_old_report_only_when_a_sample_is_selected(tmp_path):
    setup = make_setup(tmp_path)
    old = setup.settings.report_dir / "clue-report.json"
    old.parent.mkdir()
    old.write_text("{}", encoding="utf-8")
    session = LocalSession(setup)
    controller = SingleProcessController(setup, session)
    controller.selected_samples(Counter())
    assert controller.collected and not controller.active and old.exists()
    controller.collection_failed = True
    controller.selected_samples(Counter({"mednli": 3}))  # pytest stops at collection errors: nothing is written
    assert old.exists()
    controller.collection_failed = False
    controller.selected_samples(Counter({"mednli": 3}))
    assert controller.active and not old.exists()
    assert controller.request_counts() == {"sent": 0, "failed": 0, "from_store": 0, "shared": 0}


def test_the_summary_says_when_no_sample_ran_and_the_folder_was_left(tmp_path):
    setup = make_setup(tmp_path)
    controller = SingleProcessController(setup, LocalSession(setup))
    controller.selected_samples(Counter())
    lines: list[str] = []
    controller.write_summary(SimpleNamespace(write_line=lambda line, **_: lines.append(line)), width=80)
    assert lines == [f"clue-checks: no CLUE sample ran; {setup.settings.report_dir} was left as it was"]


def test_a_missing_data_folder_stops_a_single_process_but_is_one_collection_error_on_a_worker(tmp_path):
    setup = make_setup(tmp_path, data_dir=tmp_path / "nowhere")
    metafunc = SimpleNamespace(calls=[], parametrize=lambda *a, **k: metafunc.calls.append((a, k)))
    with pytest.raises(pytest.Session.Interrupted, match="data folder not found"):
        LocalSession(setup).parametrize(metafunc)  # type: ignore[arg-type]
    worker = WorkerSession(setup, WorkerPlace("gw0", 2), {})
    with pytest.raises(pytest.fail.Exception, match="data folder not found"):
        worker.parametrize(metafunc)  # type: ignore[arg-type]
    worker.parametrize(metafunc)  # type: ignore[arg-type]  (the next module: no second message)
    assert metafunc.calls == [((FIXTURE, []), {"indirect": True})]


# -- the xdist worker -----------------------------------------------------------------------------


def test_workers_split_the_samples_into_disjoint_shares_that_keep_repeats_together(tmp_path):
    ids = [f"t.py::test[longhealth-t1:p/q{q}/r{r}]" for q in range(3) for r in range(2)] + ["t.py::other"]
    session = SimpleNamespace(items=[SimpleNamespace(nodeid=n) for n in ids])
    indexed = [(i, n) for i, n in enumerate(ids[:-1])]
    mine = [WorkerSession(make_setup(tmp_path), WorkerPlace(f"gw{k}", 2, uses_share=True), {})
            ._my_share(session, indexed) for k in range(2)]  # type: ignore[arg-type]
    assert mine[0] is not None and mine[1] is not None
    assert sorted(mine[0] + mine[1]) == indexed and not set(mine[0]) & set(mine[1])
    for share in mine:
        questions = Counter(n.split("/r")[0] for _, n in share)
        assert set(questions.values()) == {2}  # both repeats of a question with one worker
    unknown = WorkerSession(make_setup(tmp_path), WorkerPlace("gw0", 2), {})
    assert unknown._my_share(session, indexed) is None  # type: ignore[arg-type]  (not our scheduler)
    assert unknown.concurrency_share == 0.5


def test_a_worker_that_ran_no_clue_sample_hands_the_controller_nothing(tmp_path):
    output: dict[str, object] = {}
    worker = WorkerSession(make_setup(tmp_path), WorkerPlace("gw0", 1), output)
    worker.pytest_sessionfinish(SimpleNamespace())  # type: ignore[arg-type]
    assert output == {} and worker.worker_report() is None


def test_the_header_names_the_endpoint_without_its_password(tmp_path):
    setup = make_setup(tmp_path, endpoints=("http://user:secret@host:8080",))
    lines = XdistController(setup, RunOptions(collect_only=True)).pytest_report_header(None)  # type: ignore[arg-type]
    assert "secret" not in lines[0] and "host:8080" in lines[0]


# -- a whole single-process run, driven by hand -----------------------------------------------------


def _made_report(session: LocalSession, item: SimpleNamespace, report: SimpleNamespace) -> SimpleNamespace:
    """pytest's makereport wrapper, run by hand: up to the yield, then the report pytest made."""
    hook = session.pytest_runtest_makereport(item, SimpleNamespace(excinfo=None, when="call"))  # type: ignore[arg-type]
    next(hook)
    with pytest.raises(StopIteration) as done:
        hook.send(report)
    return done.value.value


def test_a_single_process_run_sends_checks_records_and_reports_its_samples(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    setup = make_setup(tmp_path, limit=3)
    cleanups: list = []
    links = ProcessLinks(add_cleanup=cleanups.append)
    session = LocalSession(setup, links=links)
    controller = SingleProcessController(setup, session, links=links)
    try:
        ids = [s.test_id for s in session.run.samples("mednli")]  # collected (pytest_generate_tests)
        items = [SimpleNamespace(nodeid=f"test_mednli.py::test_sample[{i}]", callspec=SimpleNamespace(params={FIXTURE: i}),
                                 stash=pytest.Stash()) for i in ids]
        pytest_session = SimpleNamespace(items=items, testsfailed=0, shouldstop=False, exitstatus=0)
        controller.pytest_collection_finish(pytest_session)  # type: ignore[arg-type]
        session.pytest_collection_finish(pytest_session)  # type: ignore[arg-type]  (connects to the embedded baseline)
        assert controller.selected == Counter({"mednli": 3}) and session.baseline is not None
        for item in items:
            check = session.sample_check(SimpleNamespace(param=item.callspec.params[FIXTURE], node=item,
                                                         session=pytest_session))  # type: ignore[arg-type]
            assert check.record.sample_id in item.callspec.params[FIXTURE]
            report = _made_report(session, item, SimpleNamespace(nodeid=item.nodeid, when="call", skipped=False,
                                                                 passed=True, failed=False, sections=[]))
            assert report.clue_sample and report.clue_record["outcome"] == "passed"
            controller.pytest_runtest_logreport(report)  # type: ignore[arg-type]
        controller.pytest_sessionfinish(pytest_session)  # type: ignore[arg-type]
    finally:
        for cleanup in cleanups:
            cleanup()
    assert [r.outcome for r in controller.records] == ["passed"] * 3
    assert controller.report is not None and controller.report_error is None
    written = json.loads((setup.settings.report_dir / "clue-report.json").read_text(encoding="utf-8"))
    assert written["requests"]["sent"] == 3 and written["tasks"]["mednli"]["n_samples"] == 3
    assert controller.exit_status == pytest_session.exitstatus
