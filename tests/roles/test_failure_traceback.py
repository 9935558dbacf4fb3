"""A failing sample's report is the same with the shortened traceback, for every --tb style."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

def deep(n):
    if n:
        deep(n - 1)
    pytest.fail("mednli:x failed [format]\\n  response: 'maybe'\\n  expected: entailment", pytrace=False)

def helper():
    deep(5)

def test_sample():
    helper()

def test_real_error():
    helper_that_breaks()

def helper_that_breaks():
    raise ValueError("a bug: its whole traceback is shown")
'''

CONFTEST = '''
import pytest
from clue_checks.roles.failure_traceback import from_test_function

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if {shorten} and call.excinfo is not None and call.when == "call":
        shorter = from_test_function(call.excinfo, item)
        if shorter is not None:
            assert len(shorter.traceback) < len(call.excinfo.traceback)
            call.excinfo = shorter
    return (yield)
'''


@pytest.mark.parametrize("style", ["auto", "long", "short", "line", "native"])
def test_the_report_text_is_unchanged(pytester: pytest.Pytester, style: str) -> None:
    pytester.makepyfile(test_suite=SUITE)
    outputs = []
    for shorten in (False, True):
        pytester.makeconftest(CONFTEST.format(shorten=shorten))
        result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", f"--tb={style}", "-rf")
        result.assert_outcomes(failed=2)
        outputs.append([line for line in result.outlines if " in " not in line or "==" not in line])
    assert outputs[0] == outputs[1]
    assert any("a bug: its whole traceback is shown" in line for line in outputs[1])
    if style != "line":
        assert any("helper_that_breaks" in line for line in outputs[1])  # a real error keeps its frames


FIRST_FRAME = """
def pytest_exception_interact(node, call, report):
    if isinstance(call.excinfo.value, pytest.fail.Exception):
        print("FIRST FRAME", call.excinfo.traceback[0].name)
"""


@pytest.mark.parametrize("full_trace", [False, True])
def test_a_message_only_failure_starts_at_the_test_function_unless_full_trace(pytester: pytest.Pytester,
                                                                              full_trace: bool) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest(CONFTEST.format(shorten=True) + FIRST_FRAME)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", "-s",
                                *(["--full-trace"] if full_trace else []))
    if full_trace:
        result.stdout.no_fnmatch_line("*FIRST FRAME test_sample*")
    else:
        result.stdout.fnmatch_lines(["*FIRST FRAME test_sample*"])
