"""The teardown index (roles/teardown_index.py): pytest's output unchanged, found without scanning."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from _pytest.terminal import TerminalReporter
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.roles.teardown_index import _IndexedTeardownReports, install

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]


class FakeReporter:
    """Just what the lookup reads: `stats` and pytest's own `getreports`."""

    getreports = TerminalReporter.getreports

    def __init__(self, reports: list) -> None:
        self.stats = {"": reports, "failed": []}


def report(when: str, nodeid: str, pdb: bool) -> SimpleNamespace:
    made = SimpleNamespace(when=when, nodeid=nodeid)
    if pdb:
        made._pdbshown = True
    return made


reports = st.lists(st.builds(report, st.sampled_from(["setup", "teardown"]), st.sampled_from(["a", "b", "c::x[1]"]),
                             st.booleans()), max_size=30)


@given(reports, reports)
def test_same_reports_in_the_same_order_as_pytests_scan(first, later) -> None:
    reporter = FakeReporter(list(first))
    indexed = _IndexedTeardownReports(reporter)
    for nodeid in ("a", "b", "c::x[1]", "missing"):
        assert indexed(nodeid) == TerminalReporter._get_teardown_reports(reporter, nodeid)
    reporter.stats[""].extend(later)  # reports that arrive after a first lookup are seen too
    for nodeid in ("a", "b", "c::x[1]"):
        assert indexed(nodeid) == TerminalReporter._get_teardown_reports(reporter, nodeid)


def test_install_leaves_other_reporters_alone() -> None:
    assert install(None) is False
    assert install(FakeReporter([])) is False


OUTPUT_PROJECT = {
    "conftest.py": """
import os
from pathlib import Path
import pytest
from clue_checks.roles.teardown_index import TeardownIndex, _IndexedTeardownReports

def pytest_configure(config):
    if os.environ.get("WITH_INDEX"):
        config.pluginmanager.register(TeardownIndex(config), "index-under-test")

def pytest_terminal_summary(terminalreporter):
    used = isinstance(terminalreporter.__dict__.get("_get_teardown_reports"), _IndexedTeardownReports)
    Path(os.environ["INDEX_FLAG"]).write_text(str(used))

@pytest.fixture
def noisy():
    yield
    print("said in teardown")
""",
    "test_mixed.py": """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_sample(n, noisy):
    print(f"said in call {n}")
    assert n % 2 == 0, f"sample {n} is odd"

@pytest.mark.parametrize("n", range(4))
def test_quiet(n):
    assert n < 2
""",
}


@pytest.mark.parametrize("args", [(), ("-rA",), ("-rP", "--tb=short"), ("--tb=line",)])
def test_pytests_output_is_the_same_with_the_index(pytester: pytest.Pytester, monkeypatch, args) -> None:
    pytester.makepyfile(**OUTPUT_PROJECT)
    flag = pytester.path / "flag.txt"
    monkeypatch.setenv("INDEX_FLAG", str(flag))
    outputs = {}
    for with_index in (False, True):
        if with_index:
            monkeypatch.setenv("WITH_INDEX", "1")
        result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)
        assert flag.read_text() == str(with_index)
        outputs[with_index] = [re.sub(r" in \d+\.\d+s", " in Ns", line) for line in result.stdout.lines]
    assert outputs[True] == outputs[False]
    text = "\n".join(outputs[True])
    assert re.search(r"=+ 5 failed, 5 passed in Ns =+$", outputs[True][-1])
    if "-rP" not in args:  # pytest's default -rfE, or -rA
        assert "FAILED test_mixed.py::test_sample[1] - AssertionError: sample 1 is odd" in text
    if "--tb=line" not in args:
        assert "_ test_sample[3] _" in text and text.count("said in teardown") >= 3  # each failure's teardown
    if "-rA" in args:
        assert "PASSED test_mixed.py::test_sample[0]" in text and "= PASSES =" in text


def test_a_clue_session_keeps_its_failure_sections_summary_and_counts(pytester: pytest.Pytester) -> None:
    shutil.copytree(REPO / "tests_clinical", pytester.path / "tests_clinical")
    shutil.copy(REPO / "pytest.ini", pytester.path / "pytest.ini")
    shutil.copy(REPO / "thresholds.toml", pytester.path / "thresholds.toml")
    pytester.makeconftest(f"""
from pathlib import Path
from clue_checks.roles.teardown_index import _IndexedTeardownReports

def pytest_terminal_summary(terminalreporter):
    used = isinstance(terminalreporter.__dict__.get("_get_teardown_reports"), _IndexedTeardownReports)
    Path({str(pytester.path / 'used.txt')!r}).write_text(str(used))
""")
    result = pytester.runpytest_subprocess(f"--clue-data={REPO / 'clue_checks' / 'fixtures'}", "--clue-tasks=mednli",
                                           "--clue-limit=8", "-p", "no:randomly", "-rA", timeout=300)
    assert (pytester.path / "used.txt").read_text() == "True"
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] > 0 and outcomes["passed"] > 0
    text = result.stdout.str()
    assert "= FAILURES =" in text and "= PASSES =" in text and "short test summary info" in text
    assert text.count("FAILED tests_clinical/test_mednli.py::") == outcomes["failed"]
    assert text.count("PASSED tests_clinical/test_mednli.py::") == outcomes["passed"]
    assert re.search(rf"=+ {outcomes['failed']} failed, {outcomes['passed']} passed", result.stdout.lines[-1])
