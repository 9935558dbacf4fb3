"""Which tests start a process: recorded in each test's report as the user property `starts_process`.

An audit hook counts the interpreter's own process-start events (subprocess, fork, exec, spawn), so the
count needs no cooperation from the tests; tools/test_time_shares.py reads it from pytest's --report-log.
"""

from __future__ import annotations

import sys

import pytest

PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn",
                            "os.system"})
_started = [0]
_at_setup = pytest.StashKey[int]()


def _count(event: str, args: tuple) -> None:
    if event in PROCESS_EVENTS:
        _started[0] += 1


sys.addaudithook(_count)  # audit hooks cannot be removed: this one only counts


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_at_setup] = _started[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    # Before pytest builds the teardown report, which copies the item's user properties.
    started = _started[0] - item.stash.get(_at_setup, _started[0])
    if call.when == "teardown" and started:
        item.user_properties.append(("starts_process", started))
