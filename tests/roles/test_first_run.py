"""The default output of a run: failing samples one line each, the exit code explained (roles/first_run.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes import copy_suite

from clue_checks.roles.first_run import FailureLines, exit_code_line, shows_passes, wants_compact

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"

pytest_plugins = ["pytester"]


def test_compact_only_when_the_user_chose_no_traceback_style_and_no_verbosity():
    assert wants_compact("auto", 0)
    assert not wants_compact("long", 0) and not wants_compact("line", 0) and not wants_compact("auto", 1)
    assert not wants_compact("auto", 0, "fEsxX")  # -ra: the user asked for pytest's short summary


def test_each_task_shows_its_first_failures_then_how_many_more():
    lines = FailureLines()
    for i in (4, 3, 2, 1, 0):  # as xdist workers may report them: shown in the task's order
        lines.add("mednli", f"mednli:{i} failed [wrong_answer]: gold 'neutral', parsed 'entailment'", i)
    lines.add("meqsum", "meqsum:9 failed [low_overlap]: rougeL F 0.000 < floor 0.1")
    out = lines.lines({"mednli": "MedNLI"}, per_task=2, width=40)
    assert out[0].startswith("failing samples: 6 (the first 2 of each task")
    assert [line[:18] for line in out[1:]] == ["  mednli:0 failed ", "  mednli:1 failed ", "  … 3 more MedNLI ",
                                               "  meqsum:9 failed "]
    assert all(len(line) == 40 and line.endswith("…") for line in (out[1], out[2], out[4]))


def test_only_the_first_lines_of_each_task_are_kept_whatever_the_order_they_came_in():
    lines = FailureLines(kept=2)
    order = [7, 3, 9, 0, 5, 3, 8]  # index 3 twice: the one reported first comes first
    for arrival, i in enumerate(order):
        lines.add("mednli", f"mednli:{i} #{arrival}", i)
    assert lines.by_task == {"mednli": ["mednli:0 #3", "mednli:3 #1"]}
    assert lines.total == len(order)
    assert lines.lines({"mednli": "MedNLI"}, per_task=2)[-1] == "  … 5 more MedNLI samples failed"


def test_a_failure_that_is_not_a_check_is_counted_apart_and_nothing_is_listed_without_failures():
    lines = FailureLines()
    assert lines.lines({}) == []
    lines.add("mednli", None)
    assert lines.other == 1 and lines.total == 0


@pytest.mark.parametrize(("status", "mode", "failed", "says"), [
    (1, "pytest", 279, "exit code 1: 279 sample(s) failed their own check"),
    (0, "pytest", 0, "exit code 0: every test passed"),
    (0, "gates", 279, "exit code 0: the verdict (PASS) decides it"),
    (2, "pytest", 0, "exit code 2: the run did not complete"),
])
def test_the_exit_code_is_explained_in_the_words_of_the_mode(status, mode, failed, says):
    line = exit_code_line(status, mode=mode, failed_samples=failed, verdict="pass")
    assert line.startswith(says)
    assert ("makes the exit code the verdict" in line) == (mode == "pytest" and status in (0, 1))


def test_default_output_lists_failing_samples_in_one_line_and_ends_with_the_verdict_page_and_exit_code(pytester):
    copy_suite(pytester.path)
    (pytester.path / "conftest.py").write_text("")
    args = (f"--clue-data={FIXTURES}", "--clue-tasks=meqsum", "-p", "no:cacheprovider")
    default = pytester.runpytest_inprocess(*args)
    out = default.stdout.str()
    assert "= FAILURES =" not in out and "FAILED " not in out
    default.stdout.fnmatch_lines(["failing samples: 4 (the first 3 of each task*", "  meqsum:* failed *low_overlap*: *",
                                  "  … 1 more MeQSum samples failed", "*task*metric*", "verdict: *",
                                  "run: *", "report: *index.html*", "exit code 1: 4 sample(s) failed their own check*",
                                  "*4 failed, 19 passed*"])
    assert default.ret == 1
    for detail in ("--tb=long", "-v"):
        full = pytester.runpytest_inprocess(*args, detail)
        assert "= FAILURES =" in full.stdout.str() and "failing samples:" not in full.stdout.str()


@pytest.mark.parametrize(("chars", "shown"), [("fE", False), ("P", True), ("A", True), ("a", False), ("aP", True),
                                              ("AN", False), ("NP", True), ("fEp", False)])
def test_passing_samples_text_is_kept_only_when_r_shows_passes(chars, shown):
    assert shows_passes(chars) is shown
