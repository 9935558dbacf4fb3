"""pytest's log capturing sits out a CLUE run's sample tests when nothing in the session would read it.

pytest's logging plugin wraps each test's three phases in log handlers of its own (0.04-0.1 ms of CPU a
test: bench/README.md's store-only rerun, and bare pytest): what it buys is the "Captured log" section of a report,
the `caplog` fixture, live logs and the log file. In a session whose every test is a CLUE sample, with no
`--log-*` option or `log_*` ini setting and no test asking for `caplog`, none of that is read, so the plugin
is unregistered for the test loop and registered again after it (its session-end and unconfigure steps,
which close its file, run as before). A warning logged during a sample still reaches the report: Python's
last-resort handler writes it to stderr, which pytest's output capture shows as "Captured stderr".

Only through the plugin manager (public API); a session with any other test, or one that asks for any of
the plugin's features, keeps it all the way.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

PLUGIN_NAME = "logging-plugin"  # the name pytest's logging plugin registers its object under
# Settings that ask for logs; the format settings only shape what these produce.
LOG_SETTINGS = ("log_level", "log_cli_level", "log_file", "log_file_level")


def asks_for_logs(config: pytest.Config) -> bool:
    """A `--log-*` option or `log_*` ini setting that turns on a level, a file or live logs."""
    if any(config.getoption(name, None) is not None or config.getini(name) for name in LOG_SETTINGS):
        return True
    return bool(config.getini("log_cli"))


class LogCaptureSitsOut:
    """Registered in each process that runs CLUE samples (the single process, each xdist worker)."""

    def __init__(self, config: pytest.Config, is_sample: Callable[[pytest.Item], bool]) -> None:
        self.config = config
        self.is_sample = is_sample
        self.parked: Any = None  # pytest's logging plugin while it sits out

    def wanted(self, items: list[pytest.Item]) -> bool:
        """Whether a test of this session could read pytest's log capture."""
        if asks_for_logs(self.config):
            return True
        return any(not self.is_sample(item) or "caplog" in item.fixturenames for item in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        manager = self.config.pluginmanager
        plugin = manager.get_plugin(PLUGIN_NAME)
        if plugin is None or not session.items or self.wanted(session.items):
            return
        manager.unregister(name=PLUGIN_NAME)
        self.parked = plugin

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            self.restore()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.restore()  # when the test loop never ran (a collection_finish hook after ours stopped the session)

    def restore(self) -> None:
        """Back for the session's end and unconfigure (it closes its log file there)."""
        if self.parked is not None:
            self.config.pluginmanager.register(self.parked, PLUGIN_NAME)
            self.parked = None
