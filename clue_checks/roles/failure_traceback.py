"""A failing sample's traceback, started at its test function so pytest has no framework frames to walk.

A sample fails with `pytest.fail(message, pytrace=False)`: pytest shows the message alone, yet
before formatting it still cuts the traceback at the test function, computing a file path for
every frame above it (its runner, pluggy, the hooks: about twenty), for every failure. With half
of a large run failing that walk was most of the time spent reporting. Given a traceback that
already starts at the test function, pytest makes the same cut with nothing to walk: the report
text, the crash location and `--pdb`'s frame are unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest


def from_test_function(excinfo: pytest.ExceptionInfo[BaseException], item: Any
                       ) -> pytest.ExceptionInfo[BaseException] | None:
    """`excinfo` with its traceback starting at `item`'s test function, for a message-only failure;
    None (leave it as it is) for anything else: a real error's whole traceback is the useful part."""
    if not isinstance(excinfo.value, pytest.fail.Exception) or excinfo.value.pytrace:
        return None
    if item.config.getoption("fulltrace", False):
        return None
    code = getattr(getattr(item, "function", None), "__code__", None)
    tb = excinfo.tb
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    if tb is None or tb is excinfo.tb:
        return None
    return pytest.ExceptionInfo.from_exc_info((excinfo.type, excinfo.value, tb))
