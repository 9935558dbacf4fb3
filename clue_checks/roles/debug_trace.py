"""pytest's `--debug` trace beside --clue-redact: refused, as no plugin can keep clinical text out of it.

`--debug` writes pytest's trace of hook calls and imports through one text file object, and writes it from
more than one thread: on an xdist controller each worker's reports are rebuilt
(`pytest_report_from_serializable`, traced) in execnet's receiving thread for that worker while the main
thread traces its own hooks; in any process the assertion-rewriting import hook traces the imports that the
run's request threads make. CPython's text files are not safe for writes from several threads (CPython
gh-118138: a write racing another can put a stretch of the process's freed memory in the file). Seen with
`-n 2 --debug` on a loaded machine: a spooled prompt, read back by the controller for JUnit, turned up in
pytestdebug.log amid the raw bytes of freed memory, carried by no hook argument. Under --clue-redact the
processes handle the samples' texts, so the trace could hold any of them: the run stops before it starts.
`PYTEST_DEBUG` (the same trace, to stderr) likewise.
"""

from __future__ import annotations

import os

import pytest

def refusal(what: str, where: str) -> str:
    return (f"{what} cannot be used with --clue-redact: pytest writes its debug trace from several threads at once "
            "(xdist's receiving threads, imports in the request threads), and Python can then write stretches of the "
            f"process's memory, clinical text included, to {where}. Run without {what}, or without --clue-redact on "
            "data that may be seen")


def refuse_debug_trace(config: pytest.Config, redact: bool) -> None:
    """A usage error (exit 4) when --clue-redact meets `--debug` or the `PYTEST_DEBUG` environment variable."""
    if not redact:
        return
    if config.getoption("debug", None):
        raise pytest.UsageError(refusal("--debug", "the trace file"))
    if os.environ.get("PYTEST_DEBUG"):
        raise pytest.UsageError(refusal("PYTEST_DEBUG", "stderr"))
