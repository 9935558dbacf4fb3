"""The plugin is loaded into every pytest session of the environment: it acts only when a session asks for CLUE."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fakes import copy_suite

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"  # the bundled synthetic data
HEAVY = ("numpy", "transformers", "simple_icd_10_cm", "rouge_score", "torch", "clue_checks.runner",
         "clue_checks.report", "clue_checks.server", "clue_checks.tasks")

pytest_plugins = ["pytester"]

UNRELATED_TEST = f'''
import sys

def test_add():
    assert 1 + 1 == 2

def test_the_plugin_imported_nothing_heavy():
    assert "clue_checks.plugin" in sys.modules  # loaded by its entry point, as in every session
    assert [m for m in {HEAVY!r} if m in sys.modules] == []
'''

# Registered before the plugin can register anything, so it runs after the plugin's own exit step.
EXIT_PROBE = """import atexit, gc
found = gc.get_threshold()
atexit.register(lambda: print('objects frozen at exit:', gc.get_freeze_count()))
atexit.register(lambda: print('gc thresholds as found:', gc.get_threshold() == found))
during = set()
atexit.register(lambda: print('young threshold changed during tests:', any(t != found[0] for t in during)))

def pytest_runtest_call(item):
    during.add(gc.get_threshold()[0])
"""


@pytest.fixture
def unrelated(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project that knows nothing of CLUE, with a folder named like the bundled data."""
    pytester.makepyfile(test_add=UNRELATED_TEST)
    pytester.makeconftest(EXIT_PROBE)
    shutil.copytree(FIXTURES / "MedNLI", pytester.path / "fixtures" / "MedNLI")
    return pytester


@pytest.mark.slow  # a process of its own: what was imported, and what the interpreter does at exit
@pytest.mark.parametrize("workers", [None, "2"])
def test_an_unrelated_project_passes_untouched(unrelated, workers):
    # A fresh interpreter that loaded the plugin through its entry point: its test_the_plugin_imported_nothing_heavy
    # is the check that importing clue_checks.plugin imports nothing heavy.
    args = ["-p", "no:cacheprovider", "-p", "no:randomly"] + (["-n", workers] if workers else [])
    result = unrelated.runpytest_subprocess(*args, timeout=120)
    assert result.ret == 0 and result.parseoutcomes() == {"passed": 2}
    output = result.stdout.lines + result.stderr.lines
    # pytest's own header lists the installed plugins; nothing else may mention us.
    assert [line for line in output if "clue" in line.lower() and not line.startswith("plugins:")] == []
    assert "objects frozen at exit: 0" in result.stdout.lines  # the interpreter's exit is left as it was
    assert "gc thresholds as found: True" in result.stdout.lines
    assert "young threshold changed during tests: False" in result.stdout.lines
    made = {p.name for p in unrelated.path.iterdir()} - {"fixtures", "test_add.py", "conftest.py", "stdout",
                                                         "stderr"}
    assert {name for name in made if not name.startswith("runpytest-")} == set()  # pytester's own files only
    assert [p.name for p in (unrelated.path / "fixtures").iterdir()] == ["MedNLI"]


@pytest.fixture
def configured(pytester: pytest.Pytester) -> pytest.Pytester:
    """This repository's layout: an ini file with clue_* keys, the suite, and other tests beside it."""
    copy_suite(pytester.path)
    (pytester.path / "tests").mkdir()
    # A parameter that reads like a sample id is still not a sample: it must not start a CLUE run.
    (pytester.path / "tests" / "test_other.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('x', ['mednli:lookalike'], ids=str)\n"
        "def test_other(x):\n    assert x\n")
    old = pytester.path / "clue-report"
    (old / "predictions").mkdir(parents=True)
    (old / "clue-report.json").write_text('{"old": true}')
    (old / "predictions" / "mednli.jsonl").write_text("{}\n")
    return pytester


def old_report_is_there(path: Path) -> bool:
    return json.loads((path / "clue-report" / "clue-report.json").read_text()) == {"old": True} and \
        (path / "clue-report" / "predictions" / "mednli.jsonl").exists()


@pytest.mark.parametrize("args", [
    ("tests",),  # the framework's own tests: no CLUE sample
    pytest.param(("tests", "-n", "2"), marks=pytest.mark.slow),
    ("tests_clinical/test_mednli.py::test_sample[mednli:no-such-sample]",),  # a mistyped node id
    ("tests_clinical", "-k", "nothing_matches_this"),
])
def test_a_session_that_collects_no_sample_leaves_the_report_and_says_so(configured, args):
    run = configured.runpytest_subprocess if "-n" in args else configured.runpytest_inprocess  # xdist: processes
    result = run("-p", "no:cacheprovider", f"--clue-data={FIXTURES}", *args)
    assert result.ret in (0, 4, 5)  # passed, a node id not found, nothing collected
    assert old_report_is_there(configured.path)
    assert not (configured.path / ".clue-cache").exists()
    result.stdout.fnmatch_lines(["clue-checks: no CLUE sample ran; *clue-report was left as it was"])


def test_a_missing_data_folder_named_only_in_the_ini_file_stops_a_clue_run_but_not_other_tests(configured):
    ini = configured.path / "pytest.ini"
    ini.write_text(ini.read_text() + "clue_data = no-such-folder\n")
    other = configured.runpytest_inprocess("-p", "no:cacheprovider", "tests")
    assert other.ret == 0 and "data folder not found" not in other.stdout.str()
    clue = configured.runpytest_inprocess("-p", "no:cacheprovider", "tests_clinical")
    assert clue.ret == pytest.ExitCode.INTERRUPTED
    clue.stdout.fnmatch_lines(["*clue-checks: data folder not found: *no-such-folder*"])
    output = clue.stdout.str() + clue.stderr.str()
    assert output.count("data folder not found") == 1  # once
    # and no traceback through pytest's internals (a warning's location line, in an in-process run, is not one)
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert not re.search(r"_pytest\S*\.py:\d+: in ", output)
    assert old_report_is_there(configured.path)


@pytest.mark.slow  # what the interpreter does at exit
def test_a_marked_test_asks_for_clue_without_any_setting(pytester: pytest.Pytester):
    # No ini key, no option: the marked module alone turns the plugin on (with its defaults).
    shutil.copy(REPO / "tests_clinical" / "test_mednli.py", pytester.path / "test_mednli.py")
    (pytester.path / "test_add.py").write_text("def test_add():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(EXIT_PROBE)
    shutil.copytree(FIXTURES, pytester.path / "fixtures")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-q", timeout=300)
    assert result.ret == 1  # the embedded baseline fails some MedNLI samples
    result.stdout.fnmatch_lines(["*CLUE report*", "MedNLI*accuracy*"])
    # A CLUE run leaves the interpreter without a last collector pass over its heap (roles/exit_heap.py).
    frozen = [line for line in result.stdout.lines if line.startswith("objects frozen at exit:")]
    assert len(frozen) == 1 and int(frozen[0].split(":")[1]) > 10_000
    assert "gc thresholds as found: True" in result.stdout.lines  # raised for the run only (roles/gc_tuning.py)
    assert "young threshold changed during tests: True" in result.stdout.lines
    data = json.loads((pytester.path / "clue-report" / "clue-report.json").read_text())
    assert data["tasks"]["mednli"]["n_samples"] == data["tasks"]["mednli"]["n_total"]
