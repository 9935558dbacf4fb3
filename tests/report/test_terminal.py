"""Terminal output that scales: --tb styles, bounded responses, passing samples under -rP, the table last."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clue_checks.sample_verdict import TEXT_HEAD, TEXT_TAIL, bounded
from fakes import copy_suite

REPO = Path(__file__).resolve().parents[2]

pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_suite(pytester.path)
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_inprocess(f"--clue-data={REPO / 'clue_checks' / 'fixtures'}", "--clue-tasks=mednli", "--clue-limit=8",
                                     "-p", "no:randomly", *args)


def failures_section(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "= FAILURES =" in line)
    end = next(i for i, line in enumerate(lines) if i > start and re.match(r"^=+ .* =+$", line))
    return lines[start + 1:end]


@pytest.mark.parametrize("style", ["line", "short"])
def test_line_and_short_show_one_line_per_failing_sample_with_its_reason(suite, style, monkeypatch):
    monkeypatch.setenv("CI", "true")  # pytest then prints -ra's reasons whole, whatever the terminal's width
    result = run(suite, f"--tb={style}")
    failed = result.parseoutcomes()["failed"]
    section = failures_section(result)
    reasons = [line for line in section if re.search(r"mednli:\S+ failed \[wrong_answer\]: gold label \w+ not in the answer", line)]
    if style == "line":  # the reason, then pytest's crash line (the test's file and line, the reason again)
        assert len(section) == len(reasons) == 2 * failed > 0  # nothing else: no prompt, no response
        assert sum(bool(re.match(r".*test_mednli\.py:\d+: ", line)) for line in section) == failed
    else:
        assert len(reasons) == failed > 0
        assert len(section) == 2 * failed  # pytest's own separator line, then the reason
    assert "end of prompt" not in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED *mednli:* - *failed [[]wrong_answer[]]: gold label*"])  # -ra's summary names the reason


def test_long_keeps_the_whole_story_and_no_hides_it(suite):
    long = run(suite, "--tb=long")
    assert "end of prompt" in long.stdout.str() and "response:" in long.stdout.str()
    quiet = run(suite, "--tb=no")
    assert "= FAILURES =" not in quiet.stdout.str() and "end of prompt" not in quiet.stdout.str()


def test_a_passing_samples_response_and_metrics_show_with_rP_and_the_table_stays_last(suite):
    result = run(suite, "-rP", "--tb=line")  # (pytest shows no passes under --tb=no)
    result.stdout.fnmatch_lines(["*= PASSES =*", "*- clue sample -*", "mednli:* passed: *",
                                 "metrics: accuracy=1.0000", "reference: *", "response: *"])
    lines = result.stdout.lines
    table = next(i for i, line in enumerate(lines) if "= CLUE report =" in line)
    after = [line for line in lines[table:] if line.startswith("=")]
    assert len(after) == 2 and re.match(r"^=+ \d+ failed, \d+ passed", after[-1])  # only the final counts follow


def test_a_long_text_is_shown_as_head_and_tail_with_its_size():
    text = "A" * 5000 + "MIDDLE" + "Z" * 5000
    shown = bounded(text)
    assert "MIDDLE" not in shown and "10,006 characters" in shown and len(shown) < TEXT_HEAD + TEXT_TAIL + 200
    assert shown.startswith("'AAAA") and shown.endswith("ZZZZ'")
    assert bounded("short") == "'short'"
