"""Beside the controller under `--junitxml`: adds CLUE's testcases, outputs and properties to the file
pytest has written (report/write/junit.py), once, after pytest's own `pytest_sessionfinish` wrote it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
import pytest

from clue_checks.report.write.junit import JunitAdditions

PLUGIN_NAME = "clue-checks-junit"


def junit_path(config: pytest.Config) -> Path | None:
    """The `--junitxml` file as pytest resolves it (at configure time, from the invocation folder)."""
    value = config.getoption("xmlpath", None)
    if not value:
        return None
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(value)))))


class JunitFile:
    """A pytest plugin object holding the run's `JunitAdditions` for one JUnit file."""

    def __init__(self, path: Path, additions: JunitAdditions) -> None:
        self.path = path
        self.additions = additions
        self.problem: str | None = None  #: why the file could not be completed, if it could not

    @pytest.hookimpl(trylast=True)  # after pytest's junitxml has written the file in its own sessionfinish
    def pytest_sessionfinish(self) -> None:
        if not self.path.is_file():
            return
        try:
            self.additions.rewrite(self.path)
        except (OSError, ET.ParseError) as exc:
            self.problem = f"{self.path}: CLUE's testcases not added ({exc})"

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.problem:
            terminalreporter.write_line(f"clue-checks: {self.problem}", red=True)


def register(config: pytest.Config) -> JunitAdditions | None:
    """Register the plugin where this process writes a JUnit file; its additions, or None."""
    path = junit_path(config)
    if path is None or hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("junitxml"):
        return None
    prefix = config.getoption("junitprefix", None) or None  # --junit-prefix
    plugin = JunitFile(path, JunitAdditions(prefix=prefix))
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    return plugin.additions
