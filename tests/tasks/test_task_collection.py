"""A test module names a task file: collected, selected, refused and reported like CLUE's tasks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clue_command import clue

import clue_checks

EXAMPLE = Path(clue_checks.__file__).parent / "examples" / "followup"
CLUE_MODULE = 'import pytest\npytestmark = pytest.mark.clue_task("mednli")\n\n\ndef test_sample(clue_sample):\n' \
              '    clue_sample.check()\n'

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("followup.toml", "followup.csv", "test_followup.py"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    (pytester.path / "test_mednli.py").write_text(CLUE_MODULE, encoding="utf-8")
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    if "-n" in args:  # xdist's workers are processes
        return project.runpytest_subprocess("-p", "no:cacheprovider", "--clue-report-dir=rep", *args)
    return project.runpytest_inprocess("-p", "no:cacheprovider", "--clue-report-dir=rep", *args)


def report(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "rep" / "clue-report.json").read_text())


def test_tasks_selects_a_task_files_task_by_its_name(project):
    result = run(project, "--clue-tasks=followup", "--clue-limit=3")
    assert result.ret == 1  # the embedded baseline answers no follow-up question right
    result.stdout.fnmatch_lines(["*3 failed*deselected*"])
    assert set(report(project)["tasks"]) == {"followup"}


def test_a_bad_task_file_stops_the_collection_with_one_message(project):
    toml = project.path / "followup.toml"
    toml.write_text(toml.read_text().replace('name = "accuracy"', 'name = "f1"'), encoding="utf-8")
    result = run(project)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    line = next(i for i, text in enumerate(toml.read_text().splitlines(), 1) if 'name = "f1"' in text)
    result.stdout.fnmatch_lines([f"*clue-checks: {toml}, line {line}: metric 'f1' is not in the metric table; "
                                 "use one of accuracy, *"])
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_task_and_a_thresholds_key_for_a_missing_metric_are_refused_after_collection(project):
    result = run(project, "--clue-tasks=followup,folowup")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--clue-tasks: unknown task(s) folowup; known: mednli*followup"])
    assert not (project.path / "rep").exists()  # nothing sent, no report written
    (project.path / "t.toml").write_text('[gate]\n"followup.rougeL" = ">= 0.1"\n', encoding="utf-8")
    result = run(project, "--clue-thresholds=t.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]gate[]] followup.rougeL: followup has no metric 'rougeL' (metrics: accuracy)*"])


def test_the_thresholds_file_wins_over_the_task_files_gate(project):
    (project.path / "t.toml").write_text('[gate]\n"followup.accuracy" = "<= 0.5"\n', encoding="utf-8")
    run(project, "--clue-thresholds=t.toml", "--clue-tasks=followup")
    assert [g["gate"] for g in report(project)["gates"]] == ["followup.accuracy <= 0.5"]


@pytest.mark.slow
def test_a_task_files_task_under_xdist_is_reported_by_the_controller(project):
    result = run(project, "-n", "2", "--clue-tasks=followup", "--clue-no-cache")
    assert result.ret == 1, result.stdout.str()[-2000:]
    assert report(project)["requests"]["sent"] == 10  # the shared schedule: each request sent once, no store
    task = report(project)["tasks"]["followup"]
    assert task["n_samples"] == 10 and task["title"] == "Follow-up questions"
    assert "over 6 clusters" in task["metrics"]["accuracy"]["method"]


def test_shards_of_a_task_files_task_merge_into_one_report_with_its_gate_and_own_level(project):
    toml = project.path / "followup.toml"
    toml.write_text(toml.read_text().replace('title = "Follow-up questions"',
                                             'title = "Follow-up questions"\nlevel = "in-house"'), encoding="utf-8")
    for k in (1, 2):
        project.runpytest_inprocess("-p", "no:cacheprovider", f"--clue-report-dir=s{k}", f"--clue-shard={k}/2",
                                    "--clue-tasks=followup")
    merged = clue("report", "merge", "out", "s1", "s2", cwd=project.path)
    assert merged.returncode in (0, 1), merged.stderr
    out = json.loads((project.path / "out" / "clue-report.json").read_text())
    assert out["tasks"]["followup"]["n_samples"] == 10 and not out["tasks"]["followup"]["partial"]
    assert [g["gate"] for g in out["gates"]] == ["followup.accuracy >= 0.2"]
    assert "cluster" in out["tasks"]["followup"]["metrics"]["accuracy"]["method"]
    assert out["levels"]["in-house"]["value"] == out["tasks"]["followup"]["metrics"]["accuracy"]["value"]
    assert out["tasks"]["followup"]["level"] == "in-house"
    # every kind the task's choices parser and 0/1 metric make meaningful is counted, found or not
    assert list(out["tasks"]["followup"]["kinds"]) == ["endpoint_error", "empty", "truncated", "repetition_loop",
                                                       "format", "hedged", "wrong_answer"]


def test_failure_kinds_of_a_task_files_task_select_its_samples_for_a_rerun(project):
    toml = project.path / "followup.toml"
    toml.write_text(toml.read_text().replace("max_new_tokens = 5", "max_new_tokens = 1"), encoding="utf-8")
    run(project, "--clue-tasks=followup")
    assert report(project)["tasks"]["followup"]["kinds"]["truncated"] == 10  # one token: cut at the limit
    rerun = run(project, "--clue-tasks=followup", "--clue-kind=truncated")
    rerun.stdout.fnmatch_lines(["*answered from the store: 10*", "*10 failed*"])


def test_a_task_files_own_level_and_its_parsers_failure_kinds_are_reported_and_select_a_rerun(project):
    toml = project.path / "followup.toml"
    toml.write_text(toml.read_text().replace('title = "Follow-up questions"',
                                             'title = "Follow-up questions"\nlevel = "in-house"'), encoding="utf-8")
    run(project, "--clue-tasks=followup")
    data = report(project)
    task, level = data["tasks"]["followup"], data["levels"]["in-house"]
    assert task["level"] == "in-house" and level["definition"] == {"followup": ["followup.accuracy"]}
    assert level["value"] == task["metrics"]["accuracy"]["value"] and level["not_computed"] is None
    assert data["levels"]["level1"]["value"] is None  # CLUE's levels never take it
    assert "- Level in-house (own, not CLUE's): " in (project.path / "rep" / "clue-report.md").read_text()
    assert "Level in-house" in (project.path / "rep" / "index.html").read_text()
    # The baseline's "I don't know." names neither choice: `format`, read from the choices parser, not the name.
    assert task["kinds"]["format"] == 10
    rerun = run(project, "--clue-tasks=followup", "--clue-kind=format")
    rerun.stdout.fnmatch_lines(["*answered from the store: 10*", "*10 failed*"])
