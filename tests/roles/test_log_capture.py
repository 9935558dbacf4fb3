"""pytest's log capture sits out a CLUE session's sample tests only when nothing in the session reads it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from clue_checks.roles.log_capture import LogCaptureSitsOut
from suite_runs import run, suite  # noqa: F401  (suite is a fixture)

pytest_plugins = ["pytester"]

# Whether pytest's logging plugin was registered during each test, and after the session.
PROBE = """
import json

seen = []

def pytest_runtest_call(item):
    seen.append(item.config.pluginmanager.has_plugin("logging-plugin"))

def pytest_unconfigure(config):
    after = config.pluginmanager.has_plugin("logging-plugin")
    (config.rootpath / "probe.json").write_text(json.dumps({"during": sorted(set(seen)), "after": after}))
"""

OTHER_TEST = """
import logging

def test_other(caplog):
    logging.getLogger("x").warning("seen")
    assert caplog.records
"""

SAMPLES = ["tests_clinical/test_mednli.py", "--clue-tasks=mednli", "--clue-no-cache", "-p", "no:cacheprovider",
           "--tb=no", "-q"]


def probed(suite: pytest.Pytester, *args: str) -> dict:
    (suite.path / "conftest.py").write_text(PROBE)
    run(suite, *args)
    return json.loads((suite.path / "probe.json").read_text())


def test_a_sample_only_session_runs_its_tests_without_it_and_gets_it_back_for_the_end(suite):
    assert probed(suite, *SAMPLES) == {"during": [False], "after": True}


@pytest.mark.parametrize("asks", [["--log-level=INFO"], ["--log-cli-level=WARNING"], ["-o", "log_cli=true"],
                                  ["--log-file=run.log"]])
def test_a_session_that_asks_for_logs_keeps_it(suite, asks):
    assert probed(suite, *SAMPLES, *asks) == {"during": [True], "after": True}


def test_a_session_with_another_test_keeps_it_and_caplog_works(suite):
    suite.makepyfile(test_other=OTHER_TEST)
    assert probed(suite, *SAMPLES, "test_other.py") == {"during": [True], "after": True}


def test_a_session_without_clue_is_untouched(pytester: pytest.Pytester):
    pytester.makeconftest(PROBE)
    pytester.makepyfile(test_other=OTHER_TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    assert result.ret == 0
    assert json.loads((pytester.path / "probe.json").read_text()) == {"during": [True], "after": True}


def test_a_sample_asking_for_caplog_keeps_it():
    config = SimpleNamespace(getoption=lambda name, default=None: None, getini=lambda name: None)
    sits_out = LogCaptureSitsOut(config, lambda item: True)  # type: ignore[arg-type]
    assert not sits_out.wanted([SimpleNamespace(fixturenames=["clue_sample"])])  # type: ignore[list-item]
    assert sits_out.wanted([SimpleNamespace(fixturenames=["clue_sample", "caplog"])])  # type: ignore[list-item]
