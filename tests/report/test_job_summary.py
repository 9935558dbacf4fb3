"""The GitHub Actions job summary (report/write/job_summary.py)."""

from __future__ import annotations

from pathlib import Path

from fakes import copy_suite

from clue_checks.report.write.job_summary import ENV, append, summary_markdown

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"

pytest_plugins = ["pytester"]

REPORT = """# CLUE report

- model: `m`

| task | metric | score |
|---|---|---|
| MedNLI | accuracy | 0.422 |

## CLUE levels

- Level 1: not computed

## Failure kinds

| kind | n |

## Gates: fail

- **fail** `mednli.accuracy >= 0.5` — 0.4222 over 45 samples

## Failing samples

- mednli:3 failed

## Provenance

```toml
# a comment in the thresholds file, not a heading
```
"""


def test_the_summary_keeps_the_table_levels_and_gates_under_the_verdict():
    text = summary_markdown(REPORT, "fail")
    assert text.startswith("## CLUE report: FAIL\n\n- model: `m`")
    assert "| MedNLI | accuracy | 0.422 |" in text and "## Gates: fail" in text and "## CLUE levels" in text
    assert "Failure kinds" not in text and "mednli:3 failed" not in text and "a comment" not in text


def test_appended_only_where_the_variable_names_a_file_and_a_failure_is_a_warning(tmp_path):
    assert append(REPORT, "pass", env={}) is None
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert append(REPORT, "pass", env={ENV: str(target)}) is None
    assert target.read_text().startswith("earlier step\n## CLUE report: PASS")
    problem = append(REPORT, "pass", env={ENV: str(tmp_path / "no-such-folder" / "summary.md")})
    assert problem is not None and "could not be appended" in problem


def test_a_run_in_github_actions_appends_the_job_summary(pytester, tmp_path, monkeypatch):
    copy_suite(pytester.path)
    (pytester.path / "conftest.py").write_text("")
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv(ENV, str(summary))
    result = pytester.runpytest_inprocess(f"--clue-data={FIXTURES}", "--clue-tasks=mednli", "--clue-limit=5",
                                          "-p", "no:cacheprovider")
    assert result.ret in (0, 1)
    text = summary.read_text()
    assert text.startswith("## CLUE report: INCOMPLETE") and "| MedNLI (5 of 45) | accuracy |" in text and "## Gates:" in text, text
