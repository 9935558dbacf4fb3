"""A suite run in this process imports tests_clinical/'s modules by their file names: no framework test module
may share one, or pytest refuses the suite's as an "import file mismatch" once the framework's is imported."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_no_framework_module_shares_a_name_with_a_suite_module():
    suite = {p.name for p in (REPO / "tests_clinical").glob("*.py")} - {"conftest.py"}
    framework = {p.name for p in (REPO / "tests").rglob("*.py")}
    assert sorted(suite & framework) == []
