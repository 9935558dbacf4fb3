"""Keep pytest's failure sections linear in the number of tests (one test per sample).

pytest's terminal reporter prints, after each failure (and each pass under `-rP`/`-rA`), the
captured teardown output of that test. It finds the test's teardown report by scanning every
passing setup/teardown report of the session (`TerminalReporter._get_teardown_reports`), so a
run with F failures and N tests costs O(F × N): with half of 10,000 samples failing that is
100 million checks, most of a store-only rerun's time (upstream: quadratic runtime,
https://github.com/pytest-dev/pytest/issues/13360).

`TeardownIndex` gives the session's terminal reporter an index by node id instead, built once
from the same reports with the same filter (`getreports("")`, which leaves out reports already
shown by --pdb) and rebuilt if reports arrive later. What is printed is unchanged: the same
reports in the same order. It touches one private method of pytest's reporter (pytest 9.1,
src/_pytest/terminal.py, https://github.com/pytest-dev/pytest/blob/main/src/_pytest/terminal.py),
so it acts only when that method is there and the reporter is pytest's own; otherwise pytest
runs as it is, only slower.
"""

from __future__ import annotations

from typing import Any

import pytest

PLUGIN_NAME = "clue-checks-teardown-index"


class TeardownIndex:
    """A pytest plugin object: installs the index on the terminal reporter before its summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        # Runs inside the reporter's sessionfinish wrapper, before its terminal summary.
        install(self.config.pluginmanager.get_plugin("terminalreporter"))


def install(reporter: Any) -> bool:
    """Replace `reporter._get_teardown_reports` with an indexed lookup; False where it cannot."""
    from _pytest.terminal import TerminalReporter

    if not isinstance(reporter, TerminalReporter) or not callable(
            getattr(TerminalReporter, "_get_teardown_reports", None)):
        return False
    if not isinstance(reporter.__dict__.get("_get_teardown_reports"), _IndexedTeardownReports):
        reporter._get_teardown_reports = _IndexedTeardownReports(reporter)
    return True


class _IndexedTeardownReports:
    """`TerminalReporter._get_teardown_reports(nodeid)` with the scan done once."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter
        self.indexed = -1  # how many "" reports the index covers
        self.by_nodeid: dict[str, list[Any]] = {}

    def __call__(self, nodeid: str) -> list[Any]:
        count = len(self.reporter.stats.get("", ()))
        if count != self.indexed:
            self.by_nodeid = {}
            for report in self.reporter.getreports(""):
                if report.when == "teardown":
                    self.by_nodeid.setdefault(report.nodeid, []).append(report)
            self.indexed = count
        return list(self.by_nodeid.get(nodeid, ()))
